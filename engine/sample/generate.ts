/**
 * Generating images from a trained model (what `image_sample.py` of improved-diffusion does): batches of x_T
 * through the ancestral or DDIM loop over the full process or a respacing, with class labels, a seed, progress,
 * cancellation and optional frames of the reverse process.
 *
 * Randomness: every image i draws from its own generator `Rng(seed).fork('image:i')` — first x_T, then z for each
 * step that adds noise, in step order. So an image depends only on the seed, its index, its class and the
 * settings, not on the batch size, on timing, or on what else the engine is doing.
 */
import { tf } from '../tf';
import { Rng } from '../rng';
import type { GaussianDiffusion } from '../diffusion';
import { InvalidValue, LIMITS, SAMPLE_DEFAULTS, SAMPLE_FIELDS, need, type RawImages, type Respacing, type SamplingMethod } from '../spec';
import { ModelFn } from './steps';
import { StepInfo, reverseLoop } from './loop';
import { PipelineForSampling, samplingDiffusion } from './process';

/** The UNet as the samplers use it (engine/unet `UNet`, with whichever weights the caller picked). */
export interface SamplerUNet {
  apply(x: tf.Tensor4D, timesteps: tf.Tensor1D, y?: tf.Tensor1D, opts?: { training?: boolean }): tf.Tensor4D;
}

/** A model ready to sample: its network, the pipeline it was trained with, and its image format. */
export interface SamplingModel {
  unet: SamplerUNet;
  pipeline: PipelineForSampling;
  imageSize: number;
  channels: number;
  numClasses: number | null;
}

export interface GenerateOptions {
  count: number;
  /** Images per reverse-process run (default 16). */
  batchSize?: number;
  /** A respacing (parsed, or a number of steps, `ddimN`, section counts `10,15,20`); default the full T. */
  steps?: Respacing | number | string;
  method?: SamplingMethod;
  eta?: number;
  clipDenoised?: boolean;
  /** One class for every image or one per image (class-conditional models only); default random classes. */
  classes?: number | number[];
  seed?: number;
  /** Report progress every k steps (0 = never). */
  progressEvery?: number;
  /** Keep x_t and x̂₀ every k steps (0 = never). */
  framesEvery?: number;
  /**
   * Index of the first image within the whole request (default 0): a worker thread generating images
   * [first, first + count) of a request draws exactly what generate() of the whole request draws for them.
   */
  firstImage?: number;
}

export interface GenerateHooks {
  onProgress?: (p: { step: number; total: number; batch: number; batches: number }) => void;
  isCancelled?: () => boolean;
  signal?: AbortSignal;
}

/** One frame of the reverse process: x_t and x̂₀(x_t) of every image, at original timestep t. */
export interface SampleFrame {
  t: number;
  xt: RawImages;
  predXstart: RawImages;
}

export interface GenerateResult {
  images: RawImages;
  classes?: number[];
  frames?: SampleFrame[];
  seed: number;
  /** Steps each image went through. */
  steps: number;
}

interface CheckedOptions {
  count: number;
  batchSize: number;
  method: SamplingMethod;
  eta: number;
  clipDenoised: boolean;
  seed: number;
  progressEvery: number;
  framesEvery: number;
  firstImage: number;
}

/** A fresh random seed, for requests that gave none (the result reports it, so the images can be made again). */
export function freshSeed(): number {
  return Math.floor(Math.random() * (LIMITS.seed.max + 1));
}

/** The options with the defaults filled in, each checked by its rule (engine/spec SAMPLE_FIELDS). */
export function checkGenerateOptions(opts: GenerateOptions): CheckedOptions {
  const F = SAMPLE_FIELDS;
  const D = SAMPLE_DEFAULTS;
  return {
    count: need('count', F.count, opts.count),
    // A worker thread's share may be any size; the request as a whole was checked against the limits.
    batchSize: need('batchSize', F.batchSize, opts.batchSize ?? D.batchSize),
    method: need('method', F.method, opts.method ?? D.method),
    eta: need('eta', F.eta, opts.eta ?? D.eta),
    clipDenoised: opts.clipDenoised ?? D.clipDenoised,
    seed: opts.seed === undefined ? freshSeed() : need('seed', F.seed, opts.seed),
    progressEvery: need('progressEvery', F.progressEvery, opts.progressEvery ?? D.progressEvery),
    framesEvery: need('framesEvery', F.framesEvery, opts.framesEvery ?? D.framesEvery),
    firstImage: opts.firstImage ?? 0,
  };
}

/**
 * The class of every image: the given one(s), checked against the model, or uniform random classes (as
 * image_sample.py draws them) for a class-conditional model; undefined for an unconditional one.
 */
export function resolveClasses(numClasses: number | null, count: number, classes: number | number[] | undefined, rng: Rng): number[] | undefined {
  if (numClasses === null) {
    if (classes !== undefined && classes !== null) throw new InvalidValue('class', { key: 'notConditional' });
    return undefined;
  }
  if (classes === undefined || classes === null) return Array.from({ length: count }, () => rng.int(numClasses));
  const list = Array.isArray(classes) ? classes : new Array<number>(count).fill(classes);
  if (list.length !== count) throw new InvalidValue('class', { key: 'classCount', params: { got: list.length, count } });
  for (const c of list) {
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new InvalidValue('class', { key: 'classOutOfRange', params: { got: JSON.stringify(c), max: numClasses - 1 } });
  }
  return list;
}

