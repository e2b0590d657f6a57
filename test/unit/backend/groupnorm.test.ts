/**
 * The fused-backward `groupNorm` (engine/ops/groupnorm.ts) against `groupNormPlain` (autodiff through plain
 * ops): values and the gradients wrt x, γ, β, scale and shift, for every option combination, on wasm and cpu.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../../engine/tf';
import { initBackend } from '../../../engine/backend';
import { groupNorm, groupNormPlain, type GroupNormOptions } from '../../../engine/ops/groupnorm';
import { relErr } from './rel-err';

type GN = typeof groupNorm;

/** Value and gradients of Σ GN(x)·r wrt [x, γ, β, scale?, shift?]. */
function valueAndGrads(gn: GN, x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, r: tf.Tensor,
  opts: GroupNormOptions, scale?: tf.Tensor2D, shift?: tf.Tensor2D): Float32Array[] {
  return tf.tidy(() => {
    const f = (...a: tf.Tensor[]): tf.Tensor => {
      const [xx, g, b, ...rest] = a;
      const sc = scale ? (rest.shift() as tf.Tensor2D) : undefined;
      const sh = shift ? (rest.shift() as tf.Tensor2D) : undefined;
      return gn(xx as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, { ...opts, scale: sc, shift: sh });
    };
    const ins = [x, gamma, beta, ...(scale ? [scale] : []), ...(shift ? [shift] : [])];
    const value = f(...ins);
    const grads = tf.grads((...a: tf.Tensor[]) => f(...a).mul(r).sum())(ins);
    return [value, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

const cases: Array<{ name: string; shape: [number, number, number, number]; groups: number; scale?: boolean; shift?: boolean; silu?: boolean }> = [
  { name: 'plain GN, 4 groups', shape: [2, 3, 5, 8], groups: 4 },
  { name: 'one group', shape: [3, 4, 4, 6], groups: 1 },
  { name: 'one channel per group + silu', shape: [2, 5, 3, 6], groups: 6, silu: true },
  { name: 'scale only', shape: [2, 3, 3, 8], groups: 2, scale: true },
  { name: 'shift only', shape: [2, 3, 3, 8], groups: 2, shift: true },
  { name: 'scale + shift + silu (ResBlock out_layers)', shape: [3, 5, 7, 16], groups: 4, scale: true, shift: true, silu: true },
  { name: 'silu (ResBlock in_layers), 32 groups', shape: [2, 4, 4, 64], groups: 32, silu: true },
];

test('setup', async () => {
  await initBackend('wasm');
});

for (const backend of ['wasm', 'cpu']) {
  for (const c of cases) {
    test(`${backend}: fused groupNorm = plain, ${c.name}`, async () => {
      await tf.setBackend(backend);
      const [n, , , ch] = c.shape;
      const x = tf.randomNormal(c.shape, 0.3, 2, 'float32', 1) as tf.Tensor4D;
      const gamma = tf.randomNormal([ch], 1, 0.5, 'float32', 2) as tf.Tensor1D;
      const beta = tf.randomNormal([ch], 0, 0.5, 'float32', 3) as tf.Tensor1D;
      const scale = c.scale ? (tf.randomNormal([n, ch], 0, 0.5, 'float32', 4) as tf.Tensor2D) : undefined;
      const shift = c.shift ? (tf.randomNormal([n, ch], 0, 0.5, 'float32', 5) as tf.Tensor2D) : undefined;
      const r = tf.randomNormal(c.shape, 0, 1, 'float32', 6);
      const opts = { groups: c.groups, silu: c.silu };
      const fused = valueAndGrads(groupNorm, x, gamma, beta, r, opts, scale, shift);
      const plain = valueAndGrads(groupNormPlain, x, gamma, beta, r, opts, scale, shift);
      const labels = ['value', 'dx', 'dγ', 'dβ', ...(scale ? ['dscale'] : []), ...(shift ? ['dshift'] : [])];
      assert.equal(fused.length, labels.length);
      for (const [i, label] of labels.entries()) {
        const e = relErr(fused[i], plain[i]);
        assert.ok(e < 2e-5, `${label}: relative error ${e.toExponential(2)}`);
      }
      tf.dispose([x, gamma, beta, r, ...(scale ? [scale] : []), ...(shift ? [shift] : [])]);
      await tf.setBackend('wasm');
    });
  }
}

test('backward works when scale and shift were intermediates freed by an inner tidy', async () => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([2, 3, 3, 8], 0, 1, 'float32', 7) as tf.Tensor4D;
  const g = tf.randomNormal([8], 1, 0.2, 'float32', 8) as tf.Tensor1D;
  const b = tf.zeros([8]) as tf.Tensor1D;
  const e = tf.randomNormal([2, 16], 0, 0.5, 'float32', 9);
  const grads = (gn: GN): Float32Array[] => tf.tidy(() => tf.grads((xx: tf.Tensor, ee: tf.Tensor) => tf.tidy(() => {
    const [sc, sh] = tf.split(ee.mul(2), 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    return gn(xx as tf.Tensor4D, g, b, { groups: 4, scale: sc, shift: sh, silu: true }).square().sum();
  }))([x, e]).map((t) => t.dataSync() as Float32Array));
  const fused = grads(groupNorm);
  const plain = grads(groupNormPlain);
  for (const i of [0, 1]) assert.ok(relErr(fused[i], plain[i]) < 2e-5);
  tf.dispose([x, g, b, e]);
});

test('fused groupNorm keeps no tensors after the step', async () => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([2, 4, 4, 8]) as tf.Tensor4D;
  const g = tf.ones([8]) as tf.Tensor1D;
  const b = tf.zeros([8]) as tf.Tensor1D;
  const sc = tf.randomNormal([2, 8]) as tf.Tensor2D;
  const step = (): void => tf.tidy(() => {
    tf.grads((a: tf.Tensor, s: tf.Tensor) => groupNorm(a as tf.Tensor4D, g, b, { groups: 2, scale: s as tf.Tensor2D, silu: true }).sum())([x, sc]);
  });
  step();
  const before = tf.memory().numTensors;
  step();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, g, b, sc]);
});

test('wasm: a large mean does not cancel the variance (moments about each group\'s first value)', async () => {
  await tf.setBackend('wasm');
  const [n, h, w, c, groups] = [2, 4, 4, 8, 2];
  const data = Float32Array.from({ length: n * h * w * c }, (_, i) => 1000 + 0.01 * Math.sin(i * 1.7));
  const x = tf.tensor4d(data, [n, h, w, c]);
  const y = tf.tidy(() => groupNorm(x, tf.ones([c]) as tf.Tensor1D, tf.zeros([c]) as tf.Tensor1D, { groups }).dataSync() as Float32Array);
    const cg = c / groups;
  let maxErr = 0;
  for (let ni = 0; ni < n; ni++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++) for (let k = 0; k < cg; k++) idx.push((ni * h * w + p) * c + g * cg + k);
      const mean = idx.reduce((s, i) => s + data[i], 0) / idx.length;
      const variance = idx.reduce((s, i) => s + (data[i] - mean) ** 2, 0) / idx.length;
      for (const i of idx) maxErr = Math.max(maxErr, Math.abs(y[i] - (data[i] - mean) / Math.sqrt(variance + 1e-5)));
    }
  }
  // The same float32 inputs in float64: a float32 E[x²] − μ² would lose every digit here (σ²/μ² = 1e-10).
  assert.ok(maxErr < 1e-5, `max error ${maxErr}`);
  x.dispose();
});
