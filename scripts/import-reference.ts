/**
 * `npm run import-reference`: a reference (openai/improved-diffusion) checkpoint → a model folder that the Sampler,
 * evaluate mode and the HTTP/MQTT flows use by name (engine/run/import-reference.ts; docs/model-folder.md).
 *
 *   npm run import-reference -- --file ema_0.9999_500000.pt --preset cifar10-uncond-hybrid --name cifar
 *   npm run import-reference -- --file run/ema_0.9999_002000.pt --flags "--image_size 32 --num_channels 64 …" --name m
 *   npm run import-reference -- --recipe DIR --file run/model002000.pt --ema run/ema_0.9999_002000.pt --opt run/opt002000.pt --name m
 *
 * The architecture: --preset NAME (the reference README's flag sets; --flags then override its own), --flags TEXT
 * (image_train.py's MODEL_FLAGS and DIFFUSION_FLAGS), --pipeline FILE (a pipeline JSON, a model.json, or a recipe's
 * pipeline.json), --launcher FILE (the launch.py an export wrote, engine/interop/launcher-read.ts), or --recipe DIR
 * (an exported recipe folder: its flags, or its pipeline for a launcher; relative file names are then looked up in
 * DIR first). --models-dir (default $IDDPM_MODELS_DIR or ./iddpm-models),
 * --overwrite replaces a model of that name. --list-presets prints the presets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REFERENCE_PRESETS } from '../engine/interop/presets';
import { pipelineFromLauncher } from '../engine/interop/launcher-read';
import { importReferenceCheckpoint } from '../engine/run/import-reference';
import { readRecipeArchitecture } from '../engine/run/export-recipe';
import type { PipelineSpec } from '../engine/spec';

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** A pipeline JSON, or the `pipeline` of a model.json. */
function pipelineFile(file: string): PipelineSpec {
  const json = readJson(file);
  return (typeof json.pipeline === 'object' && json.pipeline !== null ? json.pipeline : json) as PipelineSpec;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      file: { type: 'string' }, ema: { type: 'string' }, opt: { type: 'string' }, name: { type: 'string' },
      preset: { type: 'string' }, flags: { type: 'string' }, pipeline: { type: 'string' }, recipe: { type: 'string' }, launcher: { type: 'string' },
      'models-dir': { type: 'string' }, overwrite: { type: 'boolean' }, 'list-presets': { type: 'boolean' },
    },
  });
  if (values['list-presets']) {
    for (const [name, p] of Object.entries(REFERENCE_PRESETS)) console.log(`${name.padEnd(26)} ${p.checkpoint ?? '(no checkpoint)'}: ${p.description}`);
    return;
  }
  if (!values.file || !values.name) throw new Error('usage: npm run import-reference -- --file CHECKPOINT --name MODEL (--preset P | --flags "…" | --pipeline FILE | --launcher launch.py | --recipe DIR) [--ema F] [--opt F] [--models-dir D] [--overwrite]');
  const recipeDir = values.recipe ? resolve(values.recipe) : undefined;
  const located = (f: string | undefined): string | undefined => {
    if (f === undefined || !recipeDir) return f;
    const inRecipe = resolve(recipeDir, f);
    return existsSync(inRecipe) ? inRecipe : f;
  };
  const architecture: { flags?: string; pipeline?: PipelineSpec } = recipeDir
    ? readRecipeArchitecture(recipeDir)
    : values.pipeline ? { pipeline: pipelineFile(values.pipeline) }
      : values.launcher ? { pipeline: pipelineFromLauncher(readFileSync(values.launcher, 'utf8'), values.name) } : {};
  const modelsDir = values['models-dir'] ?? process.env.IDDPM_MODELS_DIR ?? 'iddpm-models';
  const started = Date.now();
  const result = await importReferenceCheckpoint({
    file: located(values.file) as string,
    ema: located(values.ema),
    opt: located(values.opt),
    name: values.name,
    preset: values.preset,
    flags: values.flags ?? architecture.flags,
    pipeline: architecture.pipeline,
    overwrite: values.overwrite,
    modelsDir,
  });
  const { spec } = result;
  const c = spec.unetConfig;
  console.log(`imported ${spec.name} (step ${spec.step}) into ${result.path} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`  ${c.imageSize}×${c.imageSize}×${c.inChannels}, ${c.numClasses === null ? 'unconditional' : `${c.numClasses} classes`}, ${spec.pipeline.schedule.kind} T = ${spec.pipeline.schedule.steps}, ${spec.pipeline.unet.modelVarType}`);
  const source = spec.source as { file: string; sha256: string; optimizer?: { file: string } };
  console.log(`  from ${source.file} (sha256 ${source.sha256.slice(0, 16)}…)${source.optimizer ? ` with the optimizer state ${source.optimizer.file}` : ''}`);
  for (const note of result.notes) console.log(`  note: ${note}`);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
