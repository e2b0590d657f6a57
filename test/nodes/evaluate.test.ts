/**
 * The Sampler's evaluate mode with the real shared engine: bits/dim of a small model (8×8, T = 50) on the first
 * images of MNIST's test split, as msg.topic "evaluate" or as the node's mode. The result is checked against
 * the bound's own arithmetic (bits/dim = L_vlb + prior, the L_t adding up to L_vlb) and against the engine
 * asked directly, which also shows the node asks for the test split and the count it was given.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { sharedEngine } from '../../engine/host/client';
import type { EvaluateResult } from '../../engine/host/protocol';
import { ENGINE_SETTINGS, helper, loadSampler, through, trainTestModel, lastStatus, nextCaught, node, userDir } from './helper';

const engine = sharedEngine(ENGINE_SETTINGS);
const MODEL = 'bpd-small';
/** T: every evaluation costs T UNet passes per image. */
const T = 50;

/** Trains MODEL for one step (a custom 8×8 UNet, cosine schedule with T steps) through the shared engine. */
before(async () => {
  await helper.startServer();
  await trainTestModel(engine, MODEL, { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], numHeads: 2 }, null, T);
});
afterEach(() => helper.unload());
after(async () => {
  await helper.stopServer();
  await engine.close();
  rmSync(userDir, { recursive: true, force: true });
});

const close = (a: number, b: number, rel = 1e-9): boolean => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

test('msg.topic "evaluate": bits/dim on the first count test images, = L_vlb + prior, with L_t per t', async (t) => {
  await loadSampler(MODEL, { mode: 'generate' });
  const out = await through({ topic: 'evaluate', perTimestep: true });
  const r = out.payload as EvaluateResult;
  for (const key of ['bitsPerDim', 'priorBpd', 'vbBpd', 'mseMean', 'seconds'] as const) assert.ok(Number.isFinite(r[key]), `${key} = ${r[key]}`);
  assert.equal(r.count, 2);
  t.diagnostic(`bits/dim ${r.bitsPerDim.toFixed(3)} = L_vlb ${r.vbBpd.toFixed(3)} + prior ${r.priorBpd.toExponential(2)}; L_0 ${r.terms?.[0].toFixed(3)}; ${r.seconds} s`);
  assert.ok(r.bitsPerDim > 0 && r.priorBpd >= 0 && r.mseMean > 0, JSON.stringify(r));
  // Per image the bound is prior + Σ_t L_t; averaged over images, so is the mean.
  assert.ok(close(r.bitsPerDim, r.vbBpd + r.priorBpd), `${r.bitsPerDim} ≠ ${r.vbBpd} + ${r.priorBpd}`);
  assert.equal(r.terms?.length, T);
  // KL terms and the decoder's −log p are never negative, and they add up to L_vlb.
  assert.ok(r.terms!.every((v) => Number.isFinite(v) && v >= 0), JSON.stringify(r.terms));
  assert.ok(close(r.terms!.reduce((a, b) => a + b, 0), r.vbBpd, 1e-6));
  assert.deepEqual(out.evaluation, { model: MODEL, dataset: { kind: 'mnist', split: 'test' } });
  assert.match(lastStatus('n1')?.text ?? '', /^\d+\.\d{3} bits\/dim · 2 image\(s\) in [\d.]+ s$/);

  // The engine asked directly for the same images (test split, first 2) and noise (seed 0) agrees exactly.
  const direct = await engine.evaluate({ model: MODEL, dataset: { kind: 'mnist', split: 'test' }, count: 2 });
  assert.equal(direct.bitsPerDim, r.bitsPerDim);
  // Other images, other bits/dim: msg.split and msg.dataset choose them.
  const train = (await through({ topic: 'evaluate', split: 'train' })).payload as EvaluateResult;
  assert.notEqual(train.bitsPerDim, r.bitsPerDim);
  assert.equal(train.terms, undefined, 'per-timestep terms only when asked');
  const fashion = await through({ topic: 'evaluate', dataset: { kind: 'fashion-mnist' }, count: 1 });
  assert.deepEqual(fashion.evaluation, { model: MODEL, dataset: { kind: 'fashion-mnist', split: 'test' } });
  assert.equal((fashion.payload as EvaluateResult).count, 1);
});

test('mode "evaluate" as a setting; msg.topic "generate" still samples; refusals carry codes', async () => {
  await loadSampler(MODEL, { mode: 'evaluate', dataset: 'mnist', split: 'test', perTimestep: false });
  const a = (await through({ payload: 'go' })).payload as EvaluateResult;
  assert.ok(Number.isFinite(a.bitsPerDim) && close(a.bitsPerDim, a.vbBpd + a.priorBpd));
  const sampled = await through({ topic: 'generate', steps: 2, count: 1, seed: 1 });
  assert.ok(Buffer.isBuffer(sampled.payload), 'a PNG grid');

  const unknown = await nextCaught(() => node('n1').receive({ model: 'no-such-model' }), 'caught', 30_000);
  assert.match(unknown.message, /^No trained model named "no-such-model"/);
  assert.equal(unknown.code, 'NOT_FOUND');
  const folder = await nextCaught(() => node('n1').receive({ dataset: 'folder' }));
  assert.equal(folder.message, 'msg.dataset: must be one of mnist, fashion-mnist, not "folder"');
  assert.equal(folder.code, 'BAD_REQUEST');
  assert.equal(lastStatus('n1')?.fill, 'red');
});
