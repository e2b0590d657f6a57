/**
 * The importReference request through the engine process (client → IPC → EngineService → run/import-reference):
 * a checkpoint in the import folder becomes a model that samples and evaluates by name; the .pt and the
 * .safetensors of the same weights sample the same images; files outside the import folder (../, absolute,
 * symlinks out) are NOT_FOUND and nothing is written; a bad checkpoint is BAD_REQUEST, not INTERNAL; an overwrite
 * replaces the loaded model too. In-process, the default import folder is the one beside the models folder.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../engine/host/client';
import { EngineService } from '../../engine/host/service';
import type { EngineError } from '../../engine/spec';
import { SMALL_PIPELINE, ref, writeTriple } from '../unit/import-fixtures';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-host-import-'));
const modelsDir = path.join(root, 'models');
const importDir = path.join(root, 'drop');
fs.mkdirSync(importDir);
fs.mkdirSync(path.join(root, 'private'));
for (const f of ['unet_small.pt', 'unet_small_legacy.pt', 'unet_small.safetensors']) fs.writeFileSync(path.join(importDir, f), ref(f));
fs.writeFileSync(path.join(root, 'private', 'unet.pt'), ref('unet_small.pt'));
fs.symlinkSync(path.join(root, 'private', 'unet.pt'), path.join(importDir, 'out.pt'));
const engine = new EngineClient({ modelsDir, backend: 'wasm', importDirs: [importDir] });
after(async () => {
  await engine.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const rejectsWith = async (p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> => {
  await assert.rejects(p, (err: EngineError) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
};

const sampleRaw = async (model: string): Promise<Float32Array> => {
  const r = await engine.sample({ model, count: 2, steps: 4, seed: 5, format: 'raw' });
  return r.raw!.data;
};

test('a .pt in the import folder becomes a model that samples and evaluates by name', async () => {
  const result = await engine.importReference({ file: 'unet_small.pt', name: 'small-pt', pipeline: SMALL_PIPELINE });
  assert.equal(result.spec.name, 'small-pt');
  assert.equal(path.dirname(result.path), path.join(modelsDir, 'small-pt'));
  assert.deepEqual((await engine.info()).models, ['small-pt']);
  assert.deepEqual((await engine.modelSpec('small-pt')).source, result.spec.source);
  await engine.importReference({ file: 'unet_small.safetensors', name: 'small-st', pipeline: SMALL_PIPELINE });
  await engine.importReference({ file: 'unet_small_legacy.pt', name: 'small-legacy', pipeline: SMALL_PIPELINE });
  const a = await sampleRaw('small-pt');
  assert.ok(a.every(Number.isFinite) && a.some((v) => v !== 0));
  assert.deepEqual(await sampleRaw('small-st'), a, 'the same weights sample the same images');
  assert.deepEqual(await sampleRaw('small-legacy'), a);
  const bpd = await engine.evaluate({ model: 'small-pt', dataset: { kind: 'mnist' }, count: 2, steps: 10 });
  assert.ok(Number.isFinite(bpd.bitsPerDim) && bpd.bitsPerDim > 0, `bits/dim ${bpd.bitsPerDim}`);
});

test('files outside the import folder are NOT_FOUND and nothing is written', async () => {
  for (const file of ['../private/unet.pt', path.join(root, 'private', 'unet.pt'), 'out.pt', '/etc/hostname']) {
    await rejectsWith(engine.importReference({ file, name: 'escaped', pipeline: SMALL_PIPELINE }), 'NOT_FOUND', /in the import folder/);
  }
  await rejectsWith(engine.importReference({ file: 'unet_small.pt', opt: '../private/unet.pt', name: 'escaped', pipeline: SMALL_PIPELINE }), 'NOT_FOUND', /in the import folder/);
  assert.equal(fs.existsSync(path.join(modelsDir, 'escaped')), false);
});

test('a checkpoint that does not fit, or a request without an architecture, is BAD_REQUEST', async () => {
  await rejectsWith(engine.importReference({ file: 'unet_small.pt', name: 'wrong', preset: 'cifar10-uncond-hybrid' }), 'BAD_REQUEST', /does not fit the pipeline's UNet/);
  await rejectsWith(engine.request({ op: 'importReference', request: { file: 'unet_small.pt', name: 'x' } as never }), 'BAD_REQUEST', /give a reference preset/);
  await rejectsWith(engine.importReference({ file: 'unet_small.pt', name: 'small-pt', pipeline: SMALL_PIPELINE }), 'BAD_REQUEST', /already exists/);
});

test('an overwrite replaces the model the engine has loaded', async () => {
  const before = await sampleRaw('small-pt');
  // Step 0 again: the same checkpoint folder name, so only forgetting the loaded copy shows the new weights.
  writeTriple(importDir, SMALL_PIPELINE, 0);
  const r = await engine.importReference({ file: 'model000000.pt', name: 'small-pt', pipeline: SMALL_PIPELINE, overwrite: true });
  assert.equal(r.spec.step, 0);
  const after = await sampleRaw('small-pt');
  assert.notDeepEqual(after, before, 'the new weights are sampled, not the cached old ones');
});

test('in-process, the default import folder is the one beside the models folder', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-default-import-'));
  fs.mkdirSync(path.join(dir, 'iddpm', 'import'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'iddpm', 'import', 'unet_small.pt'), ref('unet_small.pt'));
  const service = new EngineService({ modelsDir: path.join(dir, 'iddpm', 'models'), backend: 'wasm', broadcast: () => undefined });
  const r = (await service.handle({ op: 'importReference', request: { file: 'unet_small.pt', name: 'm', pipeline: SMALL_PIPELINE } })) as { spec: { name: string } };
  assert.equal(r.spec.name, 'm');
  await rejectsWith(service.handle({ op: 'importReference', request: { file: '../models/m/model.json', name: 'n', pipeline: SMALL_PIPELINE } }), 'NOT_FOUND', /import folder/);
  await service.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});
