/**
 * The Gaussian diffusion process of IDDPM: the forward process q, its posterior, the model's reverse step
 * p_θ(x_{t−1} | x_t), and the training losses (the reference's gaussian_diffusion.py `GaussianDiffusion`, with
 * respace.py's `SpacedDiffusion` folded in through `timestepMap`).
 *
 * Functional: methods take the model's OUTPUT, never the model, so callers run the UNet themselves (once per
 * step, on x_t and `scaleTimesteps(t)`). Tensors are NHWC float32 (any [N, …, C] works); t is an int32 [N]
 * tensor of indices into this (possibly respaced) process.
 *
 * Coefficients are looked up from float32 copies of the float64 tables, as the reference does (its
 * `_extract_into_tensor` rounds each looked-up coefficient to float32).
 */
import { tf } from '../tf';
import { computeTables, type ScheduleTables } from '../schedule/tables';
import { discretizedGaussianLogLikelihood, meanFlat, normalKl } from './losses';
import { stopGradient } from './stopGradient';
import { LOSS_DEFAULTS, LOSS_KINDS, learnsSigma, MODEL_MEAN_TYPES, MODEL_VAR_TYPES, type LossKind, type ModelMeanType, type ModelVarType } from '../spec';

export type { ModelMeanType, ModelVarType };

/** The reference's LossType in our vocabulary (engine/spec LOSS_KINDS). */
export type LossType = LossKind;

export interface GaussianDiffusionOptions {
  betas: ArrayLike<number>;
  modelMeanType: ModelMeanType;
  modelVarType: ModelVarType;
  lossType: LossType;
  /** λ of the hybrid loss (LOSS_DEFAULTS). */
  hybridLambda?: number;
  /** Feed the model t·1000/T (float) rather than the raw index (default true). */
  rescaleTimesteps?: boolean;
  /** For a respaced process: the original timestep of each of its steps. */
  timestepMap?: number[];
  /** For a respaced process: T of the original process (what rescaling divides by). */
  originalNumSteps?: number;
}

/** Per-timestep coefficients that can be looked up by t: the schedule tables plus a few derived arrays. */
export type CoefficientName =
  | Exclude<keyof ScheduleTables, 'numTimesteps'>
  | 'oneMinusAlphasCumprod'
  | 'logBetas'
  | 'fixedLargeVariance'
  | 'fixedLargeLogVariance';

export interface QMeanVariance {
  mean: tf.Tensor;
  variance: tf.Tensor;
  logVariance: tf.Tensor;
}
export interface QPosterior {
  mean: tf.Tensor;
  variance: tf.Tensor;
  /** log β̃_t with the t = 0 entry replaced by log β̃_1. */
  logVarianceClipped: tf.Tensor;
}
export interface PMeanVariance {
  mean: tf.Tensor;
  variance: tf.Tensor;
  logVariance: tf.Tensor;
  predXstart: tf.Tensor;
}
export interface TrainingLosses {
  /** The per-example loss to minimise, [N]. */
  loss: tf.Tensor1D;
  /** Mean over non-batch axes of (target − prediction)², [N] (not for the kl loss types). */
  mse?: tf.Tensor1D;
  /** The vb term as it enters the loss (λ·T·L_t for hybrid, L_t for mse), in bits, [N]; learned variance only. */
  vb?: tf.Tensor1D;
}

const LN2 = Math.log(2.0);

function oneOf<T extends string>(what: string, value: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(value)) throw new Error(`Unknown ${what} "${String(value)}": use one of ${allowed.join(', ')}`);
  return value as T;
}

export class GaussianDiffusion {
  readonly numTimesteps: number;
  readonly tables: ScheduleTables;
  readonly modelMeanType: ModelMeanType;
  readonly modelVarType: ModelVarType;
  readonly lossType: LossType;
  readonly hybridLambda: number;
  readonly rescaleTimesteps: boolean;
  /** Original timestep of each step (the identity when not respaced). */
  readonly timestepMap: readonly number[];
  readonly originalNumSteps: number;
  protected readonly coefficients: Record<CoefficientName, Float64Array>;
  private readonly onDevice = new Map<string, tf.Tensor>();

