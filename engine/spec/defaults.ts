/**
 * Every default, once. The paper's recommended run (iddpm.md, "Losses"): cosine schedule (s = 0.008, max β 0.999),
 * T = 1000, ε-prediction with rescaled timesteps, learned_range variance, the hybrid loss with λ = 0.001,
 * uniformly sampled t, Adam lr 1e-4, EMA 0.9999. The paper samples t by importance (history 10, uniform mix 0.001,
 * the settings below) for L_vlb only: with L_hybrid it starves the large t (docs/paper-claims.md), so it is a
 * choice of the Importance Sampler node, not the default.
 */
import type { ScheduleKind, ModelMeanType, ModelVarType, LossKind, TimestepSamplerKind, SamplingMethod, OutputFormat } from './kinds';
import type { UNetPresetName } from './unet';

export const SCHEDULE_DEFAULTS = { kind: 'cosine' as ScheduleKind, steps: 1000, cosineS: 0.008, maxBeta: 0.999 };
export const NOISER_DEFAULTS = { modelMeanType: 'epsilon' as ModelMeanType, rescaleTimesteps: true };
export const UNET_DEFAULTS = { preset: 'tiny' as UNetPresetName, modelVarType: 'learned_range' as ModelVarType, numClasses: null as number | null };
export const LOSS_DEFAULTS = { kind: 'hybrid' as LossKind, lambda: 0.001 };
export const TIMESTEPS_DEFAULTS = { kind: 'uniform' as TimestepSamplerKind, history: 10, uniformProb: 0.001 };

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
export const EVALUATE_DEFAULTS = { count: 16, batchSize: 16, split: 'test' as const, ema: true, perTimestep: false };

/**
 * What one engine does for anonymous callers (HTTP, MQTT) at most: sampling requests waiting in its queue; the
 * cost of one request in image-steps × million parameters (16 images × 1000 steps of the 1.2 M-parameter tiny
 * preset ≈ 19 000: a few minutes of this CPU); and the seconds one request may run before it is stopped.
 *
 * How the engine runs jobs beside requests:
 * - firstPreviewSeconds: the first preview of a run comes after this much training time (or at the first
 *   `sampleEvery` step, if sooner), then every `sampleEvery` steps: a person sees the first samples within minutes;
 * - samplingShare: while a sampling request runs, training leaves the worker threads to it for this many times
 *   the length of each training step, so a request waits about (1 + 1/share)× its idle time, not 7×;
 * - curvePoints: per-timestep curves (loss over t, p_t over t) are sent in at most this many bins;
 * - timestepHistory: losses kept per t for the loss-over-t curve;
 * - previewSteps / previewFrames: a preview is a respaced ancestral sample of this many steps, with x_t and x̂₀
 *   kept this many times on the way;
 * - queueUpdateMs: sampling-queue updates are sent at most this often while requests make progress.
 */
export const ENGINE_DEFAULTS = {
  maxQueue: 32, maxRequestCost: 20_000, requestTimeoutSeconds: 600,
  firstPreviewSeconds: 120, samplingShare: 2, curvePoints: 200, timestepHistory: 10, previewSteps: 25, previewFrames: 5,
  queueUpdateMs: 250,
};

/**
 * Sample quality in an evaluation: 64 samples (the demo goal's n; the real-image floor at that n says how much of
 * FID is small-n bias) at 100 respaced ancestral steps, seed 0.
 */
export const QUALITY_DEFAULTS = { count: 64, steps: 100, method: 'ancestral' as SamplingMethod, eta: 0, seed: 0, batchSize: 16 };
