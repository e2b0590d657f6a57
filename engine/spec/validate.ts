/**
 * The validators of everything that reaches the engine: each returns the COERCED value with every default
 * filled in (so `batchSize: '4'` arrives as 4 and two descriptions of one process compare equal) or throws an
 * InvalidValue naming the field and saying what would be right. Requests come from flows, HTTP queries, MQTT
 * payloads and library callers: nothing is trusted.
 */
import { EngineError } from './errors';
import { PIPELINE_PARTS, type BuiltinDataset, type DatasetKind } from './kinds';
import { LIMITS } from './limits';
import { describeIssue } from './messages';
import { bool, isBlank, isBytes, isTypedArrayOf, object, shown, type Issue, type Rule } from './rules';
import {
  DATASET_FIELDS, EVALUATE_FIELDS, LOSS_FIELDS, NOISER_FIELDS, QUALITY_FIELDS, SAMPLE_FIELDS, SCHEDULE_FIELDS,
  TIMESTEPS_FIELDS, TRAIN_FIELDS, UNET_CONFIG_FIELDS, UNET_FIELDS,
} from './fields';
import {
  EVALUATE_DEFAULTS, LOSS_DEFAULTS, NOISER_DEFAULTS, QUALITY_DEFAULTS, SAMPLE_DEFAULTS, SCHEDULE_DEFAULTS,
  TIMESTEPS_DEFAULTS, TRAIN_DEFAULTS, UNET_DEFAULTS,
} from './defaults';
import type { Respacing } from './respacing';
import type {
  CompletePipeline, DatasetPick, DatasetSpec, EvaluateRequest, ImageInput, LossSpec, NoiserSpec, PipelineSpec, QualityRequest, RawImages,
  ResolvedTrainOptions, SampleRequest, ScheduleSpec, TimestepsSpec, TrainOptions, UNetSpec,
} from './types';
import type { UNetConfig } from './unet';

/** A user's mistake in one field: BAD_REQUEST, with the field and the Issue (for translated messages). */
export class InvalidValue extends EngineError {
  constructor(readonly field: string, readonly issue: Issue) {
    super(describeIssue(field, issue), 'BAD_REQUEST');
    this.name = 'InvalidValue';
  }
}

/** The value `rule` makes of `v`, or an InvalidValue for `field`. */
export function need<T>(field: string, rule: Rule<T>, v: unknown): T {
  const r = rule(v);
  if (!r.ok) throw new InvalidValue(field, r.issue);
  return r.value;
}

/** A field's name under a prefix ("" for top-level fields: `count`, `schedule.kind`). */
const at = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);

/** `v` as an object whose keys are all among `known`. */
function record(field: string, v: unknown, known: readonly string[]): Record<string, unknown> {
  const o = need(field || 'request', object, v);
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw new InvalidValue(field || 'request', { key: 'unknownKeys', params: { keys: unknown.join(', '), known: known.join(', ') } });
  return o;
}

type Table = Record<string, Rule<unknown>>;
type Out<T extends Table> = { [K in keyof T]: T[K] extends Rule<infer V> ? V : never };

/** Every field of `table` read from `o`, blank ones from `defaults` (a blank without a default is refused). */
function fields<T extends Table, K extends keyof T & string>(prefix: string, o: Record<string, unknown>, table: T, keys: readonly K[], defaults: Partial<Out<T>>): Pick<Out<T>, K> {
  const out = {} as Pick<Out<T>, K>;
  for (const k of keys) {
    const v = o[k];
    if (isBlank(v) && k in defaults) out[k] = defaults[k] as Out<T>[K];
    else out[k] = need(at(prefix, k), table[k], v) as Out<T>[K];
  }
  return out;
}
const keysOf = <T extends object>(t: T): Array<keyof T & string> => Object.keys(t) as Array<keyof T & string>;

export function checkSchedule(v: unknown, field = 'schedule'): ScheduleSpec {
  const o = record(field, v, keysOf(SCHEDULE_FIELDS));
  const s = fields(field, o, SCHEDULE_FIELDS, keysOf(SCHEDULE_FIELDS), SCHEDULE_DEFAULTS);
  if (s.kind === 'linear') {
    if (s.steps < LIMITS.diffusionSteps.linearMin) throw new InvalidValue(at(field, 'steps'), { key: 'linearSteps' });
    return { kind: s.kind, steps: s.steps };
  }
  return s;
}

export function checkNoiser(v: unknown, field = 'noiser'): Required<NoiserSpec> {
  return fields(field, record(field, v, keysOf(NOISER_FIELDS)), NOISER_FIELDS, keysOf(NOISER_FIELDS), NOISER_DEFAULTS);
}

