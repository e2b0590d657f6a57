/**
 * Checks every request that reaches the engine and turns bad input into an EngineError that says what is wrong
 * and what would be right. The engine trusts nothing: messages come from flows, HTTP queries and MQTT payloads.
 */
import {
  EngineError, MODEL_NAME_PATTERN, PIPELINE_PARTS,
  type CompletePipeline, type PipelineSpec, type RawImages, type SampleRequest, type TrainOptions, type DatasetSpec,
} from './protocol';

/** Largest images the engine accepts, per side, and images per request. */
export const LIMITS = { imageSide: 512, imagesPerRequest: 1024, sampleCount: 256, batchSize: 1024, steps: 100_000 } as const;

const bad = (message: string): never => {
  throw new EngineError(message, 'BAD_REQUEST');
};

export function checkModelName(name: unknown): string {
  if (typeof name !== 'string' || !MODEL_NAME_PATTERN.test(name)) {
    bad(`Invalid model name ${JSON.stringify(name)}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  }
  return name as string;
}

/** A finite number within [min, max] (integer when asked), or the fallback when absent. */
export function checkNumber(
  what: string, value: unknown, opts: { min: number; max: number; integer?: boolean; fallback?: number },
): number {
  if (value === undefined || value === null || value === '') {
    if (opts.fallback !== undefined) return opts.fallback;
    return bad(`${what} is required`);
  }
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) return bad(`${what} must be a number, not ${JSON.stringify(value)}`);
  if (opts.integer && !Number.isInteger(n)) return bad(`${what} must be a whole number, not ${n}`);
  if (n < opts.min || n > opts.max) return bad(`${what} must be between ${opts.min} and ${opts.max}, not ${n}`);
  return n;
}

export function checkChoice<T extends string>(what: string, value: unknown, choices: readonly T[], fallback?: T): T {
  if ((value === undefined || value === null || value === '') && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    return bad(`${what} must be one of ${choices.join(', ')}, not ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** The parts a training run still needs, by name (empty when complete). */
export function missingParts(p: PipelineSpec | undefined): string[] {
  return PIPELINE_PARTS.filter((k) => !p || p[k] === undefined || p[k] === null);
}

export function checkPipeline(p: PipelineSpec | undefined): CompletePipeline {
  const missing = missingParts(p);
  if (missing.length) bad(`The pipeline is incomplete: missing ${missing.join(', ')} (wire the matching IDDPM nodes before this one)`);
  const pipe = p as CompletePipeline;
  checkChoice('schedule.kind', pipe.schedule.kind, ['linear', 'cosine'] as const);
  checkNumber('schedule.steps', pipe.schedule.steps, { min: 2, max: LIMITS.steps, integer: true });
  if (pipe.schedule.kind === 'linear' && pipe.schedule.steps < 20) {
    bad('A linear schedule needs at least 20 steps (its last β is 20/T, which must stay ≤ 1)');
  }
  checkChoice('noiser.modelMeanType', pipe.noiser.modelMeanType, ['epsilon', 'start_x'] as const);
  checkModelName(pipe.unet.model);
  checkChoice('unet.modelVarType', pipe.unet.modelVarType, ['learned_range', 'learned', 'fixed_small', 'fixed_large'] as const);
  checkChoice('loss.kind', pipe.loss.kind, ['hybrid', 'simple', 'kl', 'rescaled-kl'] as const);
  checkNumber('loss.lambda', pipe.loss.lambda, { min: 0, max: 1e6 });
  checkChoice('timesteps.kind', pipe.timesteps.kind, ['importance', 'uniform'] as const);
  return pipe;
}

export function checkRawImages(what: string, images: unknown): RawImages {
  const im = images as RawImages | undefined;
  if (!im || typeof im !== 'object' || !Array.isArray(im.shape) || im.shape.length !== 4) {
    return bad(`${what} must be { shape: [N, H, W, C], data } with values in [-1, 1]`);
  }
  const [n, h, w, c] = im.shape.map((v, i) => checkNumber(`${what}.shape[${i}]`, v, { min: 1, max: i === 0 ? LIMITS.imagesPerRequest : i === 3 ? 4 : LIMITS.imageSide, integer: true }));
  const data = im.data instanceof Float32Array ? im.data : Array.isArray(im.data) ? Float32Array.from(im.data as number[]) : undefined;
  if (!data) return bad(`${what}.data must be a Float32Array or an array of numbers`);
  if (data.length !== n * h * w * c) bad(`${what}.data has ${data.length} values; shape [${n}, ${h}, ${w}, ${c}] needs ${n * h * w * c}`);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v) || v < -1.0001 || v > 1.0001) bad(`${what}.data[${i}] = ${v} is not a number in [-1, 1]`);
  }
  return { shape: [n, h, w, c], data };
}

