/**
 * A worker's share of a sampling request: images [first, first + count) of it, through engine/sample's
 * generate() with `firstImage`, so each image draws from `Rng(seed).fork('image:i')` exactly as in one thread and
 * does not depend on which thread made it. The classes come resolved from the main thread.
 */
import { generate } from '../sample/generate';
import type { UNet } from '../unet/model';
import type { WorkerRequest } from './protocol';

/** Progress of a share: steps done in its current batch, of how many batches. */
export interface ShareProgress {
  step: number;
  total: number;
  batch: number;
  batches: number;
}

/** Runs the reverse process over the share in batches; returns its images clamped to [−1, 1]. */
export async function sampleImages(unet: UNet, req: Extract<WorkerRequest, { op: 'sample' }>, emit: (p: ShareProgress) => void): Promise<Float32Array> {
  const cancelled = new Int32Array(req.cancel);
  const c = unet.config;
  const model = { unet, pipeline: req.pipeline, imageSize: c.imageSize, channels: c.inChannels, numClasses: c.numClasses };
  const result = await generate(
    model,
    { ...req.options, count: req.count, firstImage: req.first, classes: req.classes ?? undefined, framesEvery: 0 },
    { isCancelled: () => Atomics.load(cancelled, 0) !== 0, onProgress: emit },
  );
  return result.images.data;
}
