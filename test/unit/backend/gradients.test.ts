/**
 * Values and gradients of every op the UNet's training step uses, on the wasm backend (with the kernels of
 * engine/backend/wasm-kernels.ts) against the pure-JS cpu backend on the same inputs. The loss is Σ y·r with a
 * fixed random r, so every gradient entry is exercised (not just ∂Σy). ResizeNearestNeighbor's gradient is
 * checked against an independent computation instead (the cpu kernel is wrong for batch > 1):
 * the gradient of nearest-neighbour ×2 upsampling is the 2×2 sum-pool of dy.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../../engine/tf';
import { initBackend } from '../../../engine/backend';
import { registerWasmKernels } from '../../../engine/backend/wasm-kernels';
import { groupNorm } from '../../../engine/ops/groupnorm';
import { relErr } from './rel-err';

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;
interface Result { value: Float32Array; grads: Float32Array[] }

/** Deterministic N(0,1)-ish data (sum of uniforms), so wasm and cpu see identical inputs. */
function randomData(size: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length: size }, () => u() + u() + u() - 1.5);
}

async function evaluate(backend: string, f: Fn, shapes: number[][], withGrads: boolean): Promise<Result> {
  await tf.setBackend(backend);
  assert.equal(tf.getBackend(), backend);
  const xs = shapes.map((s, i) => tf.tensor(randomData(s.reduce((p, d) => p * d, 1), 17 + i), s));
  const { value, grads } = tf.tidy(() => {
    const y = f(...xs);
    const r = tf.tensor(randomData(y.size, 99), y.shape);
    const g = withGrads ? tf.grads((...args: tf.Tensor[]) => f(...args).mul(r).sum())(xs) : [];
    return { value: y, grads: g };
  });
  const res = { value: value.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
  tf.dispose([value, ...grads, ...xs]);
  return res;
}

const errors: Array<[string, number]> = [];
const TOL = 1e-4;

function compareCase(name: string, shapes: number[][], f: Fn, { tol = TOL, withGrads = true } = {}): void {
  test(name, async () => {
    const wasm = await evaluate('wasm', f, shapes, withGrads);
    const cpu = await evaluate('cpu', f, shapes, withGrads);
    await tf.setBackend('wasm');
    const errs = [relErr(wasm.value, cpu.value), ...wasm.grads.map((g, i) => relErr(g, cpu.grads[i]))];
    const worst = Math.max(...errs);
    errors.push([name, worst]);
    for (const [i, e] of errs.entries()) {
      assert.ok(e < tol, `${name}: ${i === 0 ? 'value' : `gradient ${i - 1}`} error ${e.toExponential(2)} ≥ ${tol}`);
    }
  });
}

test('setup: wasm backend with replacement kernels', async () => {
  await initBackend('wasm');
  registerWasmKernels();
  registerWasmKernels(); // idempotent
  assert.equal(tf.getBackend(), 'wasm');
});

const conv = (stride: number, pad: 'same' | 'valid' | number): Fn => (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
const explicit1: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];

compareCase('conv 3x3 s1 same, batch 3, 7x9', [[3, 7, 9, 5], [3, 3, 5, 6]], conv(1, 'same'));
compareCase('conv 3x3 s1 pad 1, 64 channels', [[2, 8, 8, 64], [3, 3, 64, 64]], conv(1, 1));
// Stride-1 "same" filter gradients run as shifted matmuls over zero-padded planes (engine/backend/wasm-conv-filter.ts):
// odd kernels of other sizes, the UNet's 1-channel input and 2-channel output convs, a 1×1 image (all padding).
compareCase('conv 5x5 s1 same, batch 2, 6x7', [[2, 6, 7, 3], [5, 5, 3, 4]], conv(1, 'same'));
compareCase('conv 1x3 s1 same, batch 2, 5x4', [[2, 5, 4, 3], [1, 3, 3, 2]], conv(1, 'same'));
compareCase('conv 3x3 s1 same, 1 → 32 channels (UNet input)', [[2, 8, 8, 1], [3, 3, 1, 32]], conv(1, 'same'));
compareCase('conv 3x3 s1 same, 32 → 2 channels (UNet output)', [[2, 8, 8, 32], [3, 3, 32, 2]], conv(1, 'same'));
compareCase('conv 3x3 s1 same, 1x1 image', [[3, 1, 1, 4], [3, 3, 4, 5]], conv(1, 'same'));
compareCase('conv 3x3 s2 same, even 8x8', [[2, 8, 8, 4], [3, 3, 4, 6]], conv(2, 'same'));
compareCase('conv 3x3 s2 same, odd 7x9', [[3, 7, 9, 4], [3, 3, 4, 5]], conv(2, 'same'));
compareCase('conv 3x3 s2 explicit pad 1, 8x8', [[2, 8, 8, 4], [3, 3, 4, 6]],
  (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, explicit1));
compareCase('conv 3x3 s2 explicit pad 1, odd 9x7', [[2, 9, 7, 3], [3, 3, 3, 4]],
  (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, explicit1));
compareCase('conv 3x3 s2 valid, 8x8 (cropped pads)', [[2, 8, 8, 3], [3, 3, 3, 4]], conv(2, 'valid'));
compareCase('conv 1x1 s1', [[3, 5, 7, 6], [1, 1, 6, 4]], conv(1, 'same'));
compareCase('conv 1x1 s2 valid, odd 7x7', [[2, 7, 7, 3], [1, 1, 3, 5]], conv(2, 'valid'));
compareCase('fused conv 3x3 + bias', [[2, 6, 6, 4], [3, 3, 4, 5], [5]],
  (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: 1, pad: 'same' }));
