/**
 * Each loss kind moves its own term (iddpm.md, "Losses"), checked on one fixed batch and model output against
 * the two primitive terms computed separately — the ε mse and the raw vb term L_t (vbTermsBpd) — and through
 * the gradients with respect to the model's output: which channels (ε̂ or v) each objective trains, and by how much.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../engine/backend';
import { tf } from '../../engine/tf';
import { Rng } from '../../engine/rng';
import { createDiffusion, meanFlat, type GaussianDiffusion } from '../../engine/diffusion';
import type { LossKind, ModelVarType } from '../../engine/spec';

const T = 50;
const [N, H, W, C] = [3, 4, 4, 1];
const rng = new Rng(7);
const x0Data = Float32Array.from({ length: N * H * W * C }, () => Math.fround(rng.int(256) / 127.5 - 1));
const noiseData = Float32Array.from(rng.normalArray(N * H * W * C));
const outData = Float32Array.from(rng.normalArray(N * H * W * 2 * C), (v) => 0.5 * v);
const tData = [0, 17, 49];

/** Runs `fn` and frees every tensor it made; for results that are plain arrays (tf.tidy types tensors only). */
function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

const diffusionFor = (lossType: LossKind, modelVarType: ModelVarType = 'learned_range', hybridLambda?: number): GaussianDiffusion =>
  createDiffusion({ schedule: { name: 'cosine', steps: T }, modelVarType, lossType, hybridLambda });

interface Terms {
  loss: Float32Array;
  /** d Σ loss / d output, split into the ε̂ channels and the v channels. */
  gradEps: Float32Array;
  gradV: Float32Array | null;
}

/** The loss of `d` on the fixed batch, and its gradient with respect to the model output. */
function lossAndGrad(d: GaussianDiffusion, learned = true): Terms {
  return scoped(() => {
    const x0 = tf.tensor4d(x0Data, [N, H, W, C]);
    const noise = tf.tensor4d(noiseData, [N, H, W, C]);
    const t = tf.tensor1d(tData, 'int32');
    const xt = d.qSample(x0, t, noise);
    const out = learned ? tf.tensor4d(outData, [N, H, W, 2 * C]) : tf.tensor4d(outData.subarray(0, N * H * W * C), [N, H, W, C]);
    const loss = d.trainingLosses(out, x0, xt, t, noise).loss.dataSync() as Float32Array;
    const g = tf.grad((o: tf.Tensor) => d.trainingLosses(o, x0, xt, t, noise).loss.sum())(out);
    if (!learned) return { loss, gradEps: g.dataSync() as Float32Array, gradV: null };
    const [ge, gv] = tf.split(g, 2, 3);
    return { loss, gradEps: ge.dataSync() as Float32Array, gradV: gv.dataSync() as Float32Array };
  });
}

/** The primitive terms: mse of ε̂ against the noise, and the raw L_t of the whole output (no stop-gradient). */
function primitives(d: GaussianDiffusion): { mse: Float32Array; vb: Float32Array; gradMseEps: Float32Array } {
  return scoped(() => {
    const x0 = tf.tensor4d(x0Data, [N, H, W, C]);
    const noise = tf.tensor4d(noiseData, [N, H, W, C]);
    const t = tf.tensor1d(tData, 'int32');
    const xt = d.qSample(x0, t, noise);
    const out = tf.tensor4d(outData, [N, H, W, 2 * C]);
    const eps = (o: tf.Tensor): tf.Tensor => tf.split(o, 2, 3)[0];
    const mse = meanFlat(tf.squaredDifference(noise, eps(out))).dataSync() as Float32Array;
    const vb = d.vbTermsBpd(out, x0, xt, t).output.dataSync() as Float32Array;
    const g = tf.grad((o: tf.Tensor) => meanFlat(tf.squaredDifference(noise, eps(o))).sum())(out);
    return { mse, vb, gradMseEps: tf.split(g, 2, 3)[0].dataSync() as Float32Array };
  });
}

