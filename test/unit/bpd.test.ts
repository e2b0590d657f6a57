/**
 * Bits/dim (calc_bpd_loop) against independent computations, with an "oracle" model that knows x_0 and so
 * predicts the true ε: with fixed_small variances every KL term for t > 0 vanishes (same mean, same variance),
 * so the bound is exactly the decoder NLL at t = 0 plus the prior term — both computable by hand in float64.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../engine/backend';
import { tf } from '../../engine/tf';
import { Rng } from '../../engine/rng';
import { calcBpdLoop, BpdTerms } from '../../engine/sample/bpd';
import { samplingDiffusion, PipelineForSampling } from '../../engine/sample/process';
import type { SamplerUNet } from '../../engine/sample/generate';
import { GaussianDiffusion } from '../../engine/diffusion';

const T = 100;
const [H, W, C] = [4, 4, 2];
const pipeline = (modelVarType: 'fixed_small' | 'learned_range'): PipelineForSampling => ({
  schedule: { kind: 'linear', steps: T },
  noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
  unet: { model: 'oracle', preset: 'custom', modelVarType, numClasses: 3 },
});

/** Images with both open edge bins (−1, +1) and interior pixels: bytes / 127.5 − 1. */
function images(n: number): Float32Array {
  const r = new Rng(11);
  return Float32Array.from({ length: n * H * W * C }, (_, i) => (i % 7 === 0 ? -1 : i % 7 === 1 ? 1 : Math.fround(Math.fround(r.int(256) / 127.5) - 1)));
}

/**
 * Predicts ε = (x_t − √ᾱ_t·x_0)/√(1−ᾱ_t) for image y (its "class"), reading the original t back from the
 * rescaled timestep. With learned_range it also outputs v (a fixed value), to exercise the 2C path.
 */
function oracle(x0: Float32Array, base: GaussianDiffusion, v?: number): SamplerUNet {
  const sa = Float32Array.from(base.tables.sqrtAlphasCumprod);
  const s1a = Float32Array.from(base.tables.sqrtOneMinusAlphasCumprod);
  return {
    apply: (x, ts, y) => tf.tidy(() => {
      const t = tf.round(ts.mul(T / 1000)).toInt();
      const x0rows = tf.gather(tf.tensor4d(x0, [x0.length / (H * W * C), H, W, C]), y!);
      const shape = [-1, 1, 1, 1];
      const eps = x.sub(tf.gather(tf.tensor1d(sa), t).reshape(shape).mul(x0rows)).div(tf.gather(tf.tensor1d(s1a), t).reshape(shape));
      return (v === undefined ? eps : tf.concat([eps, tf.onesLike(eps).mul(v)], 3)) as tf.Tensor4D;
    }),
  };
}

/** ½(1 + tanh(√(2/π)(x + 0.044715x³))), the reference's CDF approximation, in float64. */
const cdf = (x: number): number => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Decoder NLL (bits/dim) of x_0 under N(x_0, β̃_1) discretised to 256 bins, plus the prior term, by hand. */
function expectedBpd(x: Float32Array, d: GaussianDiffusion): number {
  const sigma = Math.sqrt(d.tables.posteriorVariance[1]);
  const half = 1 / 255 / sigma;
  const abar = d.tables.alphasCumprod[d.numTimesteps - 1];
  let nll = 0;
  let prior = 0;
  for (const v of x) {
    const p = v < -0.999 || v > 0.999 ? cdf(half) : cdf(half) - cdf(-half);
    nll -= Math.log(Math.max(p, 1e-12));
    prior += 0.5 * (-1 - Math.log(1 - abar) + (1 - abar) + abar * v * v);
  }
  return (nll + prior) / x.length / Math.LN2;
}

