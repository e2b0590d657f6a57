/**
 * Sampling and bits/dim on a briefly trained `tiny` model: respaced and full-T bounds are finite, generation is
 * reproducible by seed and varies across seeds, DDIM η = 0 is deterministic given x_T, options fail clearly,
 * progress/frames/cancellation work, and nothing leaks tensors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { Rng } from '../engine/rng';
import { loadMnist } from '../engine/data';
import { generate } from '../engine/sample/generate';
import { samplesToResult } from '../engine/sample/result';
import { evaluateBpd } from '../engine/sample/bpd';
import { reverseLoop, SamplingCancelledError } from '../engine/sample/loop';
import { samplingDiffusion } from '../engine/sample/process';
import { modelFn } from '../engine/sample/generate';
import { trainTiny, TrainedModel } from './sample-fixtures';
import { UNet } from '../engine/unet/model';

let model: TrainedModel;

before(async () => {
  const info = await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
  assert.equal(info.name, process.env.IDDPM_BACKEND ?? 'wasm');
  model = await trainTiny({ steps: 20, batchSize: 8, seed: 3 });
});
after(() => model?.unet.dispose());

test('trained tiny model: bits/dim of the 50-step respaced process and of the full T are finite and plausible', async () => {
  const data = loadMnist({ split: 'test', imageSize: 32, channels: 1, limit: 1 });
  const before = tf.memory().numTensors;
  const full = await evaluateBpd(model, data, { count: 1, seed: 1, perTimestep: true, rowsPerPass: 50 });
  const r50 = await evaluateBpd(model, data, { count: 1, seed: 1, steps: 50, rowsPerPass: 50 });
  assert.equal(tf.memory().numTensors, before, 'evaluateBpd leaks no tensors');
  console.log(`bits/dim: full T=${full.steps} ${full.bitsPerDim.toFixed(3)} (prior ${full.priorBpd.toExponential(2)}), 50 steps ${r50.bitsPerDim.toFixed(3)}`);
  // The same bound of the model before training (same architecture, seed, image and noise): a bound computed
  // another way that training must have lowered.
  const untrained = UNet.create(model.unet.config, 3);
  const before0 = await evaluateBpd({ ...model, unet: untrained }, data, { count: 1, seed: 1, rowsPerPass: 50 });
  untrained.dispose();
  for (const r of [full, r50]) {
    assert.ok(Number.isFinite(r.bitsPerDim) && r.bitsPerDim > 0, `bits/dim ${r.bitsPerDim}`);
    // 8-bit data: uniform pixels score exactly 8 bits/dim; a model that learned anything does better.
    assert.ok(r.bitsPerDim < 8, `bits/dim ${r.bitsPerDim} is no better than uniform pixels`);
    assert.ok(Math.abs(r.vbBpd + r.priorBpd - r.bitsPerDim) < 1e-9 * Math.max(1, r.bitsPerDim), 'total = Σ vb + prior');
    assert.equal(r.perImage.length, 1);
    assert.equal(r.perImage[0], r.bitsPerDim);
  }
  assert.ok(full.bitsPerDim < before0.bitsPerDim - 1, `training lowered the bound: ${before0.bitsPerDim.toFixed(3)} → ${full.bitsPerDim.toFixed(3)}`);
  // The respaced process's bound is looser than the full T's (iddpm.md, "Fewer sampling steps").
  assert.ok(full.bitsPerDim < r50.bitsPerDim, `full T ${full.bitsPerDim} < 50 steps ${r50.bitsPerDim}`);
  assert.equal(full.steps, model.pipeline.schedule.steps);
  assert.equal(r50.steps, 50);
  assert.equal(full.terms?.length, full.steps);
  assert.deepEqual(full.timesteps?.slice(0, 3), [0, 1, 2]);
});

test('generation is reproducible by seed (bitwise-equal PNGs) and differs across seeds', async () => {
  const opts = { count: 3, batchSize: 2, steps: 'ddim10', method: 'ancestral' as const, seed: 7 };
  const before = tf.memory().numTensors;
  const a = await generate(model, opts);
  const b = await generate(model, opts);
  const c = await generate(model, { ...opts, seed: 8 });
  assert.equal(tf.memory().numTensors, before, 'generate leaks no tensors');
  assert.deepEqual(a.images.shape, [3, 32, 32, 1]);
  const pa = (await samplesToResult(a, 'pngs', undefined, 0, 'wasm')).pngs!;
  const pb = (await samplesToResult(b, 'pngs', undefined, 0, 'wasm')).pngs!;
  const pc = (await samplesToResult(c, 'pngs', undefined, 0, 'wasm')).pngs!;
  pa.forEach((png, i) => assert.ok(png.equals(pb[i]), `image ${i}: same seed, same PNG`));
  pa.forEach((png, i) => assert.ok(!png.equals(pc[i]), `image ${i}: another seed, another PNG`));
  assert.ok(a.images.data.every((v) => v >= -1 && v <= 1));
  // An image depends on its seed and index, not on how images are batched (up to batched-kernel rounding).
  const single = await generate(model, { ...opts, count: 3, batchSize: 3 });
  const maxDiff = a.images.data.reduce((m, v, i) => Math.max(m, Math.abs(v - single.images.data[i])), 0);
  assert.ok(maxDiff < 1e-3, `batch size changed the images by ${maxDiff}`);
  const grid = await samplesToResult(a, 'grid', 3, 0, 'wasm');
  assert.ok(grid.png && grid.png.subarray(1, 4).toString() === 'PNG');
});

test('DDIM with η = 0 is deterministic given x_T; η > 0 uses the noise', async () => {
  const diffusion = samplingDiffusion(model.pipeline, 'ddim8');
  const xT = tf.tensor4d(new Rng(5).normalArray(2 * 32 * 32), [2, 32, 32, 1]);
  const noiseFrom = (seed: number) => { const r = new Rng(seed); return () => tf.tensor4d(r.normalArray(2 * 32 * 32), [2, 32, 32, 1]); };
  const run = async (eta: number, seed: number) => {
    const x0 = await reverseLoop('ddim', diffusion, modelFn(model.unet, diffusion), xT, { clipDenoised: true, eta, drawNoise: noiseFrom(seed) });
    const data = x0.dataSync();
    x0.dispose();
    return data;
  };
  const [a, b, c, d] = [await run(0, 1), await run(0, 2), await run(0.8, 1), await run(0.8, 2)];
  assert.deepEqual(a, b, 'η = 0: the same x_T gives the same image whatever noise is available');
  assert.notDeepEqual(c, d, 'η > 0: different noise, different images');
  assert.notDeepEqual(a, c);
  xT.dispose();
  diffusion.dispose();
});

test('progress, frames and cancellation', async () => {
  const progress: number[] = [];
  const r = await generate(model, { count: 2, steps: 6, seed: 1, progressEvery: 2, framesEvery: 3 }, { onProgress: (p) => progress.push(p.step) });
  assert.deepEqual(progress, [2, 4, 6]);
  assert.equal(r.frames?.length, 2);
  assert.deepEqual(r.frames!.map((f) => f.xt.shape), [[2, 32, 32, 1], [2, 32, 32, 1]]);
  assert.ok(r.frames![0].t > r.frames![1].t, 'frames run from noisy to clean');
  const res = await samplesToResult(r, 'raw', undefined, 0, 'wasm');
  assert.equal(res.frames?.length, 2);
  assert.ok(res.frames![0].xt.subarray(1, 4).toString() === 'PNG');

  const before = tf.memory().numTensors;
  let steps = 0;
  await assert.rejects(
    generate(model, { count: 2, steps: 10, seed: 1, progressEvery: 1 }, { onProgress: () => steps++, isCancelled: () => steps >= 3 }),
    SamplingCancelledError,
  );
  assert.equal(steps, 3, 'stops at the first step boundary after cancelling');
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(generate(model, { count: 1, steps: 10 }, { signal: ac.signal }), SamplingCancelledError);
  assert.equal(tf.memory().numTensors, before, 'a cancelled run leaks no tensors');
});

test('bad options give clear errors', async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ count: 1, method: 'euler' }, /method: must be one of ancestral, ddim, not "euler"/],
    [{ count: 1, steps: 'ddim7000' }, /ddim7000.*T = 200/],
    [{ count: 1, steps: 5000 }, /out of range.*T = 200/],
    [{ count: 1, steps: 'fast' }, /steps: must be a number of steps .*not "fast"/],
    [{ count: 0 }, /count: must be between 1 and 256, not 0/],
    [{ count: 1, classes: 3 }, /not class-conditional/],
    [{ count: 1, eta: -1 }, /eta: must be between 0 and 1, not -1/],
  ];
  for (const [opts, message] of cases) {
    await assert.rejects(generate(model, opts as never), message, JSON.stringify(opts));
  }
});
