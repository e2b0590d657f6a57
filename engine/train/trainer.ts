/**
 * One training run's state and its step: the reference's `TrainLoop.run_step` (forward_backward, optimize_normal,
 * log_step) over a UNet, its EMA copy, Adam, the timestep sampler, the data sampler and the noise generator.
 * Everything a step draws comes from seeded generators whose states are saved with a checkpoint, so a resumed
 * run continues with exactly the same draws.
 */
import { tf } from '../tf';
import { Rng } from '../rng';
import type { GaussianDiffusion } from '../diffusion';
import { createTimestepSampler, type TimestepSampler, LossSecondMomentResampler } from '../timesteps';
import { BatchSampler, type BatchSamplerState, type Dataset } from '../data';
import { UNet } from '../unet/model';
import { badRequest, type CompletePipeline, type ResolvedTrainOptions, type UNetConfig } from '../spec';
import type { SafeTensor } from '../safetensors';
import { Adam, flattenGradients } from '../optim/adam';
import { updateEma } from '../optim/ema';
import { clipCoefficient, globalNorm } from '../optim/clip';
import { microbatchFor } from './microbatch';
import { summarizeImportance, type ImportanceSummary, type StepLosses } from './metrics';
import type { Checkpoint, OptimizerRecord, TensorDict, TrainState } from './store';

