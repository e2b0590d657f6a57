/**
 * Every default, once. The paper's recommended run (iddpm.md, "Losses"): cosine schedule (s = 0.008, max β 0.999),
 * T = 1000, ε-prediction with rescaled timesteps, learned_range variance, the hybrid loss with λ = 0.001,
 * importance-sampled t (history 10, uniform mix 0.001), Adam lr 1e-4, EMA 0.9999.
 */
import type { ScheduleKind, ModelMeanType, ModelVarType, LossKind, TimestepSamplerKind, SamplingMethod, OutputFormat } from './kinds';
import type { UNetPresetName } from './unet';

export const SCHEDULE_DEFAULTS = { kind: 'cosine' as ScheduleKind, steps: 1000, cosineS: 0.008, maxBeta: 0.999 };
export const NOISER_DEFAULTS = { modelMeanType: 'epsilon' as ModelMeanType, rescaleTimesteps: true };
export const UNET_DEFAULTS = { preset: 'tiny' as UNetPresetName, modelVarType: 'learned_range' as ModelVarType, numClasses: null as number | null };
export const LOSS_DEFAULTS = { kind: 'hybrid' as LossKind, lambda: 0.001 };
export const TIMESTEPS_DEFAULTS = { kind: 'importance' as TimestepSamplerKind, history: 10, uniformProb: 0.001 };

/**
 * Training: the paper's lr 1e-4 and EMA 0.9999; the reference logs every 10 steps. Checkpoints every 1000 steps
 * (the reference saves every 10000, but its steps are 128 images on GPUs). A preview every 100 steps with the
 * default interval: the first one comes after a few minutes of CPU, not at the end.
 */
export const TRAIN_DEFAULTS = {
  batchSize: 16, microbatch: 0, lr: 1e-4, emaRate: 0.9999, gradClip: 0, maxSteps: 0, logEvery: 10, sampleEvery: 0,
  sampleCount: 16, checkpointEvery: 1000, seed: 0, resume: true,
};

/** Sampling: 16 images, ancestral over the full process, clipped x̂₀, the EMA weights, one PNG grid. */
export const SAMPLE_DEFAULTS = {
  count: 16, batchSize: 16, method: 'ancestral' as SamplingMethod, eta: 0, clipDenoised: true, ema: true,
  format: 'grid' as OutputFormat, columns: 0, progressEvery: 0, framesEvery: 0,
};

/** Evaluation (bits/dim): the first 16 images of the test split, the full T. */
export const EVALUATE_DEFAULTS = { count: 16, batchSize: 32, split: 'test' as const, ema: true, perTimestep: false };

/**
 * Sample quality in an evaluation: 64 samples (the demo goal's n; the real-image floor at that n says how much of
 * FID is small-n bias) at 100 respaced ancestral steps, seed 0.
 */
export const QUALITY_DEFAULTS = { count: 64, steps: 100, method: 'ancestral' as SamplingMethod, eta: 0, seed: 0, batchSize: 16 };
