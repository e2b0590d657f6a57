/**
 * PNG/JPEG <-> image batches through sharp (libvips): encoding samples to PNG, and decoding images that
 * arrive in messages or folders to the model's size and channel count.
 *
 * Decoding follows improved-diffusion's `image_datasets.py`: drop alpha (PIL `convert("RGB")`), scale the
 * shorter side to the target with bicubic filtering (antialiased when shrinking), centre-crop the longer side.
 */
import sharp from 'sharp';
import { isBytes, isTypedArrayOf, type ImageInput } from '../spec';
import {
  ImageBatch, IMAGE_LIMITS, checkBatchElements, checkImageSize, describeValue, fromUint8, toUint8,
  validateImageBatch,
} from './pixels';

export interface DecodeOptions {
  /** Target [height, width]; images of another size are resized (shorter side) and centre-cropped. */
  size?: [number, number];
  /** 1 = greyscale, 3 = RGB. Default: the image's own (1 for greyscale files, else 3). */
  channels?: 1 | 3;
}

export type { ImageInput };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

function startsWith(buf: Uint8Array, signature: number[]): boolean {
  return buf.length >= signature.length && signature.every((b, i) => buf[i] === b);
}

/** True when the bytes start like a PNG or a JPEG file. */
export function isPngOrJpeg(buf: Uint8Array): boolean {
  return startsWith(buf, PNG_SIGNATURE) || startsWith(buf, JPEG_SIGNATURE);
}

/** Encodes one H x W x C image with values in [-1, 1] as an 8-bit PNG (C = 1 greyscale, C = 3 RGB). */
export async function encodePng(data: Float32Array, h: number, w: number, c: number): Promise<Buffer> {
  checkImageSize(h, w, c, 'PNG');
  if (data.length !== h * w * c) throw new Error(`PNG data has ${data.length} values, ${h}x${w}x${c} needs ${h * w * c}`);
  const image = sharp(toUint8(data), { raw: { width: w, height: h, channels: c as 1 | 3 } });
  // Without the explicit colourspace sharp would write a 1-channel input as an RGB PNG.
  return image.toColourspace(c === 1 ? 'b-w' : 'srgb').png().toBuffer();
}

/** Encodes each image of a batch as its own PNG. */
export async function encodePngs(batch: ImageBatch): Promise<Buffer[]> {
  const [n, h, w, c] = batch.shape;
  const size = h * w * c;
  if (batch.data.length !== n * size) throw new Error(`batch data has ${batch.data.length} values, shape needs ${n * size}`);
  return mapConcurrent(Array.from({ length: n }, (_, i) => i), 4,
    (i) => encodePng(batch.data.subarray(i * size, (i + 1) * size), h, w, c));
}

/** Maps `fn` over `items` with at most `limit` calls in flight, keeping order. */
export async function mapConcurrent<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Reads size and native channel count of an encoded image, refusing non-images and oversize inputs. */
async function probeImage(buf: Uint8Array): Promise<{ width: number; height: number; channels: 1 | 3 }> {
  if (!isPngOrJpeg(buf)) throw new Error('not a PNG or JPEG image');
  const meta = await sharp(buf, { limitInputPixels: false }).metadata().catch((err: Error) => {
    throw new Error(`could not read the image: ${err.message}`);
  });
  const { width, height } = meta;
  if (!width || !height) throw new Error('could not read the image size');
  if (width > IMAGE_LIMITS.maxSide || height > IMAGE_LIMITS.maxSide) {
    throw new Error(`image is ${height}x${width} pixels; the limit is ${IMAGE_LIMITS.maxSide} pixels per side`);
  }
  const colour = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0);
  return { width, height, channels: colour === 1 ? 1 : 3 };
}

/**
 * Decodes one PNG or JPEG to a [1, H, W, C] batch in [-1, 1]: EXIF orientation applied, alpha dropped,
 * converted to greyscale or RGB, resized to `size` if given (bicubic, shorter side, centre crop).
 */
