/**
 * Reads back the pipeline of a launch.py that engine/interop/launcher.ts wrote, so a checkpoint trained by it is
 * imported "with the flags of its launcher": the `UNetModel(…)` arguments of `create_model()`, the
 * `create_gaussian_diffusion(…)` arguments (or the SpacedDiffusion built directly) of `create_diffusion()`, and the
 * schedule sampler of `create_schedule_sampler()`. Only the literal forms the generator writes are read (numbers,
 * True/False/None, strings, tuples); anything else is refused, naming what was not understood. Nothing is run.
 */
import { checkPipeline, learnsSigma, type CompletePipeline, type ModelVarType } from '../spec';
import { fromReferenceConfig, type ReferenceUNetConfig } from '../unet/config';
import {
  lossFromReference, lossTypeFromFlags, scheduleFromFlags, timestepsFromSampler,
  varTypeFromFlags, type ReferenceLossType, type ReferenceVarType,
} from './mapping';

type Literal = number | boolean | null | string | number[];

function fail(message: string): never {
  throw new Error(`Not a launch.py written by node-red-iddpm: ${message}`);
}

/** A Python literal as the generator writes it. */
function literal(text: string, what: string): Literal {
  const t = text.trim();
  if (t === 'True') return true;
  if (t === 'False') return false;
  if (t === 'None') return null;
  if (/^"(?:[^"\\]|\\.)*"$/.test(t)) return JSON.parse(t) as string;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
  const tuple = /^\(([^()]*)\)$/.exec(t);
  if (tuple) {
    const items = tuple[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (items.every((s) => /^\d+$/.test(s))) return items.map(Number);
  }
  return fail(`${what} = ${t} is not a literal the launcher writes`);
}

/** The keyword arguments of the first `<callee>(` … `)` inside `def <fn>():`. */
function callArguments(text: string, fn: string, callee: string): Record<string, string> | undefined {
  const def = new RegExp(`^def ${fn}\\([^)]*\\):\\n((?:(?:    .*)?\\n)+)`, 'm').exec(text);
  if (!def) fail(`no def ${fn}()`);
  const at = def[1].indexOf(`${callee}(`);
  if (at < 0) return undefined;
  const body = def[1].slice(at + callee.length + 1);
  const args: Record<string, string> = {};
  for (const line of body.split('\n')) {
    const t = line.trim();
    if (t === ')' || t.startsWith(')')) return args;
    const m = /^(\w+)=(.*?),?$/.exec(t);
    if (m) args[m[1]] = m[2];
    else if (t !== '' && !t.startsWith('#')) fail(`${fn}(): cannot read "${t}"`);
  }
  return fail(`${fn}(): ${callee}( is not closed`);
}

function constant(text: string, name: string): Literal {
  const m = new RegExp(`^${name} = (.+)$`, 'm').exec(text);
  if (!m) fail(`no ${name} = …`);
  return literal(m[1], name);
}

function args(raw: Record<string, string>, where: string): Record<string, Literal> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, literal(v, `${where} ${k}`)]));
}

