/**
 * Sample quality (engine/quality): the Fréchet distance against closed forms, the shipped classifiers against
 * their cards and a re-measured test subset, the figures of real, noisy and inverted images, the class accuracy,
 * and evaluateSampleQuality end to end on a real (untrained) UNet through the engine's sampler.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../engine/backend';
import { Rng } from '../../engine/rng';
import { UNet } from '../../engine/unet/model';
import { PRESETS } from '../../engine/unet/presets';
import { generate, type GenerateOptions } from '../../engine/sample/generate';
import {
  accuracy, classifyImages, clearQualityCache, defaultClassifiersDir, evaluateSampleQuality, frechetDistance, gaussianStats,
  loadClassifier, readClassifierCard, sampleQuality, traceSqrtProduct, CLASSIFIER_ARCHITECTURE,
} from '../../engine/quality';
import { CLASSIFIER_SHAPES } from '../../engine/quality/classifier';
import { loadQualityDataset } from '../../engine/quality/store';
import { tinyPipeline } from '../sample-fixtures';

before(async () => {
  await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
});
after(() => clearQualityCache());

const close = (actual: number, expected: number, tol: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tolerance ${tol})`);

/** A random d×d rotation (Gram–Schmidt of a Gaussian matrix), row-major. */
function rotation(d: number, rng: Rng): number[][] {
  const rows: number[][] = [];
  while (rows.length < d) {
    const v = Array.from({ length: d }, () => rng.normal());
    for (const r of rows) {
      const dot = r.reduce((a, x, i) => a + x * v[i], 0);
      r.forEach((x, i) => { v[i] -= dot * x; });
    }
    const norm = Math.hypot(...v);
    rows.push(v.map((x) => x / norm));
  }
  return rows;
}

/** R diag(s) Rᵀ, row-major. */
function rotated(r: number[][], s: number[]): Float64Array {
  const d = s.length;
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) out[i * d + j] += r[i][k] * s[k] * r[j][k];
  return out;
}

test('Fréchet distance: a known 2×2 case with non-commuting covariances', () => {
  // For 2×2 PSD M, Tr √M = √(tr M + 2√det M); here M ~ C1 C2 = [[2, 2], [1, 2]]: tr 4, det 2·1 = 2.
  const a = { dim: 2, mean: Float64Array.of(0, 0), cov: Float64Array.of(2, 0, 0, 1) };
  const b = { dim: 2, mean: Float64Array.of(1, 2), cov: Float64Array.of(1, 1, 1, 2) };
  const expected = 5 + 6 - 2 * Math.sqrt(4 + 2 * Math.sqrt(2));
  close(frechetDistance(a, b), expected, 1e-12, 'FID');
  close(frechetDistance(b, a), expected, 1e-12, 'FID swapped');
  close(traceSqrtProduct(b.cov, a.cov, 2), Math.sqrt(4 + 2 * Math.sqrt(2)), 1e-12, 'Tr sqrt(C2 C1)');
});

test('Fréchet distance: commuting covariances against the closed form ‖Δμ‖² + Σ(√a − √b)²', () => {
  const rng = new Rng(3);
  const d = 6;
  const r = rotation(d, rng);
  const va = [0.5, 1, 2, 3, 0.1, 4];
  const vb = [2, 1, 0.5, 0.2, 0.3, 1];
  const ma = Float64Array.from({ length: d }, () => rng.normal());
  const mb = Float64Array.from({ length: d }, () => rng.normal());
  const closed = ma.reduce((s, m, i) => s + (m - mb[i]) ** 2, 0) + va.reduce((s, v, i) => s + (Math.sqrt(v) - Math.sqrt(vb[i])) ** 2, 0);
  close(frechetDistance({ dim: d, mean: ma, cov: rotated(r, va) }, { dim: d, mean: mb, cov: rotated(r, vb) }), closed, 1e-9, 'exact FID');

  // Samples of the two Gaussians: x = μ + R diag(√v) z; the sample FID approaches the closed form.
  const n = 20000;
  const draw = (mean: Float64Array, v: number[]): Float64Array => {
    const out = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      const z = v.map((x) => Math.sqrt(x) * rng.normal());
      for (let j = 0; j < d; j++) out[i * d + j] = mean[j] + r[j].reduce((s, x, k) => s + x * z[k], 0);
    }
    return out;
  };
  const xa = draw(ma, va);
  const fid = frechetDistance(gaussianStats(xa, n, d), gaussianStats(draw(mb, vb), n, d));
  close(fid, closed, 0.03 * closed, 'sample FID');

  // FID(X, X) = 0, and the order of the vectors does not matter.
  assert.equal(frechetDistance(gaussianStats(xa, n, d), gaussianStats(xa, n, d)), 0);
  const perm = Array.from({ length: n }, (_, i) => i).sort(() => rng.next() - 0.5);
  const shuffled = new Float64Array(n * d);
  perm.forEach((p, i) => shuffled.set(xa.subarray(p * d, (p + 1) * d), i * d));
  const sa = gaussianStats(xa, n, d);
  const sb = gaussianStats(draw(mb, vb), n, d);
  close(frechetDistance(gaussianStats(shuffled, n, d), sb), frechetDistance(sa, sb), 1e-9, 'FID of reordered vectors');
});

