/**
 * `npm run export-recipe`: a pipeline → a recipe folder that trains it with the reference implementation on
 * PyTorch (engine/run/export-recipe.ts; engine/interop/recipe.ts lists the files).
 *
 *   npm run export-recipe -- --model NAME [--models-dir D] --out DIR [--ranks N]
 *   npm run export-recipe -- --pipeline pipeline.json [--options options.json] [--dataset mnist] --out DIR [--ranks N]
 *
 * --model: a stored model (its pipeline, training options, and its state as model/ema/opt .pt to resume from;
 * --no-checkpoint leaves the state out). --pipeline: a pipeline JSON (msg.iddpm) or a model.json; --options: a
 * Trainer's options JSON (batchSize, microbatch, lr, emaRate, logEvery, checkpointEvery, dataset); --dataset KIND
 * (mnist, fashion-mnist) sets its dataset. --no-data leaves the dataset out, --limit N exports its first N images.
 * --respacing sets image_sample.py's --timestep_respacing. --overwrite writes into a non-empty folder.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { exportRecipe } from '../engine/run/export-recipe';
import type { DatasetKind, PipelineSpec, TrainOptions } from '../engine/spec';

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' }, 'models-dir': { type: 'string' }, pipeline: { type: 'string' }, options: { type: 'string' },
      dataset: { type: 'string' }, out: { type: 'string' }, ranks: { type: 'string' }, respacing: { type: 'string' },
      'no-data': { type: 'boolean' }, 'no-checkpoint': { type: 'boolean' }, limit: { type: 'string' }, overwrite: { type: 'boolean' },
    },
  });
  if (!values.out || (!values.model && !values.pipeline)) throw new Error('usage: npm run export-recipe -- (--model NAME | --pipeline FILE) --out DIR [--ranks N]');
  let pipeline: PipelineSpec | undefined;
  if (values.pipeline) {
    const json = readJson(values.pipeline);
    pipeline = (typeof json.pipeline === 'object' && json.pipeline !== null ? json.pipeline : json) as PipelineSpec;
  }
  const options: Partial<TrainOptions> = values.options ? (readJson(values.options) as Partial<TrainOptions>) : {};
  if (values.dataset) options.dataset = { kind: values.dataset as DatasetKind };
  const started = Date.now();
  const result = await exportRecipe({
    out: values.out,
    model: values.model,
    modelsDir: values['models-dir'] ?? process.env.IDDPM_MODELS_DIR ?? 'iddpm-models',
    pipeline,
    options: Object.keys(options).length ? options : undefined,
    ranks: values.ranks === undefined ? undefined : Number(values.ranks),
    samplingRespacing: values.respacing ?? null,
    dataset: !values['no-data'],
    datasetLimit: values.limit === undefined ? undefined : Number(values.limit),
    checkpoint: !values['no-checkpoint'],
    overwrite: values.overwrite,
    onProgress: (what) => console.log(`writing the ${what}…`),
  });
  const r = result.recipe;
  console.log(`recipe (${r.mode}${r.reason ? `: ${r.reason}` : ''}) in ${result.dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`  files: ${result.files.join(', ')}`);
  if (result.dataset) console.log(`  data: ${result.dataset.count} PNGs (${result.dataset.numClasses === null ? 'unlabelled' : `${result.dataset.numClasses} classes`})`);
  if (result.checkpoint) console.log(`  state at step ${result.checkpoint.step}: ${result.checkpoint.files.join(', ')}`);
  console.log(`  train: ${r.trainCommand}`);
  for (const note of r.notes) console.log(`  note: ${note}`);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
