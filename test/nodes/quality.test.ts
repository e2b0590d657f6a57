/**
 * Sample quality through the Sampler node and the real shared engine: evaluate mode generates samples on the
 * worker threads and reports the classifier's figures beside the real-image floor (msg.quality or the Quality
 * setting), generate mode measures the images it made. The figures are checked against engine/quality run here
 * on the very images the engine returns (format raw), so the engine measured what it generated; and against the
 * real-image floor's own properties (real digits of the asked classes are classified as those classes).
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { sharedEngine } from '../../engine/host/client';
import type { EvaluateResult, SampleResult } from '../../engine/host/protocol';
import { sampleQuality, type QualityReport } from '../../engine/quality';
import { helper, loadSampler, through, trainTestModel, lastStatus, modelsDir, nextCaught, node, userDir } from './helper';

const engine = sharedEngine({ modelsDir, backend: 'wasm' });
/** A small class-conditional 32×32 model (the classifiers read 32×32) and an 8×8 one they cannot read. */
const COND = 'quality-cond';
const SMALL = 'quality-8px';
const T = 50;

before(async () => {
  await helper.startServer();
  await trainTestModel(engine, COND, { imageSize: 32, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], numHeads: 1 }, 10, T);
  await trainTestModel(engine, SMALL, { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], numHeads: 1 }, null, T);
});
afterEach(() => helper.unload());
after(async () => {
  await helper.stopServer();
  await engine.close();
  rmSync(userDir, { recursive: true, force: true });
});

const CLASSES = Array.from({ length: 10 }, (_, i) => i);
const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);

/** The figures every report must satisfy by construction. */
function checkReport(q: QualityReport, n: number): void {
  assert.equal(q.dataset, 'mnist');
  assert.equal(q.samples.count, n);
  assert.equal(sum(q.samples.histogram), n);
  assert.ok(q.samples.confidentShare >= 0 && q.samples.confidentShare <= 1);
  assert.ok(Number.isFinite(q.samples.fid) && q.samples.fid > 0, `FID ${q.samples.fid}`);
  assert.ok(q.floor, 'the real-image floor is measured');
  assert.equal(q.floor!.count, n);
  // Real MNIST digits: black backgrounds exactly, and the classifier (99% test accuracy) mostly sure of them.
  assert.equal(q.floor!.borderMean, -1);
  assert.equal(q.floor!.darkBackgroundShare, 1);
}

