/** GaussianDiffusion and the likelihood helpers: closed forms, identities of the math, stop-gradient, errors, leaks. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../engine/tf';
import { initBackend } from '../../engine/backend';
import { Rng } from '../../engine/rng';
import { computeTables, getNamedBetaSchedule } from '../../engine/schedule';
import { GaussianDiffusion, approxStandardNormalCdf, createDiffusion, discretizedGaussianLogLikelihood, meanFlat, normalKl, stopGradient, type LossType } from '../../engine/diffusion';
import { type ModelVarType } from '../../engine/spec';

const T = 200;
const betas = getNamedBetaSchedule('cosine', T);
const tables = computeTables(betas);
const [N, H, W, C] = [3, 4, 4, 2];
const rng = new Rng(7);

const make = (modelVarType: ModelVarType, lossType: LossType = 'hybrid'): GaussianDiffusion =>
  new GaussianDiffusion({ betas, modelMeanType: 'epsilon', modelVarType, lossType });
const normal = (shape: number[]): tf.Tensor => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
const uniform = (shape: number[], lo: number, hi: number): tf.Tensor =>
  tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * rng.next()), shape);
const ts = (values: number[]): tf.Tensor1D => tf.tensor1d(values, 'int32');
/** Elementwise |a − b| ≤ max(abs, rel·|b|). */
const near = (a: ArrayLike<number>, b: ArrayLike<number>, abs: number, what: string, rel = 0): void => {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= Math.max(abs, rel * Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

before(async () => {
  await initBackend('wasm');
});

test('qSample and qPosteriorMeanVariance match the float64 formulas per example', () => {
  tf.tidy(() => {
    const d = make('fixed_small');
    const x0 = uniform([N, H, W, C], -1, 1);
    const eps = normal([N, H, W, C]);
    const tv = [0, 57, T - 1];
    const xt = d.qSample(x0, ts(tv), eps);
    const post = d.qPosteriorMeanVariance(x0, xt, ts(tv));
    const [x0d, epsd, xtd, pm, pv] = [x0, eps, xt, post.mean, post.variance].map((x) => x.dataSync());
    const per = H * W * C;
    const wantXt = new Float64Array(xtd.length);
    const wantMean = new Float64Array(xtd.length);
    const wantVar = new Float64Array(xtd.length);
    for (let i = 0; i < xtd.length; i++) {
      const t = tv[Math.floor(i / per)];
      wantXt[i] = Math.sqrt(tables.alphasCumprod[t]) * x0d[i] + Math.sqrt(1 - tables.alphasCumprod[t]) * epsd[i];
      wantMean[i] = tables.posteriorMeanCoef1[t] * x0d[i] + tables.posteriorMeanCoef2[t] * xtd[i];
      wantVar[i] = Math.fround(tables.posteriorVariance[t]); // looked up from the float32 copy, as the reference
    }
    near(xtd, wantXt, 1e-5, 'x_t');
    near(pm, wantMean, 1e-5, 'posterior mean');
    near(pv, wantVar, 0, 'posterior variance');
    d.dispose();
  });
});

test('normalKl: zero for identical Gaussians, the closed form otherwise', () => {
  tf.tidy(() => {
    const m = normal([50]);
    const lv = uniform([50], -6, 1);
    assert.ok(normalKl(m, lv, m, lv).dataSync().every((v) => v === 0));
    const m2 = normal([50]);
    const lv2 = uniform([50], -6, 1);
    const got = normalKl(m, lv, m2, lv2).dataSync();
    const [a, b, c, d] = [m, lv, m2, lv2].map((x) => x.dataSync());
    const want = Array.from(got, (_, i) => 0.5 * (-1 + d[i] - b[i] + Math.exp(b[i] - d[i]) + (a[i] - c[i]) ** 2 * Math.exp(-d[i])));
    for (let i = 0; i < 50; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * Math.max(1, Math.abs(want[i])), `kl[${i}]`);
    assert.ok(got.every((v) => v >= 0), 'KL is non-negative');
  });
});

test('approxStandardNormalCdf is the tanh approximation, symmetric, 1/2 at 0', () => {
  tf.tidy(() => {
    const xs = [-6, -2.5, -1, -0.1, 0, 0.3, 1, 2, 6];
    const got = approxStandardNormalCdf(tf.tensor1d(xs)).dataSync();
    const want = xs.map((x) => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    near(got, want, 1e-7, 'cdf');
    assert.equal(got[4], 0.5);
    // The lower tail keeps relative precision (the tanh form would round 1 + tanh to 0 in float32).
    assert.ok(Math.abs(got[0] / want[0] - 1) < 1e-5);
  });
});

test('discretizedGaussianLogLikelihood: the 256 bin probabilities sum to 1 and match the float64 formula', () => {
  tf.tidy(() => {
    const bins = Array.from({ length: 256 }, (_, k) => k / 127.5 - 1);
    for (const [mean, logScale] of [[0.1, -3], [-0.97, -4.5], [0.999, -2], [0.2, -6]]) {
      const x = tf.tensor1d(bins);
      const ll = discretizedGaussianLogLikelihood(x, tf.fill([256], mean), tf.fill([256], logScale)).dataSync() as Float32Array;
      const total = ll.reduce((s: number, v: number) => s + Math.exp(v), 0);
      assert.ok(Math.abs(total - 1) < 1e-4, `Σ P = ${total} for mean ${mean}, log σ ${logScale}`);
      const cdf = (z: number): number => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
      const inv = Math.exp(-logScale);
      bins.forEach((xv, k) => {
        const plus = cdf(inv * (xv - mean + 1 / 255));
        const min = cdf(inv * (xv - mean - 1 / 255));
        const p = xv < -0.999 ? plus : xv > 0.999 ? 1 - min : plus - min;
        const want = Math.log(Math.max(p, 1e-12));
        if (p > 1e-9) assert.ok(Math.abs(ll[k] - want) < 2e-4 * Math.max(1, Math.abs(want)), `bin ${k}: ${ll[k]} vs ${want}`);
      });
    }
  });
});

test('pMeanVariance: learned_range spans log β̃ (v = −1) to log β (v = +1); the true ε recovers x_0', () => {
  tf.tidy(() => {
    const d = make('learned_range');
    const x0 = uniform([N, H, W, C], -0.9, 0.9);
    const eps = normal([N, H, W, C]);
    const tv = [1, 60, 150];
    const t = ts(tv);
    const xt = d.qSample(x0, t, eps);
    for (const v of [-1, 1]) {
      const out = tf.concat([eps, tf.fill([N, H, W, C], v)], -1);
      const p = d.pMeanVariance(out, xt, t, { clipDenoised: false });
      const lv = p.logVariance.dataSync();
      const want = tv.map((ti) => (v < 0 ? tables.posteriorLogVarianceClipped[ti] : Math.log(tables.betas[ti])));
      for (let i = 0; i < lv.length; i++) assert.ok(Math.abs(lv[i] - want[Math.floor(i / (H * W * C))]) < 1e-4);
      near(p.predXstart.dataSync(), x0.dataSync(), 2e-4, 'x̂_0 from the true ε');
      // With x̂_0 = x_0 the model mean is the true posterior mean.
      near(p.mean.dataSync(), d.qPosteriorMeanVariance(x0, xt, t).mean.dataSync(), 2e-5, 'μ_θ');
    }
    d.dispose();
  });
});

test('vbTermsBpd: zero KL when the model is the true posterior; decoder NLL at t = 0', () => {
  tf.tidy(() => {
    const d = make('fixed_small', 'kl');
    const x0 = tf.tensor(Float32Array.from({ length: N * H * W * C }, () => rng.int(256) / 127.5 - 1), [N, H, W, C]);
    const eps = normal([N, H, W, C]);
    const t = ts([0, 5, 120]);
    const xt = d.qSample(x0, t, eps);
    const vb = d.vbTermsBpd(eps, x0, xt, t).output.dataSync();
    assert.ok(Math.abs(vb[1]) < 1e-4 && Math.abs(vb[2]) < 1e-4, `KL terms ${vb[1]}, ${vb[2]}`);
    // At t = 0 the decoder places N(x_0, β̃_1) on the true pixel: a positive NLL in bits below 8 (uniform).
    assert.ok(vb[0] > 0 && vb[0] < 8, `decoder NLL ${vb[0]}`);
    d.dispose();
  });
});

test('trainingLosses: loss types relate as the math says', () => {
  tf.tidy(() => {
    const x0 = uniform([N, H, W, C], -1, 1);
    const eps = normal([N, H, W, C]);
    const out = tf.concat([normal([N, H, W, C]), uniform([N, H, W, C], -1, 1)], -1);
    const t = ts([0, 30, 199]);
    const loss = (type: LossType, lambda?: number): Record<string, Float32Array> => {
      const d = new GaussianDiffusion({ betas, modelMeanType: 'epsilon', modelVarType: 'learned_range', lossType: type, hybridLambda: lambda });
      const r = d.trainingLosses(out, x0, d.qSample(x0, t, eps), t, eps);
      d.dispose();
      return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, (v as tf.Tensor).dataSync() as Float32Array]));
    };
    const kl = loss('kl');
    const rkl = loss('rescaled-kl');
    const mse = loss('mse');
    const hybrid = loss('hybrid');
    const hybrid2 = loss('hybrid', 0.01);
    const simple = loss('simple');
    near(rkl.loss, Array.from(kl.loss, (v) => v * T), 0, 'rescaled-kl = T·kl', 1e-6);
    near(mse.vb, kl.loss, 0, 'mse vb = kl', 1e-6);
    near(hybrid.vb, Array.from(kl.loss, (v) => v * 0.001 * T), 0, 'hybrid vb = λ·T·kl', 1e-6);
    near(hybrid2.vb, Array.from(kl.loss, (v) => v * 0.01 * T), 0, 'λ = 0.01', 1e-6);
    near(hybrid.loss, Array.from(hybrid.mse, (v, i) => v + hybrid.vb[i]), 0, 'hybrid = mse + vb', 1e-6);
    assert.deepEqual(Object.keys(simple).sort(), ['loss', 'mse']);
    near(simple.loss, hybrid.mse, 0, 'simple = mse');
    const direct = meanFlat(tf.squaredDifference(eps, tf.split(out, 2, -1)[0])).dataSync();
    near(hybrid.mse, direct, 1e-6, 'mse = mean (ε − ε̂)²');
  });
});

