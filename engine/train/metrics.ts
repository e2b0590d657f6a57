/**
 * Training metrics over a logging window, as the reference's `log_loss_dict` + `logkv_mean` record them: each loss
 * term is logged multiplied by its importance weight, averaged over the window, and also per timestep quartile
 * q = ⌊4t/T⌋ (`loss_q0` … `loss_q3`); `grad_norm` is the window mean of √Σg².
 *
 * Beside the window, the curves over t that explain importance sampling (the paper's Figure 2 and section 3.3):
 * each t's recent loss and L_t (vb) terms, and the timestep sampler's p_t with its uniform floor.
 */
import type { JobPhase } from '../spec';

/** One logging window of a run, as the Trainer node sends it (`msg.topic = "progress"`). */
export interface TrainProgress {
  name: string;
  step: number;
  loss: number;
  mse?: number;
  vb?: number;
  /** Loss per timestep quartile q0..q3, like the reference logger. */
  lossQuartiles: Array<number | null>;
  mseQuartiles?: Array<number | null>;
  vbQuartiles?: Array<number | null>;
  gradNorm: number;
  imagesPerSec: number;
  backend: string;
  /** Importance sampler summary: warmed up, min/max/mean weight of p. */
  importance?: ImportanceSummary;
  /** The run's last step (0 = until stopped). */
  maxSteps?: number;
  /** Seconds until maxSteps at the recent pace (previews and checkpoints included). */
  etaSeconds?: number;
  /** Steps per second over the recent steps. */
  stepsPerSec?: number;
  phase?: JobPhase;
  /** Loss and p_t over t (not written to log.jsonl: they are a picture of now, not a history). */
  curves?: TimestepCurves;
}

/** Curves over the diffusion steps t = 0 … T−1, in bins of `binSize` steps starting at `t[i]`. */
export interface TimestepCurves {
  T: number;
  binSize: number;
  t: number[];
  /** Mean training loss of the recent examples drawn in each bin (unweighted), null where none was yet. */
  loss: Array<number | null>;
  /** The same for the vb term L_t (the variational bound's term at t), when the loss has one. */
  vb?: Array<number | null>;
  /** The timestep sampler's probability p_t, the mean over each bin's t (so comparable with 1/T). */
  p: number[];
  /** The least p_t can be: the sampler's uniform mix u/T (importance), or 1/T (uniform). */
  pFloor: number;
  /** 1/T, uniform sampling. */
  pUniform: number;
}

/**
 * The last `history` losses seen at each t (a ring per t), averaged per t and then per bin: the loss over t the
 * model has now, which importance sampling weighs p_t ∝ √E[L_t²] by.
 */
export class TimestepLosses {
  private readonly values: Float64Array;
  private readonly vbValues: Float64Array;
  private readonly counts: Int32Array;
  private sawVb = false;

  constructor(readonly numTimesteps: number, readonly history = 10) {
    this.values = new Float64Array(numTimesteps * history);
    this.vbValues = new Float64Array(numTimesteps * history);
    this.counts = new Int32Array(numTimesteps);
  }

  add(t: ArrayLike<number>, losses: StepLosses): void {
    if (losses.vb) this.sawVb = true;
    for (let i = 0; i < t.length; i++) {
      const ti = t[i];
      const slot = ti * this.history + (this.counts[ti] % this.history);
      this.values[slot] = losses.loss[i];
      if (losses.vb) this.vbValues[slot] = losses.vb[i];
      this.counts[ti]++;
    }
  }

  /** The curves in at most `points` bins; `p` is the sampler's distribution (any positive weights, normalised here). */
  curves(points: number, p: ArrayLike<number>, uniformProb: number | undefined): TimestepCurves {
    const T = this.numTimesteps;
    const binSize = Math.max(1, Math.ceil(T / points));
    const bins = Math.ceil(T / binSize);
    let total = 0;
    for (let i = 0; i < p.length; i++) total += p[i];
    const mean = (src: Float64Array): Array<number | null> => Array.from({ length: bins }, (_, b) => {
      let sum = 0;
      let n = 0;
      for (let t = b * binSize; t < Math.min(T, (b + 1) * binSize); t++) {
        const k = Math.min(this.counts[t], this.history);
        if (k === 0) continue;
        let s = 0;
        for (let j = 0; j < k; j++) s += src[t * this.history + j];
        sum += s / k;
        n++;
      }
      return n ? sum / n : null;
    });
    const pBins = Array.from({ length: bins }, (_, b) => {
      let s = 0;
      const end = Math.min(T, (b + 1) * binSize);
      for (let t = b * binSize; t < end; t++) s += p[t] / total;
      return s / (end - b * binSize);
    });
    const out: TimestepCurves = {
      T, binSize, t: Array.from({ length: bins }, (_, b) => b * binSize), loss: mean(this.values), p: pBins,
      pFloor: uniformProb === undefined ? 1 / T : uniformProb / T, pUniform: 1 / T,
    };
    if (this.sawVb) out.vb = mean(this.vbValues);
    return out;
  }
}

