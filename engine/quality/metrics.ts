/**
 * Sample quality as numbers, from a classifier trained on the dataset the model learnt (engine/quality/
 * classifier.ts, shipped in models/classifiers/<dataset>/):
 *
 *  - confident share: images whose largest softmax probability is ≥ `confidence` (default 0.9): the share that
 *    look clearly like one class. Real test digits score ~0.98+, blobs and mixtures far less.
 *  - class histogram and largest class share: how the predicted classes spread (mode collapse shows as one
 *    class taking far more than 1/10).
 *  - FID: Fréchet distance (frechet.ts) between Gaussians fitted to the classifier's 128 penultimate features of
 *    the images and of a FIXED reference set, the first 5000 images of the dataset's test split (statistics
 *    computed once per process and classifier).
 *  - background: mean of the border pixels (the outer 2-pixel frame of the 32×32 image, which is exactly the
 *    padding of the 28×28 originals: −1 for every real MNIST and Fashion-MNIST image), the share of images
 *    whose border mean is below 0 (dark background), and the border noise: the std of each image's frame pixels,
 *    averaged (0 for real images; the noise a sampler leaves behind, which the classifier's figures barely see).
 *  - class accuracy, for class-conditional models: per requested class, the share of its images classified as
 *    that class (does class 7 give sevens?), and overall.
 *
 * FID is biased upward at small n (the covariance of n samples is noisy), so every report carries the
 * REAL-IMAGE FLOOR: the same figures for n real images (n = the sample count, at most 5000) drawn with a fixed
 * seed from the other half of the test split (images 5000–9999, never in the reference set); for a
 * class-conditional request, real images of the same requested classes. A model is as good as the real data
 * when its figures reach the floor's.
 */
import { Rng } from '../rng';
import { accuracy, classifyImages, CLASSIFIER_CLASSES, CLASSIFIER_IMAGE_SIZE, FEATURE_SIZE, type Classified, type DigitClassifier } from './classifier';
import { frechetDistance, gaussianStats, type GaussianStats } from './frechet';
import { checkQualityDataset, defaultClassifiersDir, loadClassifier, loadQualityDataset, type QualityDataset } from './store';

/** Default confidence threshold on the largest softmax probability. */
export const DEFAULT_CONFIDENCE = 0.9;
/** The reference set: test images [0, REFERENCE_COUNT). The floor draws from [REFERENCE_COUNT, 10000). */
export const REFERENCE_COUNT = 5000;
/** Width of the border frame whose pixels give the background figures. */
export const BORDER = 2;
const SIDE = CLASSIFIER_IMAGE_SIZE;

export interface QualityOptions {
  dataset: QualityDataset;
  /** The class asked for per image (class-conditional models): gives the class accuracy. */
  labels?: ArrayLike<number>;
  /** Threshold on the largest softmax probability for "confident" (default 0.9). */
  confidence?: number;
  /** Where the classifiers live (default the shipped models/classifiers). */
  classifiersDir?: string;
  /** Also measure the real-image floor (default true). */
  floor?: boolean;
  /** Seed of the floor's draw of real images (default 0). */
  floorSeed?: number;
}

/** The figures of one set of images. */
export interface QualityFigures {
  count: number;
  /** Share of images with max softmax ≥ the confidence threshold. */
  confidentShare: number;
  /** Mean of the max softmax probability. */
  meanConfidence: number;
  /** Number of images predicted as each class 0..9. */
  histogram: number[];
  /** The largest histogram entry over the count. */
  largestClassShare: number;
  /** FID against the reference set (128 classifier features). */
  fid: number;
  /** Mean of the border-frame pixels over all images ([−1, 1]; real data −1). */
  borderMean: number;
  /** Share of images whose border mean is below 0. */
  darkBackgroundShare: number;
  /** Mean over images of the std of their border-frame pixels (real data 0). */
  borderNoise: number;
  /** Class-conditional only: share classified as the requested class, overall and per class (null: not asked). */
  classAccuracy?: { overall: number; perClass: Array<number | null> };
}

export interface QualityReport {
  dataset: QualityDataset;
  confidence: number;
  reference: string;
  samples: QualityFigures;
  /** The same figures for real images; absent with `floor: false`. */
  floor?: QualityFigures & { source: string };
}

/** Images as the classifier reads them: NHWC in [−1, 1]. */
export interface QualityImages {
  shape: readonly number[];
  data: Float32Array | ArrayLike<number>;
}

