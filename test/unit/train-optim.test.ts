/**
 * Adam against an independent float64 implementation of torch.optim.Adam's update, exact save/restore of its
 * moments, the EMA update, gradient clipping, the metrics' timestep quartiles and the automatic microbatch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../engine/tf';
import { initBackend } from '../../engine/backend';
import { Adam } from '../../engine/optim/adam';
import { updateEma } from '../../engine/optim/ema';
import { clipCoefficient, globalNorm } from '../../engine/optim/clip';
import { flattenGradients } from '../../engine/optim/adam';
import { MetricsWindow, summarizeImportance } from '../../engine/train/metrics';
import { Rng } from '../../engine/rng';
import { UNet } from '../../engine/unet/model';
import { autoMicrobatch, tapeBytesPerImage, trainingDiffusion, unetConfigFor } from '../../engine/train';

/** torch.optim.Adam (weight_decay 0) in float64, written from its documented update rule. */
function torchAdam64(p: number[], grads: number[][], lr: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const x = [...p];
  grads.forEach((g, k) => {
    const step = k + 1;
    for (let i = 0; i < x.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** step) + eps;
      x[i] -= (lr / (1 - b1 ** step)) * (m[i] / denom);
    }
  });
  return x;
}

test('Adam follows torch.optim.Adam step for step', async () => {
  await initBackend('wasm');
  const rng = new Rng(3);
  const p0 = Array.from({ length: 50 }, () => rng.normal());
  // Gradients of very different scales, including tiny ones where ε matters.
  const grads = Array.from({ length: 6 }, (_, k) => p0.map((_, i) => rng.normal() * 10 ** ((i % 5) - 3 - (k % 2))));
  const v = tf.variable(tf.tensor1d(p0));
  const adam = new Adam([v], { lr: 0.01 });
  for (const g of grads) tf.tidy(() => adam.applyGradients([tf.tensor1d(g)]));
  const got = Array.from(v.dataSync());
  const want = torchAdam64(p0, grads, 0.01);
  const maxErr = Math.max(...got.map((x, i) => Math.abs(x - want[i])));
  assert.ok(maxErr < 2e-6, `max |adam − torch64| = ${maxErr}`);
  // Every parameter moved by about lr per step: the update really happened.
  assert.ok(Math.abs(got[0] - p0[0]) > 0.01, 'parameters did not move');
  adam.dispose();
  v.dispose();
});

test('Adam state restores exactly: the continued run matches the uninterrupted one bit for bit', async () => {
  await initBackend('wasm');
  const rng = new Rng(9);
  const init = Float32Array.from({ length: 64 }, () => rng.normal());
  const grads = Array.from({ length: 6 }, () => Float32Array.from({ length: 64 }, () => rng.normal()));
  const run = (steps: Float32Array[], adam: Adam): void => {
    for (const g of steps) tf.tidy(() => adam.applyGradients([tf.tensor2d(g, [8, 8])]));
  };
  const va = tf.variable(tf.tensor2d(init, [8, 8]));
  const a = new Adam([va], { lr: 0.003 });
  run(grads, a);

  const vb = tf.variable(tf.tensor2d(init, [8, 8]));
  const b = new Adam([vb], { lr: 0.003 });
  run(grads.slice(0, 3), b);
  const saved = b.getState();
  const weights = Float32Array.from(vb.dataSync());
  b.dispose();
  vb.dispose();
  const vc = tf.variable(tf.tensor2d(weights, [8, 8]));
  const c = new Adam([vc], { lr: 0.003 });
  c.setState(saved);
  assert.equal(c.step, 3);
  run(grads.slice(3), c);
  assert.deepEqual(Array.from(vc.dataSync()), Array.from(va.dataSync()));
  assert.throws(() => c.setState({ step: 1, expAvg: [], expAvgSq: [] }), /0 moments, the model has 1 parameters/);
  for (const t of [va, vc]) t.dispose();
  a.dispose();
  c.dispose();
});

test('Adam refuses a bad learning rate', () => {
  const v = tf.variable(tf.zeros([2]));
  assert.throws(() => new Adam([v], { lr: -1e-4 }), /learning rate must be a positive number/);
  assert.throws(() => new Adam([v], { lr: NaN }), /learning rate must be a positive number/);
  v.dispose();
});

test('EMA: ema = rate·ema + (1 − rate)·param', async () => {
  await initBackend('wasm');
  const ema = tf.variable(tf.tensor1d([1, 2, 3]));
  const p = tf.variable(tf.tensor1d([3, 2, -1]));
  updateEma([ema], [p], 0.9);
  const got = Array.from(ema.dataSync());
  [1.2, 2, 2.6].forEach((w, i) => assert.ok(Math.abs(got[i] - w) < 1e-6, `${got}`));
  ema.dispose();
  p.dispose();
});

test('global gradient norm and clip_grad_norm_', async () => {
  await initBackend('wasm');
  const g = [tf.tensor1d([3, 0]), undefined, tf.tensor2d([[0, 4]])];
  const flat = flattenGradients(g, [tf.zeros([2]), tf.zeros([3]), tf.zeros([1, 2])]);
  assert.deepEqual(Array.from(flat.dataSync()), [3, 0, 0, 0, 0, 0, 4]);
  const norm = globalNorm(flat);
  assert.ok(Math.abs(norm - 5) < 1e-6);
  assert.ok(Math.abs(clipCoefficient(norm, 1) - 1 / (5 + 1e-6)) < 1e-9);
  assert.equal(clipCoefficient(norm, 10), 1, 'no clipping below the threshold');
  tf.dispose([flat, ...g.filter((t) => t !== undefined)]);
});

