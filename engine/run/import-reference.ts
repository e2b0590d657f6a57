/**
 * Imports a reference (openai/improved-diffusion) checkpoint as an ordinary model folder (docs/model-folder.md):
 * `ema_0.9999_500000.pt` + the flags it was trained with (or a published preset, or the pipeline of an exported
 * launch.py) → `<modelsDir>/<name>/` with model.json and the weights, which the Sampler, evaluate mode and the
 * HTTP/MQTT flows then use by name. Given the reference's `opt<step>.pt` too, the Adam moments come along and a
 * Trainer continues the run here (engine/train/trainer.ts restore).
 *
 * Every state_dict is checked against the UNet the pipeline builds (engine/interop/import.ts matchStateDict) and
 * every file read is recorded in model.json's `source` with its sha256. Over the engine protocol the files must
 * lie inside the import folders (engine/run/import-files.ts); the command line reads any path it is given.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badRequest, checkImportReferenceRequest, EngineError, shown, type ModelSpec, type PipelineSpec } from '../spec';
import { pipelineForImport, matchStateDict, readCheckpointTensors, type CheckpointFormat } from '../interop/import';
import { parseCheckpointName } from '../interop/checkpoint-files';
import { readAdamState, REFERENCE_ADAMW, type TorchAdamState } from '../interop/torch-adam';
import { readTorchCheckpoint } from '../interop/torch-read';
import { ModelStore, optimizerRecordFrom, unetConfigFor, type TensorDict } from '../train';
import { buildLayout } from '../unet/layout';
import { readImportFile, resolveImportFile } from './import-files';

export interface ImportReferenceOptions {
  /** The checkpoint: model<step>.pt, ema_<rate>_<step>.pt, a published .pt or a .safetensors. */
  file: string;
  /** The model name to store it under. */
  name: string;
  /** A published flag set (engine/interop/presets.ts) and/or image_train.py flags, or the pipeline itself. */
  preset?: string;
  flags?: string;
  pipeline?: PipelineSpec;
  /** The EMA weights when `file` holds the raw weights. */
  ema?: string;
  /** The reference's optimizer state opt<step>.pt. */
  opt?: string;
  /** Replace a stored model of that name. */
  overwrite?: boolean;
  /** Where the model folder goes: a store, or a models folder. */
  store?: ModelStore;
  modelsDir?: string;
  /** When given, every file must be inside one of these folders (what the engine request uses). */
  importDirs?: readonly string[];
}

export interface ImportReferenceResult {
  spec: ModelSpec;
  /** The checkpoint directory written. */
  path: string;
  /** What the user should know (differences between the reference's run and what continues here). */
  notes: string[];
}

interface ReadFile {
  file: string;
  bytes: Buffer;
  sha256: string;
}

