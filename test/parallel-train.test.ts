/**
 * Data-parallel training on worker threads: a step on 2 threads is the in-thread step (up to float summation
 * order), a step on 1 thread is bit-identical to it, runs are reproducible by seed, a job stopped and resumed on
 * 2 threads matches the uninterrupted one, and the threads end when the job does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { ModelStore, type Trainer, type StepResult } from '../engine/train';
import { ParallelGradients, WorkerPool, planShards, poolThreads } from '../engine/parallel';
import { runSmallJob, smallTrainer } from './small-run';

function maxWeightDiff(a: Trainer, b: Trainer, which: 'unet' | 'ema' = 'unet'): number {
  const wa = a[which].trainableVariables();
  const wb = b[which].trainableVariables();
  return Math.max(...wa.map((v, i) => tf.tidy(() => v.sub(wb[i]).abs().max().dataSync()[0])));
}

test('shards are contiguous, cover the batch and number microbatches as one thread does', () => {
  assert.deepEqual(planShards(16, 2, (n) => Math.min(n, 6)), [
    { start: 0, end: 8, microbatch: 6, microOffset: 0 },
    { start: 8, end: 16, microbatch: 6, microOffset: 2 },
  ]);
  assert.deepEqual(planShards(5, 2, () => 2).map((s) => [s.start, s.end, s.microOffset]), [[0, 2, 0], [2, 5, 1]]);
  assert.deepEqual(planShards(1, 2, () => 1), [{ start: 0, end: 1, microbatch: 1, microOffset: 0 }], 'an idle thread gets no shard');
});

test('a step on 2 threads equals the in-thread step; on 1 thread it is bit-identical', { timeout: 120_000 }, async () => {
  await initBackend('wasm');
  const single = await smallTrainer(4, 2);
  const two = await smallTrainer(4, 2);
  const one = await smallTrainer(4, 2);
  const pool2 = new WorkerPool(2);
  const pool1 = new WorkerPool(1);
  try {
    two.useGradientSource(await ParallelGradients.start(pool2, two));
    one.useGradientSource(await ParallelGradients.start(pool1, one));
    for (let i = 0; i < 4; i++) {
      const a = single.runStep();
      const b: StepResult = await two.nextStep();
      const c: StepResult = await one.nextStep();
      assert.deepEqual(b.t, a.t);
      assert.ok(Math.abs(a.loss - b.loss) < 1e-5, `step ${i + 1}: loss ${a.loss} vs ${b.loss}`);
      assert.ok(Math.abs(a.gradNorm - b.gradNorm) < 1e-5 * a.gradNorm, `step ${i + 1}: grad norm ${a.gradNorm} vs ${b.gradNorm}`);
      for (const k of ['loss', 'mse', 'vb'] as const) {
        const d = Math.max(...a.losses[k]!.map((v, j) => Math.abs(v - b.losses[k]![j])));
        assert.ok(d < 1e-5, `step ${i + 1}: per-example ${k} differs by ${d}`);
      }
      assert.equal(c.loss, a.loss);
      assert.equal(c.gradNorm, a.gradNorm);
      assert.deepEqual(c.losses, a.losses);
    }
    // Adam divides by √v per coordinate, so summation-order noise in near-zero gradients moves weights by up to
    // ~lr·1e-3 (see train-resume); a wrong sum (a missing shard, a mean of means) moves them by ≫ lr = 1e-3.
    const diff = maxWeightDiff(single, two);
    assert.ok(diff < 1e-5, `weights after 4 steps differ by ${diff}`);
    assert.ok(maxWeightDiff(single, two, 'ema') < 1e-5);
    assert.equal(maxWeightDiff(single, one), 0, 'one thread: the same arithmetic');
    assert.equal(maxWeightDiff(single, one, 'ema'), 0);
    // The steps moved the weights: equality is not that of untouched models.
    const fresh = await smallTrainer(4, 2);
    assert.ok(maxWeightDiff(single, fresh) > 1e-4);
    fresh.dispose();
  } finally {
    single.dispose();
    two.dispose();
    one.dispose();
    await pool2.terminate();
    await pool1.terminate();
  }
});

test('on 2 threads, a job is reproducible by seed and resumes exactly; its threads end with it', { timeout: 180_000 }, async () => {
  process.env.IDDPM_WORKERS = '2';
  process.env.IDDPM_WORKERS_IDLE_MS = '0';
  await initBackend('wasm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-parallel-'));
  const store = new ModelStore(dir);
  const total = 6;
  const whole = await runSmallJob(store, 'whole', total);
  assert.equal(poolThreads(), 0, 'the threads ended with the job');
  const again = await runSmallJob(store, 'again', total);
  assert.deepEqual([...again], [...whole], 'same seed, same threads: the same losses');
  const first = await runSmallJob(store, 'split', total, 2);
  assert.equal(store.readSpec('split').step, 2);
  const rest = await runSmallJob(store, 'split', total);
  for (const [step, loss] of [...first, ...rest]) {
    assert.ok(Math.abs(loss - whole.get(step)!) <= 1e-6, `step ${step}: resumed ${loss} vs uninterrupted ${whole.get(step)}`);
  }
  assert.equal(new Set([...whole.values()].map((v) => v.toFixed(6))).size, total);
  const a = store.loadCheckpoint('whole', { training: true });
  const b = store.loadCheckpoint('split', { training: true });
  for (const key of ['weights', 'ema'] as const) {
    for (const [k, t] of a[key]) assert.deepEqual(b[key].get(k)!.data, t.data, `${key} ${k}`);
  }
  assert.deepEqual(b.state, a.state);
  assert.equal(poolThreads(), 0);
});
