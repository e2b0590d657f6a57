/**
 * Faults of the engine itself (issue "Safe by default"): what anonymous callers and careless users can send,
 * each refused with the right code and losing nothing. The engine runs in-process (EngineService) on wasm with a
 * small trained model; data folders are confined to their roots; model folders to the models folder.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineService } from '../../engine/host/service';
import type { TrainEvent } from '../../engine/host/protocol';
import { encodePng } from '../../engine/image';
import type { CompletePipeline, EngineError, ErrorCode } from '../../engine/spec';

const root = mkdtempSync(join(tmpdir(), 'iddpm-faults-'));
const modelsDir = join(root, 'models');
const dataDir = join(root, 'data');
const outside = join(root, 'outside');
for (const d of [modelsDir, dataDir, outside]) mkdirSync(d, { recursive: true });
const events: TrainEvent[] = [];
const service = new EngineService({ modelsDir, backend: 'wasm', dataDirs: [dataDir], maxRequestCost: 2000, requestTimeoutSeconds: 2, broadcast: (ev) => events.push(ev) });

const SMALL = { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], numHeads: 2 };
const pipeline = (model: string, unet: Partial<CompletePipeline['unet']> = {}): CompletePipeline => ({
  schedule: { kind: 'cosine', steps: 50 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model, preset: 'custom', config: SMALL, modelVarType: 'learned_range', numClasses: null, ...unet },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'uniform' },
});

async function refused(p: Promise<unknown> | (() => unknown), code: ErrorCode, pattern: RegExp): Promise<string> {
  let message = '';
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (err: EngineError) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    message = err.message;
    return true;
  });
  return message;
}

/** Trains `name` to the end and returns its last event. */
async function trained(name: string, options: Record<string, unknown>, unet: Partial<CompletePipeline['unet']> = {}): Promise<TrainEvent> {
  const seen = events.length;
  await service.handle({ op: 'train', name, pipeline: pipeline(name, unet), options: { batchSize: 2, maxSteps: 2, checkpointEvery: 0, seed: 1, ...options } as never });
  for (;;) {
    const last = events.slice(seen).find((e) => e.name === name && (e.type === 'done' || e.type === 'error'));
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  const ev = await trained('small', { dataset: { kind: 'mnist', limit: 8 } });
  assert.equal(ev.type, 'done');
});
after(async () => {
  await service.shutdown();
  rmSync(root, { recursive: true, force: true });
});

test('a folder dataset outside the data folders is refused with one neutral error, whatever is there', async () => {
  mkdirSync(join(dataDir, 'digits'), { recursive: true });
  mkdirSync(join(outside, 'secret'), { recursive: true });
  symlinkSync(join(outside, 'secret'), join(dataDir, 'link-out'));
  const messages: string[] = [];
  for (const path of ['/etc', '../outside/secret', join(outside, 'secret'), 'link-out', 'missing', join(dataDir, 'digits', '..', '..', 'outside')]) {
    messages.push((await refused(service.handle({ op: 'train', name: 'f', pipeline: pipeline('f'), options: { dataset: { kind: 'folder', path }, batchSize: 2 } as never }), 'BAD_REQUEST', /is not a folder under the allowed folders/)).replace(JSON.stringify(path), 'P'));
  }
  assert.equal(new Set(messages).size, 1, `the same words for every refusal: ${[...new Set(messages)].join(' | ')}`);
  // Inside the root, a folder without images is the user's mistake, said plainly (it is theirs to know).
  const ev = await trained('f2', { dataset: { kind: 'folder', path: 'digits' } });
  assert.ok(ev.type === 'error' && ev.code === 'BAD_REQUEST' && /no PNG or JPEG images found/.test(ev.message), JSON.stringify(ev));
  // And a folder with images trains.
  const png = await encodePng(new Float32Array(64).fill(0.2), 8, 8, 1);
  for (let i = 0; i < 3; i++) writeFileSync(join(dataDir, 'digits', `x${i}.png`), png);
  assert.equal((await trained('f3', { dataset: { kind: 'folder', path: 'digits' } })).type, 'done');
});

