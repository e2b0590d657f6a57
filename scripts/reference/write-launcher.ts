/**
 * Writes a launch.py (engine/interop/launcher.ts) for a pipeline, to train it with the reference on PyTorch.
 *
 *   node --import tsx scripts/reference/write-launcher.ts --demo [--out scripts/reference/launch_demo.py]
 *   node --import tsx scripts/reference/write-launcher.ts --pipeline pipeline.json [--recipe recipe.json] --out launch.py
 *
 * pipeline.json: a CompletePipeline (msg.iddpm, or the `pipeline` of a model.json); recipe.json: LauncherRecipe
 * fields (batch_size, lr, ema_rate, save_interval, log_interval, microbatch, resume_checkpoint).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CompletePipeline } from '../../engine/spec';
import { launcherFor, type LauncherRecipe } from '../../engine/interop/launcher';
import { DEMO_REFERENCE_PIPELINE, DEMO_REFERENCE_RECIPE } from './demo';

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function main(): void {
  const { values } = parseArgs({
    options: { demo: { type: 'boolean' }, pipeline: { type: 'string' }, recipe: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' } },
  });
  if (!values.demo && !values.pipeline) throw new Error('give --demo or --pipeline FILE');
  const loaded = values.pipeline ? readJson<CompletePipeline | { pipeline: CompletePipeline }>(values.pipeline) : DEMO_REFERENCE_PIPELINE;
  const pipeline = 'pipeline' in loaded ? loaded.pipeline : loaded;
  const recipe = values.recipe ? readJson<Partial<LauncherRecipe>>(values.recipe) : values.demo ? DEMO_REFERENCE_RECIPE : {};
  const text = launcherFor(pipeline, { recipe, threads: values.threads ? Number(values.threads) : undefined });
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
}

try {
  main();
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
