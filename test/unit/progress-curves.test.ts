/**
 * What a job reports beside its losses (engine/train/metrics.ts): the loss and L_t over t as the mean of each t's
 * last `history` values, binned; p_t normalised and averaged per bin, with its floor u/T (importance) or 1/T
 * (uniform); the pace and ETA from the recent steps. And the stored facts a model summary reads
 * (engine/train/store.ts, summary.ts): the log's last line from its tail, the last evaluation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StepClock, TimestepLosses } from '../../engine/train/metrics';
import { ModelStore } from '../../engine/train/store';
import { modelSummary, pipelineSummary } from '../../engine/train/summary';
import { pipelineDigest } from '../../engine/digest';
import type { CompletePipeline, ModelSpec } from '../../engine/spec';

test('loss over t: the mean of each t\'s last values, binned; unseen bins are null', () => {
  const tl = new TimestepLosses(8, 2);
  const add = (t: number[], loss: number[], vb?: number[]): void => tl.add(Int32Array.from(t), { loss: Float32Array.from(loss), ...(vb ? { vb: Float32Array.from(vb) } : {}) });
  add([0, 1, 5], [1, 3, 10], [0.5, 0.5, 2]);
  add([0, 0], [5, 7], [1, 1]); // t = 0 keeps its last 2: 5 and 7
  const c = tl.curves(4, new Float64Array(8).fill(1), 0.001);
  assert.deepEqual(c.t, [0, 2, 4, 6]);
  assert.equal(c.binSize, 2);
  // bin 0: t0 mean(5,7) = 6, t1 = 3 → 4.5; bin 2: t5 = 10
  assert.deepEqual(c.loss, [4.5, null, 10, null]);
  assert.deepEqual(c.vb, [(1 + 0.5) / 2, null, 2, null]);
  assert.deepEqual(c.p, [0.125, 0.125, 0.125, 0.125]);
  assert.equal(c.pFloor, 0.001 / 8);
  assert.equal(c.pUniform, 1 / 8);
  assert.equal(tl.curves(4, new Float64Array(8).fill(1), undefined).pFloor, 1 / 8, 'uniform sampling: the floor is 1/T');
});

test('p_t is normalised and averaged per bin; T not a multiple of the bins keeps a short last bin', () => {
  const tl = new TimestepLosses(5, 3);
  const w = Float64Array.from([1, 1, 2, 2, 4]); // p = [.1, .1, .2, .2, .4]
  const c = tl.curves(3, w, 0);
  assert.deepEqual(c.t, [0, 2, 4]);
  assert.deepEqual(c.p.map((v) => Number(v.toFixed(12))), [0.1, 0.2, 0.4]);
  assert.equal(c.vb, undefined, 'no vb term seen: no vb curve');
  assert.deepEqual(c.loss, [null, null, null]);
});

test('the pace and ETA come from the recent steps; a reset forgets them', () => {
  const clock = new StepClock(4);
  assert.equal(clock.stepsPerSec(), undefined);
  for (let i = 0; i <= 6; i++) clock.tick(1000 + i * 500); // 2 steps/s
  assert.equal(clock.stepsPerSec(), 2);
  assert.equal(clock.eta(100, 300), 100);
  assert.equal(clock.eta(300, 300), 0);
  assert.equal(clock.eta(5, 0), undefined, 'no max steps, no ETA');
  clock.reset();
  assert.equal(clock.eta(5, 10), undefined);
});

const pipeline: CompletePipeline = {
  schedule: { kind: 'cosine', steps: 100, cosineS: 0.008, maxBeta: 0.999 },
  noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
  unet: { model: 'm', preset: 'custom', config: {}, modelVarType: 'learned_range', numClasses: null },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'importance', history: 10, uniformProb: 0.001 },
};

test('a model summary: its pipeline in a line, checkpoint step, the log\'s last loss (read from the tail), the last evaluation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iddpm-summary-'));
  try {
    const store = new ModelStore(dir);
    const spec = { name: 'm', pipeline, unetConfig: { imageSize: 8, inChannels: 1, numClasses: null }, step: 40, createdAt: 'a', updatedAt: 'b' } as unknown as ModelSpec;
    mkdirSync(join(dir, 'm', 'ckpt-00000040'), { recursive: true });
    writeFileSync(join(dir, 'm', 'ckpt-00000040', 'model.json'), JSON.stringify(spec));
    writeFileSync(join(dir, 'm', 'latest'), 'ckpt-00000040');
    // A long log (beyond the tail that is read) whose last line was cut by a crash.
    for (let s = 1; s <= 400; s++) store.appendLog('m', { step: s, loss: 1 / s, mse: 0.5 / s, vb: 0.1 / s, lossQuartiles: [1, 2, 3, 4], pad: 'x'.repeat(60) });
    appendFileSync(join(dir, 'm', 'log.jsonl'), '{"step": 401, "loss": 0.0');
    assert.equal(pipelineSummary(spec), 'cosine T=100 · custom 8×8×1 · learned_range · hybrid λ=0.001 · importance');
    let m = modelSummary(store, 'm');
    assert.deepEqual([m.name, m.step, m.imageSize, m.channels, m.pipelineDigest], ['m', 40, 8, 1, pipelineDigest(pipeline)]);
    assert.deepEqual(m.lastLoss, { step: 400, loss: 1 / 400, mse: 0.5 / 400, vb: 0.1 / 400 });
    assert.equal(m.evaluation, undefined);
    store.saveEvaluation('m', { bitsPerDim: 3.5, count: 4, dataset: { kind: 'mnist', split: 'test' }, step: 40, at: 'now' });
    m = modelSummary(store, 'm');
    assert.deepEqual([m.evaluation?.bitsPerDim, m.evaluation?.current], [3.5, true]);
    store.saveEvaluation('m', { bitsPerDim: 4, count: 4, dataset: { kind: 'mnist', split: 'test' }, step: 20, at: 'then' });
    assert.equal(modelSummary(store, 'm').evaluation?.current, false, 'an evaluation of older weights says so');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