test('stop-gradient: the vb term gives ε̂ exactly zero gradient and v a non-zero one', () => {
  const d = make('learned_range', 'hybrid');
  tf.tidy(() => {
    const x0 = uniform([N, H, W, C], -1, 1);
    const eps = normal([N, H, W, C]);
    const t = ts([0, 40, 180]);
    const xt = d.qSample(x0, t, eps);
    const out = tf.concat([normal([N, H, W, C]), uniform([N, H, W, C], -1, 1)], -1);
    const gVb = tf.grad((o: tf.Tensor) => d.trainingLosses(o, x0, xt, t, eps).vb!.sum())(out);
    const [gEps, gV] = tf.split(gVb, 2, -1).map((g) => g.dataSync());
    assert.ok(gEps.every((g) => g === 0), 'ε̂ gets no gradient from the vb term');
    assert.ok(gV.some((g) => g !== 0), 'v learns from the vb term');
    // The total loss trains ε̂ by the mse term alone: ∂/∂ε̂ mean((ε − ε̂)²) = 2(ε̂ − ε)/D.
    const gLoss = tf.grad((o: tf.Tensor) => d.trainingLosses(o, x0, xt, t, eps).loss.sum())(out);
    const want = tf.split(out, 2, -1)[0].sub(eps).mul(2 / (H * W * C)).dataSync();
    near(tf.split(gLoss, 2, -1)[0].dataSync(), want, 1e-6, 'ε̂ gradient of the hybrid loss');
    // Without the stop (the kl loss), the same vb term does move ε̂.
    const klD = make('learned_range', 'kl');
    const gKl = tf.grad((o: tf.Tensor) => klD.trainingLosses(o, x0, xt, t, eps).loss.sum())(out);
    assert.ok(tf.split(gKl, 2, -1)[0].dataSync().some((g) => g !== 0));
    klD.dispose();
    const x = normal([5]);
    assert.deepEqual(Array.from(stopGradient(x).dataSync()), Array.from(x.dataSync()));
  });
  d.dispose();
});

