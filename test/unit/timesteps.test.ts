/** The seedable Rng and the timestep samplers: determinism, distributions, exact resume, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../engine/rng';
import {
  LossSecondMomentResampler, UniformSampler, createTimestepSampler, importanceWeights, sampleFromWeights,
} from '../../engine/timesteps';

const draws = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.next());

test('Rng: same seed, same stream; different seeds differ; next in [0, 1)', () => {
  assert.deepEqual(draws(new Rng(42), 100), draws(new Rng(42), 100));
  assert.notDeepEqual(draws(new Rng(42), 10), draws(new Rng(43), 10));
  assert.notDeepEqual(draws(new Rng(1), 10), draws(new Rng(1 + 2 ** 32), 10), 'high bits of large seeds matter');
  const xs = draws(new Rng(3), 20000);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
});

test('Rng.int is uniform over [0, n); normal has mean 0 and variance 1', () => {
  const r = new Rng(5);
  const counts = new Array(7).fill(0);
  for (let i = 0; i < 70000; i++) counts[r.int(7)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 400, `counts ${counts}`); // ~4σ
  const z = Array.from(new Rng(9).normalArray(40000));
  const m = z.reduce((a, b) => a + b, 0) / z.length;
  const v = z.reduce((a, b) => a + (b - m) ** 2, 0) / z.length;
  assert.ok(Math.abs(m) < 0.02 && Math.abs(v - 1) < 0.03, `mean ${m}, variance ${v}`);
  const tail = z.filter((x) => Math.abs(x) > 1.96).length / z.length;
  assert.ok(Math.abs(tail - 0.05) < 0.006, `P(|z| > 1.96) = ${tail}`);
});

test('Rng state save/restore continues identically (including the cached Box–Muller spare)', () => {
  const r = new Rng(11);
  r.normal(); // leaves a spare cached
  const saved = JSON.parse(JSON.stringify(r.getState()));
  const expected = [r.normal(), r.next(), r.int(1000), r.normal(), r.normal()];
  const s = new Rng(0);
  s.setState(saved);
  assert.deepEqual([s.normal(), s.next(), s.int(1000), s.normal(), s.normal()], expected);
});

test('Rng.fork is deterministic, independent of the parent, and does not advance it', () => {
  const r = new Rng(21);
  const before = r.getState();
  const a = draws(r.fork('noise'), 5);
  assert.deepEqual(r.getState(), before);
  assert.deepEqual(draws(r.fork('noise'), 5), a);
  assert.notDeepEqual(draws(r.fork('data'), 5), a);
  assert.notDeepEqual(draws(r, 5), a);
});

test('Rng rejects bad seeds, ranges and states', () => {
  assert.throws(() => new Rng(Number.NaN), /finite number/);
  assert.throws(() => new Rng(1).int(0), /integer 1 ≤ n/);
  assert.throws(() => new Rng(1).setState([1, 2, 3]), /6 numbers/);
  assert.throws(() => new Rng(1).setState([1, 2, 3, -4, 0, 0]), /32-bit/);
});

test('UniformSampler: ones, loss weights 1, every t about equally often', () => {
  const s = new UniformSampler(10);
  assert.deepEqual(Array.from(s.weights()), new Array(10).fill(1));
  const { indices, weights } = s.sample(20000, new Rng(2));
  assert.ok(weights.every((w) => w === 1));
  const counts = new Array(10).fill(0);
  for (const i of indices) counts[i]++;
  for (const c of counts) assert.ok(Math.abs(c - 2000) < 180, `counts ${counts}`);
  s.setState(s.getState());
  assert.throws(() => s.setState({ kind: 'uniform', numTimesteps: 11 }), /uniform sampler over 10/);
});

/** A resampler warmed up with losses growing in t: L_t = (t + 1)·(1 + 0.1·k) for the k-th loss of t. */
function warmed(T = 8, H = 10): LossSecondMomentResampler {
  const s = new LossSecondMomentResampler(T, { historyPerTerm: H });
  for (let k = 0; k < H; k++) {
    const ts = Array.from({ length: T }, (_, t) => t);
    s.updateWithAllLosses(ts, ts.map((t) => (t + 1) * (1 + 0.1 * k)));
  }
  return s;
}

