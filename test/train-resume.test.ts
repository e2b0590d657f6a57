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
import { createDataset } from '../engine/data';
import { ModelStore, Trainer, TrainingJob, datasetSpecFor, resolveTrainRequest, trainingDiffusion, unetConfigFor } from '../engine/train';
import type { CompletePipeline, TrainEvent, TrainOptions } from '../engine/host/protocol';

/**
 * A small class-conditional UNet with dropout on 8×8 MNIST, T = 4 with an importance sampler of history 2, so
 * that within a few steps every random source and every piece of state is exercised: dropout masks, labels,
 * the sampler's warm-up and its weights, Adam's moments, the EMA.
 */
function pipeline(name: string): CompletePipeline {
  return {
    schedule: { kind: 'cosine', steps: 4 },
    noiser: { modelMeanType: 'epsilon' },
    unet: { model: name, preset: 'tiny', config: { imageSize: 8, channelMult: [1, 2], attentionResolutions: [4], modelChannels: 32, dropout: 0.1 }, modelVarType: 'learned_range', numClasses: 10 },
    loss: { kind: 'hybrid', lambda: 0.001 },
    timesteps: { kind: 'importance', history: 2 },
  };
}

const options = (maxSteps: number): TrainOptions => ({
  dataset: { kind: 'mnist', limit: 50 }, batchSize: 4, microbatch: 2, lr: 1e-3, emaRate: 0.9, gradClip: 1, maxSteps, logEvery: 1, checkpointEvery: 0, seed: 5,
});

async function run(store: ModelStore, name: string, maxSteps: number, stopAfter?: number): Promise<Map<number, number>> {
  const losses = new Map<number, number>();
  const job: TrainingJob = new TrainingJob({ name, pipeline: pipeline(name), options: options(maxSteps), store, onEvent: (ev: TrainEvent) => {
    if (ev.type === 'progress') {
      losses.set(ev.payload.step, ev.payload.loss);
      if (ev.payload.step === stopAfter) void job.stop();
    }
  } });
  await job.start();
  assert.ok(['done', 'stopped'].includes(job.status().state), job.status().error);
  return losses;
}

test('a run stopped at step k and resumed matches the uninterrupted run step for step', { timeout: 120_000 }, async () => {
  await initBackend('wasm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-resume-'));
  const store = new ModelStore(dir);
  const total = 8;
  const whole = await run(store, 'whole', total);
  const first = await run(store, 'split', total, 3);
  assert.equal(store.readSpec('split').step, 3, 'stopped at a step boundary with a checkpoint');
  const rest = await run(store, 'split', total);
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
  const other = pipeline('split');
  (other.unet.config as Record<string, unknown>).modelChannels = 64;
  const job = new TrainingJob({ name: 'split', pipeline: other, options: options(10), store });
  await job.start();
  assert.match(job.status().error!, /Cannot resume model "split": its checkpoint \(step 8\) has a different UNet architecture/);
});

/** Without dropout: its masks are drawn per microbatch, so only then is the split exactly comparable. */
async function trainer(microbatch: number, batchSize = 4): Promise<Trainer> {
  const p = pipeline('m');
  (p.unet.config as Record<string, unknown>).dropout = 0;
  const { options: o } = resolveTrainRequest('m', p, { ...options(0), batchSize, microbatch });
  const config = unetConfigFor(p.unet);
  return new Trainer({ pipeline: p, config, options: o, diffusion: trainingDiffusion(p), dataset: await createDataset(datasetSpecFor(o.dataset, config)) });
}

test('the microbatch split does not change a step (gradients accumulate to the batch mean)', async () => {
  await initBackend('wasm');
  const whole = await trainer(4);
  const split = await trainer(1);
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
  const t = await trainer(1, 2);
  t.runStep();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 99; i++) t.runStep();
  assert.equal(t.step, 100);
  assert.equal(tf.memory().numTensors, before, 'tensors alive after 100 steps');
  t.dispose();
});
