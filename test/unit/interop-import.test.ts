/**
 * Importing reference checkpoints (engine/run/import-reference.ts) into model folders: the reference's own
 * unet_small.pt / unet_small_legacy.pt / .safetensors give the same weights bit for bit, with model.json's source
 * recording file, sha256, format and step; flags, presets and pipelines all describe the architecture; a triple
 * with opt<step>.pt brings the Adam moments (our layout, bit for bit) and the optimizer's step; every mismatch
 * (a wrong shape, a missing or unexpected key, files of different steps, a name taken) is a BAD_REQUEST that says
 * what is wrong; a pickle that would run code is refused before anything is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError, checkImportReferenceRequest, type CompletePipeline } from '../../engine/spec';
import { parseSafetensors, type SafeTensor } from '../../engine/safetensors';
import { ModelStore, adamStateFrom } from '../../engine/train/store';
import { importReferenceCheckpoint } from '../../engine/run/import-reference';
import { pipelineFromFlags } from '../../engine/interop/flags';
import { parseCheckpointName, referenceCheckpointNames, emaRateText } from '../../engine/interop/checkpoint-files';
import { writeTorchStateDict } from '../../engine/interop';
import { PickleAssembler, OP, referenceDir, torchZip } from './interop-helpers';
import { SMALL_PIPELINE, bytesOf, paramsOf, randomStateDict, ref, sameTensors, tempDir, writeTriple } from './import-fixtures';

const expected = parseSafetensors(ref('unet_small.safetensors'));

async function refusal(p: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<string> {
  const err = await p.then(() => assert.fail('expected a refusal'), (e: unknown) => e);
  assert.ok(err instanceof EngineError, `an EngineError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  for (const re of patterns) assert.match(err.message, re);
  return err.message;
}

for (const file of ['unet_small.pt', 'unet_small_legacy.pt', 'unet_small.safetensors']) {
  test(`${file} imports as a model folder whose weights equal unet_small.safetensors bit for bit`, async () => {
    const dir = tempDir('imp-');
    const models = path.join(dir, 'models');
    const result = await importReferenceCheckpoint({ file: path.join(referenceDir(), file), name: 'small', pipeline: SMALL_PIPELINE, modelsDir: models });
    const store = new ModelStore(models);
    assert.deepEqual(store.list(), ['small']);
    const ckpt = store.loadCheckpoint('small', { training: true });
    assert.equal(sameTensors(ckpt.weights, expected), null);
    assert.equal(sameTensors(ckpt.ema, expected), null);
    assert.equal(ckpt.optimizer, undefined, 'no opt file: a sampling import');
    const spec = store.readSpec('small');
    assert.deepEqual(spec, result.spec);
    assert.equal(spec.pipeline.unet.model, 'small');
    assert.equal(spec.step, 0);
    assert.deepEqual(spec.unetConfig.attentionResolutions, [8], 'sizes in pixels (the reference factor 2 at 16 px)');
    const source = spec.source as Record<string, unknown>;
    assert.equal(source.file, file, 'the base name only: no server path in model.json');
    assert.equal(source.sha256, createHash('sha256').update(ref(file)).digest('hex'));
    assert.equal(source.format, file.endsWith('.safetensors') ? 'safetensors' : file.includes('legacy') ? 'torch-legacy' : 'torch-zip');
    assert.equal(source.step, null);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('a flag set describes the architecture; the step and EMA rate come from the file name', async () => {
  const flags = '--image_size 32 --num_channels 32 --num_res_blocks 1 --attention_resolutions 16 --learn_sigma True --diffusion_steps 50 --noise_schedule cosine --timestep_respacing 10';
  const pipeline = pipelineFromFlags(flags).pipeline;
  const dir = tempDir('imp-flags-');
  const weights = randomStateDict(paramsOf(pipeline), 7);
  const file = path.join(dir, 'ema_0.9999_001200.pt');
  fs.writeFileSync(file, writeTorchStateDict(weights));
  const { spec, notes } = await importReferenceCheckpoint({ file, name: 'flagged', flags, modelsDir: path.join(dir, 'm') });
  assert.equal(spec.step, 1200);
  const source = spec.source as Record<string, unknown>;
  assert.deepEqual([source.role, source.step, source.emaRate, source.flags, source.samplingRespacing], ['ema', 1200, '0.9999', flags, '10']);
  assert.deepEqual(spec.pipeline, { ...pipeline, unet: { ...pipeline.unet, model: 'flagged' } });
  assert.deepEqual(notes, ['--timestep_respacing 10: recorded as the sampling respacing (source.samplingRespacing); give it to the Sampler as its steps']);
  const ckpt = new ModelStore(path.join(dir, 'm')).loadCheckpoint('flagged');
  assert.equal(sameTensors(ckpt.ema, weights), null);
  // Flags the reference's argparser refuses, or that build no model, are the user's to fix.
  await refusal(importReferenceCheckpoint({ file, name: 'x', flags: '--image_size 48', modelsDir: path.join(dir, 'm') }), 'BAD_REQUEST', /--image_size 48/);
  await refusal(importReferenceCheckpoint({ file, name: 'x', preset: 'no-such-preset', modelsDir: path.join(dir, 'm') }), 'BAD_REQUEST', /preset/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a triple with opt<step>.pt brings the Adam moments bit for bit and the optimizer\'s own step', async () => {
  const dir = tempDir('imp-triple-');
  const t = writeTriple(dir, SMALL_PIPELINE, 2500);
  const models = path.join(dir, 'models');
  const { spec, notes } = await importReferenceCheckpoint({
    file: path.join(dir, t.model), ema: path.join(dir, t.ema), opt: path.join(dir, t.opt), name: 'resumable', pipeline: SMALL_PIPELINE, modelsDir: models,
  });
  // The reference names file k after k + 1 updates: the model's step is the optimizer's count.
  assert.equal(spec.step, 2501);
  const source = spec.source as { step: number; optimizer: Record<string, unknown>; ema: { file: string } };
  assert.equal(source.step, 2500);
  assert.equal(source.ema.file, t.ema);
  assert.deepEqual([source.optimizer.step, source.optimizer.lr, source.optimizer.betas, source.optimizer.weightDecay], [2501, 3e-4, [0.9, 0.999], 0]);
  assert.ok(notes.some((n) => /continues Adam at update 2501/.test(n)));
  const ckpt = new ModelStore(models).loadCheckpoint('resumable', { training: true });
  assert.equal(sameTensors(ckpt.weights, t.weights), null);
  assert.equal(sameTensors(ckpt.ema, t.emaWeights), null);
  assert.equal(ckpt.state, undefined, 'no run state: samplers start fresh');
  const adam = adamStateFrom(ckpt.optimizer!, paramsOf(SMALL_PIPELINE));
  assert.equal(adam.step, 2501);
  adam.expAvg.forEach((m, i) => assert.ok(bytesOf(m).equals(bytesOf(t.adam.expAvg[i])), `exp_avg ${i}`));
  adam.expAvgSq.forEach((v, i) => assert.ok(bytesOf(v).equals(bytesOf(t.adam.expAvgSq[i])), `exp_avg_sq ${i}`));
  // Files of different saves are refused.
  const other = writeTriple(dir, SMALL_PIPELINE, 3000);
  await refusal(importReferenceCheckpoint({ file: path.join(dir, t.model), opt: path.join(dir, other.opt), name: 'mixed', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST', /different steps/, /opt003000\.pt: 3000/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a checkpoint that does not fit the pipeline is refused with every difference and the likely flag', async () => {
  const dir = tempDir('imp-bad-');
  const models = path.join(dir, 'models');
  const write = (name: string, dict: Map<string, SafeTensor>): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, writeTorchStateDict(dict));
    return file;
  };
  // A wrong shape: the output conv of a fixed-variance model (3 channels, not 6).
  const wrong = new Map(expected);
  const out = expected.get('out.2.weight')!;
  wrong.set('out.2.weight', { dtype: 'F32', shape: [3, ...out.shape.slice(1)], data: out.data.slice(0, out.data.length / 2) as Float32Array });
  wrong.set('out.2.bias', { dtype: 'F32', shape: [3], data: new Float32Array(3) });
  await refusal(importReferenceCheckpoint({ file: write('wrong.pt', wrong), name: 'w', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST',
    /wrong\.pt does not fit/, /2 shape mismatch/, /out\.2\.weight is \[3,32,3,3\] in the file, \[6,32,3,3\]/, /outputs 3 channels, the pipeline 6 .*--learn_sigma/);
  // A missing key and an unexpected one.
  const missing = new Map(expected);
  missing.delete('middle_block.1.qkv.weight');
  missing.set('label_emb.weight', { dtype: 'F32', shape: [10, 128], data: new Float32Array(1280) });
  await refusal(importReferenceCheckpoint({ file: write('missing.pt', missing), name: 'w', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST',
    /1 missing key\(s\): middle_block\.1\.qkv\.weight/, /1 unexpected key\(s\): label_emb\.weight/, /class-conditional \(10 classes\): image_train\.py's --class_cond means 1000 classes, so give its pipeline or launch\.py/);
  // The right file with the wrong flags: the base channels and the attention blocks differ.
  await refusal(importReferenceCheckpoint({ file: path.join(referenceDir(), 'unet_small.pt'), name: 'w', preset: 'cifar10-uncond-hybrid', modelsDir: models }), 'BAD_REQUEST',
    /32 base channels \(--num_channels\), the pipeline 128/);
  // Not a checkpoint at all, a training dict instead of a state_dict, and a pickle that would run code.
  await refusal(importReferenceCheckpoint({ file: write('text.pt', new Map()), name: 'w', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST', /0 tensors/);
  fs.writeFileSync(path.join(dir, 'junk.pt'), 'not a checkpoint at all');
  await refusal(importReferenceCheckpoint({ file: path.join(dir, 'junk.pt'), name: 'w', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST', /neither a PyTorch checkpoint/);
  const evil = new PickleAssembler().global('posix', 'system').str('touch ' + path.join(dir, 'pwned')).op(OP.TUPLE1, OP.REDUCE).bytes();
  fs.writeFileSync(path.join(dir, 'evil.pt'), torchZip(evil));
  await refusal(importReferenceCheckpoint({ file: path.join(dir, 'evil.pt'), name: 'w', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST', /posix\.system/);
  assert.equal(fs.existsSync(path.join(dir, 'pwned')), false, 'nothing ran');
  assert.equal(fs.existsSync(models), false, 'nothing was written for any refusal');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a model name that is taken is refused unless overwrite; then the folder is replaced', async () => {
  const dir = tempDir('imp-over-');
  const models = path.join(dir, 'models');
  const file = path.join(referenceDir(), 'unet_small.pt');
  await importReferenceCheckpoint({ file, name: 'small', pipeline: SMALL_PIPELINE, modelsDir: models });
  await refusal(importReferenceCheckpoint({ file, name: 'small', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST', /already exists/);
  const t = writeTriple(dir, SMALL_PIPELINE, 40);
  const { spec } = await importReferenceCheckpoint({ file: path.join(dir, t.model), name: 'small', pipeline: SMALL_PIPELINE, modelsDir: models, overwrite: true });
  assert.equal(spec.step, 40);
  const store = new ModelStore(models);
  assert.equal(sameTensors(store.loadCheckpoint('small').weights, t.weights), null);
  assert.deepEqual(fs.readdirSync(store.modelDir('small')).sort(), ['ckpt-00000040', 'latest', 'model.json']);
  await refusal(importReferenceCheckpoint({ file, name: '../escape', pipeline: SMALL_PIPELINE, modelsDir: models }), 'BAD_REQUEST', /name/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the request validator wants one description of the architecture and plain file names', () => {
  const base = { file: 'ema_0.9999_000100.pt', name: 'm' };
  const issue = (v: unknown): string => {
    try {
      checkImportReferenceRequest(v);
    } catch (err) {
      return (err as EngineError).message;
    }
    return 'accepted';
  };
  assert.match(issue(base), /give a reference preset, the flags .* or its pipeline/);
  assert.match(issue({ ...base, preset: 'cifar10-uncond-hybrid', pipeline: SMALL_PIPELINE }), /both a pipeline and flags or a preset/);
  assert.match(issue({ ...base, preset: 'cifar11' }), /^preset: must be one of baseline, /);
  assert.match(issue({ ...base, flags: '--x', file: 'a\0b' }), /^file: /);
  assert.match(issue({ ...base, flags: '--x', nonsense: 1 }), /unknown settings nonsense/);
  assert.match(issue({ ...base, pipeline: { ...SMALL_PIPELINE, loss: undefined } }), /missing loss/);
  const ok = checkImportReferenceRequest({ ...base, preset: 'imagenet64-cond', flags: '--timestep_respacing 250', overwrite: 'true' });
  assert.deepEqual(ok, { ...base, preset: 'imagenet64-cond', flags: '--timestep_respacing 250', overwrite: true });
  assert.equal(checkImportReferenceRequest({ ...base, pipeline: SMALL_PIPELINE as CompletePipeline }).pipeline?.schedule.cosineS, 0.008, 'a pipeline is checked and completed');
});

test('checkpoint file names: train_util\'s and the published ones', () => {
  assert.deepEqual(parseCheckpointName('run/model002500.pt'), { role: 'model', step: 2500 });
  assert.deepEqual(parseCheckpointName('/x/ema_0.9999_500000.pt'), { role: 'ema', step: 500000, rate: '0.9999' });
  assert.deepEqual(parseCheckpointName('opt000000.pt'), { role: 'opt', step: 0 });
  assert.deepEqual(parseCheckpointName('imagenet64_uncond_100M_1500K.pt'), { role: 'published', step: 1_500_000 });
  assert.deepEqual(parseCheckpointName('lsun_uncond_100M_1200K_bs128.pt'), { role: 'published', step: 1_200_000 });
  assert.deepEqual(parseCheckpointName('weights.safetensors'), { role: 'unknown', step: null });
  assert.deepEqual(referenceCheckpointNames(2500, 0.9995), { model: 'model002500.pt', ema: 'ema_0.9995_002500.pt', opt: 'opt002500.pt' });
  assert.equal(referenceCheckpointNames(1234567, '0.9999').model, 'model1234567.pt');
  assert.deepEqual([emaRateText(0.9999), emaRateText(1), emaRateText(0)], ['0.9999', '1.0', '0.0']);
});
