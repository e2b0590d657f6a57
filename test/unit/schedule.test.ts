/** Beta schedules, derived tables and respacing: properties from the math, independent formulas, and errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeTables, getNamedBetaSchedule, linspace, respaceBetas, roundHalfEven, spaceTimesteps,
} from '../../engine/schedule';

const close = (a: number, b: number, rel = 1e-12, msg = ''): void =>
  assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)), `${msg} ${a} vs ${b}`);

test('linspace follows numpy: i·step + start, last element exactly stop', () => {
  const y = linspace(0.1, 0.7, 7);
  assert.equal(y[6], 0.7);
  assert.equal(y[3], 3 * ((0.7 - 0.1) / 6) + 0.1);
  assert.deepEqual(Array.from(linspace(2, 3, 1)), [2]);
});

test('linear schedule spans 1e-4…0.02 scaled by 1000/T', () => {
  for (const T of [1000, 4000, 50]) {
    const b = getNamedBetaSchedule('linear', T);
    assert.equal(b.length, T);
    close(b[0], (1000 / T) * 1e-4);
    assert.equal(b[T - 1], (1000 / T) * 0.02);
    for (let i = 1; i < T; i++) assert.ok(b[i] > b[i - 1]);
  }
});

test('cosine schedule: ᾱ follows cos² of the offset time, last beta clipped to maxBeta', () => {
  const T = 1000;
  const tables = computeTables(getNamedBetaSchedule('cosine', T));
  const f = (u: number): number => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  for (const t of [0, 10, 500, 900]) close(tables.alphasCumprod[t], f((t + 1) / T) / f(0), 1e-10, `ᾱ_${t}`);
  assert.equal(tables.betas[T - 1], 0.999);
  for (let t = 1; t < T; t++) assert.ok(tables.alphasCumprod[t] < tables.alphasCumprod[t - 1], 'ᾱ strictly decreasing');
  const clipped = getNamedBetaSchedule('cosine', 100, { maxBeta: 0.3, cosineS: 0.02 });
  assert.ok(clipped.every((b) => b > 0 && b <= 0.3));
  assert.equal(clipped[99], 0.3);
  assert.notDeepEqual(Array.from(getNamedBetaSchedule('cosine', 100, { cosineS: 0.02 })), Array.from(getNamedBetaSchedule('cosine', 100)));
});

test('derived tables agree with their definitions and the Gaussian-product posterior', () => {
  const tb = computeTables(getNamedBetaSchedule('cosine', 300));
  assert.equal(tb.alphasCumprodPrev[0], 1);
  assert.equal(tb.alphasCumprodNext[299], 0);
  assert.equal(tb.posteriorVariance[0], 0);
  assert.equal(tb.posteriorLogVarianceClipped[0], tb.posteriorLogVarianceClipped[1]);
  for (const t of [1, 2, 37, 150, 298]) {
    const beta = tb.betas[t];
    const alpha = 1 - beta;
    const abPrev = tb.alphasCumprod[t - 1];
    close(tb.alphasCumprod[t], abPrev * alpha);
    // q(x_{t−1}|x_t,x_0) ∝ N(x_t; √α x_{t−1}, β) · N(x_{t−1}; √ᾱ_{t−1} x_0, 1 − ᾱ_{t−1}):
    const precision = alpha / beta + 1 / (1 - abPrev);
    const variance = 1 / precision;
    close(tb.posteriorVariance[t], variance, 1e-10, `β̃_${t}`);
    close(tb.posteriorMeanCoef2[t], (variance * Math.sqrt(alpha)) / beta, 1e-10, `c2_${t}`);
    close(tb.posteriorMeanCoef1[t], (variance * Math.sqrt(abPrev)) / (1 - abPrev), 1e-10, `c1_${t}`);
    close(tb.sqrtRecipm1AlphasCumprod[t] ** 2, 1 / tb.alphasCumprod[t] - 1, 1e-12);
    close(Math.exp(tb.logOneMinusAlphasCumprod[t]), 1 - tb.alphasCumprod[t], 1e-12);
  }
});

test('bad schedules throw clear errors', () => {
  assert.throws(() => getNamedBetaSchedule('linear', 0), /positive integer/);
  assert.throws(() => getNamedBetaSchedule('cosine', 10.5), /positive integer/);
  assert.throws(() => getNamedBetaSchedule('quadratic' as never, 10), /Unknown beta schedule "quadratic"/);
  assert.throws(() => getNamedBetaSchedule('cosine', 10, { maxBeta: 1.5 }), /max beta/);
  assert.throws(() => computeTables(getNamedBetaSchedule('linear', 10)), /at least 20 steps/);
  assert.throws(() => computeTables([0.5]), /at least 2 timesteps/);
  assert.throws(() => computeTables([0.1, 0]), /Beta 1 is 0/);
});

test('roundHalfEven is Python round', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 48.5, 49.5, 2.4999, 2.5001, 7].map(roundHalfEven), [0, 2, 2, 48, 50, 2, 3, 7]);
});

test('spaceTimesteps: sections, strides, ddim, number form', () => {
  // The reference's docstring example: 300 steps, sections of 100 taking 10, 15 and 20 steps.
  const s = spaceTimesteps(300, '10,15,20');
  assert.equal(s.length, 45);
  assert.deepEqual(s.slice(0, 3), [0, 11, 22]);
  assert.equal(s[10], 100);
  assert.equal(s[44], 299);
  assert.deepEqual(spaceTimesteps(1000, 'ddim50'), Array.from({ length: 50 }, (_, i) => 20 * i));
  assert.deepEqual(spaceTimesteps(1000, 250), spaceTimesteps(1000, '250'));
  assert.deepEqual(spaceTimesteps(1000, [10, 15]), spaceTimesteps(1000, '10,15'));
  assert.deepEqual(spaceTimesteps(10, '10'), Array.from({ length: 10 }, (_, i) => i));
  // Section of 9 steps taking 3: stride 4 → 0, 4, 8; 97 steps taking 3: stride 48 → 0, 48, 96.
  assert.deepEqual(spaceTimesteps(9, '3'), [0, 4, 8]);
  // 98 steps taking 3: stride 48.5, round-half-even gives 48 (Math.round would give 49), then 97.
  assert.deepEqual(spaceTimesteps(98, '3'), [0, 48, 97]);
});

test('spaceTimesteps errors', () => {
  assert.throws(() => spaceTimesteps(100, 'ddim30'), /cannot create exactly 30 steps from 100/);
  assert.throws(() => spaceTimesteps(10, '4,8'), /cannot divide a section of 5 steps into 8/);
  assert.throws(() => spaceTimesteps(100, 'ten'), /"ten" not understood/);
  assert.throws(() => spaceTimesteps(100, ''), /empty/);
  assert.throws(() => spaceTimesteps(100, [-1]), /non-negative integers/);
  assert.throws(() => spaceTimesteps(0, '1'), /positive integer/);
});

test('respaceBetas: the respaced process reaches the same ᾱ at every kept step', () => {
  const tb = computeTables(getNamedBetaSchedule('cosine', 400));
  const keep = spaceTimesteps(400, '7,3,12');
  const { betas, timestepMap } = respaceBetas(tb.alphasCumprod, keep);
  assert.deepEqual(timestepMap, keep);
  const spaced = computeTables(betas);
  // 1e-9: the last respaced β is within ~1e-8 of 1, so 1 − β loses digits there.
  timestepMap.forEach((t, k) => close(spaced.alphasCumprod[k], tb.alphasCumprod[t], 1e-9, `ᾱ at ${t}`));
  assert.throws(() => respaceBetas(tb.alphasCumprod, [400]), /outside the original process/);
  assert.throws(() => respaceBetas(tb.alphasCumprod, []), /no timesteps/);
});