function diffusionOf(text: string, varFromModel: boolean): Pick<CompletePipeline, 'schedule' | 'noiser' | 'loss'> & { modelVarType: ModelVarType } {
  const named = callArguments(text, 'create_diffusion', 'create_gaussian_diffusion');
  if (named) {
    const a = args(named, 'create_gaussian_diffusion');
    if (a.timestep_respacing !== '' && a.timestep_respacing !== undefined) fail('create_gaussian_diffusion with a timestep_respacing');
    const steps = a.steps as number;
    const modelVarType = varTypeFromFlags(a.learn_sigma as boolean, a.sigma_small as boolean);
    return {
      schedule: scheduleFromFlags(a.noise_schedule as string, steps),
      noiser: { modelMeanType: a.predict_xstart ? 'start_x' : 'epsilon', rescaleTimesteps: a.rescale_timesteps as boolean },
      loss: lossFromReference(lossTypeFromFlags(a.use_kl as boolean, a.rescale_learned_sigmas as boolean), modelVarType, steps),
      modelVarType,
    };
  }
  // HybridDiffusion: the launcher's SpacedDiffusion subclass for a hybrid λ no LossType gives (its call, not its
  // class line).
  const weighted = callArguments(text, 'create_diffusion', 'return HybridDiffusion');
  const spaced = weighted ?? callArguments(text, 'create_diffusion', 'SpacedDiffusion');
  if (!spaced) fail('create_diffusion() calls neither create_gaussian_diffusion nor SpacedDiffusion');
  const enumOf = (key: string, prefix: string): string => {
    const m = new RegExp(`^gd\\.${prefix}\\.(\\w+)$`).exec(spaced[key] ?? '');
    return m ? m[1] : fail(`SpacedDiffusion ${key} = ${spaced[key]}`);
  };
  const betas = /^\s*betas = (.+)$/m.exec(text)?.[1] ?? fail('no betas = …');
  const namedBetas = /^gd\.get_named_beta_schedule\("(\w+)", (\d+)\)$/.exec(betas);
  const cosine = /^gd\.betas_for_alpha_bar\((\d+), lambda t: math\.cos\(\(t \+ ([\d.e-]+)\) \/ \(1 \+ [\d.e-]+\) \* math\.pi \/ 2\) \*\* 2, max_beta=([\d.e-]+)\)$/.exec(betas);
  const schedule = namedBetas ? scheduleFromFlags(namedBetas[1], Number(namedBetas[2]))
    : cosine ? { kind: 'cosine' as const, steps: Number(cosine[1]), cosineS: Number(cosine[2]), maxBeta: Number(cosine[3]) }
      : fail(`betas = ${betas}`);
  const varName = enumOf('model_var_type', 'ModelVarType') as ReferenceVarType;
  const modelVarType = ({ LEARNED_RANGE: 'learned_range', LEARNED: 'learned', FIXED_SMALL: 'fixed_small', FIXED_LARGE: 'fixed_large' } as const)[varName] ?? fail(`ModelVarType.${varName}`);
  if (learnsSigma(modelVarType) !== varFromModel) fail(`ModelVarType.${varName} does not fit the model's out_channels`);
  return {
    schedule,
    noiser: { modelMeanType: enumOf('model_mean_type', 'ModelMeanType') === 'START_X' ? 'start_x' : 'epsilon', rescaleTimesteps: literal(spaced.rescale_timesteps ?? 'True', 'rescale_timesteps') as boolean },
    loss: weighted ? hybridLoss(spaced, enumOf('loss_type', 'LossType'), modelVarType, schedule.steps)
      : lossFromReference(enumOf('loss_type', 'LossType') as ReferenceLossType, modelVarType, schedule.steps),
    modelVarType,
  };
}

/** L_hybrid of a HybridDiffusion: LossType.MSE with the vb term weighted by vb_weight = λ·T. */
function hybridLoss(a: Record<string, string>, lossType: string, varType: ModelVarType, T: number): CompletePipeline['loss'] {
  if (lossType !== 'MSE' || !learnsSigma(varType)) fail(`HybridDiffusion with LossType.${lossType} and ModelVarType of ${varType}`);
  const weight = literal(a.vb_weight ?? fail('HybridDiffusion without vb_weight'), 'vb_weight');
  if (typeof weight !== 'number' || !(weight >= 0)) fail(`vb_weight = ${a.vb_weight}`);
  return { kind: 'hybrid', lambda: weight / T };
}

function timestepsOf(text: string): CompletePipeline['timesteps'] {
  const def = /^def create_schedule_sampler\(diffusion\):\n\s+return (.+)$/m.exec(text)?.[1] ?? fail('no create_schedule_sampler(diffusion)');
  const named = /^create_named_schedule_sampler\("([\w-]+)", diffusion\)$/.exec(def);
  if (named) return timestepsFromSampler(named[1]);
  const custom = /^LossSecondMomentResampler\(diffusion, history_per_term=(\d+), uniform_prob=([\d.e-]+)\)$/.exec(def);
  if (custom) return { kind: 'importance', history: Number(custom[1]), uniformProb: Number(custom[2]) };
  return fail(`create_schedule_sampler returns ${def}`);
}

/** The pipeline a launch.py trains (its UNet as a `custom` architecture), named `model`. */
export function pipelineFromLauncher(text: string, model = 'launcher'): CompletePipeline {
  const raw = callArguments(text, 'create_model', 'UNetModel') ?? fail('create_model() does not build a UNetModel');
  const a = args(raw, 'UNetModel');
  const imageSize = constant(text, 'IMAGE_SIZE') as number;
  const config = fromReferenceConfig({ ...(a as unknown as ReferenceUNetConfig), image_size: imageSize });
  const diffusion = diffusionOf(text, config.learnSigma);
  const { outChannels: _o, learnSigma: _l, numClasses, ...architecture } = config;
  return checkPipeline({
    schedule: diffusion.schedule,
    noiser: diffusion.noiser,
    unet: { model, preset: 'custom', config: architecture, modelVarType: diffusion.modelVarType, numClasses },
    loss: diffusion.loss,
    timesteps: timestepsOf(text),
  });
}