test('Adam skips a parameter without a gradient, moments included', async () => {
  await initBackend('wasm');
  const a = tf.variable(tf.tensor1d([1, 2, 3]));
  const b = tf.variable(tf.tensor1d([4, 5]));
  const alone = tf.variable(tf.tensor1d([1, 2, 3]));
  const adam = new Adam([a, b], { lr: 0.1 });
  const ref = new Adam([alone], { lr: 0.1 });
  const steps = [[0.5, -1, 2], [1, 1, -0.25], [0.1, 0.2, 0.3]];
  steps.forEach((g, k) => tf.tidy(() => {
    adam.applyGradients([tf.tensor1d(g), k === 1 ? tf.tensor1d([1, -1]) : undefined]);
    ref.applyGradients([tf.tensor1d(g)]);
  }));
  assert.deepEqual(Array.from(a.dataSync()), Array.from(alone.dataSync()));
  // b moved once, at the optimizer's step 2 (its bias corrections): by lr/(1−β1²) · m / (√v/√(1−β2²) + ε).
  const move = (0.1 / (1 - 0.9 ** 2)) * (0.1 / (Math.sqrt(0.001) / Math.sqrt(1 - 0.999 ** 2) + 1e-8));
  const got = Array.from(b.dataSync());
  assert.ok(Math.abs(got[0] - (4 - move)) < 1e-5 && Math.abs(got[1] - (5 + move)) < 1e-5, `${got} vs move ${move}`);
  const state = adam.getState();
  assert.deepEqual(Array.from(state.expAvg[1]), [Math.fround(0.1), Math.fround(-0.1)]);
  adam.dispose();
  ref.dispose();
  tf.dispose([a, b, alone]);
});

test('metrics: weighted losses by timestep quartile, like the reference logger', () => {
  const m = new MetricsWindow(100);
  const t = Int32Array.from([0, 24, 25, 99]);
  const w = Float32Array.from([1, 1, 2, 0.5]);
  m.add(t, w, { loss: Float32Array.from([1, 3, 5, 8]), mse: Float32Array.from([1, 1, 1, 1]) }, 2);
  m.add(Int32Array.from([60]), Float32Array.from([1]), { loss: Float32Array.from([6]), mse: Float32Array.from([1]) }, 4);
  const p = m.flush('x', 2, 'wasm', summarizeImportance([0.25, 0.25, 0.5], true));
  assert.equal(p.loss, (1 + 3 + 10 + 4 + 6) / 5);
  assert.deepEqual(p.lossQuartiles, [2, 10, 6, 4]);
  assert.deepEqual(p.mseQuartiles, [1, 2, 1, 0.5]);
  assert.equal(p.vb, undefined);
  assert.equal(p.gradNorm, 3);
  assert.equal(p.importance?.pMax, 0.5);
  assert.ok(Math.abs((p.importance?.entropy ?? 0) - (0.5 * Math.log(4) + 0.5 * Math.log(2))) < 1e-12);
  const empty = m.flush('x', 3, 'wasm');
  assert.deepEqual(empty.lossQuartiles, [null, null, null, null]);
});

test('automatic microbatch: the peak-memory estimate matches a measured pass, and batches split evenly', async () => {
  await initBackend('wasm');
  const pipeline = { schedule: { kind: 'cosine' as const, steps: 1000 }, noiser: { modelMeanType: 'epsilon' as const }, loss: { kind: 'hybrid' as const, lambda: 0.001 }, timesteps: { kind: 'uniform' as const } };
  const spec = (preset: 'tiny' | 'mnist') => ({ model: 'm', preset, modelVarType: 'learned_range' as const, numClasses: null });
  const tiny = unetConfigFor(spec('tiny'));
  const unet = UNet.create(tiny, 0);
  const diffusion = trainingDiffusion({ ...pipeline, unet: spec('tiny') });
  const n = 2;
  const x0 = tf.randomNormal([n, 32, 32, 1]) as tf.Tensor4D;
  const t = tf.tensor1d([3, 700], 'int32');
  const prof = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => {
      const xt = diffusion.qSample(x0, t, x0) as tf.Tensor4D;
      return diffusion.trainingLosses(unet.apply(xt, diffusion.scaleTimesteps(t), undefined, { training: true }), x0, xt, t, x0).loss.mean() as tf.Scalar;
    }, unet.trainableVariables());
    tf.dispose([value, ...Object.values(grads)]);
  });
  const estimate = n * tapeBytesPerImage(tiny);
  assert.ok(prof.peakBytes < 1.3 * estimate && prof.peakBytes > 0.25 * estimate, `measured peak ${prof.peakBytes} vs estimate ${estimate}`);
  tf.dispose([x0, t]);
  unet.dispose();
  diffusion.dispose();

  const mnist = unetConfigFor(spec('mnist'));
  assert.equal(autoMicrobatch(tiny, 16), 16, 'tiny at batch 16 fits one pass');
  assert.ok(autoMicrobatch(mnist, 16) <= 8 && 16 % autoMicrobatch(mnist, 16) !== 1, `mnist microbatch ${autoMicrobatch(mnist, 16)}`);
  assert.equal(autoMicrobatch(mnist, 16, 7 * tapeBytesPerImage(mnist)), 6, '16 with room for 7 → 6 + 6 + 4');
  assert.equal(autoMicrobatch(mnist, 3, 1), 1, 'at least one image per pass');
});