compareCase('fused conv 3x3 s2 + bias + relu', [[2, 6, 6, 4], [3, 3, 4, 5], [5]],
  (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: 2, pad: 'same', activation: 'relu' }));

for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) {
  const tag = `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;
  const s = (t: boolean, r: number, c: number, pre: number[] = []): number[] => [...pre, ...(t ? [c, r] : [r, c])];
  compareCase(`matMul 2d ${tag}`, [s(ta, 5, 7), s(tb, 7, 3)], (a, b) => tf.matMul(a, b, ta, tb));
  compareCase(`batchMatMul batch 3 ${tag}`, [s(ta, 6, 4, [3]), s(tb, 4, 5, [3])], (a, b) => tf.matMul(a, b, ta, tb));
  compareCase(`batchMatMul rank 4 [2,3] ${tag}`, [s(ta, 5, 8, [2, 3]), s(tb, 8, 5, [2, 3])], (a, b) => tf.matMul(a, b, ta, tb));
  // tfjs's BatchMatMul gradient does not reduce over broadcast batch dims (on any backend): values only.
  compareCase(`matMul rank 3 x shared rank 2 ${tag} (value)`, [s(ta, 6, 4, [3]), s(tb, 4, 5)], (a, b) => tf.matMul(a, b, ta, tb), { withGrads: false });
  compareCase(`matMul shared rank 2 x rank 3 ${tag} (value)`, [s(ta, 6, 4), s(tb, 4, 5, [3])], (a, b) => tf.matMul(a, b, ta, tb), { withGrads: false });
}
compareCase('fused matMul + bias + relu (linear layer)', [[4, 6], [6, 5], [5]],
  (a, b, c) => tf.fused.matMul({ a, b, bias: c, activation: 'relu' }));
compareCase('attention softmax(q·kᵀ/√d)·v, batch·heads 4, T 16', [[4, 16, 8], [4, 16, 8], [4, 16, 8]],
  (q, k, v) => tf.matMul(tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(8))), v));

compareCase('groupNorm', [[2, 3, 5, 8], [8], [8]],
  (x, g, b) => groupNorm(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, { groups: 4 }));
compareCase('groupNorm + scale/shift + silu', [[3, 4, 3, 8], [8], [8], [3, 8], [3, 8]],
  (x, g, b, sc, sh) => groupNorm(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D,
    { groups: 2, scale: sc as tf.Tensor2D, shift: sh as tf.Tensor2D, silu: true }));

compareCase('softmax', [[3, 7]], (x) => tf.softmax(x));
compareCase('gather embedding rows (repeats)', [[10, 6]], (x) => tf.gather(x, tf.tensor1d([3, 0, 3, 9, 3], 'int32')));
compareCase('gather timestep coefficients', [[20]], (x) => tf.gather(x, tf.tensor1d([19, 0, 7, 7], 'int32')));
compareCase('concat channels', [[2, 3, 3, 4], [2, 3, 3, 5]], (a, b) => tf.concat([a, b], 3));
compareCase('timestep embedding sin/cos', [[4, 1], [1, 6]], (t, f) => {
  const arg = t.mul(f);
  return tf.concat([tf.cos(arg), tf.sin(arg)], 1);
});
compareCase('sigmoid, silu', [[4, 5]], (x) => tf.sigmoid(x).add(x.mul(tf.sigmoid(x))));
compareCase('exp, log, tanh, square', [[4, 5]], (x) => tf.exp(x).add(tf.log(x.square().add(1))).add(tf.tanh(x)).add(x.square()));
compareCase('maximum, minimum, clipByValue', [[4, 5], [4, 5]],
  (a, b) => tf.maximum(a, b).add(tf.minimum(a, b.mul(2))).add(tf.clipByValue(a, -0.4, 0.6)));
compareCase('mean, sum', [[3, 4, 5]], (x) => tf.mean(x, [1, 2]).add(tf.sum(x.square(), 2).sum(1)));
// Batch 1: the cpu reference's ResizeNearestNeighborGrad is wrong for batch > 1 (checked separately below).
compareCase('mini UNet block: conv, groupNorm+silu, conv s2, upsample, concat', [[1, 8, 8, 8], [3, 3, 8, 8], [3, 3, 8, 8], [8], [8]],
  (x, w1, w2, g, b) => {
    const h = groupNorm(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'), g as tf.Tensor1D, b as tf.Tensor1D, { groups: 2, silu: true });
    const down = tf.conv2d(h, w2 as tf.Tensor4D, 2, 'same');
    return tf.concat([tf.image.resizeNearestNeighbor(down, [8, 8]), h], 3);
  });

/** ∂/∂x Σ resize2x(x)·dy = 2×2 sum-pool of dy, computed in plain JS. */
function sumPool2x2(dy: Float32Array, [n, h2, w2, c]: number[]): Float32Array {
  const [h, w] = [h2 / 2, w2 / 2];
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) for (let i = 0; i < h2; i++) for (let j = 0; j < w2; j++) for (let k = 0; k < c; k++) {
    out[((b * h + (i >> 1)) * w + (j >> 1)) * c + k] += dy[((b * h2 + i) * w2 + j) * c + k];
  }
  return out;
}

for (const shape of [[3, 4, 5, 2], [2, 3, 3, 5]]) {
  test(`resizeNearestNeighbor x2 gradient = 2x2 sum-pool, ${shape}`, async () => {
    await tf.setBackend('wasm');
    const [n, h, w, c] = shape;
    const x = tf.tensor4d(randomData(n * h * w * c, 5), shape as [number, number, number, number]);
    const dy = randomData(n * 4 * h * w * c, 6);
    const dyT = tf.tensor4d(dy, [n, 2 * h, 2 * w, c]);
    const g = tf.grad((t: tf.Tensor) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [2 * h, 2 * w]).mul(dyT).sum())(x);
    const err = relErr(g.dataSync() as Float32Array, sumPool2x2(dy, [n, 2 * h, 2 * w, c]));
    tf.dispose([x, dyT, g]);
    errors.push([`resizeNearest x2 grad ${shape}`, err]);
    assert.ok(err < 1e-6, `error ${err}`);
  });
}

test('no tensors leak through the replacement kernels', async () => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([2, 6, 6, 3]);
  const w = tf.randomNormal([3, 3, 3, 4]);
  const q = tf.randomNormal([3, 5, 4]);
  const step = (): void => {
    tf.tidy(() => {
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').sum())([x, w]);
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').sum())([x, w]);
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, true, false).sum())([q, q]);
      tf.grad((a: tf.Tensor) => tf.gather(a, tf.tensor1d([1, 1], 'int32')).sum())(q);
    });
  };
  step();
  const before = tf.memory();
  step();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  assert.equal(tf.engine().backend.numDataIds(), before.numDataBuffers);
  tf.dispose([x, w, q]);
});

after(() => {
  const width = Math.max(...errors.map(([n]) => n.length));
  console.log(errors.map(([n, e]) => `${n.padEnd(width)}  ${e.toExponential(2)}`).join('\n'));
});