interface Context {
  classifier: DigitClassifier;
  reference: GaussianStats;
}

const contexts = new Map<string, Context>();
const floors = new Map<string, QualityFigures & { source: string }>();

/** The classifier and reference statistics of a dataset, loaded and computed once per process. */
function context(dataset: QualityDataset, dir: string): Context {
  const key = `${dir}\0${dataset}`;
  let ctx = contexts.get(key);
  if (!ctx) {
    const classifier = loadClassifier(dataset, dir);
    const ref = loadQualityDataset(dataset, 'test');
    const batch = ref.getBatch(Array.from({ length: REFERENCE_COUNT }, (_, i) => i));
    const out = classifyImages(classifier, batch.x, REFERENCE_COUNT);
    ctx = { classifier, reference: gaussianStats(out.features, REFERENCE_COUNT, FEATURE_SIZE) };
    contexts.set(key, ctx);
  }
  return ctx;
}

/** Frees the cached classifiers and statistics. */
export function clearQualityCache(): void {
  for (const ctx of contexts.values()) ctx.classifier.dispose();
  contexts.clear();
  floors.clear();
}

/** Checks the images and returns them as 32×32 grey data (RGB is averaged to grey). */
function greyImages(images: QualityImages): { data: Float32Array; count: number } {
  const { shape, data } = images ?? ({} as QualityImages);
  if (!Array.isArray(shape) || shape.length !== 4) throw new Error(`Sample quality: images need a shape [N, 32, 32, 1], got ${JSON.stringify(shape)}`);
  const [n, h, w, c] = shape as number[];
  if (!Number.isInteger(n) || n < 2) throw new Error(`Sample quality: need at least 2 images (FID needs a covariance), got ${n}`);
  if (h !== SIDE || w !== SIDE) throw new Error(`Sample quality: the classifier reads 32×32 images, got ${h}×${w}`);
  if (c !== 1 && c !== 3) throw new Error(`Sample quality: images need 1 (grey) or 3 (RGB) channels, got ${c}`);
  if (!data || data.length !== n * h * w * c) throw new Error(`Sample quality: ${data?.length ?? 0} values for shape [${shape.join(', ')}]`);
  const grey = new Float32Array(n * h * w);
  for (let i = 0; i < grey.length; i++) {
    let v = 0;
    for (let k = 0; k < c; k++) v += data[i * c + k];
    v /= c;
    if (!(v >= -1.0001 && v <= 1.0001)) throw new Error(`Sample quality: pixel values must lie in [-1, 1]; value ${i} is ${v}`);
    grey[i] = v;
  }
  return { data: grey, count: n };
}

function checkLabels(labels: ArrayLike<number>, count: number): Int32Array {
  if (labels.length !== count) throw new Error(`Sample quality: ${labels.length} labels for ${count} images`);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= CLASSIFIER_CLASSES) throw new Error(`Sample quality: label ${i} is ${String(l)}; labels must be classes 0-9`);
    out[i] = l;
  }
  return out;
}

/**
 * Border-frame figures of `count` 32×32 grey images: the mean of the frame's pixels, the share of images whose
 * frame mean is < 0, and the mean of each image's frame std.
 */
export function backgroundFigures(data: Float32Array, count: number): { borderMean: number; darkBackgroundShare: number; borderNoise: number } {
  let total = 0;
  let dark = 0;
  let pixels = 0;
  let noise = 0;
  for (let i = 0; i < count; i++) {
    let sum = 0;
    let squares = 0;
    let m = 0;
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        if (y >= BORDER && y < SIDE - BORDER && x >= BORDER && x < SIDE - BORDER) continue;
        const v = data[i * SIDE * SIDE + y * SIDE + x];
        sum += v;
        squares += v * v;
        m++;
      }
    }
    total += sum;
    pixels = m;
    noise += Math.sqrt(Math.max(0, squares / m - (sum / m) ** 2));
    if (sum / m < 0) dark++;
  }
  return { borderMean: total / (pixels * count), darkBackgroundShare: dark / count, borderNoise: noise / count };
}

