/**
 * Datasets as the trainer sees them: a fixed number of images of one shape, optionally with class labels,
 * read by index into plain NHWC Float32Arrays in [-1, 1] (improved-diffusion's `ImageDataset.__getitem__`
 * returns the same: `arr / 127.5 - 1` and, when class-conditional, `{"y": label}`).
 */
import { ImageBatch, fromUint8, validateImageBatch } from '../image';

export interface Batch {
  /** [batch, H, W, C] images in [-1, 1], row-major NHWC. */
  x: Float32Array;
  /** Class label per image, or null for an unlabelled dataset. */
  y: Int32Array | null;
}

export interface Dataset {
  name: string;
  size: number;
  imageShape: [number, number, number];
  /** Number of classes for class-conditional training, or null when the images carry no labels. */
  numClasses: number | null;
  getBatch(indices: ArrayLike<number>): Batch;
}

/** Byte value -> [-1, 1], built once; `fromUint8` of all 256 bytes. */
const UNIT_OF_BYTE = fromUint8(Array.from({ length: 256 }, (_, p) => p));

/**
 * A dataset held in memory as N x H x W x C pixels: bytes for decoded files (a quarter of the memory of
 * floats; converted per batch), or floats for images that arrived already scaled in a message.
 */
export class ArrayDataset implements Dataset {
  readonly size: number;
  readonly numClasses: number | null;
  private readonly imageSize: number;

  constructor(
    readonly name: string,
    readonly imageShape: [number, number, number],
    private readonly pixels: Uint8Array | Float32Array,
    private readonly labels: Int32Array | null,
    numClasses?: number,
  ) {
    const [h, w, c] = imageShape;
    this.imageSize = h * w * c;
    if (pixels.length % this.imageSize !== 0) {
      throw new Error(`${name}: ${pixels.length} values are not a whole number of ${h}x${w}x${c} images`);
    }
    this.size = pixels.length / this.imageSize;
    if (labels && labels.length !== this.size) {
      throw new Error(`${name}: ${labels.length} labels for ${this.size} images`);
    }
    this.numClasses = labels ? (numClasses ?? countClasses(labels)) : null;
  }

  getBatch(indices: ArrayLike<number>): Batch {
    const d = this.imageSize;
    const x = new Float32Array(indices.length * d);
    const y = this.labels ? new Int32Array(indices.length) : null;
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      if (!Number.isInteger(i) || i < 0 || i >= this.size) {
        throw new Error(`${this.name}: index ${i} is outside 0..${this.size - 1}`);
      }
      const image = this.pixels.subarray(i * d, (i + 1) * d);
      if (image instanceof Float32Array) {
        x.set(image, j * d);
      } else {
        for (let k = 0; k < d; k++) x[j * d + k] = UNIT_OF_BYTE[image[k]];
      }
      if (y && this.labels) y[j] = this.labels[i];
    }
    return { x, y };
  }
}

/** Number of classes implied by labels 0..K−1. */
function countClasses(labels: Int32Array): number {
  let max = -1;
  for (const label of labels) max = Math.max(max, label);
  return max + 1;
}

/** Checks class labels (non-negative integers, one per image) and returns them as an Int32Array. */
export function validateLabels(labels: ArrayLike<number>, count: number): Int32Array {
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    throw new Error('labels must be an array of class numbers');
  }
  if (labels.length !== count) throw new Error(`got ${labels.length} labels for ${count} images`);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label > 1e6) {
      throw new Error(`label ${i} is ${String(label)}; labels must be class numbers 0, 1, 2, ...`);
    }
    out[i] = label;
  }
  return out;
}

/**
 * A dataset of images pushed in a message (`{ shape: [N, H, W, C], data }` in [-1, 1], validated), with
 * optional class labels; the number of classes is the largest label + 1.
 */
export function datasetFromImages(images: ImageBatch | { shape: number[]; data: Float32Array | number[] },
  labels?: ArrayLike<number> | null, name = 'images'): Dataset {
  const batch = validateImageBatch(images);
  const [n, h, w, c] = batch.shape;
  return new ArrayDataset(name, [h, w, c], batch.data, labels ? validateLabels(labels, n) : null);
}
