/**
 * One entry point from a JSON dataset description (a Trainer setting or message property) to a Dataset.
 */
import { decodeImages, ImageInput } from '../image';
import { datasetFromImages, Dataset, validateLabels } from './dataset';
import { loadImageFolder } from './folder';
import { loadFashionMnist, loadMnist, Split } from './mnist';

export const DATASET_KINDS = ['mnist', 'fashion-mnist', 'folder', 'images'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

export interface DatasetSpec {
  kind: DatasetKind;
  /** mnist / fashion-mnist: 'train' (default) or 'test'. */
  split?: Split;
  /** folder: the directory (already checked against the allowed roots by the caller). */
  path?: string;
  /** Use only the first `limit` images. */
  limit?: number;
  /** Square side of the model's images. */
  imageSize: number;
  /** 1 grey, 3 RGB. */
  channels: 1 | 3;
  /** images: the images from the message, in any form of design.md's "Images in messages". */
  images?: ImageInput;
  /** images: optional class label per image. */
  labels?: ArrayLike<number>;
  /** folder: label images by file-name prefix (`cat_001.png` -> class of `cat`). */
  classFromFilename?: boolean;
}

/** Builds the dataset a spec describes, with an error a person can act on for anything missing or unknown. */
export async function createDataset(spec: DatasetSpec): Promise<Dataset> {
  if (typeof spec !== 'object' || spec === null) throw new Error('dataset must be an object like { kind: "mnist", imageSize: 32, channels: 1 }');
  const { kind, imageSize, channels, limit } = spec;
  if (!Number.isInteger(imageSize) || imageSize < 1) throw new Error(`dataset imageSize must be a positive integer, got ${String(imageSize)}`);
  if (channels !== 1 && channels !== 3) throw new Error(`dataset channels must be 1 or 3, got ${String(channels)}`);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error(`dataset limit must be a positive integer, got ${String(limit)}`);
  switch (kind) {
    case 'mnist':
      return loadMnist({ split: spec.split, imageSize, channels, limit });
    case 'fashion-mnist':
      return loadFashionMnist({ split: spec.split, imageSize, channels, limit });
    case 'folder':
      if (typeof spec.path !== 'string' || spec.path === '') throw new Error('dataset kind "folder" needs a path');
      return loadImageFolder(spec.path, { imageSize, channels, limit, classFromFilename: spec.classFromFilename });
    case 'images': {
      if (spec.images === undefined) throw new Error('dataset kind "images" needs the images (msg.payload)');
      const batch = await decodeImages(spec.images, { size: [imageSize, imageSize], channels });
      const [count, h, w, c] = batch.shape;
      const labels = spec.labels ? validateLabels(spec.labels, count) : null;
      const n = Math.min(count, limit ?? Infinity);
      const images = { shape: [n, h, w, c], data: batch.data.subarray(0, n * h * w * c) };
      return datasetFromImages(images, labels?.subarray(0, n));
    }
    default:
      throw new Error(`unknown dataset kind ${JSON.stringify(kind)}; use one of ${DATASET_KINDS.join(', ')}`);
  }
}
