/**
 * The pipeline's vocabulary: every kind a setting can take, as const arrays with their types. Everything else
 * (the engine's math, the wire protocol, the nodes' rules, the editor's dialogs) derives from these lists; the
 * names are the reference's (improved-diffusion's ModelMeanType, ModelVarType, LossType) where it has one.
 *
 * Browser-safe: this folder imports nothing outside itself.
 */

/** Beta schedules: DDPM's linear, IDDPM's cosine (iddpm.md, "Schedules"). */
export const SCHEDULE_KINDS = ['linear', 'cosine'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

/** What the model predicts: the noise ε (EPSILON) or x₀ directly (START_X). */
export const MODEL_MEAN_TYPES = ['epsilon', 'start_x'] as const;
export type ModelMeanType = (typeof MODEL_MEAN_TYPES)[number];

/**
 * How σ²_t of p_θ(x_{t−1} | x_t) is chosen: IDDPM's learned interpolation (LEARNED_RANGE), log σ² directly
 * (LEARNED), or fixed at β̃_t (FIXED_SMALL) or β_t (FIXED_LARGE).
 */
export const MODEL_VAR_TYPES = ['learned_range', 'learned', 'fixed_small', 'fixed_large'] as const;
export type ModelVarType = (typeof MODEL_VAR_TYPES)[number];

/** A learned variance makes the UNet output 2C channels (ε̂ and v). */
export function learnsSigma(v: ModelVarType): boolean {
  return v === 'learned' || v === 'learned_range';
}

/**
 * The objective (iddpm.md, "Losses"), per example:
 * - `hybrid`: L_simple + λ·L_vlb = mse + λ·T·vb (λ = 0.001 is the reference's RESCALED_MSE);
 * - `simple`: L_simple alone (a learned variance then gets no training signal);
 * - `kl`: the vb term alone (KL); `rescaled-kl`: vb·T (RESCALED_KL, an estimate of the whole bound);
 * - `mse`: the reference's plain MSE, mse + vb unscaled (what `--learn_sigma` without rescaling trains).
 */
export const LOSS_KINDS = ['hybrid', 'simple', 'kl', 'rescaled-kl', 'mse'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];

/** Timestep samplers: IDDPM's LossSecondMomentResampler (p_t ∝ √E[L_t²]) or uniform. */
export const TIMESTEP_SAMPLER_KINDS = ['importance', 'uniform'] as const;
export type TimestepSamplerKind = (typeof TIMESTEP_SAMPLER_KINDS)[number];

/** Reverse-process samplers: p_sample (ancestral) or ddim_sample. */
export const SAMPLING_METHODS = ['ancestral', 'ddim'] as const;
export type SamplingMethod = (typeof SAMPLING_METHODS)[number];

/** What the Sampler sends: one PNG grid, one PNG per image, or raw floats. */
export const OUTPUT_FORMATS = ['grid', 'pngs', 'raw'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** What the Sampler node does with a message. */
export const SAMPLER_MODES = ['generate', 'evaluate'] as const;
export type SamplerMode = (typeof SAMPLER_MODES)[number];

/** Training data: the two shipped digit sets, a folder of images, or images carried in the message. */
export const DATASET_KINDS = ['mnist', 'fashion-mnist', 'folder', 'images'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];
/** The datasets that ship with the package (evaluation reads only these). */
export const BUILTIN_DATASETS = ['mnist', 'fashion-mnist'] as const;
export type BuiltinDataset = (typeof BUILTIN_DATASETS)[number];
export const DATASET_SPLITS = ['train', 'test'] as const;
export type DatasetSplit = (typeof DATASET_SPLITS)[number];

/** What a running training job can be told. */
export const TRAIN_CONTROLS = ['stop', 'pause', 'resume'] as const;
export type TrainControl = (typeof TRAIN_CONTROLS)[number];

export const JOB_STATES = ['starting', 'running', 'paused', 'stopping', 'stopped', 'done', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/**
 * What a job is doing, for status lines that tell the truth while it starts (which takes a minute or two on a
 * CPU): loading the dataset, building the model, starting the worker threads, resuming from the checkpoint,
 * the first step (kernels compile); then training, drawing a preview, writing a checkpoint.
 */
export const JOB_PHASES = ['loading-dataset', 'building-model', 'starting-workers', 'resuming', 'first-step', 'training', 'preview', 'checkpoint', 'finished'] as const;
export type JobPhase = (typeof JOB_PHASES)[number];

/** Where a sampling request is in the engine's queue. */
export const SAMPLE_STATES = ['queued', 'running'] as const;
export type SampleState = (typeof SAMPLE_STATES)[number];

/** The five parts of a pipeline, one per component node, in wiring order. */
export const PIPELINE_PARTS = ['schedule', 'noiser', 'unet', 'loss', 'timesteps'] as const;
export type PipelinePart = (typeof PIPELINE_PARTS)[number];