/** What one step did, for metrics and the importance sampler. */
export interface StepResult {
  step: number;
  t: Int32Array;
  weights: Float32Array;
  losses: StepLosses;
  /** The minimised objective: mean over the batch of loss·weight. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** A step whose loss or gradient is not finite; the update was not applied. */
export class NonFiniteLossError extends Error {
  constructor(readonly step: number, loss: number, gradNorm: number) {
    super(
      `loss became ${Number.isNaN(loss) ? 'NaN' : !Number.isFinite(loss) ? String(loss) : `finite (${loss}) but the gradient norm is ${gradNorm}`} at step ${step}; ` +
        'the update was not applied and nothing was checkpointed. Lower the learning rate, set gradient clipping, or check the data.',
    );
    this.name = 'NonFiniteLossError';
  }
}

export interface TrainerParts {
  pipeline: CompletePipeline;
  config: UNetConfig;
  options: ResolvedTrainOptions;
  diffusion: GaussianDiffusion;
  dataset: Dataset;
}

/** A per-(seed, step, microbatch) dropout seed: the same masks again after a resume. */
function dropoutSeed(seed: number, step: number, micro: number): number {
  return new Rng(seed).fork(`dropout:${step}:${micro}`).nextUint32() >>> 1;
}

/** The random draws of one step, for the whole batch (B images). */
export interface StepBatch {
  /** Steps completed before this one. */
  step: number;
  x: Float32Array;
  y?: Int32Array;
  t: Int32Array;
  weights: Float32Array;
  noise: Float32Array;
}

/** Gradients of Σ loss·w / B over some images of a batch, with their per-example losses. */
export interface BatchGradients {
  /** Σ loss·w / B over those images. */
  objective: number;
  /** Per-example terms, B long; only the images computed are filled in. */
  losses: Required<StepLosses>;
  seen: { mse: boolean; vb: boolean };
  /**
   * In parameter order, undefined where the objective does not reach a parameter; or all of them already
   * concatenated (data-parallel sums arrive so). The receiver disposes them.
   */
  grads: Array<tf.Tensor | undefined> | FlatGradients;
}

/** Every parameter's gradient concatenated in parameter order (zeros where `hasGrad` is false). */
export interface FlatGradients {
  flat: tf.Tensor1D;
  hasGrad: boolean[];
}

/** Computes a step's gradients elsewhere (engine/parallel runs them on worker threads). */
export interface GradientSource {
  gradients(batch: StepBatch): Promise<BatchGradients>;
  dispose(): void;
}

/** What computing a shard's gradients needs: the model and its parameters, the process and loss, the run's B. */
export interface ShardContext {
  unet: UNet;
  params: tf.Variable[];
  diffusion: GaussianDiffusion;
  config: UNetConfig;
  seed: number;
  batchSize: number;
}

/**
 * Images [start, end) of a batch, in microbatches of `microbatch`; `microOffset` numbers the first microbatch
 * among all of the step's (its dropout masks depend on that number).
 */
export interface Shard {
  start: number;
  end: number;
  microbatch: number;
  microOffset: number;
}

/**
 * forward_backward over one shard of a batch: each microbatch adds the gradient of Σ loss·w / B (B the whole
 * batch), accumulated in microbatch order, so shards computed apart sum to the whole batch's gradient.
 */
export function shardGradients(ctx: ShardContext, batch: StepBatch, shard: Shard): BatchGradients & { grads: Array<tf.Tensor | undefined> } {
  const { unet, params, diffusion, config, seed, batchSize: B } = ctx;
  const { x, y, t, weights, noise } = batch;
  const per = x.length / B;
  const shape = [config.imageSize, config.imageSize, config.inChannels];
  const losses: Required<StepLosses> = { loss: new Float32Array(B), mse: new Float32Array(B), vb: new Float32Array(B) };
  const seen = { mse: false, vb: false };
  let grads: Array<tf.Tensor | undefined> = params.map(() => undefined);
  let objective = 0;
  for (let start = shard.start, micro = shard.microOffset; start < shard.end; start += shard.microbatch, micro++) {
    const end = Math.min(shard.end, start + shard.microbatch);
    const n = end - start;
    const kept: Partial<Record<keyof StepLosses, tf.Tensor>> = {};
    const { value, grads: g } = tf.tidy(() => {
      const x0 = tf.tensor4d(x.subarray(start * per, end * per), [n, ...shape] as [number, number, number, number]);
      const eps = tf.tensor4d(noise.subarray(start * per, end * per), x0.shape);
      const tt = tf.tensor1d(t.subarray(start, end), 'int32');
      const wt = tf.tensor1d(weights.subarray(start, end), 'float32');
      const yt = config.numClasses !== null && y ? tf.tensor1d(y.subarray(start, end), 'int32') : undefined;
      const dropout = dropoutSeed(seed, batch.step, micro);
      return tf.variableGrads(() => {
        const xt = diffusion.qSample(x0, tt, eps) as tf.Tensor4D;
        const out = unet.apply(xt, diffusion.scaleTimesteps(tt), yt, { training: true, dropoutSeed: dropout });
        const terms = diffusion.trainingLosses(out, x0, xt, tt, eps);
        for (const k of ['loss', 'mse', 'vb'] as const) if (terms[k]) kept[k] = tf.keep(terms[k]!);
        return terms.loss.mul(wt).sum().div(B) as tf.Scalar;
      }, params);
    });
    objective += value.dataSync()[0];
    value.dispose();
    // With the `simple` loss (or a fixed variance) `loss` and `mse` are the same tensor: read all, then free once.
    for (const k of ['loss', 'mse', 'vb'] as const) {
      const v = kept[k];
      if (!v) continue;
      losses[k].set(v.dataSync() as Float32Array, start);
      if (k !== 'loss') seen[k] = true;
    }
    tf.dispose([...new Set(Object.values(kept))]);
    grads = grads.map((acc, i) => {
      const gi = g[params[i].name];
      if (!acc || !gi) return acc ?? gi;
      const sum = acc.add(gi);
      acc.dispose();
      gi.dispose();
      return sum;
    });
  }
  return { objective, losses, seen, grads };
}

export class Trainer {
  readonly unet: UNet;
  /** The EMA weights, as a second UNet (sampled for previews, saved as ema.safetensors). */
  readonly ema: UNet;
  readonly adam: Adam;
  readonly timestepSampler: TimestepSampler;
  readonly batchSampler: BatchSampler;
  readonly microbatch: number;
  /** Steps completed. */
  step = 0;
  private readonly noiseRng: Rng;
  private readonly timestepRng: Rng;
  private readonly params: tf.Variable[];
  private source?: GradientSource;