export function checkUNetConfigOverrides(v: unknown, field = 'unet.config'): Partial<UNetConfig> {
  const o = record(field, v, keysOf(UNET_CONFIG_FIELDS));
  const present = keysOf(UNET_CONFIG_FIELDS).filter((k) => !isBlank(o[k]));
  return fields(field, o, UNET_CONFIG_FIELDS, present, {});
}

export function checkUNet(v: unknown, field = 'unet'): UNetSpec {
  const o = record(field, v, [...keysOf(UNET_FIELDS), 'config']);
  const { numClasses: _n, ...rest } = UNET_FIELDS;
  const u: UNetSpec = { ...fields(field, o, rest, keysOf(rest), UNET_DEFAULTS), numClasses: null };
  if (!isBlank(o.numClasses)) u.numClasses = need(at(field, 'numClasses'), UNET_FIELDS.numClasses, o.numClasses);
  if (!isBlank(o.config)) u.config = checkUNetConfigOverrides(o.config, at(field, 'config'));
  return u;
}

export function checkLoss(v: unknown, field = 'loss'): LossSpec {
  return fields(field, record(field, v, keysOf(LOSS_FIELDS)), LOSS_FIELDS, keysOf(LOSS_FIELDS), LOSS_DEFAULTS);
}

export function checkTimesteps(v: unknown, field = 'timesteps'): TimestepsSpec {
  const t = fields(field, record(field, v, keysOf(TIMESTEPS_FIELDS)), TIMESTEPS_FIELDS, keysOf(TIMESTEPS_FIELDS), TIMESTEPS_DEFAULTS);
  return t.kind === 'importance' ? t : { kind: t.kind };
}

/** The parts a training run still needs, by name (empty when complete). */
export function missingParts(p: PipelineSpec | undefined | null): string[] {
  return PIPELINE_PARTS.filter((k) => !p || p[k] === undefined || p[k] === null);
}

/**
 * A complete pipeline with every optional setting explicit (cosine s and max β, rescaled timesteps, the
 * sampler's history and uniform mix), so two descriptions of the same process compare equal.
 */
export function checkPipeline(v: unknown, field = ''): CompletePipeline {
  const p = record(field, v, PIPELINE_PARTS) as PipelineSpec;
  const missing = missingParts(p);
  if (missing.length) throw new InvalidValue(field || 'pipeline', { key: 'missingParts', params: { parts: missing.join(', ') } });
  return {
    schedule: checkSchedule(p.schedule, at(field, 'schedule')),
    noiser: checkNoiser(p.noiser, at(field, 'noiser')),
    unet: checkUNet(p.unet, at(field, 'unet')),
    loss: checkLoss(p.loss, at(field, 'loss')),
    timesteps: checkTimesteps(p.timesteps, at(field, 'timesteps')),
  };
}

/** Raw images: `{ shape: [N, H, W, C], data }`, data a Float32Array (any realm) or numbers, all in [-1, 1]. */
export function checkRawImages(field: string, v: unknown): RawImages {
  const o = need(field, object, v);
  const bad = (reason: string): never => {
    throw new InvalidValue(field, { key: 'images', params: { reason } });
  };
  if (!Array.isArray(o.shape) || o.shape.length !== 4) return bad(`shape must be [N, H, W, C], not ${shown(o.shape)}`);
  const limit = [LIMITS.imagesPerMessage, LIMITS.imageSide.max, LIMITS.imageSide.max, LIMITS.imageChannels.max];
  const shape = o.shape.map((d, i) => (Number.isInteger(d) && d >= 1 && d <= limit[i] ? (d as number) : bad(`shape[${i}] must be a whole number from 1 to ${limit[i]}, not ${shown(d)}`)));
  const data = isTypedArrayOf(o.data, 'Float32Array') ? (o.data as Float32Array) : Array.isArray(o.data) ? Float32Array.from(o.data as number[]) : bad(`data must be a Float32Array or an array of numbers, not ${shown(o.data)}`);
  const [n, h, w, c] = shape;
  if (data.length !== n * h * w * c) bad(`data has ${data.length} values; shape [${shape.join(', ')}] needs ${n * h * w * c}`);
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (!Number.isFinite(x) || x < -1.0001 || x > 1.0001) bad(`data[${i}] = ${x} is not a number in [-1, 1]`);
  }
  return { shape: [n, h, w, c], data };
}