test('LossSecondMomentResampler: ones until every t has a full history, then √E[L²] mixed with uniform', () => {
  const T = 8;
  const s = new LossSecondMomentResampler(T, { historyPerTerm: 3 });
  for (let k = 0; k < 3; k++) {
    assert.deepEqual(Array.from(s.weights()), new Array(T).fill(1));
    s.updateWithAllLosses([0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 1]);
  }
  assert.equal(s.warmedUp(), false, 't = 7 has no losses yet');
  s.updateWithAllLosses([7, 7, 7, 7], [1, 2, 3, 4]); // the 4th shifts out the 1st
  assert.equal(s.warmedUp(), true);
  assert.deepEqual(s.getState().lossHistory[7], [2, 3, 4]);
  const rms = [1, 1, 1, 1, 1, 1, 1, Math.sqrt((4 + 9 + 16) / 3)];
  const sum = rms.reduce((a, b) => a + b, 0);
  const w = s.weights();
  rms.forEach((v, t) => assert.ok(Math.abs(w[t] - ((v / sum) * 0.999 + 0.001 / T)) < 1e-15));
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12);
});

test('importance sampling: frequencies ≈ p and loss weights 1/(T·p)', () => {
  const s = warmed();
  const w = s.weights();
  const p = Array.from(w, (v) => v / w.reduce((a, b) => a + b, 0));
  const n = 40000;
  const { indices, weights } = s.sample(n, new Rng(8));
  const counts = new Array(8).fill(0);
  for (const i of indices) counts[i]++;
  p.forEach((pt, t) => {
    const sd = Math.sqrt(n * pt * (1 - pt));
    assert.ok(Math.abs(counts[t] - n * pt) < 4.5 * sd, `t=${t}: ${counts[t]} vs ${n * pt}`);
  });
  indices.forEach((t, b) => assert.equal(weights[b], Math.fround(1 / (8 * p[t]))));
  // Unbiased: E[weight] under p is Σ p_t / (T p_t) = 1.
  const meanWeight = weights.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(meanWeight - 1) < 0.02, `mean weight ${meanWeight}`);
  assert.deepEqual(Array.from(importanceWeights(w, [0, 7])), [Math.fround(1 / (8 * p[0])), Math.fround(1 / (8 * p[7]))]);
});

test('sampleFromWeights never draws a zero-weight step', () => {
  const w = Float64Array.from([0, 1, 0, 3, 0]);
  const { indices } = sampleFromWeights(w, 5000, new Rng(4));
  assert.ok(indices.every((i) => i === 1 || i === 3));
  assert.throws(() => sampleFromWeights(new Float64Array(3), 1, new Rng(1)), /positive finite sum/);
});

test('importance sampler state save/restore continues identically', () => {
  const a = warmed();
  const state = JSON.parse(JSON.stringify(a.getState()));
  const b = new LossSecondMomentResampler(8);
  b.setState(state);
  const ra = new Rng(77);
  const rb = new Rng(77);
  for (let step = 0; step < 5; step++) {
    const sa = a.sample(4, ra);
    const sb = b.sample(4, rb);
    assert.deepEqual(sb, sa);
    const losses = Array.from(sa.indices, (t) => 0.5 + t * step);
    a.updateWithAllLosses(sa.indices, losses);
    b.updateWithAllLosses(sb.indices, losses);
    assert.deepEqual(b.weights(), a.weights());
  }
});

test('samplers reject bad input with clear errors', () => {
  const s = new LossSecondMomentResampler(5);
  assert.throws(() => s.updateWithAllLosses([1, 2], [1]), /2 timesteps but 1 losses/);
  assert.throws(() => s.updateWithAllLosses([5], [1]), /outside \[0, 5\)/);
  assert.throws(() => s.updateWithAllLosses([1], [Number.NaN]), /not finite/);
  assert.throws(() => s.setState({ kind: 'uniform', numTimesteps: 5 }), /importance sampler over 5/);
  assert.throws(() => s.setState({ ...s.getState(), lossCounts: [1, 2] }), /malformed/);
  assert.throws(() => new LossSecondMomentResampler(0), /positive integer/);
  assert.throws(() => new LossSecondMomentResampler(5, { uniformProb: 2 }), /uniform probability/);
  assert.throws(() => s.sample(0, new Rng(1)), /Batch size/);
  assert.throws(() => createTimestepSampler('stratified' as never, 5), /Unknown timestep sampler "stratified"/);
  assert.equal(createTimestepSampler('importance', 5).kind, 'importance');
  assert.equal(createTimestepSampler('uniform', 5).kind, 'uniform');
});
