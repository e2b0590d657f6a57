/**
 * Writes `launch.py`: a Python launcher that trains one of our pipelines with the reference's own code on PyTorch
 * (grey or RGB, any image size, any number of classes), for the bridge export → train → import. It builds the
 * reference's UNetModel with our config in its terms (engine/unet/config toReferenceConfig), the diffusion with
 * create_gaussian_diffusion where that can express ours, else SpacedDiffusion directly (LEARNED variance, plain
 * KL, other cosine constants), the schedule sampler, and runs the reference's TrainLoop on a folder of PNGs
 * (engine/interop/dataset-export.ts writes one). The fixed Python text is in launcher-template.ts.
 */
import type { CompletePipeline } from '../spec';
import { checkPipeline } from '../spec';
import { toReferenceConfig } from '../unet/config';
import { IMAGE_TRAIN_DEFAULTS } from './args';
import { scriptLimitations, unetConfigOf } from './flags';
import { BODY, PRELUDE, USAGE } from './launcher-template';
import {
  REFERENCE_COSINE, REFERENCE_VAR_TYPE, flagsForLossType, flagsForVarType, objectiveOf, referenceLossType, samplerForTimesteps,
} from './mapping';

/** The training flags the launcher takes, with their defaults written into it. */
export interface LauncherRecipe {
  batch_size: number;
  lr: number;
  ema_rate: string;
  save_interval: number;
  log_interval: number;
  microbatch: number;
  resume_checkpoint: string;
}

export interface LauncherOptions {
  recipe?: Partial<LauncherRecipe>;
  /** torch.set_num_threads (default 2). */
  threads?: number;
}

const RECIPE_KEYS = ['batch_size', 'lr', 'ema_rate', 'save_interval', 'log_interval', 'microbatch', 'resume_checkpoint'] as const;
const FLOAT_KEYS = new Set<string>(['lr']);
const LINE = 116;

const pyBool = (b: boolean): string => (b ? 'True' : 'False');
const pyFloat = (x: number): string => (Number.isInteger(x) ? x.toFixed(1) : String(x));
const pyTuple = (xs: readonly number[]): string => (xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(', ')})`);
const pyStr = (s: string): string => JSON.stringify(s);

/** Words of `text` filled into lines of at most `width` characters. */
function wrap(text: string, width = LINE): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

function describe(p: CompletePipeline, c: ReturnType<typeof unetConfigOf>): string {
  const colour = c.inChannels === 1 ? '1 channel (grey)' : `${c.inChannels} channels (RGB)`;
  const classes = c.numClasses === null ? 'unconditional' : `${c.numClasses} classes`;
  const unet = p.unet.preset === 'custom' ? 'custom UNet' : `UNet ${p.unet.preset} preset`;
  return `Pipeline: ${c.imageSize}x${c.imageSize} px, ${colour}, ${classes}; ${unet}.`;
}

function createModel(c: ReturnType<typeof unetConfigOf>): string {
  const r = toReferenceConfig(c);
  return `def create_model():
    """Our UNet config in the reference's terms (attention_resolutions are downsample factors)."""
    return UNetModel(
        in_channels=${r.in_channels},
        model_channels=${r.model_channels},
        out_channels=${r.out_channels},
        num_res_blocks=${r.num_res_blocks},
        attention_resolutions=${pyTuple(r.attention_resolutions)},
        dropout=${pyFloat(r.dropout)},
        channel_mult=${pyTuple(r.channel_mult)},
        num_classes=${r.num_classes === null ? 'None' : r.num_classes},
        num_heads=${r.num_heads},
        use_scale_shift_norm=${pyBool(r.use_scale_shift_norm)},
    )
`;
}

/**
 * L_hybrid = L_simple + λ·L_vlb for a λ that neither RESCALED_MSE (λ = 0.001) nor MSE (λ = 1/T) gives: the
 * vb term's weight λ·T (objectiveOf), or undefined when a reference LossType expresses the loss.
 */
function hybridVbWeight(p: CompletePipeline): number | undefined {
  if (p.loss.kind !== 'hybrid' || referenceLossType(p.loss, p.unet.modelVarType, p.schedule.steps).value !== undefined) return undefined;
  return objectiveOf(p.loss, p.unet.modelVarType, p.schedule.steps).vbWeight;
}

/**
 * A SpacedDiffusion whose MSE loss adds the vb term with weight vb_weight instead of 1 (Eq. 16 with λ = vb_weight/T):
 * the reference's training_losses computes mse and vb (frozen mean, so vb trains the variance only) and adds them.
 */
const HYBRID_CLASS = `    class HybridDiffusion(SpacedDiffusion):
        """L_hybrid with the vb term weighted by vb_weight = λ·T; the reference's LossType.MSE weighs it by 1."""

        def __init__(self, vb_weight, **kwargs):
            super().__init__(**kwargs)
            self.vb_weight = vb_weight

        def training_losses(self, model, *args, **kwargs):
            terms = super().training_losses(model, *args, **kwargs)
            terms["loss"] = terms["mse"] + self.vb_weight * terms["vb"]
            return terms
