/**
 * Sampling across the worker threads: the images of a request are split into contiguous shares, one per
 * thread, each running the reverse process on its share with the model's weights. Every image draws from its
 * own generator, so the result is the one generate() gives in one thread, whatever the number of threads.
 */
import { backendInfo } from '../backend';
import { Rng } from '../rng';
import { generate, checkGenerateOptions, resolveClasses, type GenerateHooks, type GenerateOptions, type GenerateResult, type SamplingModel } from '../sample/generate';
import { SamplingCancelledError } from '../sample/loop';
import { samplingDiffusion } from '../sample/process';
import { UNet } from '../unet/model';
import { acquirePool, releasePool, workerCount, type WorkerPool } from './pool';
import type { SharedWeights } from './protocol';
import type { ShareProgress } from './sample-images';
import { workShare } from './share';
import { parameterViews, sharedBufferFor, storeVariables } from './weights';

let snapshots = 0;

/** A snapshot of a UNet's weights for the workers (taken per request: a model's weights may change). */
export function shareWeights(unet: UNet): SharedWeights {
  const vars = unet.trainableVariables();
  const buffer = sharedBufferFor(vars);
  storeVariables(vars, parameterViews(buffer, vars));
  return { key: JSON.stringify(unet.config), snapshot: ++snapshots, config: unet.config, buffer };
}

/** Contiguous shares [first, first + count) of n images over k threads (sizes differ by at most one). */
export function splitImages(n: number, k: number): Array<{ first: number; count: number }> {
  return Array.from({ length: k }, (_, i) => {
    const first = Math.floor((i * n) / k);
    return { first, count: Math.floor(((i + 1) * n) / k) - first };
  }).filter((s) => s.count > 0);
}

/**
 * Progress of the whole request as the slowest share's fraction of its steps (a request is as far along as its
 * last thread), told in the steps and batches of the largest share.
 */
function progressTracker(shares: number, onProgress: NonNullable<GenerateHooks['onProgress']>): (k: number, p: ShareProgress) => void {
  const fraction = new Array<number>(shares).fill(0);
  let reported = 0;
  let batches = 1;
  return (k, p) => {
    fraction[k] = (p.batch * p.total + p.step) / (p.batches * p.total);
    batches = Math.max(batches, p.batches);
    const done = Math.round(Math.min(...fraction) * batches * p.total);
    if (done <= reported) return;
    reported = done;
    const batch = Math.floor((done - 1) / p.total);
    onProgress({ step: done - batch * p.total, total: p.total, batch, batches });
  };
}

/**
 * generate() on the engine's worker threads when there are several (wasm); in this thread otherwise, and for
 * requests that keep frames of the reverse process or have a single image. While it runs, training leaves it
 * its share of the threads (share.ts).
 */
export async function generateInWorkers(model: SamplingModel, options: GenerateOptions, hooks: GenerateHooks = {}): Promise<GenerateResult> {
  const ended = workShare().samplingStarted();
  try {
    return await generateOnThreads(model, options, hooks);
  } finally {
    ended();
  }
}

async function generateOnThreads(model: SamplingModel, options: GenerateOptions, hooks: GenerateHooks): Promise<GenerateResult> {
  const threads = workerCount(backendInfo()?.name);
  const o = checkGenerateOptions(options);
  if (threads <= 1 || o.count < 2 || o.framesEvery > 0 || !(model.unet instanceof UNet)) return generate(model, options, hooks);
  const classes = resolveClasses(model.numClasses, o.count, options.classes, new Rng(o.seed).fork('classes'));
  const diffusion = samplingDiffusion(model.pipeline, options.steps); // checks the steps setting here, not in every thread
  const steps = diffusion.numTimesteps;
  diffusion.dispose();
  const pool = acquirePool(threads);
  try {
    const images = await sampleShares(pool, model, model.unet, { ...o, steps: options.steps }, classes, hooks);
    return { images: { shape: [o.count, model.imageSize, model.imageSize, model.channels], data: images }, classes, seed: o.seed, steps };
  } finally {
    releasePool(pool);
  }
}

async function sampleShares(
  pool: WorkerPool, model: SamplingModel, unet: UNet, o: ReturnType<typeof checkGenerateOptions> & { steps?: GenerateOptions['steps'] },
  classes: number[] | undefined, hooks: GenerateHooks,
): Promise<Float32Array> {
  const shares = splitImages(o.count, pool.size);
  const weights = shareWeights(unet);
  const cancel = new SharedArrayBuffer(4);
  const flag = new Int32Array(cancel);
  const stopAll = (): void => void Atomics.store(flag, 0, 1);
  const poll = setInterval(() => {
    if (hooks.isCancelled?.() || hooks.signal?.aborted) stopAll();
  }, 20);
  poll.unref();
  const track = hooks.onProgress ? progressTracker(shares.length, hooks.onProgress) : undefined;
  const options = { batchSize: o.batchSize, steps: o.steps, method: o.method, eta: o.eta, clipDenoised: o.clipDenoised, seed: o.seed, progressEvery: o.progressEvery };
  try {
    const parts = await Promise.all(shares.map((s, k) =>
      pool.request<Float32Array>(k, {
        op: 'sample', model: weights, pipeline: model.pipeline, options: { ...options, count: s.count }, first: s.first, count: s.count,
        classes: classes?.slice(s.first, s.first + s.count), cancel,
      }, [], track ? (p) => track(k, p as ShareProgress) : undefined).catch((err: Error) => {
        stopAll(); // one share failed: the others need not finish
        throw err;
      })));
    const per = model.imageSize * model.imageSize * model.channels;
    const images = new Float32Array(o.count * per);
    parts.forEach((p, k) => images.set(p, shares[k].first * per));
    return images;
  } catch (err) {
    if ((err as Error).name === 'SamplingCancelledError') throw new SamplingCancelledError();
    throw err;
  } finally {
    clearInterval(poll);
  }
}

/**
 * The output (evaluation mode) of the UNet whose weights are shared, for a batch x [N, H, W, C] at timesteps t
 * (already scaled), the batch split over the pool's threads; an unconditional model only.
 */
export async function forwardInWorkers(pool: WorkerPool, weights: SharedWeights, x: Float32Array, shape: [number, number, number, number], t: Float32Array): Promise<Float32Array> {
  const [n, h, w, c] = shape;
  const shares = splitImages(n, pool.size);
  const parts = await Promise.all(shares.map((s, k) => pool.request<Float32Array>(k, {
    op: 'forward', model: weights, x: x.slice(s.first * h * w * c, (s.first + s.count) * h * w * c), shape: [s.count, h, w, c], t: t.slice(s.first, s.first + s.count),
  })));
  const per = (parts[0]?.length ?? 0) / shares[0].count;
  const out = new Float32Array(n * per);
  parts.forEach((p, k) => out.set(p, shares[k].first * per));
  return out;
}
