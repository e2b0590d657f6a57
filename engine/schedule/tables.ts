/**
 * The derived float64 tables of a diffusion process, exactly as `GaussianDiffusion.__init__` in the reference
 * computes them (same operation order, so the results agree to the last bit or two).
 */

export interface ScheduleTables {
  numTimesteps: number;
  /** β_t. */
  betas: Float64Array;
  /** ᾱ_t = ∏_{i≤t} (1 − β_i). */
  alphasCumprod: Float64Array;
  /** ᾱ_{t−1}, with ᾱ_{−1} = 1. */
  alphasCumprodPrev: Float64Array;
  /** ᾱ_{t+1}, with 0 after the end. */
  alphasCumprodNext: Float64Array;
  sqrtAlphasCumprod: Float64Array;
  sqrtOneMinusAlphasCumprod: Float64Array;
  logOneMinusAlphasCumprod: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t): the variance of q(x_{t−1} | x_t, x_0); 0 at t = 0. */
  posteriorVariance: Float64Array;
  /** log β̃_t with β̃_0 replaced by β̃_1 (log 0 would be −∞). */
  posteriorLogVarianceClipped: Float64Array;
  /** c1 = β_t √ᾱ_{t−1} / (1 − ᾱ_t): the posterior mean's x_0 coefficient. */
  posteriorMeanCoef1: Float64Array;
  /** c2 = (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t): the posterior mean's x_t coefficient. */
  posteriorMeanCoef2: Float64Array;
}

const map = (a: Float64Array, f: (v: number, i: number) => number): Float64Array => a.map(f);

/** Checks what the reference's constructor asserts: a non-empty 1-D schedule with every β in (0, 1]. */
export function validateBetas(betas: ArrayLike<number>): void {
  if (betas.length < 2) {
    throw new Error(`A diffusion process needs at least 2 timesteps (the clipped posterior log variance uses β̃_1), got ${betas.length}`);
  }
  for (let i = 0; i < betas.length; i++) {
    const b = betas[i];
    if (!(b > 0 && b <= 1)) {
      throw new Error(
        `Beta ${i} is ${b}; every beta must be in (0, 1]` +
          (b > 1 ? ' (a linear schedule needs at least 20 steps, since its last beta is 20/T)' : ''),
      );
    }
  }
}

/** `GaussianDiffusion.__init__`: every per-timestep quantity the forward process, posterior and losses use. */
export function computeTables(betasIn: ArrayLike<number>): ScheduleTables {
  validateBetas(betasIn);
  const betas = Float64Array.from(betasIn);
  const T = betas.length;
  const alphas = map(betas, (b) => 1.0 - b);
  const alphasCumprod = new Float64Array(T);
  let acc = 1; // 1·α_0 is exact, so this is numpy's cumprod
  for (let i = 0; i < T; i++) alphasCumprod[i] = acc *= alphas[i];
  const alphasCumprodPrev = map(alphasCumprod, (_, i) => (i === 0 ? 1.0 : alphasCumprod[i - 1]));
  const alphasCumprodNext = map(alphasCumprod, (_, i) => (i === T - 1 ? 0.0 : alphasCumprod[i + 1]));
  const posteriorVariance = map(betas, (b, i) => (b * (1.0 - alphasCumprodPrev[i])) / (1.0 - alphasCumprod[i]));
  return {
    numTimesteps: T,
    betas,
    alphasCumprod,
    alphasCumprodPrev,
    alphasCumprodNext,
    sqrtAlphasCumprod: map(alphasCumprod, Math.sqrt),
    sqrtOneMinusAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1.0 - a)),
    logOneMinusAlphasCumprod: map(alphasCumprod, (a) => Math.log(1.0 - a)),
    sqrtRecipAlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1.0 / a)),
    sqrtRecipm1AlphasCumprod: map(alphasCumprod, (a) => Math.sqrt(1.0 / a - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped: map(posteriorVariance, (v, i) => Math.log(i === 0 ? posteriorVariance[1] : v)),
    posteriorMeanCoef1: map(betas, (b, i) => (b * Math.sqrt(alphasCumprodPrev[i])) / (1.0 - alphasCumprod[i])),
    posteriorMeanCoef2: map(alphas, (a, i) => ((1.0 - alphasCumprodPrev[i]) * Math.sqrt(a)) / (1.0 - alphasCumprod[i])),
  };
}
