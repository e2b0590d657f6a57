/**
 * Where the quality classifiers live and how they are read: `models/classifiers/<dataset>/` holds
 *   weights.safetensors   the DigitClassifier weights (names and shapes of CLASSIFIER_SHAPES)
 *   card.json             a ClassifierCard: architecture, seed, training steps, test accuracy, date
 * written by scripts/train-classifier.ts and shipped with the package.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadFashionMnist, loadMnist, type Dataset, type Split } from '../data';
import { DigitClassifier } from './classifier';

export const QUALITY_DATASETS = ['mnist', 'fashion-mnist'] as const;
export type QualityDataset = (typeof QUALITY_DATASETS)[number];

export const WEIGHTS_FILE = 'weights.safetensors';
export const CARD_FILE = 'card.json';

/** The model card of a trained classifier. */
export interface ClassifierCard {
  dataset: QualityDataset;
  architecture: string;
  parameters: number;
  /** Weight precision in weights.safetensors. */
  dtype: 'F16' | 'F32';
  seed: number;
  /** Optimizer steps, batch size, epochs and learning rate of the run. */
  training: { steps: number; batchSize: number; epochs: number; lr: number; optimizer: string; backend: string; seconds: number };
  /** Accuracy on the full 10 000-image test split, measured with the stored (rounded) weights. */
  testAccuracy: number;
  testImages: number;
  /** ISO date of the run. */
  date: string;
}

/** Checks a dataset name, with an error that lists the known ones. */
export function checkQualityDataset(value: unknown): QualityDataset {
  if (typeof value !== 'string' || !(QUALITY_DATASETS as readonly string[]).includes(value)) {
    throw new Error(`Sample quality: unknown dataset ${JSON.stringify(value)}; use one of ${QUALITY_DATASETS.join(', ')}`);
  }
  return value as QualityDataset;
}

/**
 * The shipped `models/classifiers` folder: two levels above this file when run from source
 * (engine/quality), three from the build (dist/engine/quality).
 */
export function defaultClassifiersDir(): string {
  const candidates = [path.join(__dirname, '..', '..', 'models', 'classifiers'), path.join(__dirname, '..', '..', '..', 'models', 'classifiers')];
  return candidates.find((dir) => fs.existsSync(dir)) ?? candidates[0];
}

/** The images of a dataset split exactly as models see them: 32×32×1 in [−1, 1]. */
export function loadQualityDataset(dataset: QualityDataset, split: Split, limit?: number): Dataset {
  const options = { split, imageSize: 32, channels: 1 as const, limit };
  return dataset === 'mnist' ? loadMnist(options) : loadFashionMnist(options);
}

export function readClassifierCard(dataset: QualityDataset, dir = defaultClassifiersDir()): ClassifierCard {
  const file = path.join(dir, dataset, CARD_FILE);
  if (!fs.existsSync(file)) throw new Error(`No classifier card for ${dataset} at ${file}: run \`npm run train-classifier -- --dataset ${dataset}\``);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ClassifierCard;
}

/** Loads the stored classifier of `dataset` (the caller disposes it). */
export function loadClassifier(dataset: QualityDataset, dir = defaultClassifiersDir()): DigitClassifier {
  const file = path.join(dir, dataset, WEIGHTS_FILE);
  if (!fs.existsSync(file)) throw new Error(`No classifier for ${dataset} at ${file}: run \`npm run train-classifier -- --dataset ${dataset}\``);
  return DigitClassifier.fromSafetensors(fs.readFileSync(file), file);
}

/** Writes a classifier's weights and card into `<dir>/<dataset>/`. */
export function saveClassifier(dir: string, card: ClassifierCard, weights: Uint8Array): string {
  const out = path.join(dir, card.dataset);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, WEIGHTS_FILE), weights);
  fs.writeFileSync(path.join(out, CARD_FILE), JSON.stringify(card, null, 2) + '\n');
  return out;
}
