/**
 * From the JSON the nodes assemble (`msg.iddpm`, TrainOptions) to the engine objects a run needs: the resolved UNet
 * architecture, the diffusion process with its loss, the dataset description, and the options with their defaults.
 * Bad input is refused here with an error that names the setting (engine/host/validate).
 */
import type { CompletePipeline, DatasetSpec, ModelSpec, TrainOptions, UNetSpec } from '../host/protocol';
import { checkModelName, checkPipeline, checkTrainOptions } from '../host/validate';
import { createDiffusion, type GaussianDiffusion } from '../diffusion';
import { resolveUNetConfig } from '../unet/presets';
import type { UNetConfig } from '../unet/config';
import type { DatasetSpec as EngineDatasetSpec } from '../data';

/** TrainOptions with every default filled in (`images` of an in-message dataset stays out of this). */
export interface ResolvedTrainOptions {
  dataset: Omit<DatasetSpec, 'images'>;
  batchSize: number;
  /** 0 = automatic (see autoMicrobatch). */
  microbatch: number;
  lr: number;
  emaRate: number;
  gradClip: number;
  maxSteps: number;
  logEvery: number;
  sampleEvery: number;
  sampleCount: number;
  checkpointEvery: number;
  seed: number;
  resume: boolean;
}

/**
 * Defaults: the paper's lr 1e-4 and EMA 0.9999; the reference logs every 10 steps. Checkpoints every 1000 steps
 * (the reference saves every 10000, but its steps are 128 images on GPUs).
 */
export const TRAIN_DEFAULTS = {
  lr: 1e-4, emaRate: 0.9999, gradClip: 0, maxSteps: 0, logEvery: 10, sampleEvery: 0, sampleCount: 16,
  checkpointEvery: 1000, seed: 0, microbatch: 0,
} as const;

/** The UNet architecture of a UNet node's spec: preset + overrides, 2C outputs for a learned variance, classes. */
export function unetConfigFor(spec: UNetSpec): UNetConfig {
  const learnSigma = spec.modelVarType === 'learned' || spec.modelVarType === 'learned_range';
  const base = spec.preset === 'custom' ? {} : { preset: spec.preset };
  return resolveUNetConfig({ ...base, ...(spec.config ?? {}), learnSigma, numClasses: spec.numClasses ?? null });
}

/** The training process: schedule, mean/variance types and the configured loss (`create_gaussian_diffusion`). */
export function trainingDiffusion(pipeline: CompletePipeline): GaussianDiffusion {
  return createDiffusion({
    schedule: { name: pipeline.schedule.kind, steps: pipeline.schedule.steps, cosineS: pipeline.schedule.cosineS, maxBeta: pipeline.schedule.maxBeta },
    modelMeanType: pipeline.noiser.modelMeanType,
    modelVarType: pipeline.unet.modelVarType,
    lossType: pipeline.loss.kind,
    hybridLambda: pipeline.loss.lambda,
    rescaleTimesteps: pipeline.noiser.rescaleTimesteps,
  });
}

/** The data module's dataset spec: the run's dataset at the model's image size and channels. */
export function datasetSpecFor(dataset: DatasetSpec, config: UNetConfig): EngineDatasetSpec {
  if (config.inChannels !== 1 && config.inChannels !== 3) {
    throw new Error(`Training data must be grey (1 channel) or RGB (3 channels); this UNet has ${config.inChannels} input channels`);
  }
  const { kind, split, path, limit, images, labels } = dataset;
  return { kind, split, path, limit, images, labels, imageSize: config.imageSize, channels: config.inChannels };
}

/**
 * The pipeline with every optional setting made explicit (cosine s and max β, rescaled timesteps, the sampler's
 * history and uniform mix), so two descriptions of the same process compare equal however they were written.
 */
export function withPipelineDefaults(p: CompletePipeline): CompletePipeline {
  return {
    ...p,
    schedule: p.schedule.kind === 'cosine' ? { cosineS: 0.008, maxBeta: 0.999, ...p.schedule } : { ...p.schedule },
    noiser: { rescaleTimesteps: true, ...p.noiser },
    timesteps: p.timesteps.kind === 'importance' ? { history: 10, uniformProb: 0.001, ...p.timesteps } : { ...p.timesteps },
  };
}

/** Validates a training request and fills in the defaults. Throws an EngineError (BAD_REQUEST) naming the problem. */
export function resolveTrainRequest(name: string, pipeline: CompletePipeline, options: TrainOptions): { pipeline: CompletePipeline; options: ResolvedTrainOptions } {
  checkModelName(name);
  checkPipeline(pipeline);
  checkTrainOptions(options);
  if (pipeline.unet.model !== name) {
    throw new Error(`The pipeline's UNet is named "${pipeline.unet.model}" but the run is for model "${name}"`);
  }
  const { images: _images, ...dataset } = options.dataset;
  const o = options;
  const resolved: ResolvedTrainOptions = {
    dataset,
    batchSize: o.batchSize,
    microbatch: o.microbatch ?? TRAIN_DEFAULTS.microbatch,
    lr: o.lr ?? TRAIN_DEFAULTS.lr,
    emaRate: o.emaRate ?? TRAIN_DEFAULTS.emaRate,
    gradClip: o.gradClip ?? TRAIN_DEFAULTS.gradClip,
    maxSteps: o.maxSteps ?? TRAIN_DEFAULTS.maxSteps,
    logEvery: o.logEvery ?? TRAIN_DEFAULTS.logEvery,
    sampleEvery: o.sampleEvery ?? TRAIN_DEFAULTS.sampleEvery,
    sampleCount: o.sampleCount ?? TRAIN_DEFAULTS.sampleCount,
    checkpointEvery: o.checkpointEvery ?? TRAIN_DEFAULTS.checkpointEvery,
    seed: o.seed ?? TRAIN_DEFAULTS.seed,
    resume: o.resume ?? true,
  };
  return { pipeline: withPipelineDefaults(pipeline), options: resolved };
}

/** The stored model description (model.json) of a run at `step`. */
export function modelSpecOf(name: string, pipeline: CompletePipeline, config: UNetConfig, options: ResolvedTrainOptions, step: number, createdAt: string): ModelSpec {
  return {
    name,
    pipeline,
    unetConfig: { ...config } as unknown as Record<string, unknown>,
    train: { ...options },
    step,
    createdAt,
    updatedAt: new Date().toISOString(),
  };
}