export function checkDataset(d: DatasetSpec | undefined): DatasetSpec {
  if (!d || typeof d !== 'object') return bad('options.dataset is required, e.g. { kind: "mnist" }');
  checkChoice('dataset.kind', d.kind, ['mnist', 'fashion-mnist', 'folder', 'images'] as const);
  if (d.kind === 'folder' && (typeof d.path !== 'string' || !d.path)) bad('dataset.path must name a folder of PNG/JPEG images');
  if (d.kind === 'images') checkRawImages('dataset.images', d.images);
  if (d.limit !== undefined) checkNumber('dataset.limit', d.limit, { min: 1, max: 10_000_000, integer: true });
  return d;
}

export function checkTrainOptions(o: TrainOptions | undefined): TrainOptions {
  if (!o || typeof o !== 'object') return bad('Training options are required');
  checkDataset(o.dataset);
  checkNumber('batchSize', o.batchSize, { min: 1, max: LIMITS.batchSize, integer: true });
  checkNumber('microbatch', o.microbatch, { min: 0, max: LIMITS.batchSize, integer: true, fallback: 0 });
  checkNumber('lr', o.lr, { min: 1e-12, max: 1, fallback: 1e-4 });
  checkNumber('emaRate', o.emaRate, { min: 0, max: 1, fallback: 0.9999 });
  checkNumber('gradClip', o.gradClip, { min: 0, max: 1e9, fallback: 0 });
  checkNumber('maxSteps', o.maxSteps, { min: 0, max: 1e9, integer: true, fallback: 0 });
  for (const k of ['logEvery', 'sampleEvery', 'checkpointEvery', 'sampleCount'] as const) {
    checkNumber(k, o[k], { min: 0, max: 1e9, integer: true, fallback: 0 });
  }
  checkNumber('seed', o.seed, { min: 0, max: 2 ** 32 - 1, integer: true, fallback: 0 });
  return o;
}

/** A respacing: a whole number of steps, `ddimN`, or comma-separated section counts. */
export function checkSteps(steps: unknown): number | string | undefined {
  if (steps === undefined || steps === null || steps === '') return undefined;
  if (typeof steps === 'number' || (typeof steps === 'string' && /^\s*\d+\s*$/.test(steps))) {
    return checkNumber('steps', steps, { min: 1, max: LIMITS.steps, integer: true });
  }
  if (typeof steps === 'string' && /^(ddim\d+|\d+(\s*,\s*\d+)*)$/.test(steps.trim())) return steps.trim();
  return bad(`steps must be a number of steps, "ddimN" or section counts like "10,15,20", not ${JSON.stringify(steps)}`);
}

export function checkSampleRequest(r: SampleRequest | undefined): SampleRequest {
  if (!r || typeof r !== 'object') return bad('A sample request is required');
  const classes = r.classes;
  if (classes !== undefined && classes !== null) {
    const list = Array.isArray(classes) ? classes : [classes];
    list.forEach((c, i) => checkNumber(`class[${i}]`, c, { min: 0, max: 1e6, integer: true }));
  }
  return {
    ...r,
    model: checkModelName(r.model),
    count: checkNumber('count', r.count, { min: 1, max: LIMITS.sampleCount, integer: true, fallback: 1 }),
    batchSize: checkNumber('batchSize', r.batchSize, { min: 1, max: LIMITS.sampleCount, integer: true, fallback: 16 }),
    steps: checkSteps(r.steps),
    method: checkChoice('method', r.method, ['ancestral', 'ddim'] as const, 'ancestral'),
    eta: checkNumber('eta', r.eta, { min: 0, max: 10, fallback: 0 }),
    seed: checkNumber('seed', r.seed, { min: 0, max: 2 ** 32 - 1, integer: true, fallback: 0 }),
    format: checkChoice('format', r.format, ['grid', 'pngs', 'raw'] as const, 'grid'),
    columns: checkNumber('columns', r.columns, { min: 1, max: 256, integer: true, fallback: 0 }) || undefined,
    progressEvery: checkNumber('progressEvery', r.progressEvery, { min: 0, max: LIMITS.steps, integer: true, fallback: 0 }),
    framesEvery: checkNumber('framesEvery', r.framesEvery, { min: 0, max: LIMITS.steps, integer: true, fallback: 0 }),
  };
}