/** The model as a function of (x_t, process index t): the process maps and rescales t; labels ride along. */
export function modelFn(unet: SamplerUNet, diffusion: GaussianDiffusion, labels?: tf.Tensor1D): ModelFn {
  return (x, t) => tf.tidy(() => unet.apply(x, diffusion.scaleTimesteps(t) as tf.Tensor1D, labels, { training: false }));
}

/** n per-image draws of `size` normals, stacked as one [n, ...shape] tensor. */
function drawBatch(rngs: Rng[], shape: [number, number, number]): tf.Tensor4D {
  const size = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(rngs.length * size);
  rngs.forEach((r, i) => data.set(r.normalArray(size), i * size));
  return tf.tensor4d(data, [rngs.length, ...shape]);
}

/** Appends a batch's frame to the frame list at position `k` (frames of later batches extend earlier ones). */
function addFrame(frames: FrameParts, k: number, t: number, info: StepInfo): void {
  frames[k] ??= { t, xt: [], pred: [] };
  frames[k].xt.push(info.xt.dataSync() as Float32Array);
  frames[k].pred.push(info.predXstart.dataSync() as Float32Array);
}

function concatRaw(parts: Float32Array[], n: number, shape: [number, number, number]): RawImages {
  const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  return { shape: [n, ...shape], data };
}

type FrameParts = Array<{ t: number; xt: Float32Array[]; pred: Float32Array[] }>;

interface BatchContext {
  model: SamplingModel;
  o: CheckedOptions;
  diffusion: GaussianDiffusion;
  root: Rng;
  classes: number[] | undefined;
  shape: [number, number, number];
  batches: number;
  frames: FrameParts;
  hooks: GenerateHooks;
}

/** Runs the reverse process for batch b and returns its images, clamped to [−1, 1]. */
async function sampleBatch(b: number, ctx: BatchContext): Promise<Float32Array> {
  const { o, diffusion, shape } = ctx;
  const start = b * o.batchSize;
  const n = Math.min(o.batchSize, o.count - start);
  const rngs = Array.from({ length: n }, (_, i) => ctx.root.fork(`image:${o.firstImage + start + i}`));
  const labels = ctx.classes ? tf.tensor1d(ctx.classes.slice(start, start + n), 'int32') : undefined;
  const xT = drawBatch(rngs, shape);
  try {
    const x0 = await reverseLoop(o.method, diffusion, modelFn(ctx.model.unet, diffusion, labels), xT, {
      clipDenoised: o.clipDenoised,
      eta: o.eta,
      drawNoise: () => drawBatch(rngs, shape),
      isCancelled: ctx.hooks.isCancelled,
      signal: ctx.hooks.signal,
      onStep: (info) => {
        const last = info.done === info.total;
        if (o.framesEvery > 0 && (info.done % o.framesEvery === 0 || last)) {
          addFrame(ctx.frames, Math.ceil(info.done / o.framesEvery) - 1, diffusion.timestepMap[info.t], info);
        }
        if (o.progressEvery > 0 && (info.done % o.progressEvery === 0 || last)) {
          ctx.hooks.onProgress?.({ step: info.done, total: info.total, batch: b, batches: ctx.batches });
        }
      },
    });
    const clipped = tf.tidy(() => x0.clipByValue(-1, 1));
    x0.dispose();
    const data = clipped.dataSync() as Float32Array;
    clipped.dispose();
    return data;
  } finally {
    xT.dispose();
    labels?.dispose();
  }
}

/**
 * Generates `count` images. Images come back in [−1, 1] (clamped, as image_sample.py clamps when it converts to
 * bytes). Throws SamplingCancelledError when cancelled between steps.
 */
export async function generate(model: SamplingModel, options: GenerateOptions, hooks: GenerateHooks = {}): Promise<GenerateResult> {
  const o = checkGenerateOptions(options);
  const root = new Rng(o.seed);
  const classes = resolveClasses(model.numClasses, o.count, options.classes, root.fork('classes'));
  const diffusion = samplingDiffusion(model.pipeline, options.steps);
  const shape: [number, number, number] = [model.imageSize, model.imageSize, model.channels];
  const ctx: BatchContext = { model, o, diffusion, root, classes, shape, batches: Math.ceil(o.count / o.batchSize), frames: [], hooks };
  const out: Float32Array[] = [];
  try {
    for (let b = 0; b < ctx.batches; b++) out.push(await sampleBatch(b, ctx));
  } finally {
    diffusion.dispose();
  }
  return {
    images: concatRaw(out, o.count, shape),
    classes,
    frames: o.framesEvery > 0
      ? ctx.frames.map((f) => ({ t: f.t, xt: concatRaw(f.xt, o.count, shape), predXstart: concatRaw(f.pred, o.count, shape) }))
      : undefined,
    seed: o.seed,
    steps: diffusion.numTimesteps,
  };
}