  constructor(opts: GaussianDiffusionOptions) {
    this.tables = computeTables(opts.betas);
    this.numTimesteps = this.tables.numTimesteps;
    this.modelMeanType = oneOf('model mean type', opts.modelMeanType, MODEL_MEAN_TYPES);
    this.modelVarType = oneOf('model variance type', opts.modelVarType, MODEL_VAR_TYPES);
    this.lossType = oneOf('loss type', opts.lossType, LOSS_KINDS);
    this.hybridLambda = opts.hybridLambda ?? LOSS_DEFAULTS.lambda;
    if (!(Number.isFinite(this.hybridLambda) && this.hybridLambda >= 0)) throw new Error(`Hybrid loss λ must be a finite number ≥ 0, got ${this.hybridLambda}`);
    this.rescaleTimesteps = opts.rescaleTimesteps ?? true;
    this.timestepMap = opts.timestepMap ?? Array.from({ length: this.numTimesteps }, (_, i) => i);
    this.originalNumSteps = opts.originalNumSteps ?? this.numTimesteps;
    if (this.timestepMap.length !== this.numTimesteps) {
      throw new Error(`timestepMap has ${this.timestepMap.length} entries for a process of ${this.numTimesteps} steps`);
    }
    if (!Number.isInteger(this.originalNumSteps) || this.timestepMap.some((t) => !Number.isInteger(t) || t < 0 || t >= this.originalNumSteps)) {
      throw new Error(`timestepMap entries must be integers in [0, ${this.originalNumSteps})`);
    }
    const tb = this.tables;
    const fixedLarge = tb.betas.map((b, i) => (i === 0 ? tb.posteriorVariance[1] : b));
    this.coefficients = {
      ...(Object.fromEntries(Object.entries(tb).filter(([k]) => k !== 'numTimesteps')) as Record<Exclude<keyof ScheduleTables, 'numTimesteps'>, Float64Array>),
      oneMinusAlphasCumprod: tb.alphasCumprod.map((a) => 1.0 - a),
      logBetas: tb.betas.map(Math.log),
      // FIXED_LARGE uses β_t, with β̃_1 at t = 0 "to get a better decoder log likelihood" (reference comment).
      fixedLargeVariance: fixedLarge,
      fixedLargeLogVariance: fixedLarge.map(Math.log),
    };
  }

  /** Whether the model outputs a variance (2C channels: ε̂ or x̂_0 first, then v). */
  get learnsVariance(): boolean {
    return learnsSigma(this.modelVarType);
  }

  /** Output channels the model must produce for C image channels. */
  modelOutputChannels(imageChannels: number): number {
    return this.learnsVariance ? 2 * imageChannels : imageChannels;
  }

  /** Frees the device copies of the tables (they are re-created on next use). */
  dispose(): void {
    for (const t of this.onDevice.values()) t.dispose();
    this.onDevice.clear();
  }

  private device(name: string, values: () => tf.Tensor): tf.Tensor {
    let tensor = this.onDevice.get(name);
    if (!tensor || tensor.isDisposed) {
      tensor = tf.keep(values());
      this.onDevice.set(name, tensor);
    }
    return tensor;
  }

  private checkT(t: tf.Tensor, batch?: number): void {
    if (t.rank !== 1 || t.dtype !== 'int32') throw new Error(`Timesteps t must be an int32 tensor of shape [N], got ${t.dtype} [${t.shape}]`);
    if (batch !== undefined && t.shape[0] !== batch) throw new Error(`Timesteps t has ${t.shape[0]} entries for a batch of ${batch}`);
  }

  /**
   * `_extract_into_tensor`: table[t] as float32, shaped [N, 1, …, 1] (rank `ndim`) to broadcast against [N, …].
   */
  coefficient(name: CoefficientName, t: tf.Tensor1D, ndim: number): tf.Tensor {
    this.checkT(t);
    const table = this.device(name, () => tf.tensor1d(Float32Array.from(this.coefficients[name]), 'float32'));
    return tf.tidy(() => tf.gather(table, t).reshape([t.shape[0], ...new Array<number>(Math.max(ndim - 1, 0)).fill(1)]));
  }

  private coef(name: CoefficientName, t: tf.Tensor1D, like: tf.Tensor): tf.Tensor {
    this.checkT(t, like.shape[0]);
    return this.coefficient(name, t, like.rank);
  }

  /**
   * The timesteps the model must see for indices t of this process: the original timestep (`timestepMap`, the
   * `_WrappedModel` of a SpacedDiffusion), as float, times 1000/originalNumSteps when rescaling.
   */
  scaleTimesteps(t: tf.Tensor1D): tf.Tensor1D {
    this.checkT(t);
    return tf.tidy(() => {
      const map = this.device('timestepMap', () => tf.tensor1d(Int32Array.from(this.timestepMap), 'int32'));
      const original = tf.gather(map, t).toFloat();
      return (this.rescaleTimesteps ? original.mul(1000.0 / this.originalNumSteps) : original) as tf.Tensor1D;
    });
  }

  /** `q_mean_variance`: q(x_t | x_0) = N(√ᾱ_t·x_0, (1 − ᾱ_t)·I); variance and log variance broadcast to x_0's shape. */
  qMeanVariance(x0: tf.Tensor, t: tf.Tensor1D): QMeanVariance {
    return tf.tidy(() => ({
      mean: this.coef('sqrtAlphasCumprod', t, x0).mul(x0),
      variance: this.coef('oneMinusAlphasCumprod', t, x0).broadcastTo(x0.shape),
      logVariance: this.coef('logOneMinusAlphasCumprod', t, x0).broadcastTo(x0.shape),
    }));
  }

