/**
 * The forward process on its own (the Noiser's strips, the Schedule's charts): x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε for
 * images at chosen t (iddpm.md, "Forward process"), and a schedule's tables for plotting.
 */
import { tf } from '../tf';
import { Rng } from '../rng';
import { createDiffusion, type GaussianDiffusion } from '../diffusion';
import { createDataset } from '../data';
import { decodeImages, encodePng, makeGrid, type ImageBatch } from '../image';
import { packageInfo } from '../digest';
import { withProvenance } from '../sample/provenance';
import {
  InvalidValue, LIMITS, PROVENANCE_FORMAT, checkDatasetPick, checkImageInput, checkSchedule, intOrList, isDatasetPick, need,
  object, SEED, type NoiseRequest, type RawImages, type ScheduleKind, type ScheduleSpec,
} from '../spec';

export interface NoiseResult {
  /** [N·len(t), H, W, C] in image-major order: image 0 at every t, then image 1… */
  images: RawImages;
  /** The same as one PNG: a row per image, a column per t (or the single image). */
  png: Buffer;
  t: number[];
}

/** A schedule's tables for charting (the Schedule node's `tables` topic). */
export interface ScheduleChart {
  kind: ScheduleKind;
  steps: number;
  betas: number[];
  alphasCumprod: number[];
  sqrtAlphasCumprod: number[];
  sqrtOneMinusAlphasCumprod: number[];
  snr: number[];
  posteriorVariance: number[];
  posteriorLogVarianceClipped: number[];
}

/** The forward process of a schedule alone (variance and loss do not matter to q). */
function forwardProcess(spec: ScheduleSpec): GaussianDiffusion {
  const s = checkSchedule(spec);
  return createDiffusion({
    schedule: { name: s.kind, steps: s.steps, cosineS: s.cosineS, maxBeta: s.maxBeta },
    modelMeanType: 'epsilon',
    modelVarType: 'fixed_small',
    lossType: 'simple',
  });
}

/** Side of the dataset images a pick gives: the engine's MNIST size (28×28 padded to 32×32). */
const PICK_SIDE = 32;

/** The images of a dataset pick, [-1, 1], in the order of its indices. */
async function pickedImages(pick: unknown): Promise<ImageBatch> {
  const p = checkDatasetPick('images', pick);
  const dataset = await createDataset({ kind: p.dataset, split: p.split }, { imageSize: PICK_SIDE, channels: 1 });
  const bad = p.indices.find((i) => i >= dataset.size);
  if (bad !== undefined) {
    throw new InvalidValue('images.indices', { key: 'datasetIndices', params: { max: LIMITS.imagesPerMessage, split: p.split, last: dataset.size - 1, got: bad } });
  }
  const { x } = dataset.getBatch(p.indices);
  return { shape: [p.indices.length, PICK_SIDE, PICK_SIDE, 1], data: x };
}

/**
 * Every image of the request noised at every t, as raw images and as one PNG strip (with its provenance: the
 * schedule, the t of each column and the seed). The images may be a pick of MNIST / Fashion-MNIST test images.
 */
export async function noiseImages(request: NoiseRequest): Promise<NoiseResult> {
  const r = need('request', object, request) as unknown as NoiseRequest;
  const input = isDatasetPick(r.images) ? undefined : checkImageInput('images', r.images);
  const diffusion = forwardProcess(r.schedule);
  try {
    const T = diffusion.numTimesteps;
    const tv = need('t', intOrList(0, T - 1, LIMITS.noiseTimes), r.t);
    const ts = Array.isArray(tv) ? tv : [tv];
    const seed = r.seed === undefined ? 0 : need('seed', SEED, r.seed);
    const images = input === undefined ? await pickedImages(r.images) : await decodeImages(input).catch((err: Error) => {
      throw new InvalidValue('images', { key: 'images', params: { reason: err.message } });
    });
    const [n, h, w, c] = images.shape;
    if (n * ts.length > LIMITS.imagesPerMessage) {
      throw new InvalidValue('t', { key: 'images', params: { reason: `${n} images × ${ts.length} timesteps is more than ${LIMITS.imagesPerMessage} images` } });
    }
    const rng = new Rng(seed);
    const out = tf.tidy(() => {
      const x0 = tf.tensor4d(images.data, [n, h, w, c]).reshape([n, 1, h, w, c]).tile([1, ts.length, 1, 1, 1]).reshape([n * ts.length, h, w, c]);
      const t = tf.tensor1d(Array.from({ length: n }, () => ts).flat(), 'int32');
      const eps = tf.tensor4d(rng.normalArray(n * ts.length * h * w * c), [n * ts.length, h, w, c]);
      return diffusion.qSample(x0, t, eps).clipByValue(-1, 1);
    });
    const data = Float32Array.from(out.dataSync() as Float32Array);
    out.dispose();
    const noised: RawImages = { shape: [n * ts.length, h, w, c], data };
    const picture = noised.shape[0] === 1 ? noised : makeGrid(noised, { columns: ts.length });
    const pkg = packageInfo();
    const png = withProvenance(await encodePng(picture.data, picture.shape[1], picture.shape[2], picture.shape[3]), {
      format: PROVENANCE_FORMAT, kind: 'noise', package: pkg.name, packageVersion: pkg.version, seed,
      images: Array.from({ length: n }, (_, i) => i), columns: ts.length, t: ts,
    });
    return { images: noised, png, t: ts };
  } finally {
    diffusion.dispose();
  }
}

/** β_t, ᾱ_t, √ᾱ_t, √(1−ᾱ_t), SNR = ᾱ/(1−ᾱ) and the posterior variance of a schedule. */
export function scheduleChart(spec: ScheduleSpec): ScheduleChart {
  const d = forwardProcess(spec);
  const tb = d.tables;
  const list = (a: ArrayLike<number>): number[] => Array.from(a);
  d.dispose();
  return {
    kind: checkSchedule(spec).kind,
    steps: d.numTimesteps,
    betas: list(tb.betas),
    alphasCumprod: list(tb.alphasCumprod),
    sqrtAlphasCumprod: list(tb.sqrtAlphasCumprod),
    sqrtOneMinusAlphasCumprod: list(tb.sqrtOneMinusAlphasCumprod),
    snr: Array.from(tb.alphasCumprod, (a) => a / (1 - a)),
    posteriorVariance: list(tb.posteriorVariance),
    posteriorLogVarianceClipped: list(tb.posteriorLogVarianceClipped),
  };
}
