/**
 * Exports a pipeline as a recipe folder for the reference implementation (engine/interop/recipe.ts lists its
 * files): from a stored model (its pipeline, its training options and its state as the reference's checkpoint
 * triple, so the run continues there with `--resume_checkpoint`) or from a pipeline with a Trainer's options
 * (msg.iddpm + the Trainer's settings). The dataset goes along as the PNG folder image_datasets.py reads
 * (engine/interop/dataset-export.ts); a grey (MNIST) one needs the launcher, whose loader keeps 1 channel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createDataset } from '../data';
import { exportDatasetToFolder } from '../interop/dataset-export';
import { recipeFor, type Recipe, type RecipeTraining } from '../interop/recipe';
import { referenceCheckpointNames, torchCheckpointTriple } from '../interop/checkpoint-files';
import {
  badRequest, checkPipeline, checkTrainOptions, type CompletePipeline, type DatasetSpec, type PipelineSpec, type TrainOptions,
  type UNetConfig,
} from '../spec';
import type { SafeTensor } from '../safetensors';
import { ModelStore, adamStateFrom, imageShapeOf, unetConfigFor, type TensorDict } from '../train';
import { fromReferenceConfig } from '../unet/config';
import { buildLayout } from '../unet/layout';

export interface ExportRecipeOptions {
  /** The recipe folder (created; an existing non-empty one only with `overwrite`). */
  out: string;
  /** A stored model by name (with `store` or `modelsDir`). */
  model?: string;
  store?: ModelStore;
  modelsDir?: string;
  /** Or a pipeline (msg.iddpm) and a Trainer's options (batchSize, microbatch, lr, emaRate, dataset, …). */
  pipeline?: PipelineSpec;
  options?: Partial<TrainOptions>;
  /** MPI ranks; default 1. */
  ranks?: number;
  /** image_sample.py's --timestep_respacing. */
  samplingRespacing?: string | null;
  /** Write the dataset (default: whenever the options name one). */
  dataset?: boolean;
  /** Only the first `datasetLimit` images. */
  datasetLimit?: number;
  /** Write the stored model's state as model/ema/opt .pt (default: true for a stored model). */
  checkpoint?: boolean;
  overwrite?: boolean;
  onProgress?: (what: string) => void;
}

export interface ExportRecipeResult {
  dir: string;
  recipe: Recipe;
  /** Every file written, relative to `dir` (the dataset counted, not listed). */
  files: string[];
  dataset?: { dir: string; count: number; numClasses: number | null };
  checkpoint?: { step: number; files: string[] };
}

const DATA_DIR = 'data';
const CHECKPOINT_DIR = 'checkpoint';

function toConfig(stored: UNetConfig | Record<string, unknown>): UNetConfig {
  return 'model_channels' in stored ? fromReferenceConfig(stored as never) : (stored as UNetConfig);
}

/** F16/BF16 tensors (a half-precision sampling export) as float32: the reference's parameters are float32. */
function asFloat32(dict: TensorDict): TensorDict {
  return new Map([...dict].map(([k, t]): [string, SafeTensor] => [k, t.dtype === 'F16' || t.dtype === 'BF16' ? { ...t, dtype: 'F32' } : t]));
}

interface Source {
  name: string;
  pipeline: CompletePipeline;
  config: UNetConfig;
  training: RecipeTraining;
  dataset?: DatasetSpec;
  store?: ModelStore;
}

function sourceOf(o: ExportRecipeOptions): Source {
  if ((o.model === undefined) === (o.pipeline === undefined)) throw badRequest('Export a stored model (model) or a pipeline (pipeline), one of them');
  if (o.model !== undefined) {
    const store = o.store ?? (o.modelsDir ? new ModelStore(o.modelsDir) : undefined);
    if (!store) throw new Error('exportRecipe needs a store or a modelsDir to export a stored model');
    if (!store.hasCheckpoint(o.model)) throw badRequest(`No stored model named "${o.model}"`);
    const spec = store.readSpec(o.model);
    const trained = spec.train;
    const rate = Number((spec.source as { emaRate?: string } | undefined)?.emaRate ?? NaN);
    const checked = checkTrainOptions({ dataset: trained?.dataset ?? { kind: 'mnist' }, ...(trained ?? {}), ...(trained ? {} : Number.isFinite(rate) ? { emaRate: rate } : {}), ...o.options });
    return { name: o.model, pipeline: checkPipeline(spec.pipeline), config: toConfig(spec.unetConfig), training: checked, dataset: trained || o.options?.dataset ? checked.dataset : undefined, store };
  }
  const pipeline = checkPipeline(o.pipeline, 'pipeline');
  // The dataset is optional here; checkTrainOptions needs one to check the rest.
  const checked = checkTrainOptions({ ...o.options, dataset: o.options?.dataset ?? { kind: 'mnist' } });
  return { name: pipeline.unet.model, pipeline, config: unetConfigFor(pipeline.unet), training: checked, dataset: o.options?.dataset ? checked.dataset : undefined };
}

