/**
 * import(export(pipeline)) reproduces the pipeline: every published preset through a recipe folder's flags.txt
 * (and recipe.json, what an import reads back) gives the same pipeline and the same training flags, with the batch
 * split over the ranks; a pipeline the scripts cannot express (the grey 10-class demo) goes through launch.py and
 * pipeline.json. A stored model → model/ema/opt .pt (train_util's names and order) → a model folder again gives
 * weights, EMA and Adam moments bit for bit and the same step, and a Trainer restored from it continues Adam there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../engine/backend';
import { datasetFromImages } from '../../engine/data/dataset';
import { pipelineFromFlags, normaliseArgs } from '../../engine/interop/flags';
import { REFERENCE_PRESET_NAMES, pipelineFromPreset } from '../../engine/interop/presets';
import { recipeFor, perRankBatches, type RecipeTraining } from '../../engine/interop/recipe';
import { readAdamState, readTorchCheckpoint, readTorchStateDict } from '../../engine/interop';
import { exportRecipe, readRecipeArchitecture } from '../../engine/run/export-recipe';
import { importReferenceCheckpoint } from '../../engine/run/import-reference';
import { checkPipeline, checkTrainOptions, type CompletePipeline, type ModelSpec } from '../../engine/spec';
import { ModelStore, adamStateFrom, optimizerRecordFrom } from '../../engine/train/store';
import { Trainer } from '../../engine/train/trainer';
import { trainingDiffusion, unetConfigFor } from '../../engine/train/pipeline';
import { SMALL_PIPELINE, bytesOf, paramsOf, randomAdam, randomStateDict, sameTensors, tempDir } from './import-fixtures';

/** `NAME="…"` lines of flags.txt. */
function sourced(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^(\w+)="([^"]*)"$/gm)].map((m) => [m[1], m[2]]));
}

const DEMO: CompletePipeline = checkPipeline({
  schedule: { kind: 'cosine', steps: 1000 }, noiser: { modelMeanType: 'epsilon' },
  unet: { model: 'demo', preset: 'tiny', modelVarType: 'learned_range', numClasses: 10 },
  loss: { kind: 'hybrid', lambda: 0.001 }, timesteps: { kind: 'importance' },
});

test('every preset: pipeline → recipe flags.txt → pipeline and training flags again, batch per rank', () => {
  for (const name of REFERENCE_PRESET_NAMES) {
    const original = pipelineFromPreset(name, { model: name });
    const ranks = 4;
    const recipe = recipeFor(original.pipeline, { microbatch: 0, ...original.trainOptions } as RecipeTraining, { ranks, dataDir: 'data' });
    assert.equal(recipe.mode, 'flags', `${name}: ${recipe.reason}`);
    const f = sourced(recipe.files['flags.txt']);
    const back = pipelineFromFlags([f.MODEL_FLAGS, f.DIFFUSION_FLAGS, f.TRAIN_FLAGS].join(' '), { model: name });
    assert.deepEqual(back.pipeline, original.pipeline, name);
    const perRank = original.train.batch_size / ranks;
    assert.deepEqual(normaliseArgs(back.args), normaliseArgs({ ...original.args, batch_size: perRank }), name);
    assert.match(recipe.files['train.sh'], new RegExp(`\\$MPIEXEC -n ${ranks} "\\$PYTHON" "\\$IDDPM_REF/scripts/image_train.py" --data_dir data \\$MODEL_FLAGS`));
    assert.match(f.TRAIN_FLAGS, new RegExp(`--batch_size ${perRank}\\b`));
    assert.equal(recipe.files['launch.py'], undefined);
    assert.deepEqual(JSON.parse(recipe.files['pipeline.json']), original.pipeline);
    const json = JSON.parse(recipe.files['recipe.json']) as Record<string, unknown>;
    assert.deepEqual([json.mode, json.ranks, json.perRankBatch, json.globalBatch], ['flags', ranks, perRank, original.train.batch_size]);
  }
});

