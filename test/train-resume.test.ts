/**
 * Exactness of a run: stopped at step k and resumed, it matches the uninterrupted run step for step; the
 * microbatch split does not change the step; and 100 steps leave no tensor behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { ModelStore } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import { runSmallJob, smallOptions, smallPipeline, smallTrainer } from './small-run';

test('a run stopped at step k and resumed matches the uninterrupted run step for step', { timeout: 120_000 }, async () => {
  await initBackend('wasm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-resume-'));
  const store = new ModelStore(dir);
  const total = 8;
  const whole = await runSmallJob(store, 'whole', total);
  const first = await runSmallJob(store, 'split', total, 3);
  assert.equal(store.readSpec('split').step, 3, 'stopped at a step boundary with a checkpoint');
  const rest = await runSmallJob(store, 'split', total);
  assert.deepEqual([...first.keys(), ...rest.keys()], [...whole.keys()]);
  for (const [step, loss] of [...first, ...rest]) {
    assert.ok(Math.abs(loss - whole.get(step)!) <= 1e-6, `step ${step}: resumed ${loss} vs uninterrupted ${whole.get(step)}`);
  }
  // The losses differ from step to step, so equality is not an accident of a constant.
  assert.ok(new Set([...whole.values()].map((v) => v.toFixed(6))).size === total);
  const a = store.loadCheckpoint('whole', { training: true });
  const b = store.loadCheckpoint('split', { training: true });
  for (const key of ['weights', 'ema'] as const) {
    for (const [k, t] of a[key]) assert.deepEqual(b[key].get(k)!.data, t.data, `${key} ${k}`);
  }
  assert.deepEqual(b.state, a.state);
  assert.equal(b.optimizer!.step, total);
  assert.deepEqual((b.state!.timestepSampler as { lossCounts: number[] }).lossCounts, [2, 2, 2, 2], 'the importance sampler warmed up');
  assert.deepEqual(store.readLog('split').map((e) => e.step), [1, 2, 3, 4, 5, 6, 7, 8]);

  // A checkpoint of another architecture is not silently continued.
  const other = smallPipeline('split');
  (other.unet.config as Record<string, unknown>).modelChannels = 64;
  const job = new TrainingJob({ name: 'split', pipeline: other, options: smallOptions(10), store });
  await job.start();
  assert.match(job.status().error!, /Cannot resume model "split": its checkpoint \(step 8\) has a different UNet architecture/);
});

test('the microbatch split does not change a step (gradients accumulate to the batch mean)', async () => {
  await initBackend('wasm');
  const whole = await smallTrainer(4, 4);
  const split = await smallTrainer(4, 1);
  for (let i = 0; i < 3; i++) {
    const a = whole.runStep();
    const b = split.runStep();
    assert.deepEqual(b.t, a.t);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-5, `step ${i + 1}: ${a.loss} vs ${b.loss}`);
    assert.ok(Math.abs(a.gradNorm - b.gradNorm) < 1e-4 * a.gradNorm, `grad norm ${a.gradNorm} vs ${b.gradNorm}`);
  }
  const wa = whole.unet.trainableVariables();
  const wb = split.unet.trainableVariables();
  const maxDiff = Math.max(...wa.map((v, i) => tf.tidy(() => v.sub(wb[i]).abs().max().dataSync()[0])));
  // Summation order differs, and Adam divides by √v per coordinate, so near-zero gradients turn float noise into
  // differences up to ~lr; a wrong accumulation (a sum of means, a missing microbatch) moves weights by ≫ lr.
  assert.ok(maxDiff < 1e-3, `weights differ by ${maxDiff}`);
  whole.dispose();
  split.dispose();
});

test('no tensor leak over 100 steps', { timeout: 120_000 }, async () => {
  await initBackend('wasm');
  const t = await smallTrainer(2, 1);
  t.runStep();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 99; i++) t.runStep();
  assert.equal(t.step, 100);
  assert.equal(tf.memory().numTensors, before, 'tensors alive after 100 steps');
  t.dispose();
});
