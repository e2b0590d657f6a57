/**
 * One entry point from a JSON dataset description (a Trainer setting or message property) to a Dataset.
 */
import { decodeImages } from '../image';
import { DATASET_KINDS, InvalidValue, type DatasetSpec } from '../spec';
import { datasetFromImages, Dataset, validateLabels } from './dataset';
import { loadImageFolder } from './folder';
import { loadFashionMnist, loadMnist } from './mnist';

/** The image shape a dataset must have: the model's. */
export interface DatasetShape {
  /** Square side of the model's images. */
  imageSize: number;
  /** 1 grey, 3 RGB. */
  channels: 1 | 3;
  /** folder: label images by file-name prefix (`cat_001.png` -> class of `cat`). */
  classFromFilename?: boolean;
}

/** Builds the dataset a spec describes, with an error a person can act on for anything missing or unknown. */
export async function createDataset(spec: DatasetSpec, shape: DatasetShape): Promise<Dataset> {
  if (typeof spec !== 'object' || spec === null) throw new Error('dataset must be an object like { kind: "mnist", imageSize: 32, channels: 1 }');
  const { kind, limit } = spec;
  const { imageSize, channels } = shape;
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
      return loadImageFolder(spec.path, { imageSize, channels, limit, classFromFilename: shape.classFromFilename });
    case 'images': {
      if (spec.images === undefined) throw new Error('dataset kind "images" needs the images (msg.payload)');
      const batch = await decodeImages(spec.images, { size: [imageSize, imageSize], channels }).catch((err: Error) => {
        throw new InvalidValue('dataset.images', { key: 'imagesUnusable', params: { reason: err.message } });
      });
      const [count, h, w, c] = batch.shape;
      const labels = spec.labels ? checkedLabels(spec.labels, count) : null;
      const n = Math.min(count, limit ?? Infinity);
      const images = { shape: [n, h, w, c], data: batch.data.subarray(0, n * h * w * c) };
      return datasetFromImages(images, labels?.subarray(0, n));
    }
    default:
      throw new Error(`unknown dataset kind ${JSON.stringify(kind)}; use one of ${DATASET_KINDS.join(', ')}`);
  }
}

/** The message's labels, one per decoded image, as a user's mistake when they do not fit. */
function checkedLabels(labels: ArrayLike<number>, count: number): Int32Array {
  try {
    return validateLabels(labels, count);
  } catch (err) {
    throw new InvalidValue('dataset.labels', { key: 'labels', params: { count, got: (err as Error).message } });
  }
}