test('a model folder that is a link out of the models folder is neither read nor written', async () => {
  mkdirSync(join(outside, 'elsewhere'));
  symlinkSync(join(outside, 'elsewhere'), join(modelsDir, 'linked'));
  await refused(service.handle({ op: 'train', name: 'linked', pipeline: pipeline('linked'), options: { dataset: { kind: 'mnist', limit: 4 }, batchSize: 2, maxSteps: 1 } as never }), 'BAD_REQUEST', /leads outside the models folder/);
  await refused(service.handle({ op: 'sample', request: { model: 'linked', count: 1, steps: 2 } }), 'BAD_REQUEST', /leads outside the models folder/);
  assert.deepEqual(readdirSync(join(outside, 'elsewhere')), [], 'nothing written through the link');
});

test('an unknown model: 404 without the names of the others', async () => {
  const message = await refused(service.handle({ op: 'sample', request: { model: 'nope', count: 1 } }), 'NOT_FOUND', /No trained model named "nope"/);
  assert.doesNotMatch(message, /small|known/);
});

test('a request costlier than the limit is refused up front (TOO_LARGE, 400), a cheap one runs', async () => {
  const before = Date.now();
  const message = await refused(service.handle({ op: 'sample', request: { model: 'small', count: 256 } }), 'TOO_LARGE', /limit is 2000.*fewer images or steps/);
  assert.match(message, /256 images × 50 steps/, 'no steps: the model\'s full T');
  // Steps the model cannot take are the sender's mistake whatever they would cost.
  await refused(service.handle({ op: 'sample', request: { model: 'small', count: 256, steps: 1000 } }), 'BAD_REQUEST', /T = 50, so use 2 … 50 steps, not 1000/);
  assert.ok(Date.now() - before < 1000, 'refused before any work');
  await refused(service.handle({ op: 'evaluate', request: { model: 'small', dataset: { kind: 'mnist' }, count: 10_000 } }), 'TOO_LARGE', /evaluation would cost/);
  const ok = (await service.handle({ op: 'sample', request: { model: 'small', count: 2, steps: 5, seed: 1 } })) as { png: Buffer };
  assert.ok(ok.png.length > 0);
});

test('a request that runs past the time limit stops with TIMEOUT and frees the engine', async () => {
  const slow = new EngineService({ modelsDir, backend: 'wasm', dataDirs: [dataDir], requestTimeoutSeconds: 0.3, broadcast: () => undefined });
  try {
    const started = Date.now();
    await refused(slow.handle({ op: 'sample', request: { model: 'small', count: 64, batchSize: 1, steps: 50 } }), 'TIMEOUT', /ran longer than the engine allows \(0.3 s\)/);
    assert.ok(Date.now() - started < 20_000, `stopped after ${Date.now() - started} ms`);
    const quick = (await slow.handle({ op: 'sample', request: { model: 'small', count: 1, steps: 2, seed: 1 } })) as { png: Buffer };
    assert.ok(quick.png.length > 0, 'the next request runs');
  } finally {
    await slow.shutdown();
  }
});

test('a UNet too large to build is refused before anything is allocated', async () => {
  const huge = { ...SMALL, imageSize: 512, modelChannels: 512, channelMult: [1, 2, 4, 8, 16, 16], numResBlocks: 8, attentionResolutions: [] };
  const started = process.memoryUsage().arrayBuffers;
  await refused(service.handle({ op: 'train', name: 'huge', pipeline: pipeline('huge', { config: huge }), options: { dataset: { kind: 'mnist' }, batchSize: 2 } as never }), 'BAD_REQUEST', /M parameters, more than the engine trains/);
  assert.ok(process.memoryUsage().arrayBuffers - started < 50e6, 'nothing of its size was allocated');
  await refused(service.handle({ op: 'train', name: 'huge', pipeline: pipeline('huge', { config: { modelChannels: 100000 } }), options: { dataset: { kind: 'mnist' }, batchSize: 2 } as never }), 'BAD_REQUEST', /modelChannels: must be between 8 and 512, not 100000/);
});

