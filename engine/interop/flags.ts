/**
 * The reference's training recipes ↔ our pipeline. `pipelineFromFlags` reads the MODEL_FLAGS + DIFFUSION_FLAGS
 * (+ TRAIN_FLAGS) of scripts/image_train.py with every default filled in (engine/interop/args.ts) and builds what
 * script_util.create_model_and_diffusion would, in our vocabulary (engine/host/protocol CompletePipeline, the UNet
 * as a `custom` engine/unet UNetConfig). `flagsFromPipeline` goes back, where the scripts can express the pipeline
 * (3 channels, 32/64/256 px with the channel_mult the script fixes for that size, 1000 classes or none, …);
 * otherwise it returns the reason, and a launcher (engine/interop/launcher.ts) is needed instead.
 * The part-by-part correspondence, with the loss table, is in engine/interop/mapping.ts.
 */
import type { CompletePipeline, TrainOptions, UNetSpec } from '../spec';
import { checkPipeline } from '../spec';
import {
  UNetConfig, attentionFactorsFromSizes, attentionSizesFromFactors, levelSizes, validateUNetConfig,
} from '../unet/config';
import { unetConfigFor } from '../unet/presets';
import {
  ArgValue, IMAGE_TRAIN_DEFAULTS, ReferenceArgs, ReferenceScript, formatFlags, parseReferenceArgs,
} from './args';
import {
  flagsForLossType, flagsForVarType, lossFromReference, lossTypeFromFlags, namedScheduleFor, referenceLossType,
  samplerForTimesteps, scheduleFromFlags, timestepsFromSampler, varTypeFromFlags,
} from './mapping';

/** What scripts/image_train.py fixes (script_util.create_model). */
export const SCRIPT_IN_CHANNELS = 3;
export const SCRIPT_NUM_CLASSES = 1000;
export const SCRIPT_CHANNEL_MULT: Readonly<Record<number, readonly number[]>> = {
  256: [1, 1, 2, 2, 4, 4], 64: [1, 2, 3, 4], 32: [1, 2, 2, 2],
};

/** The README's three groups of flags (timestep_respacing, a sampling setting here, is in none of them). */
export const MODEL_FLAG_KEYS = [
  'image_size', 'num_channels', 'num_res_blocks', 'num_heads', 'num_heads_upsample', 'attention_resolutions',
  'dropout', 'learn_sigma', 'class_cond', 'use_checkpoint', 'use_scale_shift_norm',
] as const;
export const DIFFUSION_FLAG_KEYS = [
  'diffusion_steps', 'noise_schedule', 'sigma_small', 'use_kl', 'predict_xstart', 'rescale_timesteps',
  'rescale_learned_sigmas',
] as const;
export const TRAIN_FLAG_KEYS = Object.keys(IMAGE_TRAIN_DEFAULTS).filter((k) => k !== 'data_dir');

/** image_train.py's flags that describe how to train, not the pipeline (plus use_checkpoint, a memory trade). */
export type TrainFlags = { -readonly [K in keyof typeof IMAGE_TRAIN_DEFAULTS]: (typeof IMAGE_TRAIN_DEFAULTS)[K] extends string ? string : (typeof IMAGE_TRAIN_DEFAULTS)[K] extends boolean ? boolean : number } & { use_checkpoint: boolean };

export interface ReferenceRecipe {
  pipeline: CompletePipeline;
  /** `--timestep_respacing` (what image_sample.py samples with), or null for all T steps. */
  samplingRespacing: string | null;
  /** The training flags as the reference names them. */
  train: TrainFlags;
  /** The same recipe as our trainer's options (what it can take of it). */
  trainOptions: Pick<TrainOptions, 'batchSize' | 'microbatch' | 'lr' | 'emaRate' | 'logEvery' | 'checkpointEvery'>;
  /** The script's whole `args` namespace, defaults included. */
  args: ReferenceArgs;
  /** Where training with our engine differs from image_train.py with these flags. */
  notes: string[];
}

/**
 * A config as a UNet part's `config`: the architecture alone (outChannels, learnSigma and numClasses follow from
 * the part's variance type and classes).
 */
