/**
 * Timestep samplers (the reference's resample.py): which t each training example gets, and the loss weight
 * 1/(T·p_t) that keeps the importance-sampled objective unbiased.
 */
import type { Rng } from '../rng';
import { TIMESTEPS_DEFAULTS, TIMESTEP_SAMPLER_KINDS, type TimestepSamplerKind } from '../spec';

export interface TimestepSampler {
  readonly kind: TimestepSamplerKind;
  /** Unnormalised sampling weights, one per timestep. */
  weights(): Float64Array;
  /** Draws t with p = w/Σw; weights = 1/(T·p[t]) as float32. */
  sample(batchSize: number, rng: Rng): { indices: Int32Array; weights: Float32Array };
  /** Feeds back each example's loss at its t (after the step). */
  updateWithAllLosses(ts: ArrayLike<number>, losses: ArrayLike<number>): void;
  getState(): unknown;
  setState(state: unknown): void;
}

function checkT(numTimesteps: number): void {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new Error(`Number of timesteps must be a positive integer, got ${String(numTimesteps)}`);
}

/** The loss weights 1/(T·p[index]) of drawn indices, p = w/Σw, rounded to float32 as the reference does. */
export function importanceWeights(w: Float64Array, indices: ArrayLike<number>): Float32Array {
  let total = 0;
  for (const v of w) total += v;
  return Float32Array.from(indices as ArrayLike<number>, (i) => 1 / (w.length * (w[i] / total)));
}

/**
 * `ScheduleSampler.sample`: indices drawn from p = w/Σw by inverse CDF with `rng`, with their `importanceWeights`.
 */
export function sampleFromWeights(w: Float64Array, batchSize: number, rng: Rng): { indices: Int32Array; weights: Float32Array } {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`Batch size must be a positive integer, got ${String(batchSize)}`);
  let total = 0;
  for (const v of w) total += v;
  if (!(total > 0) || !Number.isFinite(total)) throw new Error('Timestep sampler weights must be non-negative with a positive finite sum');
  const p = w.map((v) => v / total);
  const cdf = new Float64Array(p.length);
  let acc = 0;
  for (let i = 0; i < p.length; i++) cdf[i] = acc += p[i];
  let last = p.length - 1;
  while (last > 0 && p[last] === 0) last--; // rounding must never pick a zero-probability step
  const indices = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    const u = rng.next() * acc;
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    indices[b] = lo;
  }
  return { indices, weights: importanceWeights(w, indices) };
}

/** `UniformSampler`: every t equally likely, all loss weights 1. */
export class UniformSampler implements TimestepSampler {
  readonly kind = 'uniform' as const;
  constructor(readonly numTimesteps: number) {
    checkT(numTimesteps);
  }
  weights(): Float64Array {
    return new Float64Array(this.numTimesteps).fill(1);
  }
  sample(batchSize: number, rng: Rng): { indices: Int32Array; weights: Float32Array } {
    return sampleFromWeights(this.weights(), batchSize, rng);
  }
  updateWithAllLosses(): void {
    // Uniform sampling does not depend on the losses.
  }
  getState(): { kind: 'uniform'; numTimesteps: number } {
    return { kind: 'uniform', numTimesteps: this.numTimesteps };
  }
  setState(state: unknown): void {
    const s = state as { kind?: unknown; numTimesteps?: unknown } | null;
    if (!s || s.kind !== 'uniform' || s.numTimesteps !== this.numTimesteps) {
      throw new Error(`Sampler state does not belong to a uniform sampler over ${this.numTimesteps} timesteps`);
    }
  }
}

export interface LossSecondMomentOptions {
  /** Losses kept per timestep (default 10). */
  historyPerTerm?: number;
  /** Share of uniform probability mixed in (default 0.001). */
  uniformProb?: number;
}

export interface LossSecondMomentState {
  kind: 'importance';
  numTimesteps: number;
  historyPerTerm: number;
  uniformProb: number;
  /** [T][historyPerTerm], oldest first. */
  lossHistory: number[][];
  lossCounts: number[];
}

/**
 * `LossSecondMomentResampler`: IDDPM's importance sampling of t for L_vlb, p_t ∝ √E[L_t²] over the last
 * `historyPerTerm` losses of each t, mixed with `uniformProb` of uniform; uniform until every t has a full history.
 */
export class LossSecondMomentResampler implements TimestepSampler {
  readonly kind = 'importance' as const;
  readonly historyPerTerm: number;
  readonly uniformProb: number;
  private lossHistory: Float64Array[];
  private lossCounts: Int32Array;

