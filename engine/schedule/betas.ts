/**
 * Named beta schedules, as `get_named_beta_schedule` / `betas_for_alpha_bar` in improved-diffusion's
 * gaussian_diffusion.py. Everything here is float64 and reproduces numpy's arithmetic step for step.
 */

import { SCHEDULE_DEFAULTS, SCHEDULE_KINDS, type ScheduleKind } from '../spec';

export type BetaScheduleName = ScheduleKind;

export interface BetaScheduleOptions {
  /** Cosine offset s (SCHEDULE_DEFAULTS: 0.008): keeps β small near t = 0. */
  cosineS?: number;
  /** Cosine clip (SCHEDULE_DEFAULTS: 0.999): stops the singularity at the end. */
  maxBeta?: number;
}

const DEFAULT_COSINE_S = SCHEDULE_DEFAULTS.cosineS;
const DEFAULT_MAX_BETA = SCHEDULE_DEFAULTS.maxBeta;

/**
 * numpy.linspace(start, stop, num) with endpoint=True, including its rounding: y_i = i·step + start with
 * step = (stop − start)/(num − 1), and the last element set to `stop` exactly.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  if (div > 0) {
    const step = (stop - start) / div;
    for (let i = 0; i < num; i++) out[i] = i * step + start;
    out[num - 1] = stop;
  } else if (num === 1) {
    out[0] = start;
  }
  return out;
}

/**
 * `betas_for_alpha_bar`: β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), maxBeta), discretising a continuous ᾱ(u), u ∈ [0, 1].
 */
export function betasForAlphaBar(numTimesteps: number, alphaBar: (u: number) => number, maxBeta = DEFAULT_MAX_BETA): Float64Array {
  const betas = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) {
    const t1 = i / numTimesteps;
    const t2 = (i + 1) / numTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** The cosine ᾱ(u) = cos²(((u + s)/(1 + s))·π/2) of IDDPM (eq. 17), not normalised by ᾱ(0), as the reference. */
export function cosineAlphaBar(s = DEFAULT_COSINE_S): (u: number) => number {
  const denom = 1 + s; // 1 + 0.008 === 1.008 in float64, so the default matches the reference's literal
  return (u) => {
    const c = Math.cos(((u + s) / denom) * Math.PI / 2);
    return c * c;
  };
}

/**
 * `get_named_beta_schedule(name, T)`: `linear` is DDPM's 1e-4…0.02 rescaled by 1000/T so that any length spans
 * the same noise levels; `cosine` is IDDPM's schedule with offset s and clip maxBeta.
 */
export function getNamedBetaSchedule(name: BetaScheduleName, numTimesteps: number, opts: BetaScheduleOptions = {}): Float64Array {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) {
    throw new Error(`Number of diffusion steps must be a positive integer, got ${String(numTimesteps)}`);
  }
  if (name === 'linear') {
    const scale = 1000 / numTimesteps;
    return linspace(scale * 0.0001, scale * 0.02, numTimesteps);
  }
  if (name === 'cosine') {
    const s = opts.cosineS ?? DEFAULT_COSINE_S;
    const maxBeta = opts.maxBeta ?? DEFAULT_MAX_BETA;
    if (!Number.isFinite(s) || s < 0) throw new Error(`Cosine schedule offset s must be a finite number ≥ 0, got ${s}`);
    if (!(maxBeta > 0 && maxBeta <= 1)) throw new Error(`Cosine schedule max beta must be in (0, 1], got ${maxBeta}`);
    return betasForAlphaBar(numTimesteps, cosineAlphaBar(s), maxBeta);
  }
  throw new Error(`Unknown beta schedule "${String(name)}": use one of ${SCHEDULE_KINDS.join(', ')}`);
}
