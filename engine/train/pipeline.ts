/**
 * From the JSON the nodes assemble (`msg.iddpm`, TrainOptions) to the engine objects a run needs: the resolved UNet
 * architecture, the diffusion process with its loss, the dataset description, and the options with their defaults.
 * Bad input is refused by engine/spec's validators with an error that names the setting.
 */
import {
  checkPipeline, checkTrainOptions, InvalidValue, type CheckedTrainOptions, type CompletePipeline,
  type ModelSpec, type ResolvedTrainOptions, storedTrainOptions, badRequest,
} from '../spec';
import { createDiffusion, type GaussianDiffusion } from '../diffusion';
import { checkTrainableSize, unetConfigFor } from '../unet/presets';
import type { UNetConfig } from '../unet/config';

export { unetConfigFor };

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

/** The image shape the run's data must have: the model's. */
export function imageShapeOf(config: UNetConfig): { imageSize: number; channels: 1 | 3 } {
  if (config.inChannels !== 1 && config.inChannels !== 3) {
    throw badRequest(`Training data must be grey (1 channel) or RGB (3 channels); this UNet has ${config.inChannels} input channels`);
  }
  return { imageSize: config.imageSize, channels: config.inChannels };
}

/** Validates a training request, coerces it and fills in the defaults. Throws InvalidValue (BAD_REQUEST) naming the problem. */
export function resolveTrainRequest(name: string, pipeline: unknown, options: unknown): { pipeline: CompletePipeline; options: CheckedTrainOptions } {
  const checked = checkPipeline(pipeline);
  if (checked.unet.model !== name) {
    throw new InvalidValue('unet.model', { key: 'runName', params: { name, got: checked.unet.model } });
  }
  checkTrainableSize(unetConfigFor(checked.unet));
  return { pipeline: checked, options: checkTrainOptions(options) };
}

/** The stored model description (model.json) of a run at `step`. */
export function modelSpecOf(name: string, pipeline: CompletePipeline, config: UNetConfig, options: CheckedTrainOptions, step: number, createdAt: string): ModelSpec {
  return {
    name,
    pipeline,
    unetConfig: { ...config },
    train: storedTrainOptions(options) satisfies ResolvedTrainOptions,
    step,
    createdAt,
    updatedAt: new Date().toISOString(),
  };
}
