/**
 * Sample quality as an engine request runs it (engine/quality has the figures): for a sampling request, the
 * quality of the images it generated; for an evaluation, `count` fresh samples generated on the worker threads
 * (engine/parallel generateInWorkers) at the requested steps, judged by the shipped classifier, beside the
 * real-image floor at the same n. A model whose images the classifiers cannot read, or whose dataset has no
 * classifier, is the user's mistake (BAD_REQUEST, naming `quality`).
 */
import { BUILTIN_DATASETS, InvalidValue, type BuiltinDataset, type CheckedQualityRequest, type ModelSpec, type RawImages } from '../spec';
import { evaluateSampleQuality, sampleQuality, type QualityReport } from '../quality';
import { CLASSIFIER_CLASSES, CLASSIFIER_IMAGE_SIZE } from '../quality/classifier';
import type { SamplingModel } from '../sample/generate';
import { generateInWorkers } from '../parallel/sample';
import { gridPng } from '../sample/result';

/** What an evaluation's `quality` answers: the figures, how the samples were made, and their grid. */
export interface SampleQuality extends QualityReport {
  sampling: { count: number; steps: number; method: string; seed: number; classes?: number[]; seconds: number };
  /** The samples as one PNG grid (class i % numClasses, so a row of 10 columns is 0…9). */
  png: Buffer;
}

/** Refuses models the classifiers cannot judge. */
function checkModel(name: string, model: SamplingModel): void {
  if (model.imageSize !== CLASSIFIER_IMAGE_SIZE || (model.channels !== 1 && model.channels !== 3)) {
    throw new InvalidValue('quality', { key: 'qualityImages', params: { model: name, got: `${model.imageSize}×${model.imageSize}×${model.channels}` } });
  }
  if (model.numClasses !== null && model.numClasses > CLASSIFIER_CLASSES) {
    throw new InvalidValue('quality', { key: 'qualityClasses', params: { model: name, got: model.numClasses } });
  }
}

/** The classifier's dataset: the one asked for, else `fallback` (the evaluation's), else the model's training set. */
export function qualityDataset(name: string, spec: ModelSpec, asked?: BuiltinDataset, fallback?: BuiltinDataset): BuiltinDataset {
  if (asked) return asked;
  if (fallback) return fallback;
  const trained = spec.train?.dataset.kind;
  if ((BUILTIN_DATASETS as readonly string[]).includes(trained ?? '')) return trained as BuiltinDataset;
  throw new InvalidValue('quality', { key: 'qualityDataset', params: { model: name, got: trained ?? 'an unknown dataset (the model was imported)' } });
}

/** The quality of images a sampling request generated (classes: the ones they were asked for). */
export function measureSamples(name: string, model: SamplingModel, spec: ModelSpec, images: RawImages, classes: number[] | undefined, asked?: BuiltinDataset): QualityReport {
  checkModel(name, model);
  if (images.shape[0] < 2) throw new InvalidValue('quality', { key: 'qualityCount', params: { got: images.shape[0] } });
  return sampleQuality(images, { dataset: qualityDataset(name, spec, asked), labels: classes });
}

/** Generates `q.count` samples of `model` and measures them (an evaluation's `quality`). */
export async function evaluateQuality(
  name: string, model: SamplingModel, spec: ModelSpec, q: CheckedQualityRequest, fallback: BuiltinDataset | undefined,
  hooks: { isCancelled?: () => boolean } = {},
): Promise<SampleQuality> {
  checkModel(name, model);
  const dataset = qualityDataset(name, spec, q.dataset, fallback);
  const { images, ...report } = await evaluateSampleQuality(model, {
    dataset, count: q.count, steps: q.steps, method: q.method, eta: q.eta, seed: q.seed, batchSize: q.batchSize, generator: generateInWorkers,
  }, hooks);
  return { ...report, png: await gridPng(images as RawImages, model.numClasses ?? undefined) };
}