export async function decodeImage(buf: Uint8Array, options: DecodeOptions = {}): Promise<ImageBatch> {
  if (!isBytes(buf)) throw new Error(`expected a PNG or JPEG Buffer, got ${describeValue(buf)}`);
  const probe = await probeImage(buf);
  const channels = options.channels ?? probe.channels;
  const [h, w] = options.size ?? [probe.height, probe.width];
  checkImageSize(h, w, channels, 'target image');
  let pipeline = sharp(buf, { limitInputPixels: IMAGE_LIMITS.maxSide ** 2 }).autoOrient().removeAlpha();
  if (h !== probe.height || w !== probe.width) {
    pipeline = pipeline.resize(w, h, { fit: 'cover', position: 'centre', kernel: 'cubic' });
  }
  // 16-bit inputs come out as 8 bit after the colourspace conversion.
  pipeline = pipeline.toColourspace(channels === 1 ? 'b-w' : 'srgb');
  const raw = await pipeline.raw().toBuffer({ resolveWithObject: true }).catch((err: Error) => {
    throw new Error(`could not decode the image: ${err.message}`);
  });
  const { info } = raw;
  if (info.channels !== channels || info.height !== h || info.width !== w || raw.data.length !== h * w * channels) {
    throw new Error(`decoded image is ${info.height}x${info.width}x${info.channels}, expected ${h}x${w}x${channels}`);
  }
  return { shape: [1, h, w, channels], data: fromUint8(raw.data) };
}

/**
 * Decodes any message image form to one batch: a PNG/JPEG Buffer, an array of them (all brought to `size`,
 * or required to share one size when none is given), or `{ shape: [N, H, W, C], data }` in [-1, 1], which
 * is validated and must already match `size` and `channels` when those are given.
 */
export async function decodeImages(input: unknown, options: DecodeOptions = {}): Promise<ImageBatch> {
  if (isBytes(input)) return decodeImage(input, options);
  if (Array.isArray(input)) return decodeImageArray(input, options);
  if (typeof input === 'object' && input !== null && 'shape' in input && 'data' in input) {
    const batch = validateImageBatch(input);
    const [, h, w, c] = batch.shape;
    if (options.size && (options.size[0] !== h || options.size[1] !== w)) {
      throw new Error(`images are ${h}x${w} but ${options.size[0]}x${options.size[1]} is expected`);
    }
    if (options.channels && options.channels !== c) {
      throw new Error(`images have ${c} channel(s) but ${options.channels} expected`);
    }
    return batch;
  }
  throw new Error(`expected a PNG/JPEG Buffer, an array of them, or { shape: [N, H, W, C], data }; got ${describeValue(input)}`);
}

async function decodeImageArray(items: unknown[], options: DecodeOptions): Promise<ImageBatch> {
  if (items.length === 0) throw new Error('the image array is empty');
  items.forEach((item, i) => {
    if (!isBytes(item)) throw new Error(`image ${i}: expected a PNG or JPEG Buffer, got ${describeValue(item)}`);
  });
  const buffers = items as Uint8Array[];
  // The first image fixes size and channels when the caller leaves them open, so all decode alike.
  const first = await decodeOne(buffers[0], 0, options);
  const [, h, w, c] = first.shape;
  checkBatchElements(buffers.length, h, w, c);
  const rest = await mapConcurrent(buffers.slice(1), 4, async (buf, i) => {
    const img = await decodeOne(buf, i + 1, { channels: c as 1 | 3, size: options.size });
    if (img.shape[1] !== h || img.shape[2] !== w) {
      throw new Error(`image ${i + 1} is ${img.shape[1]}x${img.shape[2]} but image 0 is ${h}x${w}; give a size to resize them`);
    }
    return img;
  });
  const data = new Float32Array(buffers.length * h * w * c);
  [first, ...rest].forEach((img, i) => data.set(img.data, i * h * w * c));
  return { shape: [buffers.length, h, w, c], data };
}

async function decodeOne(buf: Uint8Array, index: number, options: DecodeOptions): Promise<ImageBatch> {
  try {
    return await decodeImage(buf, options);
  } catch (err) {
    throw new Error(`image ${index}: ${(err as Error).message}`);
  }
}