function architectureOf(config: UNetConfig): UNetSpec['config'] {
  const { outChannels: _o, learnSigma: _l, numClasses: _n, ...architecture } = config;
  return architecture;
}

/** The UNet architecture of a pipeline's UNet part (engine/unet: tf-free). */
export const unetConfigOf = unetConfigFor;

/** `--attention_resolutions 16,8` → sizes [16, 8], refusing sizes the reference would silently not use. */
export function attentionSizesFromFlag(text: string, imageSize: number, channelMult: readonly number[]): number[] {
  const sizes = text.split(',').map((part) => {
    const t = part.trim();
    if (!/^\d+$/.test(t) || Number(t) === 0) throw new Error(`--attention_resolutions ${JSON.stringify(text)}: "${part}" is not a positive whole number of pixels`);
    return Number(t);
  });
  const factors = attentionFactorsFromSizes(imageSize, sizes);
  const back = attentionSizesFromFactors(imageSize, factors);
  const levels = levelSizes({ imageSize, channelMult: [...channelMult] });
  sizes.forEach((size, i) => {
    if (back[i] !== size || !levels.includes(size)) {
      throw new Error(`--attention_resolutions: ${size} px at image_size ${imageSize} is downsample factor ${factors[i]} (${imageSize} // ${size}), which is not one of this UNet's feature maps (${levels.join(', ')} px); the reference would silently put no attention there`);
    }
  });
  return sizes;
}

function trainFlagsOf(args: ReferenceArgs): TrainFlags {
  const defaults: ReferenceArgs = { ...IMAGE_TRAIN_DEFAULTS, use_checkpoint: false };
  const train: Record<string, ArgValue> = {};
  for (const k of Object.keys(defaults)) train[k] = args[k] ?? defaults[k];
  return train as TrainFlags;
}

function notesFor(args: ReferenceArgs): string[] {
  const notes: string[] = [];
  if (args.timestep_respacing !== '') notes.push(`timestep_respacing ${args.timestep_respacing}: image_train.py would train on the respaced process; here it is the sampling respacing and training uses all ${args.diffusion_steps} steps`);
  if (args.weight_decay !== 0) notes.push(`weight_decay ${args.weight_decay}: our trainer's Adam has no weight decay`);
  if (args.lr_anneal_steps !== 0) notes.push(`lr_anneal_steps ${args.lr_anneal_steps}: our trainer keeps the learning rate constant (set maxSteps to stop there)`);
  if (args.use_fp16) notes.push('use_fp16: our engine trains in float32');
  if (String(args.ema_rate).includes(',')) notes.push(`ema_rate ${args.ema_rate}: our trainer keeps one EMA, the first rate`);
  return notes;
}

/**
 * The pipeline, sampling respacing and training recipe that scripts/image_train.py builds from `flags` (a
 * command line such as `--image_size 64 --num_channels 128 --learn_sigma True` or a record), every default of
 * model_and_diffusion_defaults() and of the script filled in. Throws, naming the flag, where the flags cannot
 * build a model (as the script would) or our engine cannot represent it.
 */
