/**
 * End to end: the gradients of a whole (small) improved-diffusion UNet on wasm, with the replacement kernels,
 * (a) against the cpu backend for one example (cpu's ResizeNearestNeighborGrad is wrong for batch > 1), and
 * (b) for a batch of 3 against the sum of the three one-example gradients (the loss is a sum over examples),
 * which checks every kernel's batch handling on wasm alone. Zero-initialised layers are randomised, else most
 * gradients would be exactly zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../engine/tf';
import { initBackend } from '../../engine/backend';
import { UNet, resolveUNetConfig } from '../../engine/unet';

const config = resolveUNetConfig({ preset: 'tiny', imageSize: 8, attentionResolutions: [4] });

/** Σ UNet(x, t)·r and its gradient wrt every trainable variable, on the active backend. */
function lossGrads(xs: number[][], ts: number[]): { value: number; grads: Float32Array[] } {
  const net = UNet.create(config, 3, { zeroInit: false });
  const n = xs.length;
  const res = tf.tidy(() => {
    const x = tf.tensor4d(xs.flat(), [n, 8, 8, 1]);
    const r = tf.concat(xs.map((_, i) => tf.randomNormal([1, 8, 8, 2], 0, 1, 'float32', 100 + ts[i])));
    const { value, grads } = tf.variableGrads(() => net.apply(x, tf.tensor1d(ts)).mul(r).sum() as tf.Scalar, net.trainableVariables());
    return { value: value.dataSync()[0], grads: net.trainableVariables().map((v) => grads[v.name].dataSync() as Float32Array) };
  });
  net.dispose();
  return res;
}

/** Worst |a − b| over all variables, relative to 1e-4·|b|max of the variable + 1e-5·|b|max over all variables. */
function worstError(a: Float32Array[], b: Float32Array[]): number {
  const maxAbs = (v: Float32Array): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const global = Math.max(...b.map(maxAbs));
  let worst = 0;
  for (const [k, g] of a.entries()) {
    const tol = 1e-4 * maxAbs(b[k]) + 1e-5 * global;
    for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - b[k][i]) / tol);
  }
  return worst;
}

const image = (seed: number): number[] => Array.from({ length: 64 }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9);

test('tiny UNet (8x8) gradients: wasm = cpu for one example', async () => {
  await initBackend('wasm');
  const wasm = lossGrads([image(1)], [437]);
  await tf.setBackend('cpu');
  const cpu = lossGrads([image(1)], [437]);
  await tf.setBackend('wasm');
  assert.ok(Math.abs(wasm.value - cpu.value) < 1e-5 * Math.max(1, Math.abs(cpu.value)), `loss ${wasm.value} vs ${cpu.value}`);
  assert.ok(wasm.grads.every((g) => g.some((v) => v !== 0)), 'some gradient is identically zero');
  const e = worstError(wasm.grads, cpu.grads);
  console.log(`tiny UNet wasm vs cpu: worst gradient error ${e.toFixed(3)} of tolerance`);
  assert.ok(e < 1, `gradient error ${e.toFixed(2)}× the tolerance`);
});

test('tiny UNet (8x8) gradients on wasm: batch of 3 = sum of the single-example gradients', async () => {
  await initBackend('wasm');
  assert.equal(tf.getBackend(), 'wasm');
  const xs = [image(1), image(2), image(3)];
  const ts = [437, 12, 999];
  const batch = lossGrads(xs, ts);
  const singles = xs.map((x, i) => lossGrads([x], [ts[i]]));
  const summed = batch.grads.map((g, k) => Float32Array.from(g, (_, j) => singles.reduce((s, r) => s + r.grads[k][j], 0)));
  const e = worstError(batch.grads, summed);
  console.log(`tiny UNet batch 3 vs Σ singles: worst gradient error ${e.toFixed(3)} of tolerance`);
  assert.ok(e < 1, `gradient error ${e.toFixed(2)}× the tolerance`);
});
