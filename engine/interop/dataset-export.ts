/**
 * Any engine `Dataset` as a folder of PNG files, the form improved-diffusion's `image_datasets.py` reads
 * (`load_data(data_dir=…)`: files listed recursively and sorted by name; with `class_cond` the class of a file
 * is its base name's prefix before the first `_`, classes numbered in sorted order of those prefixes).
 *
 * So a labelled image `i` of class `k` is written as `<k>_<i>.png`, both numbers zero-padded to a fixed width:
 * the padded class prefixes sort as the numbers do (`02` < `10`), so the reference numbers the classes exactly
 * as our labels are, and the padded index keeps sorted file order = dataset order within a class. Unlabelled
 * images are written as `<i>.png`. Pixels are the bytes the engine trains on (`toUint8` of the batch, which
 * inverts `fromUint8` exactly), 1 channel as a greyscale PNG and 3 as RGB, through the engine's codec.
 */
import * as fs from 'fs/promises';
import * as path from 'path';
import { Dataset } from '../data';
import { encodePngs } from '../image';

export interface DatasetExportOptions {
  /** Write only the first `limit` images (dataset order). Default: all. */
  limit?: number;
  /** Images read from the dataset and encoded per round. Default 256. */
  chunkSize?: number;
  /** Called after each chunk with the number of files written so far. */
  onProgress?: (written: number, total: number) => void;
}

export interface DatasetExportResult {
  dir: string;
  /** File names written, in dataset order (relative to `dir`). */
  files: string[];
  /** Classes the names encode (the dataset's `numClasses`), or null for unlabelled images. */
  numClasses: number | null;
}

/** Width of the zero-padded decimal form of 0..count−1. */
function padWidth(count: number): number {
  return String(Math.max(count - 1, 0)).length;
}

/**
 * The file name of image `index` with label `label` (null: unlabelled), e.g. `fileNameFor(7, 42, 10, 60000)`
 * = `7_00042.png`, `fileNameFor(3, 42, 100, 60000)` = `03_00042.png`.
 */
export function fileNameFor(label: number | null, index: number, numClasses: number | null, size: number): string {
  const id = String(index).padStart(padWidth(size), '0');
  if (label === null) return `${id}.png`;
  if (numClasses === null || !Number.isInteger(label) || label < 0 || label >= numClasses) {
    throw new Error(`image ${index} has label ${label}, outside the dataset's classes 0..${(numClasses ?? 0) - 1}`);
  }
  return `${String(label).padStart(padWidth(numClasses), '0')}_${id}.png`;
}

/**
 * Writes the images of `dataset` into `dir` (created if missing) as PNGs named by {@link fileNameFor}.
 * Refuses a folder that already holds image files: the reference would read the old ones too.
 */
export async function exportDatasetToFolder(dataset: Dataset, dir: string,
  options: DatasetExportOptions = {}): Promise<DatasetExportResult> {
  const total = options.limit === undefined ? dataset.size : options.limit;
  if (!Number.isInteger(total) || total < 1 || total > dataset.size) {
    throw new Error(`limit must be an integer 1..${dataset.size} (the dataset's size), got ${String(options.limit)}`);
  }
  const chunkSize = options.chunkSize ?? 256;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`chunkSize must be a positive integer, got ${chunkSize}`);
  const [h, w, c] = dataset.imageShape;
  if (c !== 1 && c !== 3) throw new Error(`${dataset.name}: PNG export needs 1 or 3 channels, the images have ${c}`);

  await fs.mkdir(dir, { recursive: true });
  const existing = (await fs.readdir(dir)).filter((f) => /\.(png|jpe?g|gif)$/i.test(f));
  if (existing.length > 0) {
    throw new Error(`${dir} already holds ${existing.length} image file(s) (e.g. ${existing[0]}); export into an empty folder`);
  }

  const files: string[] = [];
  for (let start = 0; start < total; start += chunkSize) {
    const indices = Array.from({ length: Math.min(chunkSize, total - start) }, (_, j) => start + j);
    const batch = dataset.getBatch(indices);
    if (dataset.numClasses !== null && batch.y === null) {
      throw new Error(`${dataset.name} declares ${dataset.numClasses} classes but its batches carry no labels`);
    }
    const pngs = await encodePngs({ shape: [indices.length, h, w, c], data: batch.x });
    const names = indices.map((i, j) => fileNameFor(batch.y ? batch.y[j] : null, i, dataset.numClasses, dataset.size));
    await Promise.all(names.map((name, j) => fs.writeFile(path.join(dir, name), pngs[j])));
    files.push(...names);
    options.onProgress?.(files.length, total);
  }
  return { dir, files, numClasses: dataset.numClasses };
}