test('priorBpd is the closed-form KL to N(0, I) at t = T − 1', () => {
  tf.tidy(() => {
    const d = make('fixed_small');
    const x0 = uniform([N, H, W, C], -1, 1);
    const got = d.priorBpd(x0).dataSync();
    const ab = Math.fround(tables.alphasCumprod[T - 1]);
    const xs = x0.dataSync();
    const per = H * W * C;
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let i = 0; i < per; i++) {
        const lv = Math.log1p(-ab);
        s += 0.5 * (Math.expm1(lv) - lv + ab * xs[n * per + i] ** 2);
      }
      const want = s / per / Math.LN2;
      assert.ok(got[n] > 0 && Math.abs(got[n] - want) <= 1e-3 * want, `prior bpd ${got[n]} vs ${want}`);
    }
    d.dispose();
  });
});

test('createDiffusion: respaced process feeds the model original timesteps rescaled to 0…1000', () => {
  const d = createDiffusion({ schedule: { name: 'cosine', steps: 1000 }, respacing: 'ddim10' });
  assert.equal(d.numTimesteps, 10);
  assert.equal(d.originalNumSteps, 1000);
  assert.deepEqual(d.timestepMap, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  const seen = tf.tidy(() => Array.from(d.scaleTimesteps(ts([0, 3, 9])).dataSync()));
  assert.deepEqual(seen, [0, 300, 900]);
  const plain = createDiffusion({ schedule: { name: 'linear', steps: 100 }, rescaleTimesteps: true, modelVarType: 'fixed_large', lossType: 'simple' });
  assert.deepEqual(tf.tidy(() => Array.from(plain.scaleTimesteps(ts([0, 1, 99])).dataSync())), [0, 10, 990]);
  assert.equal(plain.modelOutputChannels(3), 3);
  assert.equal(d.modelOutputChannels(3), 6);
  d.dispose();
  plain.dispose();
});

test('bad inputs throw clear errors', () => {
  const d = make('learned_range');
  tf.tidy(() => {
    const x = tf.zeros([2, 4, 4, 3]);
    assert.throws(() => d.pMeanVariance(tf.zeros([2, 4, 4, 3]), x, ts([1, 2])), /learned_range variance needs 6 output channels/);
    assert.throws(() => d.qSample(x, tf.tensor1d([1, 2]) as tf.Tensor1D, x), /int32/);
    assert.throws(() => d.qSample(x, ts([1, 2, 3]), x), /3 entries for a batch of 2/);
    assert.throws(() => d.qSample(x, ts([1, 2]), tf.zeros([2, 4, 4, 1])), /noise shape/);
  });
  assert.throws(() => new GaussianDiffusion({ betas, modelMeanType: 'epsilon', modelVarType: 'wide' as never, lossType: 'hybrid' }), /model variance type "wide"/);
  assert.throws(() => new GaussianDiffusion({ betas, modelMeanType: 'x_prev' as never, modelVarType: 'learned', lossType: 'hybrid' }), /model mean type/);
  assert.throws(() => new GaussianDiffusion({ betas, modelMeanType: 'epsilon', modelVarType: 'learned', lossType: 'l1' as never }), /loss type "l1"/);
  assert.throws(() => createDiffusion({ schedule: { name: 'cosine', steps: 100 }, respacing: 'ddim30' }), /cannot create exactly 30 steps/);
  d.dispose();
});

test('no tensor leaks across the public methods', () => {
  const d = make('learned_range', 'hybrid');
  const x0 = uniform([N, H, W, C], -1, 1);
  const eps = normal([N, H, W, C]);
  const out = normal([N, H, W, 2 * C]);
  const t = ts([0, 1, 2]);
  const run = (): void => {
    const xt = d.qSample(x0, t, eps);
    tf.dispose([d.scaleTimesteps(t), d.priorBpd(x0), ...Object.values(d.vbTermsBpd(out, x0, xt, t))]);
    tf.dispose(Object.values(d.pMeanVariance(out, xt, t)));
    tf.dispose(Object.values(d.qMeanVariance(x0, t)));
    tf.dispose(Object.values(d.trainingLosses(out, x0, xt, t, eps)) as tf.Tensor[]);
    tf.dispose(tf.grad((o: tf.Tensor) => d.trainingLosses(o, x0, xt, t, eps).loss.sum())(out));
    xt.dispose();
  };
  run(); // creates the cached device tables
  const before = tf.memory().numTensors;
  run();
  assert.equal(tf.memory().numTensors, before);
  d.dispose();
  assert.ok(tf.memory().numTensors < before, 'dispose frees the cached tables');
  tf.dispose([x0, eps, out, t]);
});