`;

/** create_diffusion(): by create_gaussian_diffusion when it can build ours, else SpacedDiffusion directly. */
function createDiffusion(p: CompletePipeline): { code: string; direct: boolean; math: boolean } {
  const T = p.schedule.steps;
  const vbWeight = hybridVbWeight(p);
  const lossType = vbWeight === undefined ? referenceLossType(p.loss, p.unet.modelVarType, T) : { value: 'MSE' as const };
  if (lossType.reason !== undefined) throw new Error(`No launcher for this pipeline: ${lossType.reason}`);
  const variance = flagsForVarType(p.unet.modelVarType);
  const loss = vbWeight === undefined ? flagsForLossType(lossType.value) : { reason: `hybrid λ = ${(p.loss as { lambda: number }).lambda}` };
  const cosineS = p.schedule.cosineS ?? REFERENCE_COSINE.cosineS;
  const maxBeta = p.schedule.maxBeta ?? REFERENCE_COSINE.maxBeta;
  const named = p.schedule.kind === 'linear' || (cosineS === REFERENCE_COSINE.cosineS && maxBeta === REFERENCE_COSINE.maxBeta);
  const rescale = pyBool(p.noiser.rescaleTimesteps ?? true);
  const startX = p.noiser.modelMeanType === 'start_x';
  if (variance.value && loss.value && named) {
    return {
      direct: false, math: false, code: `def create_diffusion():
    return create_gaussian_diffusion(
        steps=${T},
        learn_sigma=${pyBool(variance.value.learn_sigma)},
        sigma_small=${pyBool(variance.value.sigma_small)},
        noise_schedule=${pyStr(p.schedule.kind)},
        use_kl=${pyBool(loss.value.use_kl)},
        predict_xstart=${pyBool(startX)},
        rescale_timesteps=${rescale},
        rescale_learned_sigmas=${pyBool(loss.value.rescale_learned_sigmas)},
        timestep_respacing="",
    )
`,
    };
  }
  const why = [variance.reason, loss.reason, named ? undefined : `cosine s = ${cosineS}, max β = ${maxBeta}`].filter((r) => r !== undefined);
  const betas = named
    ? `gd.get_named_beta_schedule(${pyStr(p.schedule.kind)}, ${T})`
    : `gd.betas_for_alpha_bar(${T}, lambda t: math.cos((t + ${pyFloat(cosineS)}) / (1 + ${pyFloat(cosineS)}) * math.pi / 2) ** 2, max_beta=${pyFloat(maxBeta)})`;
  return {
    direct: true, math: !named, code: `def create_diffusion():
${wrap(`create_gaussian_diffusion cannot build this process (${why.join('; ')}), so it is built as create_gaussian_diffusion would build it, with these settings.`, LINE - 6).split('\n').map((l) => `    # ${l}`).join('\n')}
    betas = ${betas}
${vbWeight === undefined ? '' : `${HYBRID_CLASS}\n`}    return ${vbWeight === undefined ? 'SpacedDiffusion' : 'HybridDiffusion'}(
        use_timesteps=space_timesteps(${T}, [${T}]),
        betas=betas,
        model_mean_type=gd.ModelMeanType.${startX ? 'START_X' : 'EPSILON'},
        model_var_type=gd.ModelVarType.${REFERENCE_VAR_TYPE[p.unet.modelVarType]},
        loss_type=gd.LossType.${lossType.value},
        rescale_timesteps=${rescale},${vbWeight === undefined ? '' : `\n        vb_weight=${pyFloat(vbWeight)},`}
    )