  constructor(readonly numTimesteps: number, opts: LossSecondMomentOptions = {}) {
    checkT(numTimesteps);
    this.historyPerTerm = opts.historyPerTerm ?? TIMESTEPS_DEFAULTS.history;
    this.uniformProb = opts.uniformProb ?? TIMESTEPS_DEFAULTS.uniformProb;
    if (!Number.isInteger(this.historyPerTerm) || this.historyPerTerm < 1) {
      throw new Error(`Importance sampler history per timestep must be a positive integer, got ${this.historyPerTerm}`);
    }
    if (!(this.uniformProb >= 0 && this.uniformProb <= 1)) throw new Error(`Importance sampler uniform probability must be in [0, 1], got ${this.uniformProb}`);
    this.lossHistory = Array.from({ length: numTimesteps }, () => new Float64Array(this.historyPerTerm));
    this.lossCounts = new Int32Array(numTimesteps);
  }

  /** `_warmed_up`: every timestep has a full history. */
  warmedUp(): boolean {
    return this.lossCounts.every((c) => c === this.historyPerTerm);
  }

  /** Copies of the per-timestep loss counts (how full each history is). */
  lossCountsSnapshot(): Int32Array {
    return this.lossCounts.slice();
  }

  /** `weights`: ones until warmed up, then w = √mean(history²), w/Σw, mixed with uniform. */
  weights(): Float64Array {
    const T = this.numTimesteps;
    if (!this.warmedUp()) return new Float64Array(T).fill(1);
    const w = this.lossHistory.map((h) => Math.sqrt(h.reduce((s, v) => s + v * v, 0) / h.length));
    let total = 0;
    for (const v of w) total += v;
    return Float64Array.from(w, (v) => (v / total) * (1 - this.uniformProb) + this.uniformProb / T);
  }

  sample(batchSize: number, rng: Rng): { indices: Int32Array; weights: Float32Array } {
    return sampleFromWeights(this.weights(), batchSize, rng);
  }

  /**
   * `update_with_all_losses`: in order, duplicates included, each loss fills the next slot of its t's history,
   * or once full shifts out the oldest.
   */
  updateWithAllLosses(ts: ArrayLike<number>, losses: ArrayLike<number>): void {
    if (ts.length !== losses.length) throw new Error(`updateWithAllLosses: ${ts.length} timesteps but ${losses.length} losses`);
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) throw new Error(`updateWithAllLosses: timestep ${t} is outside [0, ${this.numTimesteps})`);
      if (!Number.isFinite(losses[i])) throw new Error(`updateWithAllLosses: loss ${losses[i]} at timestep ${t} is not finite`);
    }
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      const h = this.lossHistory[t];
      if (this.lossCounts[t] === this.historyPerTerm) {
        h.copyWithin(0, 1);
        h[this.historyPerTerm - 1] = losses[i];
      } else {
        h[this.lossCounts[t]] = losses[i];
        this.lossCounts[t]++;
      }
    }
  }

  getState(): LossSecondMomentState {
    return {
      kind: 'importance',
      numTimesteps: this.numTimesteps,
      historyPerTerm: this.historyPerTerm,
      uniformProb: this.uniformProb,
      lossHistory: this.lossHistory.map((h) => Array.from(h)),
      lossCounts: Array.from(this.lossCounts),
    };
  }

  setState(state: unknown): void {
    const s = state as Partial<LossSecondMomentState> | null;
    const T = this.numTimesteps;
    const H = this.historyPerTerm;
    if (!s || s.kind !== 'importance' || s.numTimesteps !== T || s.historyPerTerm !== H) {
      throw new Error(`Sampler state does not belong to an importance sampler over ${T} timesteps with history ${H}`);
    }
    const okHistory = Array.isArray(s.lossHistory) && s.lossHistory.length === T &&
      s.lossHistory.every((h) => Array.isArray(h) && h.length === H && h.every(Number.isFinite));
    const okCounts = Array.isArray(s.lossCounts) && s.lossCounts.length === T &&
      s.lossCounts.every((c) => Number.isInteger(c) && c >= 0 && c <= H);
    if (!okHistory || !okCounts) throw new Error('Importance sampler state is malformed (lossHistory must be [T][history], lossCounts [T])');
    this.lossHistory = s.lossHistory!.map((h) => Float64Array.from(h));
    this.lossCounts = Int32Array.from(s.lossCounts!);
  }
}

/** `create_named_schedule_sampler`: 'uniform' or 'importance' (the reference's "loss-second-moment"). */
export function createTimestepSampler(kind: TimestepSamplerKind, numTimesteps: number, opts: LossSecondMomentOptions = {}): TimestepSampler {
  if (kind === 'uniform') return new UniformSampler(numTimesteps);
  if (kind === 'importance') return new LossSecondMomentResampler(numTimesteps, opts);
  throw new Error(`Unknown timestep sampler "${String(kind)}": use one of ${TIMESTEP_SAMPLER_KINDS.join(', ')}`);
}
