/**
 * A class-conditional tiny model trained briefly on MNIST zeros (class 0) and ones (class 1) honours the class.
 * The check is mean-image distance, paired: image i gets the same x_T (and noise) whatever its class (noise is
 * drawn per seed and index), so the sample for class 1 minus the sample for class 0 is the class's effect alone.
 * That difference must point from the mean "0" towards the mean "1" (positive dot product with m₁ − m₀):
 * the class-1 sample is nearer m₁ and further from m₀ than its class-0 twin. Zeros are rings and ones strokes,
 * so m₁ − m₀ is a clear direction. (After a few dozen steps the samples themselves are still rough, so
 * "nearest class mean" for unpaired samples is logged but not asserted.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../engine/backend';
import { loadMnist } from '../engine/data';
import { generate } from '../engine/sample/generate';
import { trainTiny, TrainedModel } from './sample-fixtures';

const DIGITS = [0, 1];
const SIZE = 16;
let model: TrainedModel;

before(async () => {
  await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
  // The tiny preset shrunk to 16×16, two levels, no attention: ~4x cheaper per step, so 120 steps fit the test.
  model = await trainTiny({
    steps: 120, batchSize: 4, lr: 4e-3, digits: DIGITS, conditional: true, seed: 5,
    config: { imageSize: SIZE, channelMult: [1, 2], attentionResolutions: [] },
  });
});
after(() => model?.unet.dispose());

/** The mean image of each digit over the first 2000 test images. */
function classMeans(): Float64Array[] {
  const data = loadMnist({ split: 'test', imageSize: SIZE, channels: 1, limit: 2000 });
  const batch = data.getBatch(Array.from({ length: data.size }, (_, i) => i));
  const size = SIZE * SIZE;
  return DIGITS.map((digit) => {
    const mean = new Float64Array(size);
    let n = 0;
    batch.y!.forEach((label, i) => {
      if (label !== digit) return;
      n++;
      for (let j = 0; j < size; j++) mean[j] += batch.x[i * size + j];
    });
    return mean.map((v) => v / n);
  });
}

const dist = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
};

test('class-conditional samples move towards their class mean image (paired by seed)', async () => {
  const means = classMeans();
  const direction = means[1].map((v, j) => v - means[0][j]);
  const n = 4;
  const sample = (c: number) => generate(model, { count: n, batchSize: n, classes: c, steps: 'ddim20', method: 'ddim', seed: 9 });
  const [s0, s1] = [await sample(0), await sample(1)];
  const size = SIZE * SIZE;
  const report: string[] = [];
  let nearest = 0;
  for (let i = 0; i < n; i++) {
    const a = s0.images.data.subarray(i * size, (i + 1) * size);
    const b = s1.images.data.subarray(i * size, (i + 1) * size);
    let dot = 0;
    for (let j = 0; j < size; j++) dot += (b[j] - a[j]) * direction[j];
    nearest += Number(dist(a, means[0]) < dist(a, means[1])) + Number(dist(b, means[1]) < dist(b, means[0]));
    report.push(`pair ${i}: (s1 − s0)·(m1 − m0) = ${dot.toFixed(2)}; class 0 sample to m0 ${dist(a, means[0]).toFixed(1)} / m1 ${dist(a, means[1]).toFixed(1)}; class 1 sample to m0 ${dist(b, means[0]).toFixed(1)} / m1 ${dist(b, means[1]).toFixed(1)}`);
    assert.ok(dot > 0, `pair ${i}: the class-1 sample is not moved towards the mean "1":\n${report.join('\n')}`);
  }
  console.log(`${report.join('\n')}\n${nearest}/${2 * n} samples nearest their own class mean`);
});

test('class settings are checked against the model', async () => {
  await assert.rejects(generate(model, { count: 2, classes: 2, steps: 5 }), /class: must be a class of this model, 0 … 1, not 2/);
  await assert.rejects(generate(model, { count: 3, classes: [0, 1], steps: 5 }), /class: has 2 classes for 3 images/);
  const r = await generate(model, { count: 6, steps: 5, seed: 1 });
  assert.equal(r.classes?.length, 6, 'random classes when none are given');
  assert.ok(r.classes!.every((c) => c === 0 || c === 1));
});