test('evaluate + msg.quality: bits/dim and the quality of fresh samples, class i % 10, beside the real floor', async (t) => {
  await loadSampler(COND, { steps: '3', mode: 'evaluate', dataset: 'mnist', split: 'test' });
  const out = await through({ quality: { count: 10, steps: 3 } }, 120_000);
  const r = out.payload as EvaluateResult;
  assert.ok(Number.isFinite(r.bitsPerDim));
  const q = r.quality!;
  assert.ok(q, 'quality in the payload');
  checkReport(q, 10);
  assert.deepEqual(q.sampling.classes, CLASSES, 'a class-conditional model is asked for every class equally');
  assert.equal(q.sampling.steps, 3);
  assert.equal(q.sampling.seed, 0, 'evaluations repeat: seed 0 when none is set');
  assert.equal(q.samples.classAccuracy?.perClass.length, 10);
  assert.ok(q.samples.classAccuracy!.perClass.every((a) => a === 0 || a === 1), 'one sample per class: each right or wrong');
  assert.ok(q.floor!.classAccuracy!.overall >= 0.8, `real digits of the asked classes are classified as them (${q.floor!.classAccuracy!.overall})`);
  assert.ok(Buffer.isBuffer(q.png) || (q.png as unknown) instanceof Uint8Array);
  assert.deepEqual([...Buffer.from(q.png).subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
  assert.match(lastStatus('n1')?.text ?? '', /^\d+\.\d{3} bits\/dim · FID \d+ \(floor \d+\) · \d+% confident$/);
  t.diagnostic(`1-step model: FID ${q.samples.fid.toFixed(1)} vs floor ${q.floor!.fid.toFixed(1)} at n = 10; confident ${q.samples.confidentShare}`);

  // The same images asked of the generate path (same seed, classes, steps) get the same figures, and engine/quality
  // run here on the raw images the engine returns gives them too: the engine measured what it generated.
  const sampled = await engine.sample({ model: COND, count: 10, steps: 3, seed: 0, classes: CLASSES, format: 'raw', quality: true }) as SampleResult;
  assert.deepEqual(sampled.quality!.samples, q.samples);
  // (This process's TensorFlow.js backend is not the engine's wasm: the classifier's floats agree to ~1e-6.)
  const here = sampleQuality(sampled.raw!, { dataset: 'mnist', labels: CLASSES });
  for (const [mine, theirs] of [[here.samples, q.samples], [here.floor!, q.floor!]]) {
    assert.deepEqual({ ...mine, fid: 0, meanConfidence: 0 }, { ...theirs, fid: 0, meanConfidence: 0 });
    assert.ok(Math.abs(mine.fid - theirs.fid) < 1e-5 * theirs.fid, `FID ${mine.fid} vs ${theirs.fid}`);
    assert.ok(Math.abs(mine.meanConfidence - theirs.meanConfidence) < 1e-5, `${mine.meanConfidence} vs ${theirs.meanConfidence}`);
  }
});

test('the Quality setting: Samples, the node\'s Steps and Method; generate mode measures its own images', async () => {
  await loadSampler(COND, { mode: 'evaluate', quality: true, qualityCount: 4, steps: '2', method: 'ddim', seed: 5 });
  const q = ((await through({ count: 1 }, 120_000)).payload as EvaluateResult).quality!;
  checkReport(q, 4);
  assert.deepEqual({ steps: q.sampling.steps, method: q.sampling.method, seed: q.sampling.seed, classes: q.sampling.classes }, { steps: 2, method: 'ddim', seed: 5, classes: [0, 1, 2, 3] });
  const off = (await through({ count: 1, quality: false }, 120_000)).payload as EvaluateResult;
  assert.equal(off.quality, undefined, 'msg.quality false overrides the setting');

  const generated = await through({ topic: 'generate', count: 3, steps: 2, seed: 1, class: 7 }, 120_000);
  const sample = generated.sample as { quality?: QualityReport; classes?: number[] };
  assert.deepEqual(sample.classes, [7, 7, 7]);
  checkReport(sample.quality!, 3);
  assert.deepEqual(sample.quality!.samples.classAccuracy!.perClass.map((a, k) => (k === 7 ? a !== null : a === null)), CLASSES.map(() => true));
});

test('quality refusals: a model the classifiers cannot read, one image, an unknown field', async () => {
  await loadSampler(COND, { steps: '3', mode: 'generate', model: SMALL });
  const small = await nextCaught(() => node('n1').receive({ quality: true }), 'caught', 60_000);
  assert.equal(small.code, 'BAD_REQUEST');
  assert.match(small.message, /^quality: needs 32×32 images with 1 or 3 channels .* model "quality-8px" makes 8×8×1$/);
  const evaluated = await nextCaught(() => node('n1').receive({ topic: 'evaluate', count: 1, quality: { count: 2 } }), 'caught', 60_000);
  assert.match(evaluated.message, /^quality: needs 32×32 images/);
  await helper.unload();
  await loadSampler(COND, { steps: '3', mode: 'generate', count: 1 });
  const one = await nextCaught(() => node('n1').receive({ quality: true }), 'caught', 60_000);
  assert.equal(one.message, 'quality: needs at least 2 images (FID fits a covariance), not 1');
  const unknown = await nextCaught(() => node('n1').receive({ topic: 'evaluate', quality: { images: 8 } }), 'caught', 60_000);
  assert.match(unknown.message, /^quality: has unknown settings images/);
  assert.equal(unknown.code, 'BAD_REQUEST');
});
