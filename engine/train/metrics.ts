/**
 * Training metrics over a logging window, as the reference's `log_loss_dict` + `logkv_mean` record them: each loss
 * term is logged multiplied by its importance weight, averaged over the window, and also per timestep quartile
 * q = ⌊4t/T⌋ (`loss_q0` … `loss_q3`); `grad_norm` is the window mean of √Σg².
 */

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