export function pipelineFromFlags(flags: string | Record<string, unknown>,
  options: { model?: string; script?: ReferenceScript } = {}): ReferenceRecipe {
  const args = parseReferenceArgs(flags, options.script ?? 'image_train');
  const imageSize = args.image_size as number;
  const channelMult = SCRIPT_CHANNEL_MULT[imageSize];
  if (!channelMult) throw new Error(`--image_size ${imageSize}: unsupported image size (script_util.create_model builds 32, 64 or 256 px)`);
  const numHeads = args.num_heads as number;
  if (args.num_heads_upsample !== -1 && args.num_heads_upsample !== numHeads) {
    throw new Error(`--num_heads_upsample ${args.num_heads_upsample}: our UNet uses num_heads (${numHeads}) in every attention block; only -1 (= num_heads) can be represented`);
  }
  const steps = args.diffusion_steps as number;
  if (!(steps >= 1)) throw new Error(`--diffusion_steps ${steps}: must be at least 1`);
  const learnSigma = args.learn_sigma as boolean;
  const modelVarType = varTypeFromFlags(learnSigma, args.sigma_small as boolean);
  const numClasses = args.class_cond ? SCRIPT_NUM_CLASSES : null;
  const config: UNetConfig = validateUNetConfig({
    imageSize,
    inChannels: SCRIPT_IN_CHANNELS,
    modelChannels: args.num_channels as number,
    outChannels: learnSigma ? 2 * SCRIPT_IN_CHANNELS : SCRIPT_IN_CHANNELS,
    numResBlocks: args.num_res_blocks as number,
    attentionResolutions: attentionSizesFromFlag(String(args.attention_resolutions), imageSize, channelMult),
    channelMult: [...channelMult],
    numHeads,
    dropout: args.dropout as number,
    numClasses,
    useScaleShiftNorm: args.use_scale_shift_norm as boolean,
    learnSigma,
  });
  const lossType = lossTypeFromFlags(args.use_kl as boolean, args.rescale_learned_sigmas as boolean);
  const pipeline: CompletePipeline = {
    schedule: scheduleFromFlags(String(args.noise_schedule), steps),
    noiser: { modelMeanType: args.predict_xstart ? 'start_x' : 'epsilon', rescaleTimesteps: args.rescale_timesteps as boolean },
    unet: { model: options.model ?? 'reference', preset: 'custom', config: architectureOf(config), modelVarType, numClasses },
    loss: lossFromReference(lossType, modelVarType, steps),
    timesteps: timestepsFromSampler(String(args.schedule_sampler)),
  };
  checkPipeline(pipeline);
  const train = trainFlagsOf(args);
  const microbatch = train.microbatch > 0 ? train.microbatch : train.batch_size;
  return {
    pipeline,
    samplingRespacing: args.timestep_respacing === '' ? null : String(args.timestep_respacing),
    train,
    trainOptions: {
      batchSize: train.batch_size, microbatch, lr: train.lr, emaRate: Number(train.ema_rate.split(',')[0]),
      logEvery: train.log_interval, checkpointEvery: train.save_interval,
    },
    args,
    notes: notesFor(args),
  };
}

/** Flags for the reference scripts, grouped as the README groups them. */
export interface ScriptFlags {
  model: string;
  diffusion: string;
  train: string;
  /** image_sample.py's extra: `--timestep_respacing` when sampling respaced. */
  sample: string;
  /** `python scripts/image_train.py --data_dir DIR ${imageTrain}` */
  imageTrain: string;
  /** `python scripts/image_sample.py --model_path PT ${imageSample}` */
  imageSample: string;
  /** The namespace these flags give (model + diffusion + train + timestep_respacing). */
  args: ReferenceArgs;
}

export type FlagsResult = { flags: ScriptFlags; reason: null } | { flags: null; reason: string };

/** Why the scripts cannot build this pipeline's UNet ('' when they can). */
function scriptUNetReasons(c: UNetConfig): string[] {
  const reasons: string[] = [];
  if (c.inChannels !== SCRIPT_IN_CHANNELS) reasons.push(`${c.inChannels} input channel${c.inChannels === 1 ? '' : 's'}: the scripts fix 3 (RGB)`);
  const mult = SCRIPT_CHANNEL_MULT[c.imageSize];
  if (!mult) reasons.push(`image size ${c.imageSize}: the scripts build 32, 64 or 256 px only`);
  else if (mult.join() !== c.channelMult.join()) reasons.push(`channel_mult (${c.channelMult.join(', ')}): at ${c.imageSize} px the scripts fix (${mult.join(', ')})`);
  if (c.numClasses !== null && c.numClasses !== SCRIPT_NUM_CLASSES) reasons.push(`${c.numClasses} classes: class_cond means ${SCRIPT_NUM_CLASSES} classes (NUM_CLASSES)`);
  return reasons;
}

