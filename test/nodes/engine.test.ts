/**
 * The nodes with the real shared engine (a child process on wasm): a Schedule → Noiser → UNet → HybridLoss →
 * ImportanceSampler → Trainer flow trains the tiny preset, a Sampler returns PNGs of the right size, swapping
 * components changes what the engine runs (read back from the engine: progress and the stored model.json),
 * controls, a refused second run, and a redeploy in the middle of training.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { sharedEngine } from '../../engine/host/client';
import type { TrainProgress } from '../../engine/host/protocol';
import type { ModelSpec } from '../../engine/spec';
import type { NodeMessage } from '../../nodes/shared/red';
import { ENGINE_SETTINGS, ALL_NODES, catcher, helper, lastStatus, modelsDir, nextCaught, nextError, nextMessage, node, statuses, userDir } from './helper';

const engine = sharedEngine(ENGINE_SETTINGS);
before(() => helper.startServer());
afterEach(() => helper.unload());
after(async () => {
  await helper.stopServer();
  await engine.close();
  rmSync(userDir, { recursive: true, force: true });
});

/** A small custom UNet (8×8 MNIST) for the runs that only compare components. */
const SMALL = { preset: 'custom', imageSize: 8, inChannels: '1', modelChannels: 32, channelMult: '1,2', numResBlocks: 1, attentionResolutions: '4', numHeads: 2, dropout: 0 };
const TRAINER = {
  dataset: 'mnist', folder: '', limit: 16, batchSize: 2, microbatch: 0, lr: 0.0001, emaRate: 0.9999, gradClip: 0,
  maxSteps: 2, logEvery: 1, sampleEvery: 0, sampleCount: 4, checkpointEvery: 0, seed: 1, resume: false,
};

