/**
 * Bits/dim on the worker threads: the evaluated images are split into contiguous shares, one per thread, each
 * running calcBpdLoop over its share with the model's weights. Every image draws its noise from its own generator
 * and its terms do not depend on the images beside it, so the answer is evaluateBpd's in one thread.
 */
import { backendInfo } from '../backend';
import type { Dataset } from '../data';
import { bpdTermsOfImages, checkEvaluation, evaluateBpd, evaluationImages, summarizeBpd, type BpdTerms, type EvaluateOptions, type EvaluateResult } from '../sample/bpd';
import type { SamplingModel } from '../sample/generate';
import { SamplingCancelledError } from '../sample/loop';
import { samplingDiffusion } from '../sample/process';
import { UNet } from '../unet/model';
import { acquirePool, releasePool, workerCount } from './pool';
import type { WorkerRequest } from './protocol';
import { shareWeights, splitImages } from './sample';

type BpdRequest = Extract<WorkerRequest, { op: 'bpd' }>;

/** A worker's share of an evaluation (in the worker thread), with the UNet holding the request's weights. */
export async function bpdShare(unet: UNet, req: BpdRequest, emit: (done: number) => void): Promise<BpdTerms[]> {
  const c = unet.config;
  const model = { unet, pipeline: req.pipeline, imageSize: c.imageSize, channels: c.inChannels, numClasses: c.numClasses };
  const cancelled = new Int32Array(req.cancel);
  const diffusion = samplingDiffusion(req.pipeline, req.options.steps);
  try {
    return await bpdTermsOfImages(model, diffusion, { first: req.first, n: req.count, x: req.x, labels: req.labels }, req.options, {
      onProgress: emit,
      isCancelled: () => Atomics.load(cancelled, 0) !== 0,
    });
  } finally {
    diffusion.dispose();
  }
}

/**
 * evaluateBpd on the engine's worker threads when there are several (wasm) and more than one image; in this
 * thread otherwise.
 */
export async function evaluateBpdInWorkers(
  model: SamplingModel, dataset: Dataset, opts: EvaluateOptions = {},
  hooks: { onProgress?: (done: number, total: number) => void; isCancelled?: () => boolean } = {},
): Promise<EvaluateResult> {
  const threads = workerCount(backendInfo()?.name);
  const { count, batchSize } = checkEvaluation(model, dataset, opts);
  if (threads <= 1 || count < 2 || !(model.unet instanceof UNet)) return evaluateBpd(model, dataset, opts, hooks);
  const started = Date.now();
  const diffusion = samplingDiffusion(model.pipeline, opts.steps); // checks the steps setting here, not in every thread
  const K = diffusion.numTimesteps;
  const shares = splitImages(count, Math.min(threads, count));
  const images = shares.map((s) => evaluationImages(model, dataset, s.first, s.count));
  const weights = shareWeights(model.unet);
  const cancel = new SharedArrayBuffer(4);
  const stopAll = (): void => void Atomics.store(new Int32Array(cancel), 0, 1);
  const poll = setInterval(() => {
    if (hooks.isCancelled?.()) stopAll();
  }, 20);
  poll.unref();
  const done = new Array<number>(shares.length).fill(0);
  const options = { batchSize, steps: opts.steps, seed: opts.seed, clipDenoised: opts.clipDenoised, rowsPerPass: opts.rowsPerPass };
  const pool = acquirePool(threads);
  try {
    const parts = await Promise.all(shares.map((s, k) => pool.request<BpdTerms[]>(k, {
      op: 'bpd', model: weights, pipeline: model.pipeline, options, first: s.first, count: s.count, x: images[k].x,
      labels: images[k].labels ? Array.from(images[k].labels!) : undefined, cancel,
    }, [], (d) => {
      done[k] = d as number;
      hooks.onProgress?.(done.reduce((a, b) => a + b, 0), count * K);
    }).catch((err: Error) => {
      stopAll(); // one share failed: the others need not finish
      throw err;
    })));
    return summarizeBpd(parts.flat(), count, diffusion, opts.perTimestep ?? false, started);
  } catch (err) {
    if ((err as Error).name === 'SamplingCancelledError') throw new SamplingCancelledError();
    throw err;
  } finally {
    clearInterval(poll);
    releasePool(pool);
    diffusion.dispose();
  }
}