async function run(d: GaussianDiffusion, model: SamplerUNet, x: Float32Array, rowsPerPass: number, clipDenoised = true): Promise<BpdTerms> {
  const n = x.length / (H * W * C);
  const x0 = tf.tensor4d(x, [n, H, W, C]);
  const root = new Rng(3);
  const out = await calcBpdLoop(d, model, x0, {
    rngs: Array.from({ length: n }, (_, i) => root.fork(`image:${i}`)), labels: Array.from({ length: n }, (_, i) => i), rowsPerPass, clipDenoised,
  });
  x0.dispose();
  return out;
}

before(async () => {
  await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
});

test('oracle model, fixed_small: bits/dim = decoder NLL + prior, by hand, over the full T and respaced', async () => {
  const x = images(3);
  const full = samplingDiffusion(pipeline('fixed_small'));
  const model = oracle(x, full);
  const before = tf.memory().numTensors;
  for (const steps of [undefined, 10, 'ddim25']) {
    const d = samplingDiffusion(pipeline('fixed_small'), steps);
    const r = await run(d, model, x, 64);
    const K = d.numTimesteps;
    for (let i = 0; i < 3; i++) {
      const xi = x.subarray(i * H * W * C, (i + 1) * H * W * C);
      const expected = expectedBpd(xi, d);
      assert.ok(Math.abs(r.totalBpd[i] - expected) < 1e-4 * expected, `steps ${steps}, image ${i}: ${r.totalBpd[i]} vs ${expected}`);
      const kl = r.vb.subarray(i * K + 1, (i + 1) * K);
      assert.ok(kl.every((v) => Math.abs(v) < 1e-5), `KL terms vanish for the oracle, max ${Math.max(...kl.map(Math.abs))}`);
      assert.ok(r.mse[i * K + K - 1] < 1e-6, 'ε recovered from the clipped x̂₀');
    }
    d.dispose();
  }
  full.dispose();
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
});

test('packing (image, t) rows does not change the result; terms equal vbTermsBpd on the same noise', async () => {
  const x = images(2);
  const d = samplingDiffusion(pipeline('learned_range'), 20);
  const model = oracle(x, samplingDiffusion(pipeline('learned_range')), 0.3);
  const a = await run(d, model, x, 1, false);
  const b = await run(d, model, x, 7, false);
  const c = await run(d, model, x, 1000, false);
  assert.deepEqual(a.vb, b.vb);
  assert.deepEqual(a.vb, c.vb);
  assert.deepEqual(a.totalBpd, c.totalBpd);
  // The reference loop by hand: for t = K−1 … 0 fresh noise from image i's generator, x_t, the model, L_t.
  const K = d.numTimesteps;
  const root = new Rng(3);
  for (let i = 0; i < 2; i++) {
    const rng = root.fork(`image:${i}`);
    const x0 = tf.tensor4d(x.subarray(i * H * W * C, (i + 1) * H * W * C), [1, H, W, C]);
    for (let t = K - 1; t >= 0; t--) {
      const vb = tf.tidy(() => {
        const tt = tf.tensor1d([t], 'int32');
        const xt = d.qSample(x0, tt, tf.tensor4d(rng.normalArray(H * W * C), [1, H, W, C])) as tf.Tensor4D;
        const out = model.apply(xt, d.scaleTimesteps(tt), tf.tensor1d([i], 'int32'));
        return d.vbTermsBpd(out, x0, xt, tt).output.dataSync()[0];
      });
      assert.ok(Math.abs(vb - a.vb[i * K + t]) <= 1e-6 * Math.max(1, Math.abs(vb)), `image ${i} t ${t}: ${a.vb[i * K + t]} vs ${vb}`);
    }
    const prior = tf.tidy(() => d.priorBpd(x0).dataSync()[0]);
    assert.ok(Math.abs(a.totalBpd[i] - a.vb.subarray(i * K, (i + 1) * K).reduce((s, v) => s + v, prior)) < 1e-9);
    x0.dispose();
  }
  // learned_range with v = 0.3 is not the true variance: every KL term is positive.
  assert.ok(a.vb.every((v) => v > 0));
  d.dispose();
});
