/**
 * The bridge to the reference implementation (openai/improved-diffusion on PyTorch), in the engine's vocabulary:
 * the named flag sets of its published checkpoints and the import request (a `.pt` checkpoint + the flags it was
 * trained with → a model folder, docs/model-folder.md). The flag sets themselves
 * and everything that reads `.pt` files are engine/interop's; the editor only needs the names and the rules.
 */
import { LIMITS } from './limits';
import { bool, choice, fail, isBlank, modelName, object, ok, optional, shown, text, type Rule } from './rules';
import type { PipelineSpec } from './types';
import { InvalidValue, checkPipeline, need } from './validate';

/**
 * The improved-diffusion README's "Models and Hyperparameters" flag sets by name (engine/interop/presets.ts holds
 * their flags; its table is typed by this list, so the two cannot drift apart).
 */
export const REFERENCE_PRESET_KINDS = [
  'baseline', 'imagenet64-uncond-hybrid', 'cifar10-uncond-hybrid', 'imagenet64-cond', 'lsun-bedroom-lr1e-4',
  'lsun-bedroom-lr2e-5', 'imagenet64-uncond-vlb', 'cifar10-uncond-vlb',
] as const;
export type ReferencePresetKind = (typeof REFERENCE_PRESET_KINDS)[number];

/** Importing one reference checkpoint (an engine request; the CLI takes the same fields). */
export interface ImportReferenceRequest {
  /**
   * The checkpoint: `model<step>.pt`, `ema_<rate>_<step>.pt`, a published `.pt`, or a `.safetensors` in the
   * reference's names. Over the engine protocol: a path relative to an import folder (`iddpmImportDirs`).
   */
  file: string;
  /** The model name to store it under (MODEL_NAME_PATTERN). */
  name: string;
  /** A published flag set (REFERENCE_PRESET_KINDS). */
  preset?: ReferencePresetKind;
  /** image_train.py flags, e.g. `--image_size 64 --learn_sigma True`; after a preset they override its own. */
  flags?: string;
  /** The pipeline itself instead of flags (a model trained by an exported launch.py: 1 channel, 10 classes, …). */
  pipeline?: PipelineSpec;
  /** The EMA weights `ema_<rate>_<step>.pt` when `file` holds the raw weights (`model<step>.pt`). */
  ema?: string;
  /** The optimizer state `opt<step>.pt`: training then continues here with the reference's Adam moments. */
  opt?: string;
  /** Replace a stored model of that name (default: refuse). */
  overwrite?: boolean;
}

/** The import request's fields (the engine's validator and the Import node's rules read these). */
export const IMPORT_FIELDS = {
  file: text(LIMITS.folderPath),
  name: modelName,
  preset: choice(REFERENCE_PRESET_KINDS),
  flags: text(LIMITS.flagsText),
  ema: optional(text(LIMITS.folderPath), ''),
  opt: optional(text(LIMITS.folderPath), ''),
  overwrite: bool,
};

/** A checkpoint file name as given: non-empty text without NUL bytes (the engine confines it to its import folders). */
export const importFile: Rule<string> = (v) => {
  const r = IMPORT_FIELDS.file(v);
  if (!r.ok) return r;
  if (r.value === '') return fail('required');
  return r.value.includes('\0') ? fail('text', { max: LIMITS.folderPath, got: shown(v) }) : ok(r.value);
};

/** The request with its defaults: a pipeline given is complete and checked; preset and flags stay as given. */
export type CheckedImportReferenceRequest = Required<Pick<ImportReferenceRequest, 'file' | 'name' | 'overwrite'>> & {
  preset?: ReferencePresetKind; flags?: string; pipeline?: Required<PipelineSpec>; ema?: string; opt?: string;
};

const IMPORT_KEYS = ['file', 'name', 'preset', 'flags', 'pipeline', 'ema', 'opt', 'overwrite'];

/**
 * An import request from a flow, a library caller or the command line: the file and the model name, and exactly
 * one description of the architecture (a preset and/or flags, or a pipeline). Paths are only checked as text
 * here; which files may be read is the engine's decision (engine/run/import-files.ts).
 */
export function checkImportReferenceRequest(v: unknown, field = ''): CheckedImportReferenceRequest {
  const at = (k: string): string => (field ? `${field}.${k}` : k);
  const o = need(field || 'request', object, v);
  const unknown = Object.keys(o).filter((k) => !IMPORT_KEYS.includes(k));
  if (unknown.length) throw new InvalidValue(field || 'request', { key: 'unknownKeys', params: { keys: unknown.join(', '), known: IMPORT_KEYS.join(', ') } });
  const r: CheckedImportReferenceRequest = {
    file: need(at('file'), importFile, o.file),
    name: need(at('name'), IMPORT_FIELDS.name, o.name),
    overwrite: need(at('overwrite'), IMPORT_FIELDS.overwrite, o.overwrite),
  };
  if (!isBlank(o.preset)) r.preset = need(at('preset'), IMPORT_FIELDS.preset, o.preset);
  if (!isBlank(o.flags)) r.flags = need(at('flags'), IMPORT_FIELDS.flags, o.flags);
  const hasFlags = r.preset !== undefined || r.flags !== undefined;
  if (o.pipeline !== undefined && o.pipeline !== null) {
    if (hasFlags) throw new InvalidValue(field || 'request', { key: 'importSources' });
    r.pipeline = checkPipeline(o.pipeline, at('pipeline'));
  } else if (!hasFlags) throw new InvalidValue(field || 'request', { key: 'importSource' });
  for (const k of ['ema', 'opt'] as const) {
    if (!isBlank(o[k])) r[k] = need(at(k), importFile, o[k]);
  }
  return r;
}
