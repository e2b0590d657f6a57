/**
 * The contract between the Node-RED nodes and the shared engine process: plain JSON objects, PNG Buffers and
 * Float32Arrays only (tensors never leave the engine). `msg.iddpm` carries a `PipelineSpec`; each component node
 * fills its own part.
 */

/** Noise schedule (the Schedule node). */
export interface ScheduleSpec {
  kind: 'linear' | 'cosine';
  /** T, the number of diffusion steps. */
  steps: number;
  /** Cosine offset s (default 0.008). */
  cosineS?: number;
  /** Largest β of the cosine schedule (default 0.999). */
  maxBeta?: number;
}

/** Forward process q(x_t | x_0) and what the model predicts (the Noiser node). */
export interface NoiserSpec {
  /** The reference's model mean type: ε-prediction (default) or x₀-prediction. */
  modelMeanType: 'epsilon' | 'start_x';
  /** Feed the model t·1000/T rather than t (the reference's rescale_timesteps; default true). */
  rescaleTimesteps?: boolean;
}

export type UNetPresetName = 'tiny' | 'mnist' | 'cifar' | 'custom';
export type ModelVarType = 'learned_range' | 'learned' | 'fixed_small' | 'fixed_large';

/** The model (the UNet node). */
export interface UNetSpec {
  /** Model name: where it is stored and how the Sampler refers to it. ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ */
  model: string;
  preset: UNetPresetName;
  /** Architecture overrides (for `custom`, the whole architecture); keys of engine/unet UNetConfig. */
  config?: Record<string, unknown>;
  /** The reference's model variance type; learned types give the UNet 2C outputs. Default learned_range. */
  modelVarType: ModelVarType;
  /** Class-conditional with this many classes, or null. */
  numClasses: number | null;
}

export type LossKind = 'hybrid' | 'simple' | 'kl' | 'rescaled-kl';
/** The objective (the HybridLoss node). */
export interface LossSpec {
  kind: LossKind;
  /** λ of L_simple + λ·L_vlb (default 0.001). */
  lambda: number;
}

/** The timestep sampler (the ImportanceSampler node). */
export interface TimestepsSpec {
  kind: 'importance' | 'uniform';
  /** Losses kept per timestep (default 10). */
  history?: number;
  /** Uniform mix (default 0.001). */
  uniformProb?: number;
}

/** `msg.iddpm`: one part per component node. */
export interface PipelineSpec {
  schedule?: ScheduleSpec;
  noiser?: NoiserSpec;
  unet?: UNetSpec;
  loss?: LossSpec;
  timesteps?: TimestepsSpec;
}
export type CompletePipeline = Required<PipelineSpec>;
export const PIPELINE_PARTS = ['schedule', 'noiser', 'unet', 'loss', 'timesteps'] as const;

export interface DatasetSpec {
  kind: 'mnist' | 'fashion-mnist' | 'folder' | 'images';
  split?: 'train' | 'test';
  /** For `folder`: a directory of PNG/JPEG images. */
  path?: string;
  /** Use only the first `limit` images. */
  limit?: number;
  /** For `images`: images pushed in the message. */
  images?: RawImages;
  labels?: number[];
}

/** Images as raw data, NHWC, values in [-1, 1]. */
export interface RawImages {
  shape: [number, number, number, number];
  data: Float32Array;
}

export interface TrainOptions {
  dataset: DatasetSpec;
  batchSize: number;
  /** Examples per forward/backward pass; 0 = automatic (fits the wasm heap). */
  microbatch?: number;
  lr?: number;
  emaRate?: number;
  /** Clip the global gradient norm to this (0 or absent = off). */
  gradClip?: number;
  /** Stop after this many steps in total (0 = until stopped). */
  maxSteps?: number;
  logEvery?: number;
  sampleEvery?: number;
  /** How many preview images per sample message. */
  sampleCount?: number;
  checkpointEvery?: number;
  seed?: number;
  /** Continue from the stored checkpoint of this model (default true when one exists). */
  resume?: boolean;
}

/** The whole stored description of a model (`model.json`): enough to sample it with nothing else. */
export interface ModelSpec {
  name: string;
  pipeline: CompletePipeline;
  /** The resolved UNet architecture. */
  unetConfig: Record<string, unknown>;
  train?: Omit<TrainOptions, 'dataset'> & { dataset: Omit<DatasetSpec, 'images'> };
  step: number;
  createdAt: string;
  updatedAt: string;
}

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
  importance?: { warmedUp: boolean; pMin: number; pMax: number; entropy?: number };
}

export type JobState = 'starting' | 'running' | 'paused' | 'stopping' | 'stopped' | 'done' | 'failed';