/** The figures of classified images (labels: the requested classes, for class accuracy). */
function figures(out: Classified, data: Float32Array, ctx: Context, confidence: number, labels?: Int32Array): QualityFigures {
  const n = out.count;
  const histogram = new Array<number>(CLASSIFIER_CLASSES).fill(0);
  let confident = 0;
  let confSum = 0;
  for (let i = 0; i < n; i++) {
    histogram[out.predicted[i]]++;
    const top = out.probs[i * CLASSIFIER_CLASSES + out.predicted[i]];
    confSum += top;
    if (top >= confidence) confident++;
  }
  const result: QualityFigures = {
    count: n,
    confidentShare: confident / n,
    meanConfidence: confSum / n,
    histogram,
    largestClassShare: Math.max(...histogram) / n,
    fid: frechetDistance(gaussianStats(out.features, n, FEATURE_SIZE), ctx.reference),
    ...backgroundFigures(data, n),
  };
  if (labels) {
    const perClass = Array.from({ length: CLASSIFIER_CLASSES }, (_, k) => {
      const asked = labels.reduce((a, l) => a + (l === k ? 1 : 0), 0);
      if (asked === 0) return null;
      let right = 0;
      for (let i = 0; i < n; i++) if (labels[i] === k && out.predicted[i] === k) right++;
      return right / asked;
    });
    result.classAccuracy = { overall: accuracy(out.predicted, labels), perClass };
  }
  return result;
}

/**
 * The real-image floor: n test images from [REFERENCE_COUNT, end of the test split) drawn without replacement
 * with `seed` (at most the ~5000 the pool has); for labels, per image a real image of that class, each class's
 * pool shuffled and taken in turn (repeating only once a class's ~500 images are used up).
 */
function realFloor(dataset: QualityDataset, dir: string, ctx: Context, n: number, confidence: number, seed: number, labels?: Int32Array): QualityFigures & { source: string } {
  const key = `${dir}\0${dataset}\0${n}\0${confidence}\0${seed}\0${labels ? labels.join(',') : ''}`;
  const hit = floors.get(key);
  if (hit) return hit;
  const test = loadQualityDataset(dataset, 'test');
  const pool = Array.from({ length: test.size - REFERENCE_COUNT }, (_, i) => REFERENCE_COUNT + i);
  const all = test.getBatch(pool);
  const rng = new Rng(seed).fork('floor');
  const shuffle = (a: number[]): number[] => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  };
  let picked: number[];
  if (labels) {
    const byClass = Array.from({ length: CLASSIFIER_CLASSES }, (_, k) => shuffle(pool.map((_, j) => j).filter((j) => all.y![j] === k)));
    const next = new Array<number>(CLASSIFIER_CLASSES).fill(0);
    picked = Array.from(labels, (k) => byClass[k][next[k]++ % byClass[k].length]);
  } else {
    picked = shuffle(pool.map((_, j) => j)).slice(0, n);
  }
  const d = SIDE * SIDE;
  const data = new Float32Array(picked.length * d);
  picked.forEach((j, i) => data.set(all.x.subarray(j * d, (j + 1) * d), i * d));
  const out = classifyImages(ctx.classifier, data, picked.length);
  const floor = { ...figures(out, data, ctx, confidence, labels), source: `${picked.length} real ${dataset} test images from ${REFERENCE_COUNT}-${test.size - 1} (seed ${seed})` };
  floors.set(key, floor);
  return floor;
}

/**
 * The quality figures of generated images (shape [N, 32, 32, 1] or [N, 32, 32, 3], values in [−1, 1]), with
 * the real-image floor beside them. See the file comment for what each figure means.
 */
export function sampleQuality(images: QualityImages, options: QualityOptions): QualityReport {
  const dataset = checkQualityDataset(options?.dataset);
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  if (typeof confidence !== 'number' || !(confidence > 0 && confidence <= 1)) throw new Error(`Sample quality: confidence must be in (0, 1], got ${String(confidence)}`);
  const dir = options.classifiersDir ?? defaultClassifiersDir();
  const { data, count } = greyImages(images);
  const labels = options.labels ? checkLabels(options.labels, count) : undefined;
  const ctx = context(dataset, dir);
  const samples = figures(classifyImages(ctx.classifier, data, count), data, ctx, confidence, labels);
  const report: QualityReport = { dataset, confidence, reference: `first ${REFERENCE_COUNT} ${dataset} test images`, samples };
  if (options.floor ?? true) {
    report.floor = realFloor(dataset, dir, ctx, count, confidence, options.floorSeed ?? 0, labels);
  }
  return report;
}
