/**
 * The shared engine process through its client: a real child process on wasm — requests, errors with codes,
 * a model trained and sampled, a second training refused, and the process dying and coming back.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '../../engine/host/client';
import type { TrainEvent } from '../../engine/host/protocol';
import type { CompletePipeline, EngineError } from '../../engine/spec';

const modelsDir = mkdtempSync(join(tmpdir(), 'iddpm-host-'));
const engine = new EngineClient({ modelsDir, backend: 'wasm' });
after(async () => {
  await engine.close();
  rmSync(modelsDir, { recursive: true, force: true });
});

const pipeline = (model: string): CompletePipeline => ({
  schedule: { kind: 'cosine', steps: 100 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model, preset: 'custom', config: { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], numHeads: 2 }, modelVarType: 'learned_range', numClasses: null },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'importance' },
});

const rejectsWith = async (p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> => {
  await assert.rejects(p, (err: EngineError) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
};

test('engine runs in a child process on the requested backend', async () => {
  const info = await engine.info();
  assert.equal(info.backend, 'wasm');
  assert.notEqual(info.pid, process.pid);
  assert.deepEqual(info.models, []);
});

test('schedule tables match the cosine formula and noise follows q(x_t|x_0)', async () => {
  const tables = await engine.schedule({ kind: 'cosine', steps: 50 });
  const f = (u: number): number => Math.cos(((u + 0.008) / 1.008) * Math.PI / 2) ** 2;
  assert.equal(tables.alphasCumprod.length, 50);
  assert.ok(Math.abs(tables.alphasCumprod[9] - f(10 / 50) / f(0)) < 1e-3 * f(10 / 50));
  assert.ok(Math.abs(tables.snr[9] - tables.alphasCumprod[9] / (1 - tables.alphasCumprod[9])) < 1e-12);
  // At t = 0 the image is almost untouched; at T-1 it is almost pure noise (mean ≈ 0, var ≈ 1).
  const n = 4096;
  const res = await engine.noise({ schedule: { kind: 'cosine', steps: 50 }, images: { shape: [1, 64, 64, 1], data: new Float32Array(n).fill(0.5) }, t: [0, 49], seed: 3 });
  assert.deepEqual(res.images.shape, [2, 64, 64, 1]);
  const first = res.images.data.subarray(0, n);
  const last = res.images.data.subarray(n);
  assert.ok(Math.abs(first.reduce((s, v) => s + v, 0) / n - 0.5 * Math.sqrt(tables.alphasCumprod[0])) < 0.01);
  const mean = last.reduce((s, v) => s + v, 0) / n;
  assert.ok(Math.abs(mean) < 0.05, `mean at T-1 ${mean}`);
});

test('bad requests are refused with a code and a reason', async () => {
  await rejectsWith(engine.sample({ model: '../etc', count: 1 }), 'BAD_REQUEST', /model: must be 1-64 letters.* not "..\/etc"/);
  await rejectsWith(engine.sample({ model: 'nope', count: 1 }), 'NOT_FOUND', /No trained model named "nope"/);
  await rejectsWith(engine.sample({ model: 'x', count: 0 }), 'BAD_REQUEST', /count: must be between/);
  await rejectsWith(engine.sample({ model: 'x', count: 1, steps: 'fast' }), 'BAD_REQUEST', /steps: must be/);
  await rejectsWith(engine.schedule({ kind: 'quadratic' as never, steps: 10 }), 'BAD_REQUEST', /schedule.kind: must be one of linear, cosine/);
  await rejectsWith(engine.noise({ schedule: { kind: 'cosine', steps: 10 }, images: { shape: [1, 2, 2, 1], data: new Float32Array([0, NaN, 0, 0]) }, t: 1 }), 'BAD_REQUEST', /not a number in \[-1, 1\]/);
  await rejectsWith(engine.train('m', { schedule: { kind: 'cosine', steps: 10 } } as never, { dataset: { kind: 'mnist' }, batchSize: 2 }), 'BAD_REQUEST', /missing noiser, unet, loss, timesteps/);
});

test('train, refuse a second run of the same model, stop with a checkpoint, then sample a PNG', async () => {
  const events: TrainEvent[] = [];
  const listener = (ev: TrainEvent): void => {
    if (ev.name === 'small') events.push(ev);
  };
  engine.on('train', listener);
  const status = await engine.train('small', pipeline('small'), { dataset: { kind: 'mnist', limit: 64 }, batchSize: 4, maxSteps: 1000, logEvery: 2, checkpointEvery: 0, seed: 1 });
  assert.equal(status.name, 'small');
  await rejectsWith(engine.train('small', pipeline('small'), { dataset: { kind: 'mnist' }, batchSize: 4 }), 'BUSY', /already training/);
  while (!events.some((e) => e.type === 'progress')) await new Promise((r) => setTimeout(r, 100));
  const stopped = await engine.control('small', 'stop');
  assert.equal(stopped.state, 'stopped');
  assert.ok(stopped.step >= 2);
  engine.off('train', listener);
  const progress = events.find((e) => e.type === 'progress');
  assert.ok(progress && progress.type === 'progress' && Number.isFinite(progress.payload.loss) && progress.payload.backend === 'wasm');
  const spec = await engine.modelSpec('small');
  assert.equal(spec.step, stopped.step);
  assert.equal(spec.pipeline.timesteps.kind, 'importance');

  const seen: number[] = [];
  const res = await engine.sample({ model: 'small', count: 3, steps: 'ddim4', method: 'ddim', format: 'pngs', progressEvery: 1, seed: 5 }, (p) => seen.push(p.step));
  assert.equal(res.pngs?.length, 3);
  assert.deepEqual([...res.pngs![0].subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  assert.equal(res.pngs![0].readUInt32BE(16), 8); // IHDR width
  assert.ok(seen.length >= 3, `progress events ${seen}`);
});

test('a sampling request withdrawn by its caller stops at the next step', async () => {
  const abort = new AbortController();
  const steps: number[] = [];
  const pending = engine.sample({ model: 'small', count: 2, steps: 100, progressEvery: 1 }, (p) => {
    steps.push(p.step);
    if (steps.length === 2) abort.abort();
  }, abort.signal);
  await assert.rejects(pending, /cancel/i);
  assert.ok(steps.length < 20, `ran ${steps.length} steps after the abort`);
});

test('bits/dim of the trained model: finite, the prior plus every vb term, full T and respaced', async () => {
  const full = await engine.evaluate({ model: 'small', dataset: { kind: 'mnist', split: 'test' }, count: 2, perTimestep: true, seed: 1 });
  assert.equal(full.count, 2);
  assert.equal(full.terms?.length, 100);
  assert.ok(Number.isFinite(full.bitsPerDim) && full.bitsPerDim > 0, `${full.bitsPerDim}`);
  assert.ok(Math.abs(full.bitsPerDim - (full.priorBpd + full.terms!.reduce((a, b) => a + b, 0))) < 1e-6 * full.bitsPerDim);
  const few = await engine.evaluate({ model: 'small', dataset: { kind: 'mnist', split: 'test' }, count: 2, steps: 10, perTimestep: true, seed: 1 });
  assert.equal(few.terms?.length, 10);
  assert.ok(Number.isFinite(few.bitsPerDim));
  await rejectsWith(engine.evaluate({ model: 'small', dataset: { kind: 'cifar' as never }, count: 2 }), 'BAD_REQUEST', /dataset.kind: must be one of/);
});

test('the editor\'s views: the models with their last loss and last evaluation, a training log, the queue with progress and cancel by id', async () => {
  const [m] = (await engine.models()).filter((x) => x.name === 'small');
  const spec = await engine.modelSpec('small');
  assert.equal(m.step, spec.step);
  assert.equal(m.training, false);
  assert.match(m.summary, /^cosine T=100 · custom 8×8×1 · learned_range · hybrid λ=0\.001 · importance$/);
  assert.ok(m.lastLoss && m.lastLoss.step >= 2 && Number.isFinite(m.lastLoss.loss));
  // The last evaluation (10 respaced steps, just above) is of the current weights.
  assert.deepEqual([m.evaluation?.steps, m.evaluation?.count, m.evaluation?.current], ['10', 2, true]);
  const log = await engine.trainLog('small');
  assert.ok(log.length >= 1 && log.every((p, i) => Number.isFinite(p.loss) && (i === 0 || p.step > log[i - 1].step)));
  assert.equal(log.at(-1)?.step, m.lastLoss.step);
  // A long request and one behind it: both listed; the waiting one cancelled by its id.
  const queues: unknown[] = [];
  engine.on('queue', (q) => queues.push(q));
  const long = engine.sample({ model: 'small', count: 2, steps: 100, progressEvery: 1, seed: 2 });
  const behind = engine.sample({ model: 'small', count: 1, steps: 5, seed: 3 });
  let listed = await engine.sampleQueue();
  for (const until = Date.now() + 20_000; !(listed.length === 2 && listed[0].progress) && Date.now() < until; listed = await engine.sampleQueue()) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(listed.map((e) => [e.state, e.count, e.steps]), [['running', 2, '100'], ['queued', 1, '5']]);
  assert.ok(listed[0].progress!.total === 100 && listed[0].progress!.step >= 1);
  assert.deepEqual(await engine.cancelSample(listed[1].id), { cancelled: listed[1].id });
  await rejectsWith(behind, 'CANCELLED', /before it started/);
  await rejectsWith(engine.cancelSample(123456), 'NOT_FOUND', /No sampling request 123456/);
  await long;
  assert.ok(queues.length >= 3, 'queue changes are pushed');
  assert.deepEqual(await engine.sampleQueue(), []);
});

test('a dead engine is reported and the next request starts a new one', async () => {
  const { pid } = await engine.info();
  const exited = new Promise<string>((resolve) => engine.once('exit', resolve));
  const pending = engine.sample({ model: 'small', count: 2, steps: 50, seed: 1 });
  process.kill(pid, 'SIGKILL');
  assert.match(await exited, /exited/);
  await rejectsWith(pending, 'ENGINE_EXITED', /restarts on the next request/);
  const info = await engine.info();
  assert.notEqual(info.pid, pid);
  assert.deepEqual(info.models, ['small']);
});
