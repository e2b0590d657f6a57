/**
 * A worker's share of a sampling request: images [first, first + count) of it, each drawing from its own
 * generator `Rng(seed).fork('image:i')` as engine/sample's generate() does, so an image does not depend on which
 * thread made it. (generate() has no "these image indices" option yet; this is its sampleBatch with an offset.)
 */
import { tf } from '../tf';
import { Rng } from '../rng';
import { checkGenerateOptions, modelFn } from '../sample/generate';
import { reverseLoop } from '../sample/loop';
import { samplingDiffusion } from '../sample/process';
import type { UNet } from '../unet/model';
import type { WorkerRequest } from './protocol';

/** Progress of a share: steps done in its current batch, of how many batches. */
export interface ShareProgress {
  step: number;
  total: number;
  batch: number;
  batches: number;
}

/** n per-image draws of x_T or z, stacked as one [n, H, W, C] tensor (generate()'s drawBatch). */
function drawBatch(rngs: Rng[], shape: [number, number, number]): tf.Tensor4D {
  const size = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(rngs.length * size);
  rngs.forEach((r, i) => data.set(r.normalArray(size), i * size));
  return tf.tensor4d(data, [rngs.length, ...shape]);
}

/** Runs the reverse process over the share in batches; returns its images clamped to [−1, 1]. */
export async function sampleImages(unet: UNet, req: Extract<WorkerRequest, { op: 'sample' }>, emit: (p: ShareProgress) => void): Promise<Float32Array> {
  const o = checkGenerateOptions({ ...req.options, count: req.count });
  const cancelled = new Int32Array(req.cancel);
  const c = unet.config;
  const shape: [number, number, number] = [c.imageSize, c.imageSize, c.inChannels];
  const size = shape[0] * shape[1] * shape[2];
  const diffusion = samplingDiffusion(req.pipeline, req.options.steps);
  const root = new Rng(o.seed);
  const batches = Math.ceil(req.count / o.batchSize);
  const out = new Float32Array(req.count * size);
  try {
    for (let b = 0; b < batches; b++) {
      const start = b * o.batchSize;
      const n = Math.min(o.batchSize, req.count - start);
      const rngs = Array.from({ length: n }, (_, i) => root.fork(`image:${req.first + start + i}`));
      const labels = req.classes ? tf.tensor1d(req.classes.slice(start, start + n), 'int32') : undefined;
      const xT = drawBatch(rngs, shape);
      try {
        const x0 = await reverseLoop(o.method, diffusion, modelFn(unet, diffusion, labels), xT, {
          clipDenoised: o.clipDenoised,
          eta: o.eta,
          drawNoise: () => drawBatch(rngs, shape),
          isCancelled: () => Atomics.load(cancelled, 0) !== 0,
          onStep: (info) => {
            if (o.progressEvery > 0 && (info.done % o.progressEvery === 0 || info.done === info.total)) {
              emit({ step: info.done, total: info.total, batch: b, batches });
            }
          },
        });
        const clipped = tf.tidy(() => x0.clipByValue(-1, 1));
        x0.dispose();
        out.set(clipped.dataSync() as Float32Array, start * size);
        clipped.dispose();
      } finally {
        xT.dispose();
        labels?.dispose();
      }
    }
  } finally {
    diffusion.dispose();
  }
  return out;
}
