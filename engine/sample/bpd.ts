/**
 * Likelihood in bits per dimension, as the reference's `calc_bpd_loop` / `image_nll.py`: for each image the
 * variational bound Σ_t L_t (t = 0 the decoder NLL, each t with fresh noise) plus the prior term
 * KL(q(x_{T−1}|x_0) ‖ N(0, I)) (iddpm.md, "Likelihood in bits per dimension"). With a respaced process the bound
 * is that of the K-step process the model would sample with.
 *
 * Cost: K forward passes per image. Rather than one pass per t over the image batch (the reference's loop), the
 * (image, t) pairs are packed `rowsPerPass` at a time into each UNet call, so small image batches still fill it.
 * Each image draws its noise from its own generator in the reference's order (t = K−1 … 0), so the result does
 * not depend on how rows are packed.
 */
import { tf } from '../tf';
import { Rng } from '../rng';
import type { Dataset } from '../data';
import { nextTurn } from '../turn';
import { EVALUATE_DEFAULTS, InvalidValue, type Respacing } from '../spec';
import { GaussianDiffusion, meanFlat } from '../diffusion';
import { SamplingCancelledError } from './loop';
import { SamplerUNet, SamplingModel } from './generate';
import { samplingDiffusion } from './process';


export interface BpdOptions {
  /** Clip x̂₀ to [−1, 1] inside the bound (the reference's calc_bpd_loop default: true). */
  clipDenoised?: boolean;
  /** (image, t) pairs per UNet forward pass (default 32). */
  rowsPerPass?: number;
  /** Per-image generators (one per image of x0); the noise for (i, t) comes from rngs[i]. */
  rngs: Rng[];
  /** Class label per image (class-conditional models). */
  labels?: ArrayLike<number>;
  /** Called after each forward pass with pairs done / total. */
  onProgress?: (done: number, total: number) => void;
  isCancelled?: () => boolean;
}

/** calc_bpd_loop's outputs; per-timestep arrays are [N·K] row-major (image i, process index t at i·K + t). */
export interface BpdTerms {
  totalBpd: Float64Array;
  priorBpd: Float64Array;
  vb: Float64Array;
  /** mean (x̂₀ − x₀)² per (image, t). */
  xstartMse: Float64Array;
  /** mean (ε(x̂₀) − ε)² per (image, t). */
  mse: Float64Array;
}

/** One forward pass over a packed chunk of (image, t) pairs: returns vb, x̂₀ mse and ε mse per pair. */
function bpdChunk(
  diffusion: GaussianDiffusion, unet: SamplerUNet, x0: tf.Tensor4D, images: number[], ts: number[], noise: Float32Array,
  labels: ArrayLike<number> | undefined, clip: boolean,
): [Float32Array, Float32Array, Float32Array] {
  return tf.tidy(() => {
    const idx = tf.tensor1d(images, 'int32');
    const t = tf.tensor1d(ts, 'int32');
    const x0rows = tf.gather(x0, idx) as tf.Tensor4D;
    const eps = tf.tensor4d(noise, x0rows.shape);
    const xt = diffusion.qSample(x0rows, t, eps) as tf.Tensor4D;
    const y = labels ? tf.tensor1d(images.map((i) => labels[i]), 'int32') : undefined;
    const out = unet.apply(xt, diffusion.scaleTimesteps(t), y, { training: false });
    const { output, predXstart } = diffusion.vbTermsBpd(out, x0rows, xt, t, { clipDenoised: clip });
    const xstartMse = meanFlat(tf.squaredDifference(predXstart, x0rows));
    const mse = meanFlat(tf.squaredDifference(diffusion.predictEpsFromXstart(xt, t, predXstart), eps));
    return [output, xstartMse, mse].map((v) => v.dataSync() as Float32Array) as [Float32Array, Float32Array, Float32Array];
  });
}