/** Images in a message: PNG/JPEG bytes, a list of them, or raw images (decoded in the engine process). */
export function checkImageInput(field: string, v: unknown): ImageInput {
  if (isBytes(v)) return v;
  if (Array.isArray(v) && v.length > 0 && v.every(isBytes)) {
    if (v.length > LIMITS.imagesPerMessage) throw new InvalidValue(field, { key: 'images', params: { reason: `${v.length} images is more than ${LIMITS.imagesPerMessage}` } });
    return v as Uint8Array[];
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return checkRawImages(field, v);
  throw new InvalidValue(field, { key: 'images', params: { reason: `got ${shown(v)}` } });
}

/** `{ dataset, split?, indices }`: a pick of a shipped dataset's images (not pixels themselves). */
export function isDatasetPick(v: unknown): v is DatasetPick {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'dataset' in v && !('data' in v);
}

/** A dataset pick checked (its indices against the split's size where the images are loaded). */
export function checkDatasetPick(field: string, v: unknown): Required<DatasetPick> {
  const o = record(field, v, ['dataset', 'split', 'indices']);
  const dataset = need(at(field, 'dataset'), DATASET_FIELDS.kind, o.dataset);
  if (dataset !== 'mnist' && dataset !== 'fashion-mnist') throw new InvalidValue(at(field, 'dataset'), { key: 'choice', params: { choices: 'mnist, fashion-mnist', got: shown(dataset) } });
  const split = isBlank(o.split) ? 'test' : need(at(field, 'split'), DATASET_FIELDS.split, o.split);
  const list = Array.isArray(o.indices) ? o.indices : [o.indices];
  if (list.length === 0 || list.length > LIMITS.imagesPerMessage || !list.every((i) => Number.isInteger(i) && (i as number) >= 0)) {
    throw new InvalidValue(at(field, 'indices'), { key: 'datasetIndices', params: { max: LIMITS.imagesPerMessage, split, last: '…', got: shown(o.indices) } });
  }
  return { dataset, split, indices: list as number[] };
}

/** Class labels: whole numbers ≥ 0 (their count and range are checked against the images and the model). */
export function checkLabels(field: string, v: unknown): number[] {
  const badLabels = (): never => {
    throw new InvalidValue(field, { key: 'labels', params: { count: '?', got: shown(v) } });
  };
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) return badLabels();
  const list = Array.from(v as ArrayLike<unknown>);
  if (list.length > LIMITS.imagesPerMessage || !list.every((x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < LIMITS.classes.max)) badLabels();
  return list as number[];
}

export function checkDataset(v: unknown, field = 'dataset'): DatasetSpec {
  const o = record(field, v, [...keysOf(DATASET_FIELDS), 'images', 'labels']);
  const kind: DatasetKind = need(at(field, 'kind'), DATASET_FIELDS.kind, o.kind);
  const d: DatasetSpec = { kind };
  if (kind === 'mnist' || kind === 'fashion-mnist') d.split = isBlank(o.split) ? 'train' : need(at(field, 'split'), DATASET_FIELDS.split, o.split);
  if (kind === 'folder') {
    d.path = need(at(field, 'path'), DATASET_FIELDS.path, o.path);
    if (!d.path) throw new InvalidValue(at(field, 'path'), { key: 'required' });
  }
  if (!isBlank(o.limit)) d.limit = need(at(field, 'limit'), DATASET_FIELDS.limit, o.limit);
  if (kind === 'images') {
    d.images = checkImageInput(at(field, 'images'), o.images);
    if (!isBlank(o.labels)) d.labels = checkLabels(at(field, 'labels'), o.labels);
  }
  return d;
}

/** Options with their defaults; the dataset keeps its images (the stored form drops them: storedTrainOptions). */
export type CheckedTrainOptions = Omit<ResolvedTrainOptions, 'dataset'> & { dataset: DatasetSpec };

export function checkTrainOptions(v: unknown, field = ''): CheckedTrainOptions {
  const o = record(field, v, ['dataset', ...keysOf(TRAIN_FIELDS)]) as TrainOptions & Record<string, unknown>;
  return { dataset: checkDataset(o.dataset, at(field, 'dataset')), ...fields(field, o, TRAIN_FIELDS, keysOf(TRAIN_FIELDS), TRAIN_DEFAULTS) };
}

/** What model.json records of a run's options: everything but the in-message images and labels. */
export function storedTrainOptions(o: CheckedTrainOptions): ResolvedTrainOptions {
  const { images: _images, labels: _labels, ...dataset } = o.dataset;
  return { ...o, dataset };
}

/** A sampling request with its defaults; `seed` stays absent when not given (the engine draws a fresh one). */
export type CheckedSampleRequest = Required<Omit<SampleRequest, 'seed' | 'classes' | 'steps' | 'quality'>> & {
  seed?: number; classes?: number | number[]; steps?: Respacing;
  /** Present when asked for: measure the images (the dataset absent: the model's training set). */
  quality?: { dataset?: BuiltinDataset };
};

/** A quality request with its defaults; `dataset` stays absent when not given (the evaluation's kind is used). */
export type CheckedQualityRequest = Required<Omit<QualityRequest, 'steps' | 'dataset'>> & { steps?: Respacing; dataset?: BuiltinDataset };

/**
 * `quality`: false/absent → undefined (not asked), true → the defaults, an object → its fields over the defaults;
 * `keys` limits which fields an object may hold (a sampling request's quality takes only the dataset).
 */
export function checkQualityRequest(v: unknown, field = 'quality', keys: ReadonlyArray<keyof QualityRequest & string> = keysOf(QUALITY_FIELDS)): CheckedQualityRequest | undefined {
  const F = QUALITY_FIELDS;
  const { steps: defaultSteps, ...defaults } = QUALITY_DEFAULTS;
  if (typeof v !== 'object' || v === null) return need(field, bool, v) ? { ...defaults, steps: need(field, F.steps, defaultSteps) } : undefined;
  const o = record(field, v, keys);
  const r: CheckedQualityRequest = { ...defaults, ...fields(field, o, F, ['count', 'method', 'eta', 'seed', 'batchSize'] as const, defaults) };
  r.steps = need(at(field, 'steps'), F.steps, isBlank(o.steps) ? defaultSteps : o.steps);
  if (!isBlank(o.dataset)) r.dataset = need(at(field, 'dataset'), F.dataset, o.dataset);
  return r;
}

export function checkSampleRequest(v: unknown, field = ''): CheckedSampleRequest {
  const known = ['model', 'count', 'batchSize', 'steps', 'method', 'eta', 'clipDenoised', 'classes', 'seed', 'ema', 'format', 'columns', 'progressEvery', 'framesEvery', 'quality'];
  const o = record(field, v, known);
  const F = SAMPLE_FIELDS;
  const r: CheckedSampleRequest = {
    model: need(at(field, 'model'), F.model, o.model),
    ...fields(field, o, F, ['count', 'batchSize', 'method', 'eta', 'clipDenoised', 'ema', 'format', 'columns', 'progressEvery', 'framesEvery'] as const, SAMPLE_DEFAULTS),
  };
  const steps = need(at(field, 'steps'), F.steps, o.steps);
  if (steps) r.steps = steps;
  if (!isBlank(o.seed)) r.seed = need(at(field, 'seed'), F.seed, o.seed);
  if (!isBlank(o.classes)) {
    r.classes = Array.isArray(o.classes)
      ? o.classes.map((c, i) => need(at(field, `classes[${i}]`), F.class, c))
      : need(at(field, 'classes'), F.class, o.classes);
  }
  const quality = checkQualityRequest(o.quality, at(field, 'quality'), ['dataset']);
  if (quality) r.quality = quality.dataset ? { dataset: quality.dataset } : {};
  return r;
}

export type CheckedEvaluateRequest = Required<Omit<EvaluateRequest, 'seed' | 'steps' | 'dataset' | 'quality'>> & {
  dataset: Required<EvaluateRequest['dataset']>; seed: number; steps?: Respacing; quality?: CheckedQualityRequest;
};

export function checkEvaluateRequest(v: unknown, field = ''): CheckedEvaluateRequest {
  const o = record(field, v, [...keysOf(EVALUATE_FIELDS), 'quality']);
  const F = EVALUATE_FIELDS;
  const ds = record(at(field, 'dataset'), o.dataset, ['kind', 'split']);
  const r: CheckedEvaluateRequest = {
    model: need(at(field, 'model'), F.model, o.model),
    dataset: {
      kind: need(at(field, 'dataset.kind'), F.dataset, ds.kind),
      split: isBlank(ds.split) ? EVALUATE_DEFAULTS.split : need(at(field, 'dataset.split'), F.split, ds.split),
    },
    ...fields(field, o, F, ['count', 'batchSize', 'ema', 'perTimestep', 'seed'] as const, { ...EVALUATE_DEFAULTS, seed: 0 }),
  };
  const steps = need(at(field, 'steps'), F.steps, o.steps);
  if (steps) r.steps = steps;
  const quality = checkQualityRequest(o.quality, at(field, 'quality'));
  if (quality) r.quality = quality;
  return r;
}