/** Recent pace of a run: steps per second over the last `window` steps, wall time (pauses excluded). */
export class StepClock {
  private times: number[] = [];

  constructor(private readonly window = 20) {}

  /** A step ended now. */
  tick(now = performance.now()): void {
    this.times.push(now);
    if (this.times.length > this.window + 1) this.times.shift();
  }

  /** Forget the pace (after a pause, the next step's time says nothing of the pace). */
  reset(): void {
    this.times = [];
  }

  stepsPerSec(): number | undefined {
    const n = this.times.length;
    if (n < 2) return undefined;
    const s = (this.times[n - 1] - this.times[0]) / 1000;
    return s > 0 ? (n - 1) / s : undefined;
  }

  /** Seconds to go from `step` to `maxSteps` at the recent pace; undefined without a max or a pace yet. */
  eta(step: number, maxSteps: number): number | undefined {
    const rate = this.stepsPerSec();
    if (!maxSteps || rate === undefined) return undefined;
    return Math.max(0, maxSteps - step) / rate;
  }
}

export interface StepLosses {
  loss: Float32Array;
  mse?: Float32Array;
  vb?: Float32Array;
}

/** Running sums of one loss term, overall and by quartile. */
class TermMeans {
  private sum = 0;
  private count = 0;
  private readonly qSum = [0, 0, 0, 0];
  private readonly qCount = [0, 0, 0, 0];

  add(values: Float32Array, t: Int32Array, weights: Float32Array, numTimesteps: number): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] * weights[i];
      const q = Math.min(3, Math.floor((4 * t[i]) / numTimesteps));
      this.sum += v;
      this.count += 1;
      this.qSum[q] += v;
      this.qCount[q] += 1;
    }
  }

  mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }

  quartiles(): Array<number | null> {
    return this.qSum.map((s, q) => (this.qCount[q] ? s / this.qCount[q] : null));
  }

  get empty(): boolean {
    return this.count === 0;
  }
}

export interface ImportanceSummary {
  warmedUp: boolean;
  pMin: number;
  pMax: number;
  entropy?: number;
}

/** Summarises the timestep sampler's distribution p: min, max, and entropy in nats (ln T when uniform). */
export function summarizeImportance(p: ArrayLike<number>, warmedUp: boolean): ImportanceSummary {
  let pMin = Infinity;
  let pMax = -Infinity;
  let entropy = 0;
  for (let i = 0; i < p.length; i++) {
    pMin = Math.min(pMin, p[i]);
    pMax = Math.max(pMax, p[i]);
    if (p[i] > 0) entropy -= p[i] * Math.log(p[i]);
  }
  return { warmedUp, pMin, pMax, entropy };
}

export class MetricsWindow {
  private loss = new TermMeans();
  private mse = new TermMeans();
  private vb = new TermMeans();
  private gradNormSum = 0;
  private steps = 0;
  private images = 0;
  private started = performance.now();

  constructor(private readonly numTimesteps: number) {}

  add(t: Int32Array, weights: Float32Array, losses: StepLosses, gradNorm: number): void {
    this.loss.add(losses.loss, t, weights, this.numTimesteps);
    if (losses.mse) this.mse.add(losses.mse, t, weights, this.numTimesteps);
    if (losses.vb) this.vb.add(losses.vb, t, weights, this.numTimesteps);
    this.gradNormSum += gradNorm;
    this.steps += 1;
    this.images += t.length;
  }

  get stepCount(): number {
    return this.steps;
  }

  /** The window as a progress record; starts a new window. */
  flush(name: string, step: number, backend: string, importance?: ImportanceSummary): TrainProgress {
    const seconds = (performance.now() - this.started) / 1000;
    const progress: TrainProgress = {
      name,
      step,
      loss: this.loss.mean(),
      lossQuartiles: this.loss.quartiles(),
      gradNorm: this.steps ? this.gradNormSum / this.steps : NaN,
      imagesPerSec: seconds > 0 ? this.images / seconds : 0,
      backend,
    };
    if (!this.mse.empty) Object.assign(progress, { mse: this.mse.mean(), mseQuartiles: this.mse.quartiles() });
    if (!this.vb.empty) Object.assign(progress, { vb: this.vb.mean(), vbQuartiles: this.vb.quartiles() });
    if (importance) progress.importance = importance;
    this.loss = new TermMeans();
    this.mse = new TermMeans();
    this.vb = new TermMeans();
    this.gradNormSum = 0;
    this.steps = 0;
    this.images = 0;
    this.started = performance.now();
    return progress;
  }
}
