/**
 * The pipeline as plain JSON (design.md, "The message contract"): `msg.iddpm` carries a PipelineSpec, each
 * component node filling its own part; training options, sampling and evaluation requests; and model.json
 * (docs/model-folder.md). Never tensors: these cross the process boundary and are stored as they are.
 */
import type {
  BuiltinDataset, DatasetKind, DatasetSplit, LossKind, ModelMeanType, ModelVarType, OutputFormat, SamplingMethod,
  ScheduleKind, TimestepSamplerKind,
} from './kinds';
import type { UNetConfig, UNetPresetName } from './unet';

/** Noise schedule (the Schedule node). */
export interface ScheduleSpec {
  kind: ScheduleKind;
  /** T, the number of diffusion steps. */
  steps: number;
  /** Cosine offset s (SCHEDULE_DEFAULTS). */
  cosineS?: number;
  /** Largest β of the cosine schedule (SCHEDULE_DEFAULTS). */
  maxBeta?: number;
}

/** Forward process q(x_t | x_0) and what the model predicts (the Noiser node). */
export interface NoiserSpec {
  /** The reference's model mean type. */
  modelMeanType: ModelMeanType;
  /** Feed the model t·1000/T rather than t (the reference's rescale_timesteps). */
  rescaleTimesteps?: boolean;
}

/** The model (the UNet node). */
export interface UNetSpec {
  /** Model name: where it is stored and how the Sampler refers to it (MODEL_NAME_PATTERN). */
  model: string;
  preset: UNetPresetName;
  /** Architecture overrides (for `custom`, the whole architecture), UNetConfig keys. */
  config?: Partial<UNetConfig>;
  /** The reference's model variance type; learned types give the UNet 2C outputs. */
  modelVarType: ModelVarType;
  /** Class-conditional with this many classes, or null. */
  numClasses: number | null;
}

/** The objective (the HybridLoss node). */
export interface LossSpec {
  kind: LossKind;
  /** λ of L_simple + λ·L_vlb. */
  lambda: number;
}

/** The timestep sampler (the ImportanceSampler node). */
export interface TimestepsSpec {
  kind: TimestepSamplerKind;
  /** Losses kept per timestep. */
  history?: number;
  /** Uniform mix. */
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
/** A pipeline with every part (and, once checked, every optional setting made explicit). */
export type CompletePipeline = Required<PipelineSpec>;

/** Images as raw data, NHWC, values in [-1, 1]. */
export interface RawImages {
  shape: [number, number, number, number];
  data: Float32Array;
}

/** PNG/JPEG bytes, a list of them, or raw images: what `msg.payload` may carry (design.md, "Images in messages"). */
export type ImageInput = Uint8Array | Uint8Array[] | RawImages;

export interface DatasetSpec {
  kind: DatasetKind;
  split?: DatasetSplit;
  /** For `folder`: a directory of PNG/JPEG images under an allowed data folder. */
  path?: string;
  /** Use only the first `limit` images. */
  limit?: number;
  /** For `images`: images pushed in the message (decoded in the engine process). */
  images?: ImageInput;
  labels?: number[];
}

export interface TrainOptions {
  dataset: DatasetSpec;
  batchSize?: number;
  /** Examples per forward/backward pass; 0 = automatic (fits the wasm heap). */
  microbatch?: number;
  lr?: number;
  emaRate?: number;
  /** Clip the global gradient norm to this (0 = off). */
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

/** TrainOptions checked, coerced and with every default filled in (an in-message dataset's images stay out). */
export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'dataset'>> & { dataset: Omit<DatasetSpec, 'images'> };

/** The whole stored description of a model (`model.json`): enough to sample it with nothing else. */
export interface ModelSpec {
  name: string;
  pipeline: CompletePipeline;
  /** The resolved UNet architecture. */
  unetConfig: UNetConfig;
  train?: ResolvedTrainOptions;
  step: number;
  createdAt: string;
  updatedAt: string;
  /** Where the weights came from when not trained here (e.g. an imported reference checkpoint). */
  source?: Record<string, unknown>;
}

export interface SampleRequest {
  model: string;
  count?: number;
  batchSize?: number;
  /** A number of steps, or a respacing string (`ddim50`, `10,15,20`); default: the full T. */
  steps?: number | string;
  method?: SamplingMethod;
  eta?: number;
  clipDenoised?: boolean;
  /** One class for all, or one per image (class-conditional models only). */
  classes?: number | number[];
  /** Absent: a fresh random seed, reported in the result. */
  seed?: number;
  /** Use the EMA weights (default true). */
  ema?: boolean;
  format?: OutputFormat;
  /** Columns of the grid (0 = near-square). */
  columns?: number;
  /** Send a progress event every k steps (0 = never). */
  progressEvery?: number;
  /** Keep x_t and x̂₀ every k steps as frames. */
  framesEvery?: number;
  /**
   * Also measure the generated images' sample quality (engine/quality: confident share, class histogram, FID with
   * its real-image floor, class accuracy): true, or the classifier's dataset (default: the model's training set).
   */
  quality?: boolean | { dataset?: BuiltinDataset };
}

/**
 * Sample quality in an evaluation: `count` samples generated (class i % numClasses for a class-conditional model)
 * and judged by the shipped classifier of `dataset`, beside the real-image floor at the same n.
 */
export interface QualityRequest {
  /** Samples to generate (default 64; FID needs at least 2, and is biased at small n: the floor says how much). */
  count?: number;
  /** A number of steps, `ddimN` or section counts (default 100). */
  steps?: number | string;
  method?: SamplingMethod;
  eta?: number;
  /** Default 0: evaluations are repeatable. */
  seed?: number;
  batchSize?: number;
  /** The classifier (default: the evaluation dataset's kind). */
  dataset?: BuiltinDataset;
}

export interface EvaluateRequest {
  model: string;
  dataset: { kind: BuiltinDataset; split?: DatasetSplit };
  /** How many images. */
  count?: number;
  batchSize?: number;
  ema?: boolean;
  seed?: number;
  /** Keep per-timestep terms for a plot (Figure 2 of the paper). */
  perTimestep?: boolean;
  /** Evaluate the bound of a respaced process (a number, `ddimN`, section counts); default the full T. */
  steps?: number | string;
  /** Also generate samples and report their quality (true: QUALITY_DEFAULTS). */
  quality?: boolean | QualityRequest;
}

/** Images of a shipped dataset by index (its split's order), for pictures of real data (the Noiser's strips). */
export interface DatasetPick {
  dataset: BuiltinDataset;
  /** Default `test`. */
  split?: DatasetSplit;
  indices: number[];
}

export interface NoiseRequest {
  schedule: ScheduleSpec;
  /** The images, or a pick of dataset images (32×32, as the engine trains on them). */
  images: ImageInput | DatasetPick;
  /** One t for all images, or a list: each image noised at every t (a strip). */
  t: number | number[];
  seed?: number;
}