test('gaussianStats: mean and unbiased covariance; bad input is refused', () => {
  const s = gaussianStats([1, 2, 3, 6, 5, 4], 3, 2);
  assert.deepEqual([...s.mean], [3, 4]);
  // Centred rows (−2,−2), (0,2), (2,0): Σ xxᵀ = [[8,4],[4,8]], over n − 1 = 2.
  assert.deepEqual([...s.cov], [4, 2, 2, 4]);
  assert.throws(() => gaussianStats([1, 2], 1, 2), /at least 2 vectors/);
  assert.throws(() => gaussianStats([1, 2, 3], 2, 2), /not 2 vectors of 2/);
});

for (const [dataset, floor] of [['mnist', 0.98], ['fashion-mnist', 0.88]] as const) {
  test(`${dataset} classifier: card (accuracy ≥ ${floor} on 10k test images) and a re-measured test subset`, () => {
    const card = readClassifierCard(dataset);
    assert.equal(card.dataset, dataset);
    assert.equal(card.architecture, CLASSIFIER_ARCHITECTURE);
    assert.equal(card.testImages, 10000);
    assert.ok(card.testAccuracy >= floor, `card accuracy ${card.testAccuracy}`);
    assert.equal(card.parameters, CLASSIFIER_SHAPES.reduce((a, [, s]) => a + s.reduce((p, x) => p * x, 1), 0));
    assert.ok(fs.statSync(path.join(defaultClassifiersDir(), dataset, 'weights.safetensors')).size < 1_000_000);
    // The last 2000 test images (the floor's pool, never the reference set).
    const test = loadQualityDataset(dataset, 'test');
    const batch = test.getBatch(Array.from({ length: 2000 }, (_, i) => test.size - 2000 + i));
    const classifier = loadClassifier(dataset);
    try {
      const measured = accuracy(classifyImages(classifier, batch.x, 2000).predicted, batch.y!);
      assert.ok(measured >= floor, `re-measured accuracy ${measured}`);
      close(measured, card.testAccuracy, 0.02, 'subset vs card accuracy');
    } finally {
      classifier.dispose();
    }
  });
}

/** n MNIST train images (never in the test-split reference or floor) with their labels. */
function trainImages(n: number): { images: { shape: number[]; data: Float32Array }; labels: number[] } {
  const data = loadQualityDataset('mnist', 'train', n);
  const batch = data.getBatch(Array.from({ length: n }, (_, i) => i));
  return { images: { shape: [n, 32, 32, 1], data: batch.x }, labels: [...batch.y!] };
}

test('sampleQuality: real digits score like the floor; noise and inverted digits do not', () => {
  const n = 200;
  const { images } = trainImages(n);
  const real = sampleQuality(images, { dataset: 'mnist' });
  const floor = real.floor!;
  assert.equal(floor.count, n);
  assert.match(floor.source, /200 real mnist test images from 5000-9999/);
  assert.ok(floor.confidentShare > 0.9 && real.samples.confidentShare > 0.9, `confident ${real.samples.confidentShare} / floor ${floor.confidentShare}`);
  assert.equal(floor.borderMean, -1);
  assert.equal(real.samples.borderMean, -1);
  assert.equal(real.samples.darkBackgroundShare, 1);
  assert.equal(real.samples.borderNoise, 0, 'a real digit\'s frame is all −1');
  assert.equal(real.samples.histogram.reduce((a, b) => a + b, 0), n);
  assert.ok(real.samples.largestClassShare < 0.2);
  // Train digits are as real as test digits: their FID is within a factor of the floor's.
  assert.ok(real.samples.fid < 2 * floor.fid + 1, `real FID ${real.samples.fid} vs floor ${floor.fid}`);

  const rng = new Rng(1);
  const noise = sampleQuality({ shape: [n, 32, 32, 1], data: Float32Array.from(images.data, () => Math.max(-1, Math.min(1, rng.normal()))) }, { dataset: 'mnist' });
  assert.ok(noise.samples.fid > 10 * floor.fid, `noise FID ${noise.samples.fid} vs floor ${floor.fid}`);
  assert.ok(Math.abs(noise.samples.borderMean) < 0.05);
  // N(0, 1) clipped to [−1, 1] has variance P(|z| < 1) − 2φ(1) + P(|z| > 1) = 0.516, std 0.718.
  assert.ok(Math.abs(noise.samples.borderNoise - 0.718) < 0.03, `border noise ${noise.samples.borderNoise}`);
  assert.deepEqual(noise.floor, floor, 'the floor depends only on n and the seed');

  const inverted = sampleQuality({ shape: [n, 32, 32, 1], data: images.data.map((v) => -v) }, { dataset: 'mnist', floor: false });
  assert.equal(inverted.floor, undefined);
  assert.equal(inverted.samples.borderMean, 1);
  assert.equal(inverted.samples.darkBackgroundShare, 0);
  assert.equal(inverted.samples.borderNoise, 0);
  assert.ok(inverted.samples.fid > 10 * floor.fid);

  // The same images in another order give the same figures.
  const order = Array.from({ length: n }, (_, i) => (i * 37) % n);
  const d = 32 * 32;
  const reordered = new Float32Array(images.data.length);
  order.forEach((j, i) => reordered.set(images.data.subarray(j * d, (j + 1) * d), i * d));
  const again = sampleQuality({ shape: images.shape, data: reordered }, { dataset: 'mnist', floor: false });
  close(again.samples.fid, real.samples.fid, 1e-6, 'FID of reordered images');
  assert.deepEqual(again.samples.histogram, real.samples.histogram);
});