  /** `q_sample`: x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε. */
  qSample(x0: tf.Tensor, t: tf.Tensor1D, noise: tf.Tensor): tf.Tensor {
    if (!tf.util.arraysEqual(x0.shape, noise.shape)) throw new Error(`qSample: noise shape [${noise.shape}] differs from x_0 shape [${x0.shape}]`);
    return tf.tidy(() => this.coef('sqrtAlphasCumprod', t, x0).mul(x0).add(this.coef('sqrtOneMinusAlphasCumprod', t, x0).mul(noise)));
  }

  /** `q_posterior_mean_variance`: q(x_{t−1} | x_t, x_0) = N(c1·x_0 + c2·x_t, β̃_t). */
  qPosteriorMeanVariance(x0: tf.Tensor, xt: tf.Tensor, t: tf.Tensor1D): QPosterior {
    if (!tf.util.arraysEqual(x0.shape, xt.shape)) throw new Error(`Posterior: x_0 shape [${x0.shape}] differs from x_t shape [${xt.shape}]`);
    return tf.tidy(() => ({
      mean: this.coef('posteriorMeanCoef1', t, xt).mul(x0).add(this.coef('posteriorMeanCoef2', t, xt).mul(xt)),
      variance: this.coef('posteriorVariance', t, xt).broadcastTo(xt.shape),
      logVarianceClipped: this.coef('posteriorLogVarianceClipped', t, xt).broadcastTo(xt.shape),
    }));
  }

