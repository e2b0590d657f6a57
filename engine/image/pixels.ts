/**
 * Images as plain typed arrays: the `{ shape: [N, H, W, C], data }` form that crosses messages and worker
 * threads (tensors never leave the engine), the pixel <-> [-1, 1] scaling of the reference, and validation.
 *
 * Scaling follows improved-diffusion: `image_datasets.py` loads `arr.astype(np.float32) / 127.5 - 1`
 * (float32 arithmetic), and `image_sample.py` writes `((x + 1) * 127.5).clamp(0, 255).to(uint8)`.
 */
import { isTypedArrayOf } from '../spec';

/** A batch of images, NHWC, values in [-1, 1]. */
export interface ImageBatch {
  shape: [number, number, number, number];
  data: Float32Array;
}

/**
 * Size limits for anything decoded or accepted from a message, so a bad request fails with a clear error
 * instead of exhausting the engine's memory.
 */
export const IMAGE_LIMITS = {
  /** Largest height or width in pixels, of an input file or of a tensor. */
  maxSide: 4096,
  /** Largest number of values (N·H·W·C) in one batch: 2^26 floats = 256 MiB. */
  maxElements: 2 ** 26,
};

/** Slack allowed beyond [-1, 1] for float round-off in values produced elsewhere (e.g. a model's clipping). */
const RANGE_TOLERANCE = 1e-5;

/** [-1, 1] value of every byte, in float32 arithmetic as the reference (`uint8 -> float32 / 127.5 - 1`). */
const UINT8_TO_UNIT = (() => {
  const table = new Float32Array(256);
  for (let p = 0; p < 256; p++) table[p] = Math.fround(Math.fround(p / 127.5) - 1);
  return table;
})();

/** Pixel bytes -> [-1, 1] floats (pixel / 127.5 − 1). */
export function fromUint8(pixels: ArrayLike<number>): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = UINT8_TO_UNIT[pixels[i]];
  return out;
}

/**
 * [-1, 1] floats -> pixel bytes: round((x + 1) · 127.5) clamped to [0, 255]. The reference's `.to(uint8)`
 * truncates instead; rounding is unbiased and makes `toUint8(fromUint8(p)) === p` exact. NaN maps to 0.
 */
export function toUint8(x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.round((x[i] + 1) * 127.5);
    out[i] = v > 255 ? 255 : v > 0 ? v : 0;
  }
  return out;
}

/** Name of a value's type for error messages ("string", "Uint8Array", "array", ...). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (typeof value === 'object') return 'object';
  return typeof value;
}

/** Throws unless `h` x `w` x `c` is an image size this engine accepts. */
export function checkImageSize(h: number, w: number, c: number, what = 'image'): void {
  for (const [name, v] of [['height', h], ['width', w]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what} ${name} must be a positive integer, got ${v}`);
    if (v > IMAGE_LIMITS.maxSide) {
      throw new Error(`${what} is ${h}x${w} pixels; the limit is ${IMAGE_LIMITS.maxSide} pixels per side`);
    }
  }
  if (c !== 1 && c !== 3) throw new Error(`${what} must have 1 (grey) or 3 (RGB) channels, got ${c}`);
}

/** Throws unless a batch of `n` images of `h` x `w` x `c` is within IMAGE_LIMITS.maxElements. */
export function checkBatchElements(n: number, h: number, w: number, c: number): void {
  const elements = n * h * w * c;
  if (elements > IMAGE_LIMITS.maxElements) {
    throw new Error(
      `${n} images of ${h}x${w}x${c} are ${elements} values; the limit is ${IMAGE_LIMITS.maxElements} per batch`);
  }
}

/**
 * Checks a `{ shape: [N, H, W, C], data }` batch from a message and returns it with Float32 data: shape of
 * rank 4 with positive integer sizes within limits, data a Float32Array or array of numbers whose length is
 * the product of the shape, every value finite and within [-1, 1]. A Float32Array is returned as is (no copy).
 */
export function validateImageBatch(input: unknown): ImageBatch {
  if (typeof input !== 'object' || input === null || !('shape' in input) || !('data' in input)) {
    throw new Error(`expected { shape: [N, H, W, C], data }, got ${describeValue(input)}`);
  }
  const { shape, data } = input as { shape: unknown; data: unknown };
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new Error(`image shape must be [N, H, W, C] (rank 4), got ${JSON.stringify(shape)}`);
  }
  const [n, h, w, c] = shape as number[];
  if (!Number.isInteger(n) || n < 1) throw new Error(`image batch size N must be a positive integer, got ${n}`);
  checkImageSize(h, w, c);
  checkBatchElements(n, h, w, c);
  const values = toFloat32(data);
  const expected = n * h * w * c;
  if (values.length !== expected) {
    throw new Error(`image data has ${values.length} values but shape [${n}, ${h}, ${w}, ${c}] needs ${expected}`);
  }
  checkUnitRange(values);
  return { shape: [n, h, w, c], data: values };
}

function toFloat32(data: unknown): Float32Array {
  if (isTypedArrayOf(data, 'Float32Array')) return data as Float32Array;
  if (Array.isArray(data)) {
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      if (typeof data[i] !== 'number') {
        throw new Error(`image data must hold numbers, but element ${i} is ${describeValue(data[i])}`);
      }
      out[i] = data[i];
    }
    return out;
  }
  throw new Error(`image data must be a Float32Array or an array of numbers, got ${describeValue(data)}`);
}

/** Throws at the first value that is NaN, infinite or outside [-1, 1] (with a small round-off tolerance). */
function checkUnitRange(values: Float32Array): void {
  const bound = 1 + RANGE_TOLERANCE;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= -bound && v <= bound)) {
      const what = Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? `${v}, outside [-1, 1]` : `${v}`;
      throw new Error(`image data value at index ${i} is ${what}; images must be scaled to [-1, 1]`);
    }
  }
}
