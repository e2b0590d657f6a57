/**
 * The English wording of every Issue key (engine/spec/rules.ts). The engine words its refusals with it; the
 * nodes and the editor look a key up in their Node-RED catalog first (`validation.<key>` of iddpm-shared, for
 * other languages) and fall back to this. Parameters are written __name__, as Node-RED's i18next does.
 */
import type { Issue } from './rules';

export const MESSAGES: Record<string, string> = {
  field: '__field__: __reason__',
  required: 'a value is required',
  notNumber: 'must be a number, not __got__',
  notInteger: 'must be a whole number, not __got__',
  range: 'must be between __min__ and __max__, not __got__',
  rangeAbove: 'must be greater than __min__ and at most __max__, not __got__',
  choice: 'must be one of __choices__, not __got__',
  bool: 'must be true or false, not __got__',
  intList: 'must be 1 to __maxLen__ whole numbers between __min__ and __max__, separated by commas (like 1,2,2), not __got__',
  intListOrEmpty: 'must be up to __maxLen__ whole numbers between __min__ and __max__, separated by commas (like 16,8), or empty; not __got__',
  modelName: "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit (no spaces, slashes or '..'), not __got__",
  respacing: 'must be a number of steps (like 50), ddimN (like ddim25) or step counts per section (like 10,15,20), not __got__',
  text: 'must be text of at most __max__ characters, not __got__',
  linearSteps: 'a linear schedule needs at least 20 steps (its last β is 0.02·1000/T, which must stay below 1)',
  notObject: 'must be an object, not __got__',
  unknownKeys: 'has unknown settings __keys__ (known: __known__)',
  missingParts: 'the pipeline is incomplete: missing __parts__ (wire the matching IDDPM nodes before this one)',
  images: 'must be PNG/JPEG bytes, a list of them, or { shape: [N, H, W, C], data: Float32Array } with values in [-1, 1]; __reason__',
  imagesUnusable: 'could not be used as the model\'s images: __reason__',
  classOutOfRange: 'must be a class of this model, 0 … __max__, not __got__',
  notConditional: 'this model is not class-conditional; remove the class setting',
  classCount: 'has __got__ classes for __count__ images; give one class for all or one per image',
  stepsOverT: 'is out of range: this model has T = __max__, so use 2 … __max__ steps, not __got__',
  runName: 'is "__got__" but the run is for model "__name__"',
  labels: 'must be one whole number ≥ 0 per image (__count__ images), not __got__',
  provenance: 'cannot be made again: __reason__',
  datasetIndices: 'must be 1 to __max__ whole numbers, each an image of the __split__ split (0 … __last__), not __got__',
  importSource: 'says nothing of the checkpoint\'s architecture: give a reference preset, the flags it was trained with (image_train.py), or its pipeline',
  importSources: 'gives both a pipeline and flags or a preset: give one of them',
  qualityImages: 'needs 32×32 images with 1 or 3 channels (the shipped MNIST and Fashion-MNIST classifiers read those); model "__model__" makes __got__',
  qualityDataset: 'needs the classifier of a shipped dataset (mnist or fashion-mnist); model "__model__" was trained on __got__: set quality.dataset',
  qualityCount: 'needs at least 2 images (FID fits a covariance), not __got__',
  qualityClasses: 'the classifier knows 10 classes; model "__model__" has __got__',
};

/** Node-RED's i18next interpolation: __name__; values are not escaped (its runtime does not escape them either). */
export function interpolate(template: string, params: Record<string, unknown> = {}): string {
  return template.replace(/__(\w+?)__/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

/** The English reason for an issue, e.g. `must be a whole number, not 1.5`. */
export function reasonOf(issue: Issue): string {
  const template = MESSAGES[issue.key];
  return template === undefined ? issue.key : interpolate(template, issue.params);
}

/** "<field>: <reason>", e.g. `msg.steps: must be a whole number from 2 to 100000, not 1.5`. */
export function describeIssue(field: string, issue: Issue): string {
  return interpolate(MESSAGES.field, { field, reason: reasonOf(issue) });
}
