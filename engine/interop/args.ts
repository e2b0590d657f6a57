/**
 * The command lines of improved-diffusion's scripts/image_train.py and scripts/image_sample.py, re-implemented:
 * their defaults (`script_util.model_and_diffusion_defaults()` plus each script's own `create_argparser`) and
 * `add_dict_to_argparser`'s typing (the type of each default: int, float, str, or `str2bool` for booleans).
 * `parseReferenceArgs` gives the `args` namespace the script would see, every default filled in, as a record.
 */

export type ArgValue = string | number | boolean;
export type ReferenceArgs = Record<string, ArgValue>;
export type ReferenceScript = 'image_train' | 'image_sample';

/** `script_util.model_and_diffusion_defaults()`. */
export const MODEL_AND_DIFFUSION_DEFAULTS = {
  image_size: 64,
  num_channels: 128,
  num_res_blocks: 2,
  num_heads: 4,
  num_heads_upsample: -1,
  attention_resolutions: '16,8',
  dropout: 0.0,
  learn_sigma: false,
  sigma_small: false,
  class_cond: false,
  diffusion_steps: 1000,
  noise_schedule: 'linear',
  timestep_respacing: '',
  use_kl: false,
  predict_xstart: false,
  rescale_timesteps: true,
  rescale_learned_sigmas: true,
  use_checkpoint: false,
  use_scale_shift_norm: true,
} as const satisfies ReferenceArgs;

/** scripts/image_train.py `create_argparser` defaults (before model_and_diffusion_defaults). */
export const IMAGE_TRAIN_DEFAULTS = {
  data_dir: '',
  schedule_sampler: 'uniform',
  lr: 1e-4,
  weight_decay: 0.0,
  lr_anneal_steps: 0,
  batch_size: 1,
  microbatch: -1,
  ema_rate: '0.9999',
  log_interval: 10,
  save_interval: 10000,
  resume_checkpoint: '',
  use_fp16: false,
  fp16_scale_growth: 1e-3,
} as const satisfies ReferenceArgs;

/** scripts/image_sample.py `create_argparser` defaults (before model_and_diffusion_defaults). */
export const IMAGE_SAMPLE_DEFAULTS = {
  clip_denoised: true,
  num_samples: 10000,
  batch_size: 16,
  use_ddim: false,
  model_path: '',
} as const satisfies ReferenceArgs;

/**
 * Which defaults are Python floats: `add_dict_to_argparser` types a flag by `type(default)`, and a JS number
 * cannot tell 0.0 (float) from 0 (int).
 */
const FLOAT_FLAGS = new Set(['dropout', 'lr', 'weight_decay', 'fp16_scale_growth']);

/** The full default namespace of a script. */
export function scriptDefaults(script: ReferenceScript): ReferenceArgs {
  const own = script === 'image_train' ? IMAGE_TRAIN_DEFAULTS : IMAGE_SAMPLE_DEFAULTS;
  return { ...own, ...MODEL_AND_DIFFUSION_DEFAULTS };
}

/** `str2bool`: yes/true/t/y/1 and no/false/f/n/0, any case. */
function str2bool(flag: string, text: string): boolean {
  const v = text.toLowerCase();
  if (['yes', 'true', 't', 'y', '1'].includes(v)) return true;
  if (['no', 'false', 'f', 'n', '0'].includes(v)) return false;
  throw new Error(`--${flag}: boolean value expected (True/False, yes/no, 1/0), got ${JSON.stringify(text)}`);
}

/** Python's int(): an optionally signed run of decimal digits (underscores between digits allowed). */
function pyInt(flag: string, text: string): number {
  const t = text.trim();
  if (!/^[+-]?\d+(_\d+)*$/.test(t)) throw new Error(`--${flag}: invalid int value ${JSON.stringify(text)}`);
  return Number(t.replace(/_/g, ''));
}

