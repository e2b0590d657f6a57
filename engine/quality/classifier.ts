/**
 * The small digit/clothing classifier that sample quality is measured with (the role Inception-v3 plays for
 * FID on natural images, Heusel et al. 2017): a plain CNN on the images exactly as the engine's datasets give
 * them to models, 32×32×1 in [−1, 1].
 *
 *   conv 3×3 1→16, ReLU, max-pool 2   → 16×16×16
 *   conv 3×3 16→32, ReLU, max-pool 2  → 8×8×32
 *   conv 3×3 32→64, ReLU, max-pool 2  → 4×4×64
 *   flatten 1024 → dense 128, ReLU    → the FEATURES (penultimate layer, what FID compares)
 *   dense 128 → 10                    → logits
 *
 * ~156k parameters. Weights are plain tensors (NHWC activations, HWIO filters, [in, out] dense matrices) stored
 * as safetensors under the names of CLASSIFIER_SHAPES; initialisation (He-normal, zero biases) draws from the
 * engine's seedable Rng, so a training run is reproducible.
 */
import { tf } from '../tf';
import { Rng } from '../rng';
import { parseSafetensorsWithMetadata, writeSafetensors, type SafeTensor } from '../safetensors';

/** Image side and channels the classifier reads. */
export const CLASSIFIER_IMAGE_SIZE = 32;
export const CLASSIFIER_CHANNELS = 1;
export const CLASSIFIER_CLASSES = 10;
/** Width of the penultimate (feature) layer. */
export const FEATURE_SIZE = 128;

/** Every parameter, in forward order, with its shape. */
export const CLASSIFIER_SHAPES: ReadonlyArray<readonly [string, readonly number[]]> = [
  ['conv1.weight', [3, 3, 1, 16]], ['conv1.bias', [16]],
  ['conv2.weight', [3, 3, 16, 32]], ['conv2.bias', [32]],
  ['conv3.weight', [3, 3, 32, 64]], ['conv3.bias', [64]],
  ['features.weight', [1024, FEATURE_SIZE]], ['features.bias', [FEATURE_SIZE]],
  ['logits.weight', [FEATURE_SIZE, CLASSIFIER_CLASSES]], ['logits.bias', [CLASSIFIER_CLASSES]],
];

/** A human-readable architecture line for the model card. */
export const CLASSIFIER_ARCHITECTURE =
  'input 32x32x1 in [-1,1]; conv3x3 16 relu maxpool2; conv3x3 32 relu maxpool2; conv3x3 64 relu maxpool2; ' +
  `flatten 1024; dense ${FEATURE_SIZE} relu (features); dense 10 (logits)`;

export interface ClassifierOutput {
  /** [N, FEATURE_SIZE] penultimate activations (after ReLU). */
  features: tf.Tensor2D;
  /** [N, 10] class logits. */
  logits: tf.Tensor2D;
}

export class DigitClassifier {
  private constructor(private readonly vars: Map<string, tf.Variable>) {}

  /** Fresh He-normal weights and zero biases from `seed`. */
  static initialise(seed: number): DigitClassifier {
    const rng = new Rng(seed).fork('classifier-init');
    const vars = new Map<string, tf.Variable>();
    for (const [name, shape] of CLASSIFIER_SHAPES) {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      if (name.endsWith('.weight')) {
        const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const std = Math.sqrt(2 / fanIn);
        for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
      }
      vars.set(name, tf.tidy(() => tf.variable(tf.tensor(data, [...shape]), true)));
    }
    return new DigitClassifier(vars);
  }

  /** Loads weights written by `toSafetensors`; every tensor must be present with its shape. */
  static fromSafetensors(buf: Uint8Array, source = 'classifier weights'): DigitClassifier {
    const { tensors } = parseSafetensorsWithMetadata(buf);
    const vars = new Map<string, tf.Variable>();
    for (const [name, shape] of CLASSIFIER_SHAPES) {
      const t = tensors.get(name);
      if (!t) throw new Error(`${source}: tensor "${name}" is missing`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${source}: tensor "${name}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`);
      }
      if (!(t.data instanceof Float32Array)) throw new Error(`${source}: tensor "${name}" is ${t.dtype}, expected F32 or F16`);
      const data = t.data;
      vars.set(name, tf.tidy(() => tf.variable(tf.tensor(data, [...shape]), false)));
    }
    return new DigitClassifier(vars);
  }

