/**
 * The Import node on a real Node-RED runtime with the shared engine: a checkpoint dropped into
 * `<userDir>/iddpm/import` (made by the node) is imported with the pipeline in msg.iddpm, sent on as its
 * model.json, and sampled by name by a Sampler wired after it; msg overrides (file, preset) are checked; a path
 * out of the import folder reaches a Catch node as NOT_FOUND, a missing architecture as BAD_REQUEST.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sharedEngine } from '../../engine/host/client';
import type { ModelSpec } from '../../engine/spec';
import type { NodeMessage } from '../../nodes/shared/red';
import { SMALL_PIPELINE, ref } from '../unit/import-fixtures';
import { ALL_NODES, catcher, helper, lastStatus, modelsDir, nextCaught, nextMessage, node, userDir } from './helper';

const importDir = path.join(userDir, 'iddpm', 'import');

before(async () => {
  await helper.startServer();
});
afterEach(() => helper.unload());
after(async () => {
  await helper.stopServer();
  await sharedEngine({ modelsDir, backend: 'wasm' }).close();
  fs.rmSync(userDir, { recursive: true, force: true });
});

async function loadFlow(config: Record<string, unknown>, withSampler = false): Promise<void> {
  await helper.load(ALL_NODES, [
    { id: 'f1', type: 'tab' },
    { id: 'n1', type: 'iddpm-import', z: 'f1', file: 'unet_small.pt', model: '', preset: '', flags: '', ema: '', opt: '', overwrite: false, ...config, wires: [[withSampler ? 's1' : 'out']] },
    ...(withSampler ? [{ id: 's1', type: 'iddpm-sampler', z: 'f1', model: '', count: 2, steps: '4', method: 'ancestral', eta: 0, class: '', seed: 3, format: 'pngs', columns: 0, wires: [['out']] }] : []),
    { id: 'out', type: 'helper', z: 'f1' },
    ...catcher(),
  ]);
}

test('the node makes the import folder; a checkpoint dropped there is imported and sampled by name', async () => {
  await loadFlow({ model: 'imported' });
  assert.ok(fs.statSync(importDir).isDirectory(), 'the default import folder exists once the node is deployed');
  fs.writeFileSync(path.join(importDir, 'unet_small.pt'), ref('unet_small.pt'));
  const out = nextMessage('out', 60_000);
  node('n1').receive({ iddpm: SMALL_PIPELINE });
  const msg = await out;
  const spec = msg.payload as ModelSpec;
  assert.equal(spec.name, 'imported');
  assert.equal(msg.model, 'imported');
  assert.deepEqual(msg.iddpm, spec.pipeline);
  assert.equal(spec.pipeline.unet.model, 'imported');
  assert.equal((spec.source as { file: string }).file, 'unet_small.pt');
  assert.ok(fs.existsSync(path.join(modelsDir, 'imported', 'model.json')));
  assert.match(String(lastStatus('n1')?.text), /^imported imported · step 0/);
  helper.unload();

  // Import → Sampler: the imported model's name travels in msg.model.
  await loadFlow({ model: 'imported-2' }, true);
  const sampled = nextMessage('out', 60_000);
  node('n1').receive({ iddpm: SMALL_PIPELINE } as NodeMessage);
  const images = (await sampled).payload as Buffer[];
  assert.equal(images.length, 2);
  assert.ok(images.every((png) => png.subarray(1, 4).toString() === 'PNG'));
});

test('outside the import folder: NOT_FOUND; no architecture or a bad override: BAD_REQUEST', async () => {
  await loadFlow({ model: 'nope' });
  const outside = await nextCaught(() => node('n1').receive({ file: '../models/imported/model.json', iddpm: SMALL_PIPELINE }));
  assert.equal(outside.code, 'NOT_FOUND');
  assert.match(outside.message, /No checkpoint "..\/models\/imported\/model.json" in the import folder/);
  const none = await nextCaught(() => node('n1').receive({}));
  assert.equal(none.code, 'BAD_REQUEST');
  assert.match(none.message, /Nothing says how the checkpoint was trained/);
  const preset = await nextCaught(() => node('n1').receive({ preset: 'cifar11' }));
  assert.equal(preset.code, 'BAD_REQUEST');
  assert.match(preset.message, /^msg\.preset: must be one of baseline/);
  const mismatch = await nextCaught(() => node('n1').receive({ preset: 'cifar10-uncond-hybrid' }), 'caught', 30_000);
  assert.equal(mismatch.code, 'BAD_REQUEST');
  assert.match(mismatch.message, /does not fit the pipeline's UNet/);
  assert.equal(fs.existsSync(path.join(modelsDir, 'nope')), false);
});