  /** `_predict_xstart_from_eps`: x̂_0 = √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε̂. */
  predictXstartFromEps(xt: tf.Tensor, t: tf.Tensor1D, eps: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.coef('sqrtRecipAlphasCumprod', t, xt).mul(xt).sub(this.coef('sqrtRecipm1AlphasCumprod', t, xt).mul(eps)));
  }

  /** `_predict_eps_from_xstart`: ε = (√(1/ᾱ_t)·x_t − x̂_0) / √(1/ᾱ_t − 1). */
  predictEpsFromXstart(xt: tf.Tensor, t: tf.Tensor1D, predXstart: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.coef('sqrtRecipAlphasCumprod', t, xt).mul(xt).sub(predXstart).div(this.coef('sqrtRecipm1AlphasCumprod', t, xt)),
    );
  }

  /** Splits the model output (last axis) into the mean part (ε̂ or x̂_0) and, for learned variances, v. */
  splitModelOutput(modelOutput: tf.Tensor, xt: tf.Tensor): { out: tf.Tensor; varValues?: tf.Tensor } {
    const c = xt.shape[xt.rank - 1];
    const want = this.modelOutputChannels(c);
    const got = modelOutput.shape[modelOutput.rank - 1];
    const sameOuter = modelOutput.rank === xt.rank && modelOutput.shape.slice(0, -1).every((d, i) => d === xt.shape[i]);
    if (!sameOuter || got !== want) {
      throw new Error(
        `Model output shape [${modelOutput.shape}] does not fit x_t [${xt.shape}]: ${this.modelVarType} variance needs ${want} output channels`,
      );
    }
    if (!this.learnsVariance) return { out: modelOutput };
    const [out, varValues] = tf.split(modelOutput, [c, c], -1);
    return { out, varValues };
  }

  /**
   * `p_mean_variance`: the reverse step p_θ(x_{t−1} | x_t) from the model output.
   * Variance: learned_range log σ² = frac·log β_t + (1 − frac)·log β̃_t(clipped), frac = (v + 1)/2 (v unclamped);
   * learned log σ² = v; fixed_small β̃_t; fixed_large β_t (β̃_1 at t = 0).
   * Mean: x̂_0 from ε̂ (or the output itself for start_x), clipped to [−1, 1] if `clipDenoised`; μ = c1·x̂_0 + c2·x_t.
   */
  pMeanVariance(modelOutput: tf.Tensor, xt: tf.Tensor, t: tf.Tensor1D, opts: { clipDenoised?: boolean } = {}): PMeanVariance {
    const clip = opts.clipDenoised ?? true;
    return tf.tidy(() => {
      const { out, varValues } = this.splitModelOutput(modelOutput, xt);
      let logVariance: tf.Tensor;
      let variance: tf.Tensor;
      if (this.modelVarType === 'learned') {
        logVariance = varValues!;
        variance = tf.exp(logVariance);
      } else if (this.modelVarType === 'learned_range') {
        const minLog = this.coef('posteriorLogVarianceClipped', t, xt);
        const maxLog = this.coef('logBetas', t, xt);
        const frac = varValues!.add(1).div(2);
        logVariance = frac.mul(maxLog).add(tf.sub(1, frac).mul(minLog));
        variance = tf.exp(logVariance);
      } else {
        const small = this.modelVarType === 'fixed_small';
        variance = this.coef(small ? 'posteriorVariance' : 'fixedLargeVariance', t, xt).broadcastTo(xt.shape);
        logVariance = this.coef(small ? 'posteriorLogVarianceClipped' : 'fixedLargeLogVariance', t, xt).broadcastTo(xt.shape);
      }
      let predXstart = this.modelMeanType === 'epsilon' ? this.predictXstartFromEps(xt, t, out) : out;
      if (clip) predXstart = tf.clipByValue(predXstart, -1, 1);
      const { mean } = this.qPosteriorMeanVariance(predXstart, xt, t);
      return { mean, variance, logVariance, predXstart };
    });
  }

  /**
   * `_vb_terms_bpd(clip_denoised)` (false by default, as in training): the term L_t of the variational bound in bits
   * per dimension, [N]. For t > 0 KL(q(x_{t−1}|x_t,x_0) ‖ p_θ(x_{t−1}|x_t)); for t = 0 the decoder NLL
   * −log p_θ(x_0|x_1) under the discretised Gaussian. Both are computed and chosen per example.
   */
  vbTermsBpd(
    modelOutput: tf.Tensor, x0: tf.Tensor, xt: tf.Tensor, t: tf.Tensor1D, opts: { clipDenoised?: boolean } = {},
  ): { output: tf.Tensor1D; predXstart: tf.Tensor } {
    return tf.tidy(() => {
      const truth = this.qPosteriorMeanVariance(x0, xt, t);
      // Training uses the unclipped x̂₀ (the reference's default); calc_bpd_loop evaluates with clipping.
      const model = this.pMeanVariance(modelOutput, xt, t, { clipDenoised: opts.clipDenoised ?? false });
      const kl = meanFlat(normalKl(truth.mean, truth.logVarianceClipped, model.mean, model.logVariance)).div(LN2);
      const decoderNll = meanFlat(
        tf.neg(discretizedGaussianLogLikelihood(x0, model.mean, model.logVariance.mul(0.5))),
      ).div(LN2);
      const output = tf.where(tf.equal(t, 0), decoderNll, kl) as tf.Tensor1D;
      return { output, predXstart: model.predXstart };
    });
  }

  /**
   * `training_losses` for x_t = qSample(x0, t, noise) and the model's output on (x_t, scaleTimesteps(t)).
   * With a learned variance (hybrid, mse), the vb term sees ε̂ through stopGradient, so only v learns from it
   * and the mean is trained by the mse term alone (the reference's `model_output.detach()`).
   */
  trainingLosses(modelOutput: tf.Tensor, x0: tf.Tensor, xt: tf.Tensor, t: tf.Tensor1D, noise: tf.Tensor): TrainingLosses {
    return tf.tidy(() => {
      if (this.lossType === 'kl' || this.lossType === 'rescaled-kl') {
        const vb = this.vbTermsBpd(modelOutput, x0, xt, t).output;
        return { loss: (this.lossType === 'rescaled-kl' ? vb.mul(this.numTimesteps) : vb) as tf.Tensor1D };
      }
      const { out, varValues } = this.splitModelOutput(modelOutput, xt);
      let vb: tf.Tensor1D | undefined;
      if (varValues && this.lossType !== 'simple') {
        const frozen = tf.concat([stopGradient(out), varValues], -1);
        vb = this.vbTermsBpd(frozen, x0, xt, t).output;
        // λ·T·L_t estimates λ·L_vlb = λ·Σ_t L_t from one sampled t (λ = 0.001 gives RESCALED_MSE's T/1000).
        if (this.lossType === 'hybrid') vb = vb.mul(this.hybridLambda * this.numTimesteps) as tf.Tensor1D;
      }
      const target = this.modelMeanType === 'epsilon' ? noise : x0;
      const mse = meanFlat(tf.squaredDifference(target, out));
      return vb ? { loss: mse.add(vb) as tf.Tensor1D, mse, vb } : { loss: mse, mse };
    });
  }

  /** `_prior_bpd`: KL(q(x_{T−1} | x_0) ‖ N(0, I)) in bits per dimension, [N]; not trainable, part of the bound. */
  priorBpd(x0: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => {
      const t = tf.fill([x0.shape[0]], this.numTimesteps - 1, 'int32') as tf.Tensor1D;
      const q = this.qMeanVariance(x0, t);
      return meanFlat(normalKl(q.mean, q.logVariance, 0, 0)).div(LN2) as tf.Tensor1D;
    });
  }
}