/** inject-less pipeline s → n → u → l → i → trainer `t` → helper `out`, plus extra nodes and a Catch. */
function trainingFlow(unet: Record<string, unknown>, trainer: Record<string, unknown> = {}, extra: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  return [
    { id: 'f1', type: 'tab' },
    { id: 's', type: 'iddpm-schedule', z: 'f1', kind: 'cosine', steps: 1000, cosineS: 0.008, maxBeta: 0.999, wires: [['n']] },
    { id: 'n', type: 'iddpm-noiser', z: 'f1', modelMeanType: 'epsilon', rescaleTimesteps: true, wires: [['u']] },
    { id: 'u', type: 'iddpm-unet', z: 'f1', model: 'm', preset: 'tiny', modelVarType: 'learned_range', classConditional: false, numClasses: 10, ...unet, wires: [['l']] },
    { id: 'l', type: 'iddpm-hybrid-loss', z: 'f1', kind: 'hybrid', lambda: 0.001, wires: [['i']] },
    { id: 'i', type: 'iddpm-importance-sampler', z: 'f1', kind: 'importance', history: 10, uniformProb: 0.001, wires: [['t']] },
    { id: 't', type: 'iddpm-trainer', z: 'f1', ...TRAINER, ...trainer, wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' },
    ...extra,
    ...catcher(),
  ];
}

/** Every message the helper `out` gets, until one with topic "done" (or a failure reaching Catch). */
function collectUntilDone(ms = 50_000): Promise<NodeMessage[]> {
  const got: NodeMessage[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "done" within ${ms} ms; got ${got.map((m) => m.topic).join(', ')}`)), ms);
    node('out').on('input', ((m: NodeMessage) => {
      got.push(m);
      if (m.topic === 'done') {
        clearTimeout(timer);
        resolve(got);
      }
    }) as never);
    node('caught').on('input', ((m: NodeMessage) => {
      clearTimeout(timer);
      reject(new Error(`training failed: ${JSON.stringify(m.error)}`));
    }) as never);
  });
}

const storedSpec = (name: string): ModelSpec => JSON.parse(readFileSync(join(modelsDir, name, 'model.json'), 'utf8')) as ModelSpec;
const progressOf = (msgs: NodeMessage[]): TrainProgress[] => msgs.filter((m) => m.topic === 'progress').map((m) => m.payload as TrainProgress);

test('Schedule → Noiser → UNet → HybridLoss → ImportanceSampler → Trainer trains the tiny preset', async () => {
  await helper.load(ALL_NODES, trainingFlow({ model: 'flow-tiny' }, { sampleEvery: 2, checkpointEvery: 1 }));
  const done = collectUntilDone();
  node('s').receive({ payload: 'go' });
  const msgs = await done;
  const progress = progressOf(msgs);
  assert.deepEqual(progress.map((p) => p.step), [1, 2]);
  for (const p of progress) {
    assert.ok(Number.isFinite(p.loss) && p.loss > 0, `loss ${p.loss}`);
    assert.equal(p.backend, 'wasm');
    assert.equal(p.name, 'flow-tiny');
  }
  // A preview grid of EMA samples at step 2, and a checkpoint at every step.
  const samples = msgs.filter((m) => m.topic === 'sample');
  assert.deepEqual(samples.map((m) => m.step), [2]);
  assert.deepEqual(samples[0].headers, { 'content-type': 'image/png' });
  assert.ok(PNG.sync.read(samples[0].payload as Buffer).width >= 2 * 32, 'a grid of the 4 previews');
  assert.deepEqual(msgs.filter((m) => m.topic === 'checkpoint').map((m) => (m.payload as { step: number }).step), [1, 2]);
  const final = msgs.at(-1)!;
  assert.equal(final.model, 'flow-tiny');
  assert.deepEqual([(final.payload as { state: string }).state, (final.payload as { step: number }).step], ['done', 2]);
  assert.ok(statuses('t').some((s) => /^step \d+(\/\d+)? · loss [\d.e-]+ · [\d.]+ img\/s · wasm( · ETA \d+(s|m \d+s|h \d+m))?$/.test(s.text ?? '')), JSON.stringify(statuses('t')));
  assert.match(lastStatus('t')?.text ?? '', /^flow-tiny done at step 2$/);
  // The engine stored exactly the pipeline the five nodes assembled.
  const spec = storedSpec('flow-tiny');
  assert.deepEqual(spec.pipeline, pipelineOf('flow-tiny'));
  assert.equal(spec.step, 2);
});

test('Sampler returns a PNG grid of the right size from the model name alone, and refuses a mismatched pipeline', async () => {
  await helper.load(ALL_NODES, [
    { id: 'f1', type: 'tab' },
    { id: 'n1', type: 'iddpm-sampler', z: 'f1', model: 'flow-tiny', count: 4, steps: 'ddim5', method: 'ddim', eta: 0, class: '', seed: 7, format: 'grid', columns: 0, wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' },
    ...catcher(),
  ]);
  let p = nextMessage('out', 30_000);
  node('n1').receive({ payload: 'go' });
  let out = await p;
  assert.deepEqual(out.headers, { 'content-type': 'image/png', 'x-iddpm-seed': '7' });
  assert.equal((out.sample as { seed: number }).seed, 7);
  const grid = PNG.sync.read(out.payload as Buffer);
  // 2×2 tiles of 32×32 with 2-pixel gutters: 2·(32 + 2) + 2 = 70.
  assert.deepEqual([grid.width, grid.height], [70, 70]);
  assert.match(lastStatus('n1')?.text ?? '', /^4 image\(s\) in [\d.]+ s · wasm$/);
  assert.ok(statuses('n1').some((s) => /^sampling \d+\/5 · batch 1\/1$/.test(s.text ?? '')), JSON.stringify(statuses('n1')));

  // Given that PNG, the Sampler draws it again from the provenance it carries: the same bytes.
  const made = out.payload as Buffer;
  p = nextMessage('out', 30_000);
  node('n1').receive({ payload: made, seed: 99, count: 1 });
  out = await p;
  assert.ok((out.payload as Buffer).equals(made), 'the PNG made again is byte for byte the same');
  assert.deepEqual([(out.sample as { regenerated: boolean }).regenerated, (out.sample as { seed: number }).seed], [true, 7]);
  assert.match(lastStatus('n1')?.text ?? '', /^made again \(seed 7\) in [\d.]+ s · wasm$/);

  p = nextMessage('out', 30_000);
  node('n1').receive({ format: 'pngs', count: 2, steps: 3, method: 'ancestral', seed: 1 });
  out = await p;
  const pngs = out.payload as Buffer[];
  assert.equal(pngs.length, 2);
  for (const b of pngs) assert.deepEqual([PNG.sync.read(b).width, PNG.sync.read(b).height], [32, 32]);

  p = nextMessage('out', 30_000);
  node('n1').receive({ format: 'raw', count: 1, steps: 'ddim3', model: 'flow-tiny' });
  out = await p;
  assert.deepEqual((out.payload as { shape: number[] }).shape, [1, 32, 32, 1]);

  // A pipeline that says the model learned no variance contradicts the stored one.
  // Catch gets each reason with its code (flows map codes to replies, e.g. HTTP statuses).
  const mismatch = await nextCaught(() => node('n1').receive({ iddpm: { unet: { model: 'flow-tiny', preset: 'tiny', modelVarType: 'fixed_small', numClasses: null } } }), 'caught', 30_000);
  assert.match(mismatch.message, /^The pipeline in msg\.iddpm does not match model "flow-tiny".*unet\.modelVarType: "fixed_small" ≠ "learned_range"/);
  assert.equal(mismatch.code, 'BAD_REQUEST');
  assert.equal(lastStatus('n1')?.fill, 'red');
  const unknown = await nextCaught(() => node('n1').receive({ model: 'no-such-model', steps: 2 }), 'caught', 30_000);
  assert.match(unknown.message, /^No trained model named "no-such-model"/);
  assert.equal(unknown.code, 'NOT_FOUND');
  const steps = await nextCaught(() => node('n1').receive({ steps: 'fast' }));
  assert.match(steps.message, /^msg\.steps: must be a number of steps/);
  assert.equal(steps.code, 'BAD_REQUEST');
  assert.match(await nextError(() => node('n1').receive({ count: 1000 })), /^msg\.count: must be between 1 and 256/);
});

test('every Sampler setting reaches the engine: method, eta, steps, seed, count, columns give the engine\'s own images', async () => {
  await helper.load(ALL_NODES, [
    { id: 'f1', type: 'tab' },
    { id: 'n1', type: 'iddpm-sampler', z: 'f1', model: 'flow-tiny', count: 2, steps: 'ddim4', method: 'ancestral', eta: 0, class: '', seed: 3, format: 'raw', columns: 0, wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' },
    ...catcher(),
  ]);
  const viaNode = async (msg: NodeMessage): Promise<Float32Array> => {
    const p = nextMessage('out', 30_000);
    node('n1').receive(msg);
    return ((await p).payload as { data: Float32Array }).data;
  };
  const viaEngine = async (r: Record<string, unknown>): Promise<Float32Array> =>
    (await engine.sample({ model: 'flow-tiny', count: 2, steps: 'ddim4', method: 'ancestral', seed: 3, format: 'raw', ...r })).raw!.data;
  const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
  const cases: Array<Record<string, unknown>> = [{}, { method: 'ddim' }, { method: 'ddim', eta: 0.5 }, { steps: 'ddim8' }, { seed: 4 }, { count: 3 }];
  const images: Float32Array[] = [];
  for (const c of cases) {
    const mine = await viaNode({ ...c });
    assert.ok(same(mine, await viaEngine(c)), `${JSON.stringify(c)}: the node's images are the engine's for the same request`);
    images.push(mine);
  }
  for (let i = 1; i < cases.length; i++) assert.ok(!same(images[i], images[0]), `${JSON.stringify(cases[i])} changes the images`);
  const p = nextMessage('out', 30_000);
  node('n1').receive({ format: 'grid', count: 3, columns: 3 });
  const grid = PNG.sync.read((await p).payload as Buffer);
  assert.deepEqual([grid.width, grid.height], [3 * 34 + 2, 34 + 2], 'columns: 3 tiles in one row');
});

test('closing a Sampler mid-request withdraws it from the engine: nothing is sent, the next request does not wait', async () => {
  await helper.load(ALL_NODES, [
    { id: 'f1', type: 'tab' },
    // All 1000 steps for 16 images: far longer than the test waits.
    { id: 'n1', type: 'iddpm-sampler', z: 'f1', model: 'flow-tiny', count: 16, steps: '', method: 'ancestral', eta: 0, class: '', seed: 1, format: 'grid', columns: 0, wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' },
    ...catcher(),
  ]);
  const after: unknown[] = [];
  node('out').on('input', ((m: NodeMessage) => after.push(m)) as never);
  node('caught').on('input', ((m: NodeMessage) => after.push(m.error)) as never);
  node('n1').receive({ payload: 'go' });
  for (const until = Date.now() + 30_000; !statuses('n1').some((st) => /^sampling \d+\/1000 /.test(st.text ?? '')); await new Promise((r) => setTimeout(r, 50))) {
    assert.ok(Date.now() < until, `no sampling progress: ${JSON.stringify(statuses('n1'))}`);
  }
  await helper.unload();
  // Sampling requests run one at a time: this one starts only once the withdrawn one has stopped.
  let timer: NodeJS.Timeout | undefined;
  const next = await Promise.race([
    engine.sample({ model: 'flow-tiny', count: 1, steps: 2, format: 'raw' }),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the next request waited 10 s: the withdrawn one still runs')), 10_000))),
  ]).finally(() => clearTimeout(timer));
  assert.deepEqual(next.raw?.shape, [1, 32, 32, 1]);
  assert.deepEqual(after, [], 'a closed Sampler sends nothing, and its withdrawn request is no error');
});

test('swapping each component changes what the engine runs', async () => {
  await helper.load(ALL_NODES, trainingFlow({ model: 'swap-a', ...SMALL }, { maxSteps: 1 }));
  let done = collectUntilDone();
  node('s').receive({});
  const a = progressOf(await done)[0];
  await helper.unload();
  // The same flow, every component swapped by its msg override.
  await helper.load(ALL_NODES, trainingFlow({ model: 'swap-a', ...SMALL }, { maxSteps: 1 }));
  done = collectUntilDone();
  node('s').receive({ model: 'swap-b', schedule: 'linear', steps: 100, modelMeanType: 'start_x', modelVarType: 'fixed_large', loss: 'simple', timesteps: 'uniform' });
  const b = progressOf(await done)[0];

  // Loss: the hybrid run reports an L_vlb term, the simple one only the MSE.
  assert.equal(typeof a.vb, 'number');
  assert.equal(b.vb, undefined);
  assert.equal(typeof b.mse, 'number');
  // Timesteps: importance sampling is still warming up its history; uniform needs none.
  assert.deepEqual([a.importance?.warmedUp, b.importance?.warmedUp], [false, true]);
  const sa = storedSpec('swap-a');
  const sb = storedSpec('swap-b');
  // UNet: a learned variance doubles the output channels; a fixed one does not.
  assert.deepEqual([sa.unetConfig.outChannels, sb.unetConfig.outChannels], [2, 1]);
  assert.deepEqual([sa.pipeline.schedule, sb.pipeline.schedule], [{ kind: 'cosine', steps: 1000, cosineS: 0.008, maxBeta: 0.999 }, { kind: 'linear', steps: 100 }]);
  assert.deepEqual([sa.pipeline.noiser.modelMeanType, sb.pipeline.noiser.modelMeanType], ['epsilon', 'start_x']);
  // Schedule: the engine's tables for the two stored schedules differ as the formulas do.
  const [ta, tb] = await Promise.all([engine.schedule(sa.pipeline.schedule), engine.schedule(sb.pipeline.schedule)]);
  assert.equal(ta.betas.length, 1000);
  assert.equal(tb.betas.length, 100);
  assert.ok(Math.abs(tb.betas[99] - 0.02 * 1000 / 100) < 1e-9, `linear β_T ${tb.betas[99]}`);
});

test('the Trainer trains on images carried by the message', async () => {
  await helper.load(ALL_NODES, trainingFlow({ model: 'in-message', ...SMALL }, { maxSteps: 1 }));
  const done = collectUntilDone();
  const data = Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.sin(i) * 0.9);
  node('s').receive({ dataset: 'images', payload: { shape: [4, 8, 8, 1], data } });
  const msgs = await done;
  assert.equal(progressOf(msgs)[0].step, 1);
  assert.equal(storedSpec('in-message').train?.dataset.kind, 'images');
});

test('incomplete pipelines and bad options are refused by name before reaching the engine', async () => {
  await helper.load(ALL_NODES, trainingFlow({ model: 'x' }));
  assert.equal(
    await nextError(() => node('t').receive({ iddpm: { schedule: { kind: 'cosine', steps: 10 }, loss: { kind: 'simple', lambda: 0 } } })),
    'Cannot train: the pipeline in msg.iddpm is missing noiser (Noiser node), unet (UNet node), timesteps (Importance Sampler node). Wire those nodes before the Trainer.',
  );
  assert.match(await nextError(() => node('s').receive({ batchSize: 0 })), /^msg\.batchSize: must be between 1 and 1024, not 0$/);
  assert.match(await nextError(() => node('s').receive({ dataset: 'folder' })), /needs a folder path/);
  const noModel = await nextCaught(() => node('t').receive({ topic: 'stop' }));
  assert.match(noModel.message, /^No model to stop/);
  assert.equal(noModel.code, 'BAD_REQUEST');
  assert.equal(lastStatus('t')?.fill, 'red');
});

test('controls, a refused second run, and a redeploy mid-training that stops with a checkpoint', async () => {
  const second = { id: 't2', type: 'iddpm-trainer', z: 'f1', ...TRAINER, wires: [['out']] };
  await helper.load(ALL_NODES, trainingFlow({ model: 'long-run', ...SMALL }, { maxSteps: 0 }, [second]));
  const firstProgress = nextMessage('out', 30_000, (m) => m.topic === 'progress');
  node('s').receive({});
  await firstProgress;

  // A second request for the same model: this node knows; another Trainer gets the engine's refusal.
  const msgWith = { iddpm: pipelineOf('long-run') as never };
  const own = await nextCaught(() => node('t').receive(msgWith));
  assert.match(own.message, /already training in this node/);
  assert.equal(own.code, 'BUSY');
  const refused = await nextCaught(() => node('t2').receive(msgWith));
  assert.match(refused.message, /^Training of "long-run" was refused: .*already training/);
  assert.equal(refused.code, 'BUSY', 'the engine\'s own code');

  let reply = nextMessage('out', 10_000, (m) => m.topic === 'status');
  node('t').receive({ topic: 'pause' });
  assert.equal(((await reply).payload as { state: string }).state, 'paused');
  reply = nextMessage('out', 10_000, (m) => m.topic === 'status');
  node('t').receive({ topic: 'resume', model: 'long-run' });
  assert.equal(((await reply).payload as { state: string }).state, 'running');

  const t0 = Date.now();
  await helper.setFlows([{ id: 'f1', type: 'tab' }, { id: 'other', type: 'helper', z: 'f1' }], 'full').catch((err: Error) => {
    if (!/timeout waiting event/.test(err.message)) throw err;
  });
  const seconds = (Date.now() - t0) / 1000;
  assert.ok(seconds < 15, `redeploy took ${seconds} s`);
  const status = await engine.status('long-run');
  assert.equal(status?.state, 'stopped');
  const spec = storedSpec('long-run');
  assert.ok(spec.step >= 1, `checkpoint at step ${spec.step}`);
  assert.ok(existsSync(join(modelsDir, 'long-run')), 'model folder kept');
});

test('a dead engine fails the running job through Catch, and the next request starts a new engine', async () => {
  await helper.load(ALL_NODES, trainingFlow({ model: 'crash', ...SMALL }, { maxSteps: 0 }));
  const progress = nextMessage('out', 30_000, (m) => m.topic === 'progress');
  node('s').receive({});
  await progress;
  const reason = await nextCaught(() => process.kill(engine.pid!, 'SIGKILL'), 'caught', 10_000);
  assert.match(reason.message, /^Training of "crash" failed: engine stopped: The IDDPM engine process exited \(signal SIGKILL\)/);
  assert.equal(reason.code, 'ENGINE_EXITED');
  assert.equal(lastStatus('t')?.fill, 'red');
  const reply = nextMessage('out', 30_000, (m) => m.topic === 'status');
  node('t').receive({ topic: 'status', model: 'crash' });
  assert.notEqual(((await reply).payload as { state?: string } | null)?.state, 'running');
});

/** A complete pipeline for `model`, as the component nodes of trainingFlow build it. */
function pipelineOf(model: string): Record<string, unknown> {
  return {
    schedule: { kind: 'cosine', steps: 1000, cosineS: 0.008, maxBeta: 0.999 },
    noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
    unet: { model, preset: 'tiny', modelVarType: 'learned_range', numClasses: null },
    loss: { kind: 'hybrid', lambda: 0.001 },
    timesteps: { kind: 'importance', history: 10, uniformProb: 0.001 },
  };
}

test('Schedule emits its tables and Noiser noises images into a strip', async () => {
  await helper.load(ALL_NODES, [
    { id: 'f1', type: 'tab' },
    { id: 'n1', type: 'iddpm-schedule', z: 'f1', kind: 'cosine', steps: 1000, cosineS: 0.008, maxBeta: 0.999, emitTables: false, wires: [['out']] },
    { id: 'n2', type: 'iddpm-noiser', z: 'f1', modelMeanType: 'epsilon', rescaleTimesteps: true, wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' },
    ...catcher(),
  ]);
  let p = nextMessage('out', 30_000);
  node('n1').receive({ topic: 'tables', steps: 200 });
  const tables = (await p).payload as { betas: number[]; alphasCumprod: number[]; snr: number[] };
  const f = (u: number): number => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  assert.equal(tables.betas.length, 200);
  for (const i of [0, 49, 150]) {
    assert.ok(Math.abs(tables.alphasCumprod[i] - f((i + 1) / 200) / f(0)) < 1e-6, `ᾱ at ${i}`);
    assert.ok(Math.abs(tables.snr[i] - tables.alphasCumprod[i] / (1 - tables.alphasCumprod[i])) < 1e-9 * tables.snr[i] + 1e-12);
  }
  assert.ok(Math.max(...tables.betas) <= 0.999);
  assert.equal(lastStatus('n1')?.text, 'tables sent: cosine · T=200');

  // A mid-grey 8×8 PNG noised at t = 0 (barely) and t = 999 (pure noise): one row of two tiles.
  const img = new PNG({ width: 8, height: 8, colorType: 0 });
  img.data.fill(128);
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  p = nextMessage('out', 30_000);
  node('n2').receive({ payload: PNG.sync.write(img, { colorType: 0 }), t: [0, 999], seed: 3 });
  const out = await p;
  assert.deepEqual(out.t, [0, 999]);
  const strip = PNG.sync.read(out.payload as Buffer);
  assert.deepEqual([strip.width, strip.height], [2 * (8 + 2) + 2, 8 + 2 + 2]);
  const px = (x: number, y: number): number => strip.data[(y * strip.width + x) * 4];
  let first = 0;
  let spread = 0;
  for (let y = 2; y < 10; y++) {
    for (let x = 2; x < 10; x++) first = Math.max(first, Math.abs(px(x, y) - 128));
    for (let x = 12; x < 20; x++) spread += Math.abs(px(x, y) - 128);
  }
  assert.ok(first <= 3, `t=0 differs from the image by ${first}`);
  assert.ok(spread / 64 > 20, `t=999 should be noise, mean |Δ| ${spread / 64}`);
  assert.equal(lastStatus('n2')?.text, 'noised 1 image(s) at 2 t');
  assert.equal(await nextError(() => node('n2').receive({ payload: PNG.sync.write(img), t: 5000 })), 'msg.t: must be between 0 and 999, not 5000');
  assert.match(await nextError(() => node('n2').receive({ payload: Buffer.from('not a png'), t: 3 })), /^msg\.payload could not be read as images/);
});
