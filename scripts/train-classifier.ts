/**
 * `npm run train-classifier -- --dataset mnist|fashion-mnist [--epochs 3] [--batch 64] [--lr 0.001] [--seed 0]
 *  [--dtype F16] [--out models/classifiers] [--limit N]`: trains the sample-quality classifier of
 * engine/quality/classifier.ts with this project's engine (TensorFlow.js on the wasm backend with our gradient
 * kernels, Adam), on the train split exactly as models see it (32×32×1 in [−1, 1]), then measures it on the full
 * 10 000-image test split with the weights as stored (rounded to F16 by default) and writes
 * `<out>/<dataset>/weights.safetensors` and `card.json`.
 *
 * Reproducible: the initial weights and the batch order come from the engine's Rng seeded with --seed; the same
 * seed on the same backend gives the same weights.
 */
import { join } from 'node:path';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { Rng } from '../engine/rng';
import { CLASSIFIER_ARCHITECTURE, CLASSIFIER_SHAPES, DigitClassifier, accuracy, classifyImages } from '../engine/quality/classifier';
import { checkQualityDataset, loadQualityDataset, saveClassifier, type ClassifierCard } from '../engine/quality/store';
import type { Dataset } from '../engine/data';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

function numberArg(name: string, fallback: number, integer = true): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}`);
  return v;
}

/** A fresh random order of 0..n-1 (Fisher–Yates). */
function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

function testAccuracy(classifier: DigitClassifier, test: Dataset): number {
  const all = Array.from({ length: test.size }, (_, i) => i);
  const batch = test.getBatch(all);
  return accuracy(classifyImages(classifier, batch.x, test.size).predicted, batch.y!);
}

async function main(): Promise<void> {
  const dataset = checkQualityDataset(arg('dataset', 'mnist'));
  const epochs = numberArg('epochs', 3);
  const batchSize = numberArg('batch', 64);
  const lr = numberArg('lr', 1e-3, false);
  const seed = Number(arg('seed', '0'));
  const dtype = arg('dtype', 'F16');
  if (dtype !== 'F16' && dtype !== 'F32') throw new Error('--dtype must be F16 or F32');
  const out = arg('out', join(__dirname, '..', 'models', 'classifiers'));
  const limit = process.argv.includes('--limit') ? numberArg('limit', 1) : undefined;

  const backend = await initBackend('wasm');
  const train = loadQualityDataset(dataset, 'train', limit);
  const test = loadQualityDataset(dataset, 'test');
  console.log(`training the ${dataset} classifier on ${backend.name}: ${train.size} images, ${epochs} epochs of batch ${batchSize}, lr ${lr}, seed ${seed}`);

  const classifier = DigitClassifier.initialise(seed);
  const optimizer = tf.train.adam(lr);
  const order = new Rng(seed).fork('batches');
  const stepsPerEpoch = Math.floor(train.size / batchSize);
  const started = Date.now();
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const perm = permutation(train.size, order);
    let lossSum = 0;
    for (let s = 0; s < stepsPerEpoch; s++, step++) {
      const batch = train.getBatch(perm.subarray(s * batchSize, (s + 1) * batchSize));
      const x = tf.tensor4d(batch.x, [batchSize, 32, 32, 1]);
      const y = tf.oneHot(tf.tensor1d(batch.y!, 'int32'), 10);
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, classifier.apply(x).logits) as tf.Scalar, true, classifier.variables());
      lossSum += loss!.dataSync()[0];
      tf.dispose([x, y, loss!]);
      if ((s + 1) % 100 === 0) {
        console.log(`epoch ${epoch + 1} step ${s + 1}/${stepsPerEpoch}  loss ${(lossSum / 100).toFixed(4)}  ${((Date.now() - started) / 1000).toFixed(0)} s`);
        lossSum = 0;
      }
    }
    console.log(`epoch ${epoch + 1}: test accuracy ${(100 * testAccuracy(classifier, test)).toFixed(2)}%`);
  }
  const seconds = Math.round((Date.now() - started) / 1000);

  // The card's accuracy is that of the weights as shipped (after rounding to the stored precision).
  const weights = classifier.toSafetensors(dtype, { dataset, seed: String(seed), architecture: CLASSIFIER_ARCHITECTURE });
  classifier.dispose();
  optimizer.dispose();
  const stored = DigitClassifier.fromSafetensors(weights);
  const acc = testAccuracy(stored, test);
  stored.dispose();
  const card: ClassifierCard = {
    dataset,
    architecture: CLASSIFIER_ARCHITECTURE,
    parameters: CLASSIFIER_SHAPES.reduce((a, [, shape]) => a + shape.reduce((p, d) => p * d, 1), 0),
    dtype,
    seed,
    training: { steps: step, batchSize, epochs, lr, optimizer: 'adam (tf.train.adam, default betas)', backend: backend.name, seconds },
    testAccuracy: Math.round(acc * 1e4) / 1e4,
    testImages: test.size,
    date: new Date().toISOString(),
  };
  const dir = saveClassifier(out, card, weights);
  console.log(`test accuracy ${(100 * acc).toFixed(2)}% on ${test.size} images (stored ${dtype} weights, ${weights.length} bytes) → ${dir}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