/** Python's float() for finite decimal numbers ("1e-4", "3.", ".5", "2"). */
function pyFloat(flag: string, text: string): number {
  const t = text.trim();
  if (!/^[+-]?(\d+(_\d+)*\.?(\d+(_\d+)*)?|\.\d+(_\d+)*)([eE][+-]?\d+)?$/.test(t)) {
    throw new Error(`--${flag}: invalid float value ${JSON.stringify(text)}`);
  }
  return Number(t.replace(/_/g, ''));
}

/** One value typed as the flag's default is. */
function typedValue(flag: string, text: string, defaultValue: ArgValue): ArgValue {
  if (typeof defaultValue === 'boolean') return str2bool(flag, text);
  if (typeof defaultValue === 'string') return text;
  return FLOAT_FLAGS.has(flag) ? pyFloat(flag, text) : pyInt(flag, text);
}

/** Splits a command line on whitespace, honouring single and double quotes (as a POSIX shell would). */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word = word ?? '';
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? '') + ch;
  }
  if (quote) throw new Error(`unterminated ${quote} quote in ${JSON.stringify(line)}`);
  if (word !== null) words.push(word);
  return words;
}

/**
 * The `args` a script's argparser gives for `flags`: a command line (`--image_size 64 --learn_sigma True`,
 * `--lr=1e-4` also accepted) or a record of flag → value (strings are typed like command-line text).
 * Unknown flags, missing values and values of the wrong type are refused with the flag named, as argparse
 * would refuse them (prefix abbreviations of flags are not accepted).
 */
export function parseReferenceArgs(flags: string | Record<string, unknown>, script: ReferenceScript = 'image_train'): ReferenceArgs {
  const defaults = scriptDefaults(script);
  const args: ReferenceArgs = { ...defaults };
  const known = (flag: string): void => {
    if (!Object.prototype.hasOwnProperty.call(defaults, flag)) {
      throw new Error(`unrecognized argument --${flag} for scripts/${script}.py; its flags are ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
    }
  };
  if (typeof flags === 'object' && flags !== null) {
    for (const [flag, value] of Object.entries(flags)) {
      known(flag);
      const d = defaults[flag];
      if (typeof value === 'string') args[flag] = typedValue(flag, value, d);
      else if (typeof value === typeof d && (typeof value !== 'number' || Number.isFinite(value))) {
        if (typeof value === 'number' && !FLOAT_FLAGS.has(flag) && !Number.isInteger(value)) {
          throw new Error(`--${flag}: invalid int value ${value}`);
        }
        args[flag] = value as ArgValue;
      } else throw new Error(`--${flag} must be a ${typeof d} (or its command-line text), got ${JSON.stringify(value)}`);
    }
    return args;
  }
  if (typeof flags !== 'string') throw new Error('flags must be a command line string or a record of flag values');
  const words = splitCommandLine(flags);
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (!word.startsWith('--')) throw new Error(`unexpected ${JSON.stringify(word)}: flags look like --name value`);
    const eq = word.indexOf('=');
    const flag = word.slice(2, eq < 0 ? undefined : eq);
    known(flag);
    let text: string;
    if (eq >= 0) text = word.slice(eq + 1);
    else {
      if (i + 1 >= words.length || /^--[A-Za-z]/.test(words[i + 1])) throw new Error(`argument --${flag}: expected one argument`);
      text = words[++i];
    }
    args[flag] = typedValue(flag, text, defaults[flag]);
  }
  return args;
}

/** A value as it would be written on the command line (Python spelling of booleans). */
export function formatArgValue(value: ArgValue): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  const text = String(value);
  return /[\s'"]/.test(text) || text === '' ? `"${text}"` : text;
}

/** `--flag value` for each of `keys` whose value differs from the script default, in the order of `keys`. */
export function formatFlags(args: ReferenceArgs, keys: readonly string[], script: ReferenceScript = 'image_train'): string {
  const defaults = scriptDefaults(script);
  return keys
    .filter((k) => args[k] !== undefined && args[k] !== defaults[k])
    .map((k) => `--${k} ${formatArgValue(args[k])}`)
    .join(' ');
}
