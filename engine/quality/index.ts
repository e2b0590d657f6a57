/**
 * Sample quality as numbers (confident share, class histogram, FID against fixed real test images, background,
 * class accuracy) with the real-image floor beside each, from small classifiers shipped in models/classifiers.
 * Layering: beside engine/sample, above unet/data/image; no Node-RED, no engine/host.
 */
export { DigitClassifier, classifyImages, accuracy, CLASSIFIER_ARCHITECTURE, FEATURE_SIZE, type Classified } from './classifier';
export { gaussianStats, frechetDistance, traceSqrtProduct, type GaussianStats } from './frechet';
export {
  sampleQuality, backgroundFigures, clearQualityCache, DEFAULT_CONFIDENCE, REFERENCE_COUNT, BORDER,
  type QualityOptions, type QualityFigures, type QualityReport, type QualityImages,
} from './metrics';
export { evaluateSampleQuality, evaluationClasses, type EvaluateQualityOptions, type EvaluateQualityResult } from './evaluate';
export {
  QUALITY_DATASETS, checkQualityDataset, defaultClassifiersDir, loadClassifier, readClassifierCard, type QualityDataset, type ClassifierCard,
} from './store';
