/**
 * Sample quality of a model: generate `count` images with the engine's sampler (class i % numClasses for a
 * class-conditional model, so every class is asked for equally) and measure them (metrics.ts), real-image floor
 * included. The entry point for an "evaluate" mode; free of Node-RED and of engine/host.
 */
import { generate, type GenerateHooks, type GenerateOptions, type GenerateResult, type SamplingModel } from '../sample/generate';
import { CLASSIFIER_CLASSES, CLASSIFIER_IMAGE_SIZE } from './classifier';
import { sampleQuality, type QualityOptions, type QualityReport } from './metrics';

export interface EvaluateQualityOptions extends Omit<GenerateOptions, 'classes' | 'count' | 'framesEvery'>, Omit<QualityOptions, 'labels'> {
  /** Number of samples (default 64). */
  count?: number;
  /**
   * The sampler to use (default engine/sample `generate`); pass engine/parallel `generateInWorkers` to spread
   * the images over the worker threads — both give the same images for the same seed.
   */
  generator?: (model: SamplingModel, options: GenerateOptions, hooks?: GenerateHooks) => Promise<GenerateResult>;
}

export interface EvaluateQualityResult extends QualityReport {
  /** How the samples were made. */
  sampling: { count: number; steps: number; method: string; seed: number; classes?: number[]; seconds: number };
  /** The generated images, NHWC in [−1, 1] (for a grid beside the figures). */
  images: GenerateResult['images'];
}

/** The classes asked for: i % numClasses, or none for an unconditional model. */
export function evaluationClasses(numClasses: number | null, count: number): number[] | undefined {
  if (numClasses === null) return undefined;
  if (numClasses > CLASSIFIER_CLASSES) throw new Error(`Sample quality: the classifier knows ${CLASSIFIER_CLASSES} classes; this model has ${numClasses}`);
  return Array.from({ length: count }, (_, i) => i % numClasses);
}

/** Generates samples from `model` and returns their quality figures beside the real-image floor. */
export async function evaluateSampleQuality(model: SamplingModel, options: EvaluateQualityOptions, hooks: GenerateHooks = {}): Promise<EvaluateQualityResult> {
  const { generator = generate, count = 64, dataset, confidence, classifiersDir, floor, floorSeed, ...sampling } = options;
  if (model.imageSize !== CLASSIFIER_IMAGE_SIZE) throw new Error(`Sample quality: the classifier reads 32×32 images; this model makes ${model.imageSize}×${model.imageSize}`);
  if (model.channels !== 1 && model.channels !== 3) throw new Error(`Sample quality: images need 1 or 3 channels; this model makes ${model.channels}`);
  const classes = evaluationClasses(model.numClasses, count);
  const started = Date.now();
  const result = await generator(model, { ...sampling, count, classes, seed: sampling.seed ?? 0 }, hooks);
  const seconds = (Date.now() - started) / 1000;
  const report = sampleQuality(result.images, { dataset, labels: classes, confidence, classifiersDir, floor, floorSeed });
  return {
    ...report,
    sampling: { count, steps: result.steps, method: sampling.method ?? 'ancestral', seed: result.seed, classes, seconds },
    images: result.images,
  };
}