/** Element-wise agreement within `rel` of the array's largest magnitude (float32 sums differ in the last bits). */
const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string, rel = 1e-5): void => {
  assert.equal(a.length, b.length, what);
  const scale = Math.max(1e-12, ...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= rel * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
};
const maxAbs = (a: ArrayLike<number>): number => Math.max(...Array.from(a, Math.abs));

before(async () => {
  await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
});

test('hybrid = mse + λ·T·L_t; the vb term trains v only (ε̂ stopped), the mse term ε̂ only; λ scales v\'s gradient', () => {
  const d = diffusionFor('hybrid');
  const { mse, vb, gradMseEps } = primitives(d);
  const h = lossAndGrad(d);
  close(h.loss, Array.from(mse, (m, i) => m + 0.001 * T * vb[i]), 'hybrid loss');
  close(h.gradEps, gradMseEps, 'hybrid: d/dε̂ is the mse gradient alone');
  assert.ok(maxAbs(h.gradV!) > 0, 'hybrid: v learns from the vb term');
  const h10 = lossAndGrad(diffusionFor('hybrid', 'learned_range', 0.01));
  close(h10.loss, Array.from(mse, (m, i) => m + 0.01 * T * vb[i]), 'hybrid λ = 0.01 loss');
  close(h10.gradV!, Array.from(h.gradV!, (g) => 10 * g), 'λ × 10 scales v\'s gradient × 10', 1e-4);
  close(h10.gradEps, h.gradEps, 'λ does not touch ε̂\'s gradient');
  d.dispose();
});

test('mse (the reference\'s plain MSE) = mse + L_t unscaled: hybrid with λ = 1/T', () => {
  const d = diffusionFor('mse');
  const { mse, vb } = primitives(d);
  const m = lossAndGrad(d);
  close(m.loss, Array.from(mse, (x, i) => x + vb[i]), 'mse loss');
  const h = lossAndGrad(diffusionFor('hybrid', 'learned_range', 1 / T));
  close(m.loss, h.loss, 'equals hybrid with λ = 1/T');
  close(m.gradV!, h.gradV!, 'and trains v alike', 1e-4);
});

test('simple = mse alone: v gets no gradient at all', () => {
  const d = diffusionFor('simple');
  const { mse, gradMseEps } = primitives(d);
  const s = lossAndGrad(d);
  close(s.loss, mse, 'simple loss');
  close(s.gradEps, gradMseEps, 'simple: d/dε̂');
  assert.equal(maxAbs(s.gradV!), 0, 'simple: v is not trained');
});

test('kl = L_t with ε̂ NOT stopped (both channels learn); rescaled-kl = T·L_t', () => {
  const d = diffusionFor('kl');
  const { vb } = primitives(d);
  const k = lossAndGrad(d);
  close(k.loss, vb, 'kl loss');
  assert.ok(maxAbs(k.gradEps) > 0 && maxAbs(k.gradV!) > 0, 'kl trains ε̂ and v');
  const r = lossAndGrad(diffusionFor('rescaled-kl'));
  close(r.loss, Array.from(vb, (v) => T * v), 'rescaled-kl loss');
  close(r.gradEps, Array.from(k.gradEps, (g) => T * g), 'rescaled-kl ε̂ gradient = T × kl\'s', 1e-4);
  close(r.gradV!, Array.from(k.gradV!, (g) => T * g), 'rescaled-kl v gradient = T × kl\'s', 1e-4);
});

test('with a fixed variance the hybrid and mse losses reduce to the mse (no vb term, C outputs)', () => {
  for (const kind of ['hybrid', 'mse', 'simple'] as const) {
    const d = diffusionFor(kind, 'fixed_small');
    const r = lossAndGrad(d, false);
    const expected = scoped(() => meanFlat(tf.squaredDifference(tf.tensor4d(noiseData, [N, H, W, C]), tf.tensor4d(outData.subarray(0, N * H * W * C), [N, H, W, C]))).dataSync() as Float32Array);
    close(r.loss, expected, `${kind} with fixed_small`);
    d.dispose();
  }
});