/** `calc_bpd_loop` over a batch x0 [N, H, W, C] in [−1, 1]. */
export async function calcBpdLoop(diffusion: GaussianDiffusion, unet: SamplerUNet, x0: tf.Tensor4D, opts: BpdOptions): Promise<BpdTerms> {
  const [n, h, w, c] = x0.shape;
  const K = diffusion.numTimesteps;
  const size = h * w * c;
  const rows = Math.max(1, Math.floor(opts.rowsPerPass ?? 32));
  if (opts.rngs.length !== n) throw new Error(`calcBpdLoop: ${opts.rngs.length} generators for ${n} images`);
  const vb = new Float64Array(n * K);
  const xstartMse = new Float64Array(n * K);
  const mse = new Float64Array(n * K);
  // Pair p = i·K + j is image i at t = K−1−j: each image's noise is drawn in the reference's order.
  for (let p0 = 0; p0 < n * K; p0 += rows) {
    if (opts.isCancelled?.()) throw new SamplingCancelledError();
    const count = Math.min(rows, n * K - p0);
    const images: number[] = [];
    const ts: number[] = [];
    const noise = new Float32Array(count * size);
    for (let k = 0; k < count; k++) {
      const i = Math.floor((p0 + k) / K);
      images.push(i);
      ts.push(K - 1 - ((p0 + k) % K));
      noise.set(opts.rngs[i].normalArray(size), k * size);
    }
    const [v, xm, m] = bpdChunk(diffusion, unet, x0, images, ts, noise, opts.labels, opts.clipDenoised ?? true);
    for (let k = 0; k < count; k++) {
      const at = images[k] * K + ts[k];
      vb[at] = v[k];
      xstartMse[at] = xm[k];
      mse[at] = m[k];
    }
    opts.onProgress?.(p0 + count, n * K);
    await nextTurn();
  }
  const prior = diffusion.priorBpd(x0);
  const priorBpd = Float64Array.from(prior.dataSync());
  prior.dispose();
  const totalBpd = priorBpd.map((prior, i) => vb.subarray(i * K, (i + 1) * K).reduce((a, b) => a + b, prior));
  return { totalBpd, priorBpd, vb, xstartMse, mse };
}

export interface EvaluateOptions {
  /** Images to evaluate: the first `count` of the dataset (default 16). */
  count?: number;
  /** Images per calcBpdLoop (default 16). */
  batchSize?: number;
  /** Evaluate the bound of a respaced process (parsed, a number, `ddimN`, section counts); default the full T. */
  steps?: Respacing | number | string;
  seed?: number;
  perTimestep?: boolean;
  clipDenoised?: boolean;
  rowsPerPass?: number;
}

/**
 * What an evaluation answers. `terms[k]` is the mean L_t at process index k = 0 … K−1 (t = 0, the decoder term,
 * first): the REVERSE of the columns of the reference's calc_bpd_loop `vb`, which start at t = K−1.
 */
export interface EvaluateResult {
  /** Mean over the images of each image's bound (prior + Σ_t L_t), bits/dim. */
  bitsPerDim: number;
  /** The standard error of that mean: sample standard deviation of perImage / √count (0 for one image). */
  standardError: number;
  /** Each image's bound, in dataset order. */
  perImage: number[];
  priorBpd: number;
  vbBpd: number;
  mseMean: number;
  count: number;
  /** K, the steps of the evaluated process. */
  steps: number;
  /** vb term per process index (bits/dim), averaged over images, when asked. */
  terms?: number[];
  /** Original timestep of each entry of `terms`, when asked. */
  timesteps?: number[];
  seconds: number;
}

/** For library callers who want the whole per-(image, t) table too: see calcBpdLoop. */
export type Evaluation = EvaluateResult;

/** The sample standard deviation of `a` over √n: how far the mean of n images may be from the dataset's. */
export function standardErrorOf(a: ArrayLike<number>): number {
  const n = a.length;
  if (n < 2) return 0;
  let m = 0;
  for (let i = 0; i < n; i++) m += a[i];
  m /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (a[i] - m) ** 2;
  return Math.sqrt(ss / (n - 1) / n);
}

const mean = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / a.length;

/** What an evaluation of `count` images checks before it starts: the count, the batch size, the images' shape. */
export function checkEvaluation(model: SamplingModel, dataset: Dataset, opts: EvaluateOptions): { count: number; batchSize: number } {
  const count = Math.min(opts.count ?? EVALUATE_DEFAULTS.count, dataset.size);
  if (!Number.isInteger(count) || count < 1) throw new InvalidValue('count', { key: 'range', params: { min: 1, max: dataset.size, got: String(opts.count) } });
  const [h, w, c] = dataset.imageShape;
  if (h !== model.imageSize || w !== model.imageSize || c !== model.channels) {
    throw new Error(`Evaluation: the dataset's images are ${h}×${w}×${c}, the model takes ${model.imageSize}×${model.imageSize}×${model.channels}`);
  }
  return { count, batchSize: Math.max(1, Math.floor(opts.batchSize ?? EVALUATE_DEFAULTS.batchSize)) };
}

/** Images [first, first + n) of an evaluation, as calcBpdLoop needs them (labels for a class-conditional model). */
export interface EvaluationImages {
  first: number;
  n: number;
  x: Float32Array;
  labels?: ArrayLike<number>;
}