test('a recipe folder read back by an import gives the pipeline, for flags and for the launcher', async () => {
  const dir = tempDir('recipe-');
  const preset = pipelineFromPreset('cifar10-uncond-hybrid', { model: 'cifar' });
  const flagsDir = path.join(dir, 'flags');
  await exportRecipe({ out: flagsDir, pipeline: preset.pipeline, options: { ...preset.trainOptions, microbatch: 4, emaRate: 0.9995 }, ranks: 8, samplingRespacing: '250' });
  const arch = readRecipeArchitecture(flagsDir);
  assert.deepEqual(pipelineFromFlags(arch.flags!, { model: 'cifar' }).pipeline, preset.pipeline);
  assert.match(arch.flags!, /--timestep_respacing 250/);
  assert.match(fs.readFileSync(path.join(flagsDir, 'flags.txt'), 'utf8'), /TRAIN_FLAGS="--batch_size 16 --microbatch 4 --ema_rate 0.9995"/);
  assert.match(fs.readFileSync(path.join(flagsDir, 'sample.sh'), 'utf8'), /image_sample\.py" --model_path "\$MODEL_PATH" \$MODEL_FLAGS \$DIFFUSION_FLAGS \$SAMPLE_FLAGS/);
  const readme = fs.readFileSync(path.join(flagsDir, 'README.md'), 'utf8');
  assert.match(readme, /npm run import-reference -- --recipe <this folder> --file run\/ema_0\.9995_<step>\.pt --name cifar/);
  assert.match(readme, /DDP only when CUDA is available/);
  assert.equal(fs.statSync(path.join(flagsDir, 'train.sh')).mode & 0o111, 0o111, 'train.sh is executable');

  const launcherDir = path.join(dir, 'launcher');
  const r = await exportRecipe({ out: launcherDir, pipeline: DEMO, options: { batchSize: 32, lr: 2e-4, emaRate: 0.9995, checkpointEvery: 500, logEvery: 100, dataset: { kind: 'mnist', limit: 30 } } });
  assert.equal(r.recipe.mode, 'launcher');
  assert.match(r.recipe.reason!, /1 input channel/);
  assert.deepEqual(fs.readdirSync(launcherDir).sort(), ['README.md', 'data', 'launch.py', 'pipeline.json', 'recipe.json', 'train.sh']);
  assert.deepEqual(readRecipeArchitecture(launcherDir).pipeline, DEMO);
  const launch = fs.readFileSync(path.join(launcherDir, 'launch.py'), 'utf8');
  assert.match(launch, /batch_size=32,\n\s+lr=0\.0002,\n\s+ema_rate="0\.9995",\n\s+save_interval=500,/);
  assert.match(fs.readFileSync(path.join(launcherDir, 'train.sh'), 'utf8'), /\$MPIEXEC -n 1 "\$PYTHON" launch\.py --data_dir data "\$@"/);
  assert.equal(r.dataset?.count, 30);
  assert.equal(r.dataset?.numClasses, 10);
  assert.ok(fs.readdirSync(path.join(launcherDir, 'data')).every((f) => /^\d_\d\d\.png$/.test(f)));
  // Nothing is written when the recipe cannot be made, and a non-empty folder is not written into.
  await assert.rejects(exportRecipe({ out: path.join(dir, 'split'), pipeline: DEMO, options: { batchSize: 10 }, ranks: 4 }), /batch of 10 cannot be split evenly over 4 ranks/);
  assert.equal(fs.existsSync(path.join(dir, 'split')), false);
  await assert.rejects(exportRecipe({ out: launcherDir, pipeline: DEMO }), /exists and is not empty/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('per-rank batches: B/N each, the microbatch kept only below it', () => {
  assert.deepEqual(perRankBatches({ batchSize: 128, microbatch: 0 }, 8), { batch: 16, microbatch: -1 });
  assert.deepEqual(perRankBatches({ batchSize: 128, microbatch: 4 }, 8), { batch: 16, microbatch: 4 });
  assert.deepEqual(perRankBatches({ batchSize: 128, microbatch: 64 }, 8), { batch: 16, microbatch: -1 });
  assert.throws(() => perRankBatches({ batchSize: 16, microbatch: 0 }, 0), /ranks must be/);
});

/** A stored model of SMALL_PIPELINE at `step` with seeded weights, EMA, Adam state and run state. */
function storedModel(store: ModelStore, name: string, step: number): { spec: ModelSpec; adam: ReturnType<typeof randomAdam> } {
  const params = paramsOf(SMALL_PIPELINE);
  const pipeline = checkPipeline({ ...SMALL_PIPELINE, unet: { ...SMALL_PIPELINE.unet, model: name } });
  const options = checkTrainOptions({ dataset: { kind: 'mnist', limit: 8 }, batchSize: 4, lr: 2e-4, emaRate: 0.999, checkpointEvery: 50 });
  const spec: ModelSpec = { name, pipeline, unetConfig: unetConfigFor(pipeline.unet), train: { ...options, dataset: { kind: 'mnist', split: 'train', limit: 8 } }, step, createdAt: 'c', updatedAt: 'u' };
  const adam = randomAdam(params, step, 11);
  store.saveCheckpoint(name, {
    spec, weights: randomStateDict(params, 12), ema: randomStateDict(params, 13), optimizer: optimizerRecordFrom(adam, params),
    state: { step, rng: { noise: [1, 2, 3, 4, 0, 0], timesteps: [5, 6, 7, 8, 0, 0] }, timestepSampler: { kind: 'uniform', numTimesteps: 100 }, dataSampler: { size: 8, batchSize: 4, seed: 0, epoch: 0, position: 0 } },
  });
  return { spec, adam };
}

test('a stored model → model/ema/opt .pt → a model folder: weights, EMA, Adam moments bit for bit, step kept', async () => {
  await initBackend('wasm');
  const dir = tempDir('triple-');
  const store = new ModelStore(path.join(dir, 'models'));
  const { adam } = storedModel(store, 'here', 1234);
  const out = path.join(dir, 'recipe');
  const result = await exportRecipe({ out, model: 'here', store, dataset: false });
  assert.deepEqual(result.checkpoint, { step: 1234, files: ['checkpoint/model001234.pt', 'checkpoint/ema_0.999_001234.pt', 'checkpoint/opt001234.pt'] });
  const original = store.loadCheckpoint('here', { training: true });
  const params = paramsOf(SMALL_PIPELINE);
  // The files as the reference reads them: state_dicts in its order, AdamW's state_dict with the run's lr.
  const file = (f: string): Buffer => fs.readFileSync(path.join(out, f));
  assert.deepEqual([...readTorchStateDict(file('checkpoint/model001234.pt')).keys()], params.map((s) => s.name));
  const torchAdam = readAdamState(readTorchCheckpoint(file('checkpoint/opt001234.pt')), params);
  assert.deepEqual([torchAdam.step, torchAdam.hyperparameters.lr], [1234, 2e-4]);
  // 16 px: the scripts cannot build it, the launcher resumes from the exported state.
  assert.match(fs.readFileSync(path.join(out, 'launch.py'), 'utf8'), /resume_checkpoint="checkpoint\/model001234\.pt",/);

  const arch = readRecipeArchitecture(out);
  const back = await importReferenceCheckpoint({
    file: path.join(out, 'checkpoint/model001234.pt'), ema: path.join(out, 'checkpoint/ema_0.999_001234.pt'), opt: path.join(out, 'checkpoint/opt001234.pt'),
    name: 'back', modelsDir: path.join(dir, 'models'), ...arch,
  });
  assert.equal(back.spec.step, 1234);
  assert.deepEqual(back.spec.unetConfig, original.spec.unetConfig);
  assert.deepEqual(back.spec.pipeline, { ...original.spec.pipeline, unet: { ...original.spec.pipeline.unet, model: 'back' } });
  const imported = store.loadCheckpoint('back', { training: true });
  assert.equal(sameTensors(imported.weights, original.weights), null);
  assert.equal(sameTensors(imported.ema, original.ema), null);
  assert.equal(sameTensors(imported.optimizer!.moments, original.optimizer!.moments), null);
  assert.equal(imported.optimizer!.step, 1234);

  // A Trainer continues from it: Adam's moments and step are the imported ones, and the next step counts on.
  const pipeline = imported.spec.pipeline;
  const config = unetConfigFor(pipeline.unet);
  const images = { shape: [4, 16, 16, 3] as [number, number, number, number], data: new Float32Array(4 * 16 * 16 * 3).map((_, i) => Math.sin(i) * 0.9) };
  const options = checkTrainOptions({ dataset: { kind: 'mnist' }, batchSize: 2, microbatch: 2, lr: 2e-4 });
  const trainer = new Trainer({ pipeline, config, options, diffusion: trainingDiffusion(pipeline), dataset: datasetFromImages(images) });
  try {
    trainer.restore(imported);
    const state = trainer.adam.getState();
    assert.equal(state.step, 1234);
    state.expAvg.forEach((m, i) => assert.ok(bytesOf(m).equals(bytesOf(adam.expAvg[i])), `exp_avg ${params[i].name}`));
    assert.equal(sameTensors(trainer.stateDicts().weights, original.weights), null);
    assert.equal(trainer.step, 1234);
    trainer.runStep();
    assert.deepEqual([trainer.step, trainer.adam.getState().step], [1235, 1235]);
    assert.ok(adamStateFrom(trainer.optimizerRecord(), params).expAvg[0].some((v, i) => v !== adam.expAvg[0][i]), 'the moments moved');
  } finally {
    trainer.dispose();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