  /** The trainable variables (for an optimizer). */
  variables(): tf.Variable[] {
    return [...this.vars.values()];
  }

  private v(name: string): tf.Tensor {
    const t = this.vars.get(name);
    if (!t) throw new Error(`classifier has no parameter ${name}`);
    return t;
  }

  /** Features and logits of a batch x [N, 32, 32, 1]. */
  apply(x: tf.Tensor4D): ClassifierOutput {
    return tf.tidy(() => {
      let h: tf.Tensor4D = x;
      for (const layer of ['conv1', 'conv2', 'conv3']) {
        const conv = tf.conv2d(h, this.v(`${layer}.weight`) as tf.Tensor4D, 1, 'same');
        h = tf.maxPool(tf.relu(tf.add(conv, this.v(`${layer}.bias`))) as tf.Tensor4D, 2, 2, 'valid');
      }
      const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
      const features = tf.relu(tf.add(tf.matMul(flat, this.v('features.weight') as tf.Tensor2D), this.v('features.bias'))) as tf.Tensor2D;
      const logits = tf.add(tf.matMul(features, this.v('logits.weight') as tf.Tensor2D), this.v('logits.bias')) as tf.Tensor2D;
      return { features, logits };
    });
  }

  /** The weights as safetensors (F16 halves the file; F32 keeps them exactly). */
  toSafetensors(dtype: 'F16' | 'F32', metadata?: Record<string, string>): Buffer {
    const tensors = new Map<string, SafeTensor>();
    for (const [name, shape] of CLASSIFIER_SHAPES) {
      tensors.set(name, { dtype, shape: [...shape], data: this.v(name).dataSync() as Float32Array });
    }
    return writeSafetensors(tensors, metadata);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** Per-image outputs of the classifier, on the JS side. */
export interface Classified {
  count: number;
  /** [count × FEATURE_SIZE] row-major penultimate features, float64 for the statistics. */
  features: Float64Array;
  /** [count × 10] softmax probabilities. */
  probs: Float64Array;
  /** The argmax class of each image. */
  predicted: Int32Array;
}

/**
 * Runs the classifier over images {shape [N, 32, 32, 1], data in [−1, 1]} in batches, returning features,
 * probabilities and predicted classes.
 */
export function classifyImages(classifier: DigitClassifier, data: Float32Array, count: number, batchSize = 256): Classified {
  const d = CLASSIFIER_IMAGE_SIZE * CLASSIFIER_IMAGE_SIZE * CLASSIFIER_CHANNELS;
  if (data.length !== count * d) throw new Error(`classifyImages: ${data.length} values are not ${count} images of 32x32x1`);
  const features = new Float64Array(count * FEATURE_SIZE);
  const probs = new Float64Array(count * CLASSIFIER_CLASSES);
  const predicted = new Int32Array(count);
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const x = tf.tensor4d(data.subarray(start * d, (start + n) * d), [n, CLASSIFIER_IMAGE_SIZE, CLASSIFIER_IMAGE_SIZE, CLASSIFIER_CHANNELS]);
    const out = classifier.apply(x);
    const p = tf.softmax(out.logits);
    features.set(out.features.dataSync(), start * FEATURE_SIZE);
    const pd = p.dataSync();
    probs.set(pd, start * CLASSIFIER_CLASSES);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < CLASSIFIER_CLASSES; k++) if (pd[i * CLASSIFIER_CLASSES + k] > pd[i * CLASSIFIER_CLASSES + best]) best = k;
      predicted[start + i] = best;
    }
    tf.dispose([x, out.features, out.logits, p]);
  }
  return { count, features, probs, predicted };
}

/** Share of images whose predicted class equals its label. */
export function accuracy(predicted: Int32Array, labels: ArrayLike<number>): number {
  if (predicted.length !== labels.length) throw new Error(`accuracy: ${predicted.length} predictions for ${labels.length} labels`);
  let right = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) right++;
  return predicted.length === 0 ? 0 : right / predicted.length;
}