/** The images [first, first + n) of the dataset, refused when a class-conditional model meets a dataset without labels. */
export function evaluationImages(model: SamplingModel, dataset: Dataset, first: number, n: number): EvaluationImages {
  const batch = dataset.getBatch(Array.from({ length: n }, (_, i) => first + i));
  if (model.numClasses !== null && !batch.y) throw new InvalidValue('dataset', { key: 'labels', params: { count: n, got: 'no labels (this model is class-conditional)' } });
  return { first, n, x: batch.x, labels: model.numClasses !== null ? batch.y ?? undefined : undefined };
}

/**
 * calcBpdLoop over images [first, first + n) of an evaluation, `batchSize` at a time, each image i drawing from
 * Rng(seed).fork(`image:i`): its terms do not depend on which other images share its batches (or its thread).
 */
export async function bpdTermsOfImages(
  model: SamplingModel, diffusion: GaussianDiffusion, images: EvaluationImages, opts: EvaluateOptions & { batchSize: number },
  hooks: { onProgress?: (done: number) => void; isCancelled?: () => boolean } = {},
): Promise<BpdTerms[]> {
  const shape = [model.imageSize, model.imageSize, model.channels] as const;
  const per = shape[0] * shape[1] * shape[2];
  const K = diffusion.numTimesteps;
  const root = new Rng(opts.seed ?? 0);
  const parts: BpdTerms[] = [];
  for (let start = 0; start < images.n; start += opts.batchSize) {
    const n = Math.min(opts.batchSize, images.n - start);
    const x0 = tf.tensor4d(images.x.subarray(start * per, (start + n) * per), [n, ...shape]);
    try {
      parts.push(await calcBpdLoop(diffusion, model.unet, x0, {
        clipDenoised: opts.clipDenoised,
        rowsPerPass: opts.rowsPerPass,
        rngs: Array.from({ length: n }, (_, i) => root.fork(`image:${images.first + start + i}`)),
        labels: images.labels ? Array.from({ length: n }, (_, i) => images.labels![start + i]) : undefined,
        onProgress: (done) => hooks.onProgress?.(start * K + done),
        isCancelled: hooks.isCancelled,
      }));
    } finally {
      x0.dispose();
    }
  }
  return parts;
}

/** The evaluation's answer from the terms of its images, in image order. */
export function summarizeBpd(parts: BpdTerms[], count: number, diffusion: GaussianDiffusion, perTimestep: boolean, started: number): EvaluateResult {
  const K = diffusion.numTimesteps;
  const join = (key: keyof BpdTerms): Float64Array => {
    const out = new Float64Array(parts.reduce((a, p) => a + p[key].length, 0));
    parts.reduce((off, p) => (out.set(p[key], off), off + p[key].length), 0);
    return out;
  };
  const vb = join('vb');
  const terms = Array.from({ length: K }, (_, t) => {
    let s = 0;
    for (let i = 0; i < count; i++) s += vb[i * K + t];
    return s / count;
  });
  const perImage = join('totalBpd');
  return {
    bitsPerDim: mean(perImage),
    standardError: standardErrorOf(perImage),
    perImage: Array.from(perImage),
    priorBpd: mean(join('priorBpd')),
    vbBpd: terms.reduce((a, b) => a + b, 0),
    mseMean: mean(join('mse')),
    count,
    steps: K,
    terms: perTimestep ? terms : undefined,
    timesteps: perTimestep ? [...diffusion.timestepMap] : undefined,
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * Bits/dim of a model on the first `count` images of a dataset (image_nll.py): the mean bound, its prior and vb
 * parts, the mean ε mse, and optionally the mean L_t per timestep (the paper's Figure 2). In this thread;
 * engine/parallel's evaluateBpdInWorkers splits the images over the worker threads with the same result.
 */
export async function evaluateBpd(
  model: SamplingModel, dataset: Dataset, opts: EvaluateOptions = {},
  hooks: { onProgress?: (done: number, total: number) => void; isCancelled?: () => boolean } = {},
): Promise<Evaluation> {
  const started = Date.now();
  const { count, batchSize } = checkEvaluation(model, dataset, opts);
  const images = evaluationImages(model, dataset, 0, count);
  const diffusion = samplingDiffusion(model.pipeline, opts.steps);
  try {
    const K = diffusion.numTimesteps;
    const parts = await bpdTermsOfImages(model, diffusion, images, { ...opts, batchSize }, {
      onProgress: (done) => hooks.onProgress?.(done, count * K),
      isCancelled: hooks.isCancelled,
    });
    return summarizeBpd(parts, count, diffusion, opts.perTimestep ?? false, started);
  } finally {
    diffusion.dispose();
  }
}
