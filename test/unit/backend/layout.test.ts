/**
 * The wasm layout kernels (engine/backend/wasm-layout.ts: Transpose, Slice, SplitV, Unpack) must reproduce the
 * cpu backend bit for bit: they only move data. Shapes cover ranks 1–6, size-1 axes, odd sizes, and slices
 * whose contiguous runs are single elements, whole rows, or the whole tensor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../../engine/tf';
import { initBackend } from '../../../engine/backend';
import { registerWasmKernels } from '../../../engine/backend/wasm-kernels';
import { collapseTranspose } from '../../../engine/backend/wasm-layout';

const iota = (shape: number[]): Float32Array => Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => i * 0.5 - 3);

/** Runs `f` on the same input on wasm and on cpu; returns both outputs (a list, for multi-output ops). */
async function both(shape: number[], f: (x: tf.Tensor) => tf.Tensor | tf.Tensor[]): Promise<[number[][], number[][]]> {
  const out: number[][][] = [];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const x = tf.tensor(iota(shape), shape);
    const ys = [f(x)].flat();
    out.push(ys.map((y) => [...y.shape, -1, ...y.dataSync()]));
    tf.dispose([x, ...ys]);
  }
  await tf.setBackend('wasm');
  return [out[0], out[1]];
}

test('setup', async () => {
  await initBackend('wasm');
  registerWasmKernels();
});

test('collapseTranspose merges axes that stay adjacent and drops size-1 axes', () => {
  assert.deepEqual(collapseTranspose([2, 3, 4, 5], [2, 3, 0, 1]), { shape: [6, 20], perm: [1, 0] });
  assert.deepEqual(collapseTranspose([3, 8, 256, 4, 32], [1, 2, 0, 3, 4]), { shape: [3, 2048, 128], perm: [1, 0, 2] });
  assert.deepEqual(collapseTranspose([2, 1, 3], [2, 1, 0]), { shape: [2, 3], perm: [1, 0] });
  assert.deepEqual(collapseTranspose([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
});

const transposes: Array<[number[], number[]]> = [
  [[3, 5], [1, 0]],
  [[2, 3, 4], [0, 2, 1]],
  [[8, 7, 6, 5], [3, 1, 2, 0]],
  [[3, 4, 5, 2, 3], [1, 2, 0, 3, 4]],
  [[2, 3, 1, 4, 5], [0, 3, 1, 2, 4]],
  [[2, 3, 2, 3, 2], [4, 3, 2, 1, 0]],
  [[2, 1, 3, 2, 2, 3], [5, 0, 2, 1, 4, 3]],
  [[4, 1, 5], [0, 1, 2]],
];
for (const [shape, perm] of transposes) {
  test(`transpose ${shape} by ${perm}`, async () => {
    const [w, c] = await both(shape, (x) => tf.transpose(x, perm));
    assert.deepEqual(w, c);
  });
}

const slices: Array<[number[], number[], number[]]> = [
  [[10], [3], [4]],
  [[4, 6], [1, 2], [2, 3]],
  [[4, 6], [1, 0], [2, 6]],
  [[3, 4, 5], [0, 1, 4], [3, 2, 1]],
  [[2, 5, 5, 8], [1, 1, 1, 0], [1, 3, 3, 8]],
  [[2, 5, 5, 8], [0, 0, 0, 3], [2, 5, 5, 4]],
  [[2, 3, 4, 5, 6], [1, 0, 1, 2, 0], [1, 3, 2, 2, 6]],
  [[2, 3, 2, 2, 3, 2], [0, 1, 0, 1, 1, 1], [2, 2, 2, 1, 2, 1]],
  [[3, 4], [0, 0], [3, 4]],
];
for (const [shape, begin, size] of slices) {
  test(`slice ${shape} at ${begin} size ${size}`, async () => {
    const [w, c] = await both(shape, (x) => tf.slice(x, begin, size));
    assert.deepEqual(w, c);
  });
}

test('split along channels (concat gradient) and along rows', async () => {
  for (const [shape, sizes, axis] of [[[2, 4, 4, 10], [4, 6], 3], [[5, 3, 2], [1, 3, 1], 0], [[3, 7], [2, 2, 3], 1]] as const) {
    const [w, c] = await both([...shape], (x) => tf.split(x, [...sizes], axis));
    assert.deepEqual(w, c);
  }
});

test('unstack along each axis', async () => {
  for (const axis of [0, 1, 2]) {
    const [w, c] = await both([3, 4, 2], (x) => tf.unstack(x, axis));
    assert.deepEqual(w, c);
  }
});

test('identity shares the data: a clone outlives its source and keeps its values', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor(iota([3, 4]), [3, 4]);
  const y = tf.clone(x);
  const z = tf.transpose(x, [0, 1]);
  x.dispose();
  assert.deepEqual([...y.dataSync()], [...iota([3, 4])]);
  assert.deepEqual([...z.dataSync()], [...iota([3, 4])]);
  y.dispose();
  assert.deepEqual([...z.dataSync()], [...iota([3, 4])]);
  z.dispose();
});

test('layout kernels leak no memory', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor(iota([2, 3, 4, 5, 6]), [2, 3, 4, 5, 6]);
  const before = tf.memory().numBytes;
  tf.dispose([tf.transpose(x, [1, 2, 0, 3, 4]), tf.slice(x, [1, 0, 1, 0, 2], [1, 2, 2, 5, 3]), ...tf.split(x, 3, 1), ...tf.unstack(x, 2)]);
  assert.equal(tf.memory().numBytes, before);
  assert.equal(tf.engine().backend.numDataIds(), tf.memory().numDataBuffers);
  x.dispose();
});