/** The pipeline's settings in the scripts' flags, or everything the scripts cannot express (`reasons`). */
function scriptSettings(p: CompletePipeline): { reasons: string[]; config?: UNetConfig; flags?: ReferenceArgs; sampler?: string } {
  let config: UNetConfig;
  try {
    config = unetConfigOf(p.unet);
  } catch (err) {
    return { reasons: [(err as Error).message] };
  }
  const reasons = scriptUNetReasons(config);
  const variance = flagsForVarType(p.unet.modelVarType);
  if (variance.reason) reasons.push(variance.reason);
  const lossType = referenceLossType(p.loss, p.unet.modelVarType, p.schedule.steps);
  const loss = lossType.reason !== undefined ? { reason: lossType.reason } : flagsForLossType(lossType.value);
  if (loss.reason) reasons.push(loss.reason);
  const schedule = namedScheduleFor(p.schedule);
  if (schedule.reason) reasons.push(schedule.reason);
  const sampler = samplerForTimesteps(p.timesteps);
  if (!sampler.byName) reasons.push(`importance sampling with history ${sampler.history}, uniform mix ${sampler.uniformProb}: --schedule_sampler loss-second-moment fixes 10 and 0.001`);
  if (reasons.length > 0) return { reasons };
  return { reasons, config, flags: { ...variance.value, ...loss.value, ...schedule.value } as ReferenceArgs, sampler: sampler.name };
}

/** Everything scripts/image_train.py cannot express of `pipeline` (empty when its flags can build it). */
export function scriptLimitations(pipeline: CompletePipeline): string[] {
  return scriptSettings(checkPipeline(pipeline)).reasons;
}

/**
 * Flags for scripts/image_train.py and image_sample.py that build `pipeline` (with `train` for the training flags
 * and `samplingRespacing` for image_sample.py), or `{ flags: null, reason }` naming everything the scripts cannot
 * express. Only flags that differ from the scripts' defaults are written.
 */
export function flagsFromPipeline(pipeline: CompletePipeline,
  options: { train?: Partial<TrainFlags>; samplingRespacing?: string | null } = {}): FlagsResult {
  const p = checkPipeline(pipeline);
  const { reasons, config, flags: settings, sampler } = scriptSettings(p);
  if (!config || !settings || !sampler) {
    return { flags: null, reason: `the reference scripts cannot express this pipeline (a launcher can): ${reasons.join('; ')}` };
  }
  const train = { ...trainFlagsOf({}), ...options.train };
  const args: ReferenceArgs = {
    ...parseReferenceArgs({}),
    image_size: config.imageSize,
    num_channels: config.modelChannels,
    num_res_blocks: config.numResBlocks,
    num_heads: config.numHeads,
    num_heads_upsample: -1,
    attention_resolutions: config.attentionResolutions.join(','),
    dropout: config.dropout,
    class_cond: config.numClasses !== null,
    use_scale_shift_norm: config.useScaleShiftNorm,
    ...settings,
    predict_xstart: p.noiser.modelMeanType === 'start_x',
    rescale_timesteps: p.noiser.rescaleTimesteps ?? true,
    timestep_respacing: options.samplingRespacing ?? '',
    ...train,
    schedule_sampler: sampler,
  };
  const model = formatFlags(args, MODEL_FLAG_KEYS);
  const diffusion = formatFlags(args, DIFFUSION_FLAG_KEYS);
  const trainText = formatFlags(args, TRAIN_FLAG_KEYS);
  const sample = formatFlags(args, ['timestep_respacing']);
  const join = (...parts: string[]): string => parts.filter((s) => s !== '').join(' ');
  return {
    flags: { model, diffusion, train: trainText, sample, imageTrain: join(model, diffusion, trainText), imageSample: join(model, diffusion, sample), args },
    reason: null,
  };
}

/**
 * The namespace with settings that do not change what is built put back to their defaults: sigma_small when the
 * variance is learned, rescale_learned_sigmas under use_kl or when it does not change the objective (a learned
 * variance at T = 1000, where T/1000 = 1), num_heads_upsample equal to num_heads.
 */
export function normaliseArgs(args: ReferenceArgs): ReferenceArgs {
  const out = { ...args };
  if (out.learn_sigma) out.sigma_small = false;
  if (out.use_kl || (out.learn_sigma && out.diffusion_steps === 1000)) out.rescale_learned_sigmas = true;
  if (out.num_heads_upsample === out.num_heads) out.num_heads_upsample = -1;
  return out;
}