  constructor(readonly parts: TrainerParts) {
    const { config, options, diffusion, dataset, pipeline } = parts;
    const [h, w, c] = dataset.imageShape;
    if (h !== config.imageSize || w !== config.imageSize || c !== config.inChannels) {
      throw badRequest(`The dataset's images are ${h}×${w}×${c}; this UNet takes ${config.imageSize}×${config.imageSize}×${config.inChannels}`);
    }
    if (config.numClasses !== null) {
      if (dataset.numClasses === null) throw badRequest(`The model is class-conditional (${config.numClasses} classes) but the dataset "${dataset.name}" has no labels`);
      if (dataset.numClasses > config.numClasses) throw badRequest(`The dataset's labels go up to ${dataset.numClasses - 1}; the model was set up for ${config.numClasses} classes (0 … ${config.numClasses - 1})`);
    }
    this.unet = UNet.create(config, options.seed);
    // The same seed gives the same initial weights: the EMA starts from them, as the reference's deepcopy does.
    this.ema = UNet.create(config, options.seed);
    this.params = this.unet.trainableVariables();
    this.adam = new Adam(this.params, { lr: options.lr });
    this.timestepSampler = createTimestepSampler(pipeline.timesteps.kind, diffusion.numTimesteps, {
      historyPerTerm: pipeline.timesteps.history,
      uniformProb: pipeline.timesteps.uniformProb,
    });
    this.batchSampler = new BatchSampler(dataset.size, options.batchSize, options.seed);
    const root = new Rng(options.seed);
    this.noiseRng = root.fork('noise');
    this.timestepRng = root.fork('timesteps');
    this.microbatch = microbatchFor(config, options.microbatch, options.batchSize);
  }

  /**
   * One optimisation step in this thread. The batch's t and noise are drawn once for the whole batch, so the
   * step does not depend on the microbatch size; each microbatch adds the gradient of Σ loss·w / B, making the
   * total the gradient of the batch mean (the reference sums microbatch means instead, which scales with their
   * number).
   */
  runStep(): StepResult {
    const batch = this.drawBatch();
    const B = this.parts.options.batchSize;
    return this.applyGradients(batch, shardGradients(this.shardContext(), batch, { start: 0, end: B, microbatch: this.microbatch, microOffset: 0 }));
  }

  /** One step, its gradients computed by the gradient source when one is set (worker threads), else runStep(). */
  async nextStep(): Promise<StepResult> {
    if (!this.source) return this.runStep();
    const batch = this.drawBatch();
    return this.applyGradients(batch, await this.source.gradients(batch));
  }

  /** Computes the gradients of later steps elsewhere (engine/parallel); the trainer disposes it. */
  useGradientSource(source: GradientSource): void {
    this.source?.dispose();
    this.source = source;
  }

  /** What the model, loss and batch size of this run are, for computing gradients of a shard of a batch. */
  shardContext(): ShardContext {
    const { options, diffusion, config } = this.parts;
    return { unet: this.unet, params: this.params, diffusion, config, seed: options.seed, batchSize: options.batchSize };
  }

  /** Everything random about the next step: the data, t and its importance weights, the noise. */
  private drawBatch(): StepBatch {
    const B = this.parts.options.batchSize;
    const { x, y } = this.parts.dataset.getBatch(this.batchSampler.next());
    const { indices: t, weights } = this.timestepSampler.sample(B, this.timestepRng);
    const noise = this.noiseRng.normalArray(x.length);
    return { step: this.step, x, y: y ?? undefined, t, weights, noise };
  }