test('user mistakes in the data are BAD_REQUEST, not INTERNAL: labels out of range, wrong image sizes, no labels', async () => {
  const images = { shape: [2, 8, 8, 1], data: new Float32Array(128).fill(0.1) };
  const conditional = { numClasses: 2 };
  const outOfRange = await trained('c1', { dataset: { kind: 'images', images, labels: [0, 5] } }, conditional);
  assert.ok(outOfRange.type === 'error' && outOfRange.code === 'BAD_REQUEST' && /labels go up to 5; the model was set up for 2 classes/.test(outOfRange.message), JSON.stringify(outOfRange));
  const noLabels = await trained('c2', { dataset: { kind: 'images', images } }, conditional);
  assert.ok(noLabels.type === 'error' && noLabels.code === 'BAD_REQUEST' && /has no labels/.test(noLabels.message), JSON.stringify(noLabels));
  await refused(service.handle({ op: 'train', name: 'c3', pipeline: pipeline('c3'), options: { dataset: { kind: 'images', images, labels: [0, 'x'] }, batchSize: 2 } as never }), 'BAD_REQUEST', /labels: must be one whole number/);
  // Raw images of another size than the model's are refused (PNG/JPEG ones are resized, like folder images).
  const big = { shape: [2, 16, 16, 1], data: new Float32Array(512).fill(-0.5) };
  const unfit = await trained('c4', { dataset: { kind: 'images', images: big } });
  assert.ok(unfit.type === 'error' && unfit.code === 'BAD_REQUEST' && /could not be used as the model's images: images are 16x16 but 8x8 is expected/.test(unfit.message), JSON.stringify(unfit));
  const png = await encodePng(new Float32Array(256).fill(0.3), 16, 16, 1);
  assert.equal((await trained('c6', { dataset: { kind: 'images', images: [png, png] } })).type, 'done', 'a 16×16 PNG is resized to 8×8');
  await refused(service.handle({ op: 'train', name: 'c5', pipeline: pipeline('c5'), options: { dataset: { kind: 'images', images: { shape: '2,8,8,1', data: images.data } }, batchSize: 2 } as never }), 'BAD_REQUEST', /shape must be \[N, H, W, C\], not "2,8,8,1"/);
});

test('leftovers of a killed process are cleaned: atomic-write temporaries, and the log of a run that never checkpointed', async () => {
  const dir = join(modelsDir, 'small');
  writeFileSync(join(dir, '.latest.99999.tmp'), 'ckpt-00000001');
  writeFileSync(join(dir, '.model.json.99999.tmp'), '{');
  // The log of a run that died before its first checkpoint (steps beyond the checkpoint, then a fresh start).
  const log = join(modelsDir, 'fresh', 'log.jsonl');
  mkdirSync(join(modelsDir, 'fresh'));
  writeFileSync(log, '{"step":7,"loss":1}\n{"step":8,"loss":1}\n');
  assert.equal((await trained('fresh', { dataset: { kind: 'mnist', limit: 8 }, logEvery: 1 })).type, 'done');
  const steps = service.store.readLog('fresh').map((e) => e.step);
  assert.deepEqual(steps, [1, 2], 'the dead run\'s entries are gone');
  assert.equal((await trained('small', { dataset: { kind: 'mnist', limit: 8 }, maxSteps: 3 })).type, 'done');
  assert.ok(!existsSync(join(dir, '.latest.99999.tmp')) && !existsSync(join(dir, '.model.json.99999.tmp')), readdirSync(dir).join(', '));
});
