/**
 * The flag sets of the checkpoints the reference publishes (improved-diffusion README, "Models and
 * Hyperparameters"), and its baseline, as MODEL_FLAGS / DIFFUSION_FLAGS / TRAIN_FLAGS strings, so that
 * `pipelineFromPreset('cifar10-uncond-hybrid')` gives the pipeline a checkpoint of that run loads into.
 * Left out: the 256×256 upsampling model, which the super-resolution scripts (SuperResModel) train, not
 * image_train.py.
 */
import type { ReferencePresetKind } from '../spec';
import { pipelineFromFlags, type ReferenceRecipe } from './flags';

export interface ReferencePreset {
  description: string;
  /** File name of the published checkpoint (null for the baseline, which has none). */
  checkpoint: string | null;
  model: string;
  diffusion: string;
  train: string;
}

export const REFERENCE_PRESETS = {
  baseline: {
    description: 'the README\'s baseline: ImageNet-64 size, linear schedule, fixed variance (L_simple)',
    checkpoint: null,
    model: '--image_size 64 --num_channels 128 --num_res_blocks 3',
    diffusion: '--diffusion_steps 4000 --noise_schedule linear',
    train: '--lr 1e-4 --batch_size 128',
  },
  'imagenet64-uncond-hybrid': {
    description: 'unconditional ImageNet-64, L_hybrid, cosine schedule',
    checkpoint: 'imagenet64_uncond_100M_1500K.pt',
    model: '--image_size 64 --num_channels 128 --num_res_blocks 3 --learn_sigma True',
    diffusion: '--diffusion_steps 4000 --noise_schedule cosine',
    train: '--lr 1e-4 --batch_size 128',
  },
  'cifar10-uncond-hybrid': {
    description: 'unconditional CIFAR-10, L_hybrid, cosine schedule',
    checkpoint: 'cifar10_uncond_50M_500K.pt',
    model: '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3',
    diffusion: '--diffusion_steps 4000 --noise_schedule cosine',
    train: '--lr 1e-4 --batch_size 128',
  },
  'imagenet64-cond': {
    description: 'class-conditional ImageNet-64 (270M parameters), MSE + unscaled vb, raw timesteps',
    checkpoint: 'imagenet64_cond_270M_250K.pt',
    model: '--image_size 64 --num_channels 192 --num_res_blocks 3 --learn_sigma True --class_cond True',
    diffusion: '--diffusion_steps 4000 --noise_schedule cosine --rescale_learned_sigmas False --rescale_timesteps False',
    train: '--lr 3e-4 --batch_size 2048',
  },
  'lsun-bedroom-lr1e-4': {
    description: 'LSUN bedroom 256 px, lr 1e-4, linear schedule, no scale-shift norm',
    checkpoint: 'lsun_uncond_100M_1200K_bs128.pt',
    model: '--image_size 256 --num_channels 128 --num_res_blocks 2 --num_heads 1 --learn_sigma True --use_scale_shift_norm False --attention_resolutions 16',
    diffusion: '--diffusion_steps 1000 --noise_schedule linear --rescale_learned_sigmas False --rescale_timesteps False',
    train: '--lr 1e-4 --batch_size 128',
  },
  'lsun-bedroom-lr2e-5': {
    description: 'LSUN bedroom 256 px, lr 2e-5 (the README repeats --use_scale_shift_norm False in its DIFFUSION_FLAGS)',
    checkpoint: 'lsun_uncond_100M_2400K_bs64.pt',
    model: '--image_size 256 --num_channels 128 --num_res_blocks 2 --num_heads 1 --learn_sigma True --use_scale_shift_norm False --attention_resolutions 16',
    diffusion: '--diffusion_steps 1000 --noise_schedule linear --rescale_learned_sigmas False --rescale_timesteps False --use_scale_shift_norm False',
    train: '--lr 2e-5 --batch_size 128',
  },
  'imagenet64-uncond-vlb': {
    description: 'unconditional ImageNet-64, L_vlb (importance-sampled), cosine schedule',
    checkpoint: 'imagenet64_uncond_vlb_100M_1500K.pt',
    model: '--image_size 64 --num_channels 128 --num_res_blocks 3 --learn_sigma True',
    diffusion: '--diffusion_steps 4000 --noise_schedule cosine --use_kl True',
    train: '--lr 1e-4 --batch_size 128 --schedule_sampler loss-second-moment',
  },
  'cifar10-uncond-vlb': {
    description: 'unconditional CIFAR-10, L_vlb (importance-sampled), cosine schedule',
    checkpoint: 'cifar10_uncond_vlb_50M_500K.pt',
    model: '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3',
    diffusion: '--diffusion_steps 4000 --noise_schedule cosine --use_kl True',
    train: '--lr 1e-4 --batch_size 128 --schedule_sampler loss-second-moment',
  },
} as const satisfies Record<ReferencePresetKind, ReferencePreset>;

export type ReferencePresetName = keyof typeof REFERENCE_PRESETS;
export const REFERENCE_PRESET_NAMES = Object.keys(REFERENCE_PRESETS) as ReferencePresetName[];

function preset(name: string): ReferencePreset {
  if (!Object.prototype.hasOwnProperty.call(REFERENCE_PRESETS, name)) {
    throw new Error(`Unknown reference preset "${name}": use one of ${REFERENCE_PRESET_NAMES.join(', ')}`);
  }
  return REFERENCE_PRESETS[name as ReferencePresetName];
}

/** The preset's whole flag set, `$MODEL_FLAGS $DIFFUSION_FLAGS $TRAIN_FLAGS`, plus any `extra` flags after it. */
export function presetFlags(name: string, extra = ''): string {
  const p = preset(name);
  return [p.model, p.diffusion, p.train, extra].filter((s) => s !== '').join(' ');
}

/** The pipeline and recipe of a preset (`extra` flags, e.g. `--timestep_respacing 250`, override its own). */
export function pipelineFromPreset(name: string, options: { model?: string; extra?: string } = {}): ReferenceRecipe {
  return pipelineFromFlags(presetFlags(name, options.extra), { model: options.model ?? name });
}