export interface JobStatus {
  name: string;
  state: JobState;
  step: number;
  maxSteps: number;
  lastLoss?: number;
  imagesPerSec?: number;
  error?: string;
}

export type TrainEvent =
  | { type: 'progress'; name: string; payload: TrainProgress }
  | { type: 'sample'; name: string; step: number; png: Buffer }
  | { type: 'checkpoint'; name: string; step: number; path: string }
  | { type: 'done'; name: string; status: JobStatus }
  | { type: 'error'; name: string; message: string; status: JobStatus };

export interface SampleRequest {
  model: string;
  count: number;
  batchSize?: number;
  /** A number of steps, or a respacing string (`ddim50`, `10,15,20`); default: the full T. */
  steps?: number | string;
  method?: 'ancestral' | 'ddim';
  eta?: number;
  clipDenoised?: boolean;
  /** One class for all, or one per image (class-conditional models only). */
  classes?: number | number[];
  seed?: number;
  /** Use the EMA weights (default true). */
  ema?: boolean;
  format?: 'grid' | 'pngs' | 'raw';
  columns?: number;
  /** Send a progress event every k steps (0 = never). */
  progressEvery?: number;
  /** Keep x_t and x̂₀ every k steps as frames. */
  framesEvery?: number;
}

export interface SampleProgress {
  step: number;
  total: number;
  batch: number;
  batches: number;
}

export interface SampleResult {
  format: 'grid' | 'pngs' | 'raw';
  /** grid: one PNG; pngs: one per image. */
  png?: Buffer;
  pngs?: Buffer[];
  raw?: RawImages;
  classes?: number[];
  seconds: number;
  backend: string;
  /** frames[k] = { t, xt: PNG grid, predXstart: PNG grid } when framesEvery > 0. */
  frames?: Array<{ t: number; xt: Buffer; predXstart: Buffer }>;
}

export interface NoiseRequest {
  schedule: ScheduleSpec;
  images: RawImages;
  /** One t for all images, or a list: each image noised at every t (a strip). */
  t: number | number[];
  seed?: number;
}

export interface NoiseResult {
  /** [N·len(t), H, W, C] in image-major order: image 0 at every t, then image 1… */
  images: RawImages;
  t: number[];
}

export interface ScheduleTables {
  kind: string;
  steps: number;
  betas: number[];
  alphasCumprod: number[];
  sqrtAlphasCumprod: number[];
  sqrtOneMinusAlphasCumprod: number[];
  snr: number[];
  posteriorVariance: number[];
  posteriorLogVarianceClipped: number[];
}

export interface EvaluateRequest {
  model: string;
  dataset: DatasetSpec;
  /** How many images (default 16). */
  count?: number;
  batchSize?: number;
  ema?: boolean;
  seed?: number;
  /** Keep per-timestep terms for a plot (Figure 2 of the paper). */
  perTimestep?: boolean;
  /** Evaluate the bound of a respaced process (a number, `ddimN`, section counts); default the full T. */
  steps?: number | string;
}

export interface EvaluateResult {
  bitsPerDim: number;
  priorBpd: number;
  vbBpd: number;
  mseMean: number;
  count: number;
  /** vb term per t (bits/dim), averaged over images, when asked. */
  terms?: number[];
  seconds: number;
}

export interface EngineInfo {
  backend: string;
  pid: number;
  modelsDir: string;
  models: string[];
  jobs: JobStatus[];
}

/** Requests the client sends; `id` pairs each reply with its request. */
export type EngineRequest =
  | { op: 'info' }
  | { op: 'train'; name: string; pipeline: CompletePipeline; options: TrainOptions }
  | { op: 'control'; name: string; action: 'stop' | 'pause' | 'resume' }
  | { op: 'status'; name: string }
  | { op: 'sample'; request: SampleRequest }
  | { op: 'cancelSample'; requestId: number }
  | { op: 'noise'; request: NoiseRequest }
  | { op: 'schedule'; spec: ScheduleSpec }
  | { op: 'evaluate'; request: EvaluateRequest }
  | { op: 'modelSpec'; name: string }
  | { op: 'shutdown' };

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Why a request failed, for callers that map errors (e.g. HTTP status codes). */
export type EngineErrorCode = 'BAD_REQUEST' | 'NOT_FOUND' | 'BUSY' | 'QUEUE_FULL' | 'ENGINE_EXITED' | 'INTERNAL';

/** An error that crosses the process boundary with its code intact. */
export class EngineError extends Error {
  constructor(message: string, readonly code: EngineErrorCode = 'BAD_REQUEST') {
    super(message);
    this.name = 'EngineError';
  }
}

/** Replies and events the engine process sends back. */
export type EngineReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; code: EngineErrorCode } }
  | { id: number; progress: SampleProgress }
  | { broadcast: TrainEvent };