`,
  };
}

function createSampler(p: CompletePipeline): { code: string; byName: boolean } {
  const s = samplerForTimesteps(p.timesteps);
  const body = s.byName
    ? `create_named_schedule_sampler(${pyStr(s.name)}, diffusion)`
    : `LossSecondMomentResampler(diffusion, history_per_term=${s.history}, uniform_prob=${pyFloat(s.uniformProb)})`;
  return { byName: s.byName, code: `def create_schedule_sampler(diffusion):\n    return ${body}\n` };
}

function recipeBlock(recipe: LauncherRecipe): string {
  const lines = RECIPE_KEYS.map((k) => {
    const v = recipe[k];
    const text = typeof v === 'string' ? pyStr(v) : FLOAT_KEYS.has(k) ? pyFloat(v) : String(v);
    return `    ${k}=${text},`;
  });
  return `RECIPE = dict(\n${lines.join('\n')}\n)`;
}

function checkRecipe(recipe: LauncherRecipe): void {
  for (const k of ['batch_size', 'save_interval', 'log_interval'] as const) {
    if (!Number.isInteger(recipe[k]) || recipe[k] < 1) throw new Error(`launcher recipe: ${k} must be a positive integer, got ${recipe[k]}`);
  }
  if (!Number.isInteger(recipe.microbatch) || recipe.microbatch === 0 || recipe.microbatch < -1) throw new Error(`launcher recipe: microbatch must be -1 (whole batch) or a positive integer, got ${recipe.microbatch}`);
  if (!(recipe.lr > 0 && Number.isFinite(recipe.lr))) throw new Error(`launcher recipe: lr must be a positive number, got ${recipe.lr}`);
  if (!/^\s*(0(\.\d+)?|1(\.0*)?)(\s*,\s*(0(\.\d+)?|1(\.0*)?))*\s*$/.test(recipe.ema_rate)) throw new Error(`launcher recipe: ema_rate must be comma-separated rates in [0, 1] such as "0.9999", got ${JSON.stringify(recipe.ema_rate)}`);
}

/** The launch.py for `pipeline` (see the file's docstring for how to run it). */
export function launcherFor(pipeline: CompletePipeline, options: LauncherOptions = {}): string {
  const p = checkPipeline(pipeline);
  const config = unetConfigOf(p.unet);
  if (config.inChannels !== 1 && config.inChannels !== 3) {
    throw new Error(`No launcher for ${config.inChannels} input channels: the image loader reads grey (1) or RGB (3) images`);
  }
  const defaults: LauncherRecipe = { ...IMAGE_TRAIN_DEFAULTS };
  const recipe: LauncherRecipe = { ...defaults, ...options.recipe };
  checkRecipe(recipe);
  const threads = options.threads ?? 2;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const diffusion = createDiffusion(p);
  const sampler = createSampler(p);
  const limits = scriptLimitations(p);
  const why = limits.length > 0
    ? `The reference's scripts/image_train.py cannot express this pipeline (${limits.join('; ')}), so this launcher builds the reference's UNetModel and diffusion directly and runs the reference's own TrainLoop (AdamW, EMA, logging, save_interval, resume_checkpoint) on them.`
    : 'The reference\'s scripts/image_train.py could train this pipeline too (engine/interop/flags.ts flagsFromPipeline gives its flags); this launcher builds the same UNetModel and diffusion directly and runs the reference\'s own TrainLoop (AdamW, EMA, logging, save_interval, resume_checkpoint) on them.';
  const imports = [
    `from improved_diffusion import dist_util, ${diffusion.direct ? 'gaussian_diffusion as gd, ' : ''}logger`,
    `from improved_diffusion.resample import ${sampler.byName ? 'create_named_schedule_sampler' : 'LossSecondMomentResampler'}`,
    ...(diffusion.direct ? ['from improved_diffusion.respace import SpacedDiffusion, space_timesteps'] : ['from improved_diffusion.script_util import create_gaussian_diffusion']),
    'from improved_diffusion.train_util import TrainLoop',
    'from improved_diffusion.unet import UNetModel',
  ];
  const prelude = (diffusion.math ? PRELUDE.replace('import os\n', 'import math\nimport os\n') : PRELUDE).replace('{threads}', String(threads)).replace('{threads}', String(threads));
  const docstring = [
    'Trains one node-red-iddpm pipeline with the reference code (openai/improved-diffusion) on PyTorch.',
    '',
    describe(p, config),
    wrap('Written by node-red-iddpm (engine/interop/launcher.ts) from the pipeline; the model, the diffusion and the schedule sampler are fixed here, the training recipe comes from the command line (defaults below).'),
    '',
    wrap(why),
    '',
    USAGE,
  ].join('\n');
  return [
    `#!/usr/bin/env python3\n"""\n${docstring}\n"""\n${prelude}`,
    `${imports.join('\n')}\n`,
    `IMAGE_SIZE = ${config.imageSize}\nIN_CHANNELS = ${config.inChannels}\nNUM_CLASSES = ${config.numClasses === null ? 'None' : config.numClasses}\n${recipeBlock(recipe)}\n`,
    `\n${createModel(config)}`,
    `\n${diffusion.code}`,
    `\n${sampler.code}`,
    `\n${BODY}`,
  ].join('\n');
}