async function readGiven(given: string, importDirs: readonly string[] | undefined): Promise<ReadFile> {
  let real: string;
  let bytes: Buffer;
  if (importDirs) {
    real = resolveImportFile(given, importDirs);
    bytes = await readImportFile(real, given);
  } else {
    real = path.resolve(given);
    try {
      bytes = await fs.promises.readFile(real);
    } catch (err) {
      throw new EngineError(`Cannot read ${shown(given)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'NOT_FOUND');
    }
  }
  return { file: path.basename(real), bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Steps the file names give must agree (a triple from one save). */
function stepOfNames(files: ReadFile[]): number | null {
  const named = files.map((f) => ({ file: f.file, step: parseCheckpointName(f.file).step })).filter((n) => n.step !== null);
  const steps = new Set(named.map((n) => n.step));
  if (steps.size > 1) throw badRequest(`The files are from different steps (${named.map((n) => `${n.file}: ${n.step}`).join(', ')}); give the files of one save`);
  return named.length ? (named[0].step as number) : null;
}

function optimizerNotes(adam: TorchAdamState, weightsFromEma: boolean): string[] {
  const h = adam.hyperparameters;
  const notes: string[] = [];
  if (h.weightDecay !== 0) notes.push(`the reference's AdamW had weight_decay ${h.weightDecay}; our Adam has none`);
  if (h.beta1 !== REFERENCE_ADAMW.beta1 || h.beta2 !== REFERENCE_ADAMW.beta2 || h.eps !== REFERENCE_ADAMW.eps) {
    notes.push(`the reference's AdamW had betas (${h.beta1}, ${h.beta2}), eps ${h.eps}; our trainer uses (0.9, 0.999), 1e-8`);
  }
  if (weightsFromEma) notes.push('only the EMA weights were given: training would continue from them, not from the raw weights (give model<step>.pt as the file and the EMA file as ema)');
  notes.push(`training here continues Adam at update ${adam.step} (lr ${h.lr} in the reference's run; the Trainer's lr applies) with fresh timestep-sampler history and data order, as the reference's own resume has`);
  return notes;
}

/** Imports one checkpoint (with its EMA and optimizer files when given) as model `name`. */
export async function importReferenceCheckpoint(options: ImportReferenceOptions): Promise<ImportReferenceResult> {
  const req = checkImportReferenceRequest({
    file: options.file, name: options.name, preset: options.preset, flags: options.flags, pipeline: options.pipeline,
    ema: options.ema, opt: options.opt, overwrite: options.overwrite,
  });
  const store = options.store ?? (options.modelsDir ? new ModelStore(options.modelsDir) : undefined);
  if (!store) throw new Error('importReferenceCheckpoint needs a store or a modelsDir');
  const exists = fs.existsSync(store.modelDir(req.name));
  if (exists && !req.overwrite) throw badRequest(`A model named "${req.name}" already exists; import under another name or set overwrite`);

  const { pipeline, flags, recipe } = pipelineForImport({ name: req.name, preset: req.preset, flags: req.flags, pipeline: req.pipeline });
  const config = unetConfigFor(pipeline.unet);
  const params = buildLayout(config).params;

  const main = await readGiven(req.file, options.importDirs);
  const emaFile = req.ema ? await readGiven(req.ema, options.importDirs) : undefined;
  const optFile = req.opt ? await readGiven(req.opt, options.importDirs) : undefined;
  const nameStep = stepOfNames([main, ...(emaFile ? [emaFile] : []), ...(optFile ? [optFile] : [])]);

  const tensorsOf = (f: ReadFile): { format: CheckpointFormat; dict: TensorDict } => {
    const { format, tensors } = readCheckpointTensors(f.bytes, f.file);
    return { format, dict: matchStateDict(tensors, params, config, f.file) };
  };
  const weights = tensorsOf(main);
  const ema = emaFile ? tensorsOf(emaFile) : weights;
  let adam: TorchAdamState | undefined;
  if (optFile) {
    try {
      adam = readAdamState(readTorchCheckpoint(optFile.bytes), params);
    } catch (err) {
      throw badRequest(`${optFile.file}: ${(err as Error).message}`);
    }
  }

  const role = parseCheckpointName(main.file);
  const emaRole = emaFile ? parseCheckpointName(emaFile.file) : role;
  // image_train.py would train on a respaced process; for a checkpoint the flag is what image_sample.py samples with.
  const notes = (recipe?.notes ?? []).filter((n) => !n.startsWith('timestep_respacing'));
  if (recipe?.samplingRespacing) notes.push(`--timestep_respacing ${recipe.samplingRespacing}: recorded as the sampling respacing (source.samplingRespacing); give it to the Sampler as its steps`);
  if (adam) notes.push(...optimizerNotes(adam, !emaFile && role.role === 'ema'));
  const now = new Date().toISOString();
  const describe = (f: ReadFile, format: CheckpointFormat): Record<string, unknown> => ({ file: f.file, sha256: f.sha256, format });
  const source: Record<string, unknown> = {
    kind: 'improved-diffusion',
    importedAt: now,
    ...describe(main, weights.format),
    role: role.role,
    step: nameStep,
    ...(emaRole.rate !== undefined ? { emaRate: emaRole.rate } : {}),
    ...(req.preset !== undefined ? { preset: req.preset } : {}),
    ...(flags !== undefined ? { flags } : {}),
    ...(recipe?.samplingRespacing ? { samplingRespacing: recipe.samplingRespacing } : {}),
    ...(req.pipeline !== undefined ? { pipelineGiven: true } : {}),
    ...(emaFile ? { ema: describe(emaFile, ema.format) } : {}),
    ...(adam && optFile ? {
      optimizer: {
        file: optFile.file, sha256: optFile.sha256, step: adam.step, lr: adam.hyperparameters.lr,
        betas: [adam.hyperparameters.beta1, adam.hyperparameters.beta2], eps: adam.hyperparameters.eps,
        weightDecay: adam.hyperparameters.weightDecay, flatMaster: adam.flatMaster,
      },
    } : {}),
    notes,
  };
  const spec: ModelSpec = {
    name: req.name,
    pipeline,
    unetConfig: config,
    // Updates done: the optimizer's own count when it came along (the reference names file k after k + 1 updates).
    step: adam ? adam.step : (nameStep ?? 0),
    createdAt: now,
    updatedAt: now,
    source,
  };
  if (exists) store.remove(req.name);
  const dir = store.saveImported(req.name, {
    spec,
    weights: weights.dict,
    ema: ema.dict,
    ...(adam ? { optimizer: optimizerRecordFrom(adam, params) } : {}),
  });
  return { spec, path: dir, notes };
}