  /** optimize_normal: refuses non-finite steps, clips, applies Adam, updates the EMA and the timestep sampler. */
  private applyGradients(batch: StepBatch, result: BatchGradients): StepResult {
    const { options } = this.parts;
    const { objective, losses, seen, grads } = result;
    const { flat, hasGrad } = Array.isArray(grads) ? { flat: flattenGradients(grads, this.params), hasGrad: grads.map((g) => !!g) } : grads;
    if (Array.isArray(grads)) for (const g of grads) g?.dispose();
    try {
      const gradNorm = globalNorm(flat);
      if (!Number.isFinite(objective) || !Number.isFinite(gradNorm)) throw new NonFiniteLossError(batch.step + 1, objective, gradNorm);
      const coef = options.gradClip > 0 ? clipCoefficient(gradNorm, options.gradClip) : 1;
      tf.tidy(() => this.adam.applyFlat(coef < 1 ? flat.mul(coef) : flat, hasGrad));
      updateEma(this.ema.trainableVariables(), this.params, options.emaRate);
      this.timestepSampler.updateWithAllLosses(batch.t, losses.loss);
      this.step += 1;
      return {
        step: this.step, t: batch.t, weights: batch.weights, loss: objective, gradNorm,
        losses: { loss: losses.loss, ...(seen.mse ? { mse: losses.mse } : {}), ...(seen.vb ? { vb: losses.vb } : {}) },
      };
    } finally {
      flat.dispose();
    }
  }

  /** The importance sampler's distribution p over t, summarised for progress messages. */
  importanceSummary(): ImportanceSummary {
    const w = this.timestepSampler.weights();
    let total = 0;
    for (const v of w) total += v;
    const warmedUp = this.timestepSampler instanceof LossSecondMomentResampler ? this.timestepSampler.warmedUp() : true;
    return summarizeImportance(w.map((v) => v / total), warmedUp);
  }

  /** Adam's moments keyed by parameter name (engine layout). */
  optimizerRecord(): OptimizerRecord {
    const state = this.adam.getState();
    const moments: TensorDict = new Map();
    const specs = this.unet.parameters;
    const entry = (data: Float32Array, i: number): SafeTensor => ({ dtype: 'F32', shape: [...specs[i].shape], data });
    state.expAvg.forEach((m, i) => moments.set(`exp_avg.${specs[i].name}`, entry(m, i)));
    state.expAvgSq.forEach((v, i) => moments.set(`exp_avg_sq.${specs[i].name}`, entry(v, i)));
    return { step: state.step, moments };
  }

  trainState(): TrainState {
    return {
      step: this.step,
      rng: { noise: this.noiseRng.getState(), timesteps: this.timestepRng.getState() },
      timestepSampler: this.timestepSampler.getState(),
      dataSampler: this.batchSampler.getState(),
    };
  }

  /** Continues from a checkpoint loaded with `{ training: true }` (exactly, when it holds the run's state). */
  restore(ckpt: Checkpoint): void {
    this.unet.loadStateDict(ckpt.weights);
    this.ema.loadStateDict(ckpt.ema);
    if (!ckpt.optimizer) {
      // A sampling export (weights only): fine-tune from its weights with a fresh optimizer and fresh samplers.
      this.step = ckpt.step;
      return;
    }
    const { optimizer } = ckpt;
    const moment = (kind: string, i: number): Float32Array => {
      const name = `${kind}.${this.unet.parameters[i].name}`;
      const m = optimizer.moments.get(name);
      if (!m || !(m.data instanceof Float32Array)) throw new Error(`Checkpoint optimizer state has no float32 "${name}"`);
      return m.data;
    };
    this.adam.setState({
      step: optimizer.step,
      expAvg: this.params.map((_, i) => moment('exp_avg', i)),
      expAvgSq: this.params.map((_, i) => moment('exp_avg_sq', i)),
    });
    const { state } = ckpt;
    if (!state) {
      // An imported reference checkpoint: Adam continues; the samplers and the data order start fresh, as they do
      // when the reference itself resumes (it saves neither).
      this.step = ckpt.step;
      return;
    }
    this.noiseRng.setState(state.rng.noise);
    this.timestepRng.setState(state.rng.timesteps);
    this.timestepSampler.setState(state.timestepSampler);
    this.batchSampler.setState(state.dataSampler as BatchSamplerState);
    this.step = state.step;
  }

  stateDicts(): { weights: Map<string, SafeTensor>; ema: Map<string, SafeTensor> } {
    return { weights: this.unet.stateDict(), ema: this.ema.stateDict() };
  }

  dispose(): void {
    this.source?.dispose();
    this.source = undefined;
    this.unet.dispose();
    this.ema.dispose();
    this.adam.dispose();
    this.parts.diffusion.dispose();
  }
}