function describeDataset(d: DatasetSpec, count: number, numClasses: number | null): string {
  const what = d.kind === 'folder' ? `the folder ${d.path}` : d.kind === 'images' ? 'the images of the message' : `${d.kind} ${d.split ?? 'train'}`;
  return `${what}: ${count} images, ${numClasses === null ? 'unlabelled' : `${numClasses} classes`}`;
}

/** Writes the recipe folder for a stored model or a pipeline (see the file comment). */
export async function exportRecipe(o: ExportRecipeOptions): Promise<ExportRecipeResult> {
  const src = sourceOf(o);
  const dir = path.resolve(o.out);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0 && !o.overwrite) throw badRequest(`${o.out} exists and is not empty; choose a new folder or set overwrite`);
  const withCheckpoint = src.store !== undefined && (o.checkpoint ?? true);
  const withDataset = src.dataset !== undefined && (o.dataset ?? true);
  const ckpt = withCheckpoint ? src.store!.loadCheckpoint(src.name, { training: true }) : undefined;
  const names = ckpt ? referenceCheckpointNames(ckpt.spec.step, src.training.emaRate) : undefined;

  // Everything that can fail on the pipeline or the options fails before anything is written.
  let datasetDescription: string | null = null;
  const dataset = withDataset ? await createDataset({ ...src.dataset!, ...(o.datasetLimit ? { limit: o.datasetLimit } : {}) }, imageShapeOf(src.config)) : undefined;
  if (dataset) datasetDescription = describeDataset(src.dataset!, dataset.size, dataset.numClasses);
  const recipe = recipeFor(src.pipeline, src.training, {
    ranks: o.ranks, samplingRespacing: o.samplingRespacing, dataDir: dataset ? DATA_DIR : null, datasetDescription,
    resumeCheckpoint: names ? `${CHECKPOINT_DIR}/${names.model}` : null, modelName: src.name,
  });

  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, text] of Object.entries(recipe.files)) {
    fs.writeFileSync(path.join(dir, file), text, { mode: file.endsWith('.sh') ? 0o755 : 0o644 });
    written.push(file);
  }
  const result: ExportRecipeResult = { dir, recipe, files: written };
  if (ckpt) {
    o.onProgress?.('checkpoint');
    const params = buildLayout(src.config).params;
    const triple = torchCheckpointTriple({
      weights: asFloat32(ckpt.weights), ema: asFloat32(ckpt.ema), params, step: ckpt.spec.step, emaRate: src.training.emaRate,
      adam: ckpt.optimizer ? adamStateFrom(ckpt.optimizer, params) : undefined, hyperparameters: { lr: src.training.lr },
    });
    fs.mkdirSync(path.join(dir, CHECKPOINT_DIR), { recursive: true });
    for (const f of triple) {
      fs.writeFileSync(path.join(dir, CHECKPOINT_DIR, f.name), f.bytes);
      written.push(`${CHECKPOINT_DIR}/${f.name}`);
    }
    result.checkpoint = { step: ckpt.spec.step, files: triple.map((f) => `${CHECKPOINT_DIR}/${f.name}`) };
  }
  if (dataset) {
    o.onProgress?.('dataset');
    const exported = await exportDatasetToFolder(dataset, path.join(dir, DATA_DIR), { chunkSize: 1000 });
    result.dataset = { dir: path.join(dir, DATA_DIR), count: exported.files.length, numClasses: exported.numClasses };
  }
  return result;
}

/**
 * What an exported recipe folder says about the architecture, for an import of what it trained: its flags
 * (MODEL, DIFFUSION and SAMPLE flags) when image_train.py ran it, else its pipeline.json (launch.py).
 */
export function readRecipeArchitecture(dir: string): { flags?: string; pipeline?: PipelineSpec } {
  const read = (file: string): Record<string, unknown> => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw badRequest(`${path.join(dir, file)} cannot be read (${(err as Error).message}): is ${dir} a recipe folder written by export-recipe?`);
    }
  };
  const recipe = read('recipe.json') as { mode?: unknown; flags?: Record<string, string> | null };
  if (recipe.mode === 'flags' && recipe.flags) return { flags: [recipe.flags.model, recipe.flags.diffusion, recipe.flags.sample].filter((s) => s).join(' ') };
  if (recipe.mode !== 'launcher') throw badRequest(`${path.join(dir, 'recipe.json')} has mode ${JSON.stringify(recipe.mode)}, not flags or launcher`);
  return { pipeline: read('pipeline.json') as PipelineSpec };
}
