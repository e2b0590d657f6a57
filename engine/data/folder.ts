/**
 * A folder of PNG/JPEG files as a dataset, as improved-diffusion's `load_data(data_dir=...)`: files found
 * recursively and sorted by path, each decoded, resized (shorter side, bicubic) and centre-cropped to the
 * model's size. With `classFromFilename`, the class of `dog_0001.png` is `dog` (the part before the first
 * `_`, as the reference's class-conditional loading), numbered in sorted order of the class names.
 * Checking that the path is inside an allowed root is the caller's job.
 */
import * as fs from 'fs/promises';
import * as path from 'path';
import { checkBatchElements, decodeImage, toUint8 } from '../image';
import { mapConcurrent } from '../image/codec';
import { badRequest } from '../spec';
import { ArrayDataset, Dataset } from './dataset';

export interface FolderOptions {
  imageSize: number;
  channels: 1 | 3;
  /** Use only the first `limit` files (in sorted order). */
  limit?: number;
  /** Label each image by its file name's prefix before the first `_`. */
  classFromFilename?: boolean;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** Image files under `dir`, recursively, as paths relative to `dir`, sorted by code point. */
async function listImageFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    const reason = err.code === 'ENOENT' ? 'does not exist' : err.code === 'ENOTDIR' ? 'is not a folder' : err.message;
    throw badRequest(`image folder ${dir} ${reason}`);
  });
  const files = entries
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    // `parentPath` arrived in Node 20.12; earlier 20.x only have its alias `path`.
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)));
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Class index per file from the prefix of its base name, classes numbered in sorted order. */
function labelsFromFilenames(files: string[]): Int32Array {
  const names = files.map((f) => path.basename(f).split('_')[0]);
  const classes = [...new Set(names)].sort();
  const index = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(names, (n) => index.get(n) as number);
}

/** Loads every PNG/JPEG under `dir` at `imageSize` x `imageSize` x `channels`, kept as bytes. */
export async function loadImageFolder(dir: string, options: FolderOptions): Promise<Dataset> {
  const { imageSize: size, channels } = options;
  const all = await listImageFiles(dir);
  if (all.length === 0) throw badRequest(`no PNG or JPEG images found in ${dir}`);
  const files = options.limit !== undefined ? all.slice(0, options.limit) : all;
  checkBatchElements(files.length, size, size, channels);
  const imageBytes = size * size * channels;
  const pixels = new Uint8Array(files.length * imageBytes);
  await mapConcurrent(files, 4, async (file, i) => {
    const full = path.join(dir, file);
    const buf = await fs.readFile(full).catch((err: Error) => {
      throw new Error(`cannot read ${full}: ${err.message}`);
    });
    const image = await decodeImage(buf, { size: [size, size], channels }).catch((err: Error) => {
      throw badRequest(`${full}: ${err.message}`);
    });
    pixels.set(toUint8(image.data), i * imageBytes);
  });
  const labels = options.classFromFilename ? labelsFromFilenames(files) : null;
  return new ArrayDataset(`folder:${path.basename(dir)}`, [size, size, channels], pixels, labels);
}
