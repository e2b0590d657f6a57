/**
 * Every training setting reaches its effect (a setting that reaches nothing is a bug): the importance weights
 * multiply the per-example losses of the objective, the EMA follows its rate, the learning rate and the
 * gradient clip scale the update, the seed and the batch size shape the draws, and the job's intervals decide
 * its progress, previews and checkpoints.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../engine/backend';
import { ModelStore, type Trainer } from '../../engine/train';
import { LossSecondMomentResampler } from '../../engine/timesteps';
import { TrainingJob, type TrainEvent } from '../../engine/run/job';
import type { SafeTensor } from '../../engine/safetensors';
import { smallOptions, smallPipeline, smallTrainer } from '../small-run';

before(async () => {
  await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
});

const weightsOf = (t: Trainer, ema = false): Map<string, SafeTensor> => (ema ? t.ema : t.unet).stateDict();
const values = (m: Map<string, SafeTensor>): Float32Array => {
  const parts = [...m.values()].map((v) => v.data as Float32Array);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
};
const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('importance weights multiply each example\'s loss in the objective (and are not all 1 once warmed up)', async () => {
  const trainer = await smallTrainer(4, 4);
  try {
    const sampler = trainer.timestepSampler as LossSecondMomentResampler;
    for (let i = 0; i < 60 && !sampler.warmedUp(); i++) trainer.runStep();
    assert.ok(sampler.warmedUp(), 'the importance sampler warms up within 60 steps');
    const r = trainer.runStep();
    assert.ok(r.weights.some((w) => Math.abs(w - 1) > 1e-3), `weights ${Array.from(r.weights)} differ from 1`);
    const weighted = r.losses.loss.reduce((s, l, i) => s + l * r.weights[i], 0) / r.weights.length;
    const unweighted = r.losses.loss.reduce((s, l) => s + l, 0) / r.weights.length;
    assert.ok(Math.abs(r.loss - weighted) <= 1e-5 * Math.abs(weighted), `objective ${r.loss} = mean(loss·w) ${weighted}`);
    assert.ok(Math.abs(r.loss - unweighted) > 1e-4 * Math.abs(unweighted), 'and not the unweighted mean');
  } finally {
    trainer.dispose();
  }
});

test('the EMA follows its rate: ema₁ = r·ema₀ + (1 − r)·θ₁, for two rates', async () => {
  for (const emaRate of [0.5, 0.9]) {
    const trainer = await smallTrainer(4, 4, { emaRate });
    try {
      const ema0 = values(weightsOf(trainer, true));
      trainer.runStep();
      const theta1 = values(weightsOf(trainer));
      const ema1 = values(weightsOf(trainer, true));
      const expected = ema0.map((e, i) => emaRate * e + (1 - emaRate) * theta1[i]);
      assert.ok(maxAbsDiff(theta1, ema0) > 1e-4, 'the step moved the weights');
      assert.ok(maxAbsDiff(ema1, expected) < 1e-6, `rate ${emaRate}: EMA off by ${maxAbsDiff(ema1, expected)}`);
    } finally {
      trainer.dispose();
    }
  }
});

test('the learning rate scales Adam\'s first update; a tiny gradient clip shrinks it (ε = 1e-8 dominates)', async () => {
  const update = async (extra: Parameters<typeof smallTrainer>[2]): Promise<number> => {
    const trainer = await smallTrainer(4, 4, extra);
    try {
      const before = values(weightsOf(trainer));
      trainer.runStep();
      return maxAbsDiff(values(weightsOf(trainer)), before);
    } finally {
      trainer.dispose();
    }
  };
  const base = await update({ lr: 1e-3, gradClip: 0 });
  const double = await update({ lr: 2e-3, gradClip: 0 });
  const clipped = await update({ lr: 1e-3, gradClip: 1e-9 });
  // Adam's first step moves each weight by lr·g/(|g| + ε) ≈ lr: the largest move is the learning rate.
  assert.ok(Math.abs(base - 1e-3) < 1e-4, `largest first update ${base} ≈ lr 1e-3`);
  assert.ok(Math.abs(double / base - 2) < 0.05, `lr × 2 → update × ${double / base}`);
  assert.ok(clipped < 0.2 * base, `clipped to a norm of 1e-9 the update is ${clipped}, not ${base}`);
});

test('the seed decides the initial weights and the draws; the batch size the images per step', async () => {
  const a = await smallTrainer(4, 4, { seed: 1 });
  const b = await smallTrainer(4, 4, { seed: 2 });
  const c = await smallTrainer(6, 3, { seed: 1 });
  try {
    assert.ok(maxAbsDiff(values(weightsOf(a)), values(weightsOf(b))) > 1e-3, 'another seed, other initial weights');
    const ra = a.runStep();
    const rb = b.runStep();
    assert.notDeepEqual([...ra.t, ...ra.losses.loss], [...rb.t, ...rb.losses.loss]);
    const rc = c.runStep();
    assert.equal(rc.t.length, 6);
    assert.equal(c.microbatch, 3);
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
});

test('the job\'s intervals: progress every logEvery, previews of sampleCount images every sampleEvery, checkpoints every checkpointEvery, until maxSteps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iddpm-settings-'));
  try {
    const events: TrainEvent[] = [];
    const job = new TrainingJob({
      name: 'm', pipeline: smallPipeline('m', 0), store: new ModelStore(dir),
      options: smallOptions(6, { logEvery: 2, sampleEvery: 3, sampleCount: 4, checkpointEvery: 4 }),
      onEvent: (ev) => events.push(ev),
    });
    await job.start();
    assert.equal(job.status().state, 'done', job.status().error);
    const at = (type: TrainEvent['type']): number[] => events.filter((e) => e.type === type).map((e) => ('step' in e ? e.step : e.type === 'progress' ? e.payload.step : -1));
    assert.deepEqual(at('progress'), [2, 4, 6]);
    assert.deepEqual(at('sample'), [3, 6]);
    assert.deepEqual(at('checkpoint'), [4, 6], 'every 4 steps, and the final one');
    const preview = events.find((e) => e.type === 'sample');
    assert.ok(preview?.type === 'sample');
    // 4 images of 8 px in a 2×2 grid with 2 px padding: 2·8 + 3·2 = 22 px wide (PNG IHDR width at byte 16).
    assert.equal(preview.png.readUInt32BE(16), 22);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
