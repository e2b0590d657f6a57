/**
 * A class-conditional `tiny` model trained briefly on MNIST zeros (class 0) and ones (class 1) honours the class.
 * The check is mean-image distance: a sample asked for class c lies closer (L2) to the mean training image of
 * digit c than to that of the other digit — zeros are rings, ones are strokes, so their means differ clearly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../engine/backend';
import { loadMnist } from '../engine/data';
import { generate } from '../engine/sample/generate';
import { trainTiny, TrainedModel } from './sample-fixtures';

const DIGITS = [0, 1];
let model: TrainedModel;

before(async () => {
  await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
  model = await trainTiny({ steps: 60, batchSize: 8, digits: DIGITS, conditional: true, seed: 5 });
});
after(() => model?.unet.dispose());

/** The mean image of each digit over the first 2000 test images. */
function classMeans(): Float64Array[] {
  const data = loadMnist({ split: 'test', imageSize: 32, channels: 1, limit: 2000 });
  const batch = data.getBatch(Array.from({ length: data.size }, (_, i) => i));
  const size = 32 * 32;
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

test('class-conditional samples are closer to their own class mean image than to the other', async () => {
  const means = classMeans();
  const perClass = 4;
  const classes = [...new Array<number>(perClass).fill(0), ...new Array<number>(perClass).fill(1)];
  const r = await generate(model, { count: classes.length, batchSize: classes.length, classes, steps: 25, seed: 9 });
  assert.deepEqual(r.classes, classes);
  const size = 32 * 32;
  let correct = 0;
  const report: string[] = [];
  classes.forEach((c, i) => {
    const img = r.images.data.subarray(i * size, (i + 1) * size);
    const [own, other] = [dist(img, means[c]), dist(img, means[1 - c])];
    if (own < other) correct++;
    report.push(`class ${c}: own ${own.toFixed(1)} other ${other.toFixed(1)}`);
  });
  console.log(`${correct}/${classes.length} samples nearer their own class mean\n${report.join('\n')}`);
  assert.ok(correct >= classes.length - 1, `only ${correct}/${classes.length} samples are nearer their own class mean:\n${report.join('\n')}`);
});

test('class settings are checked against the model', async () => {
  await assert.rejects(generate(model, { count: 2, classes: 2, steps: 5 }), /class 2 is out of range; this model has classes 0 … 1/);
  await assert.rejects(generate(model, { count: 3, classes: [0, 1], steps: 5 }), /2 classes given for 3 images/);
  const r = await generate(model, { count: 6, steps: 5, seed: 1 });
  assert.equal(r.classes?.length, 6, 'random classes when none are given');
  assert.ok(r.classes!.every((c) => c === 0 || c === 1));
});
