/**
 * The rule of every setting of every part, by the name it has in the pipeline JSON, the requests and the nodes'
 * dialogs. The engine's validators (validate.ts) and the nodes' rules (nodes/shared/rules.ts) both read these
 * tables, so a value one accepts the other accepts.
 */
import {
  BUILTIN_DATASETS, DATASET_KINDS, DATASET_SPLITS, LOSS_KINDS, MODEL_MEAN_TYPES, MODEL_VAR_TYPES, OUTPUT_FORMATS,
  SAMPLING_METHODS, SCHEDULE_KINDS, TIMESTEP_SAMPLER_KINDS,
} from './kinds';
import { LIMITS } from './limits';
import { bool, choice, fail, integer, intList, modelName, number, ok, respacing, text, toNumber, shown, type Rule } from './rules';
import { UNET_PRESETS } from './unet';

const L = LIMITS;
const range = (r: { min: number; max: number }): Rule<number> => integer(r.min, r.max);

export const SEED = range(L.seed);

/** 1 (grey) or 3 (RGB) channels, as a number or the editor's string. */
export const imageChannels: Rule<1 | 3> = (v) => {
  const n = toNumber(v);
  return n === 1 || n === 3 ? ok(n) : fail('choice', { choices: '1, 3', got: shown(v) });
};

export const SCHEDULE_FIELDS = {
  kind: choice(SCHEDULE_KINDS),
  steps: range(L.diffusionSteps),
  cosineS: number(0, 1),
  maxBeta: number(0, 1, true),
};

export const NOISER_FIELDS = {
  modelMeanType: choice(MODEL_MEAN_TYPES),
  rescaleTimesteps: bool,
};

/** The UNet part; its custom architecture's settings are UNET_CONFIG_FIELDS. */
export const UNET_FIELDS = {
  model: modelName,
  preset: choice(UNET_PRESETS),
  modelVarType: choice(MODEL_VAR_TYPES),
  numClasses: range(L.classes),
};

export const UNET_CONFIG_FIELDS = {
  imageSize: range(L.unet.imageSize),
  inChannels: imageChannels,
  modelChannels: range(L.unet.modelChannels),
  channelMult: intList(L.unet.channelMult.min, L.unet.channelMult.max, L.unet.channelMult.maxLen),
  numResBlocks: range(L.unet.numResBlocks),
  attentionResolutions: intList(L.unet.attentionResolutions.min, L.unet.attentionResolutions.max, L.unet.attentionResolutions.maxLen, true),
  numHeads: range(L.unet.numHeads),
  dropout: number(L.unet.dropout.min, L.unet.dropout.max),
  useScaleShiftNorm: bool,
};

export const LOSS_FIELDS = {
  kind: choice(LOSS_KINDS),
  lambda: number(L.lambda.min, L.lambda.max),
};

export const TIMESTEPS_FIELDS = {
  kind: choice(TIMESTEP_SAMPLER_KINDS),
  history: range(L.importanceHistory),
  uniformProb: number(0, 1),
};

export const DATASET_FIELDS = {
  kind: choice(DATASET_KINDS),
  split: choice(DATASET_SPLITS),
  path: text(L.folderPath),
  limit: range(L.datasetLimit),
};

const trainSteps = range(L.trainSteps);
export const TRAIN_FIELDS = {
  batchSize: range(L.batchSize),
  microbatch: integer(0, L.batchSize.max),
  lr: number(0, 1, true),
  emaRate: number(0, 0.999999),
  gradClip: number(0, 1e6),
  maxSteps: trainSteps,
  logEvery: trainSteps,
  sampleEvery: trainSteps,
  sampleCount: range(L.previewImages),
  checkpointEvery: trainSteps,
  seed: SEED,
  resume: bool,
};

const steps = integer(0, L.diffusionSteps.max);
export const SAMPLE_FIELDS = {
  model: modelName,
  count: range(L.sampleCount),
  batchSize: range(L.sampleCount),
  steps: respacing,
  method: choice(SAMPLING_METHODS),
  eta: number(L.eta.min, L.eta.max),
  clipDenoised: bool,
  class: integer(0, L.classes.max - 1),
  seed: SEED,
  ema: bool,
  format: choice(OUTPUT_FORMATS),
  columns: range(L.gridColumns),
  progressEvery: steps,
  framesEvery: steps,
};

export const EVALUATE_FIELDS = {
  model: modelName,
  dataset: choice(BUILTIN_DATASETS),
  split: choice(DATASET_SPLITS),
  count: range(L.evaluateCount),
  batchSize: range(L.batchSize),
  ema: bool,
  seed: SEED,
  perTimestep: bool,
  steps: respacing,
};

/** Sample quality (QualityRequest): the sampling settings of SAMPLE_FIELDS, the classifier's dataset. */
export const QUALITY_FIELDS = {
  count: range(L.qualityCount),
  steps: respacing,
  method: choice(SAMPLING_METHODS),
  eta: number(L.eta.min, L.eta.max),
  seed: SEED,
  batchSize: range(L.sampleCount),
  dataset: choice(BUILTIN_DATASETS),
};