test('sampleQuality: class accuracy counts samples classified as the requested class', () => {
  const n = 100;
  const { images, labels } = trainImages(n);
  const right = sampleQuality(images, { dataset: 'mnist', labels });
  assert.ok(right.samples.classAccuracy!.overall > 0.95);
  // The floor draws real images of the requested classes, so it is right as often as the classifier is.
  assert.ok(right.floor!.classAccuracy!.overall > 0.95);
  const wrong = sampleQuality(images, { dataset: 'mnist', labels: labels.map((l) => (l + 1) % 10), floor: false });
  assert.ok(wrong.samples.classAccuracy!.overall < 0.05);
  // Only classes 3 and 5 asked for: the other classes are null.
  const picked = [...Array(n).keys()].filter((i) => labels[i] === 3 || labels[i] === 5);
  const sub = new Float32Array(picked.length * 1024);
  picked.forEach((j, i) => sub.set(images.data.subarray(j * 1024, (j + 1) * 1024), i * 1024));
  const some = sampleQuality({ shape: [picked.length, 32, 32, 1], data: sub }, { dataset: 'mnist', labels: picked.map((i) => labels[i]) });
  some.samples.classAccuracy!.perClass.forEach((a, k) => assert.equal(a === null, k !== 3 && k !== 5, `class ${k}: ${a}`));
  const floorHits = some.floor!.histogram[3] + some.floor!.histogram[5];
  assert.ok(floorHits >= 0.9 * picked.length, `floor: ${floorHits} of ${picked.length} classified as 3 or 5`);
});

test('sampleQuality: bad input says what is wrong', () => {
  const ok = { shape: [2, 32, 32, 1], data: new Float32Array(2048) };
  assert.throws(() => sampleQuality(ok, { dataset: 'cifar' as never }), /unknown dataset "cifar"/);
  assert.throws(() => sampleQuality({ shape: [2, 28, 28, 1], data: new Float32Array(2 * 784) }, { dataset: 'mnist' }), /32×32/);
  assert.throws(() => sampleQuality({ shape: [2, 32, 32, 1], data: new Float32Array(10) }, { dataset: 'mnist' }), /10 values for shape/);
  assert.throws(() => sampleQuality({ shape: [2, 32, 32, 1], data: new Float32Array(2048).fill(2) }, { dataset: 'mnist' }), /\[-1, 1\]/);
  assert.throws(() => sampleQuality(ok, { dataset: 'mnist', labels: [1] }), /1 labels for 2 images/);
  assert.throws(() => sampleQuality(ok, { dataset: 'mnist', labels: [1, 12] }), /classes 0-9/);
  assert.throws(() => sampleQuality(ok, { dataset: 'mnist', confidence: 1.5 }), /confidence/);
});

test('evaluateSampleQuality: generates with classes i % numClasses through the given sampler and measures them', async () => {
  const unet = UNet.create({ ...PRESETS.tiny, channelMult: [1, 2], attentionResolutions: [], numClasses: 3 }, 7);
  const model = { unet, pipeline: tinyPipeline(3, 100), imageSize: 32, channels: 1, numClasses: 3 };
  const asked: GenerateOptions[] = [];
  try {
    const result = await evaluateSampleQuality(model, {
      dataset: 'fashion-mnist', count: 5, steps: 2, seed: 4,
      generator: (m, o, h) => { asked.push(o); return generate(m, o, h); },
    });
    assert.deepEqual(asked[0].classes, [0, 1, 2, 0, 1]);
    assert.deepEqual(result.sampling.classes, [0, 1, 2, 0, 1]);
    assert.equal(result.sampling.steps, 2);
    assert.deepEqual(result.images.shape, [5, 32, 32, 1]);
    assert.equal(result.dataset, 'fashion-mnist');
    const direct = sampleQuality(result.images, { dataset: 'fashion-mnist', labels: [0, 1, 2, 0, 1] });
    assert.deepEqual(result.samples, direct.samples);
    assert.deepEqual(result.samples.classAccuracy!.perClass.slice(3), new Array(7).fill(null));
    // Untrained: far from real clothes; the floor (5 real images of classes 0, 1, 2, 0, 1) is not.
    assert.ok(result.samples.fid > result.floor!.fid, `${result.samples.fid} vs ${result.floor!.fid}`);
    await assert.rejects(evaluateSampleQuality({ ...model, imageSize: 28 }, { dataset: 'mnist', count: 2 }), /32×32/);
  } finally {
    unet.dispose();
  }
});
