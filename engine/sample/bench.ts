/**
 * Sampling speed for `npm run bench`: images/s of one batch through a respaced process, ancestral and DDIM, and
 * the time to the first progress event (what a user waits before anything moves). Weights are random — speed
 * does not depend on them.
 */
import { UNet } from '../unet/model';
import { resolveUNetConfig } from '../unet/presets';
import { generate, SamplingModel } from './generate';
import type { PipelineForSampling } from './process';

export interface SamplingBench {
  ancestralImagesPerSec: number;
  ddimImagesPerSec: number;
  firstProgressMs: number;
}

/** Times `count` images at `steps` respaced steps (of T = 1000, cosine, learned_range) for a UNet preset. */
export async function benchSampling(presetName: string, opts: { count?: number; steps?: number } = {}): Promise<SamplingBench> {
  const count = opts.count ?? 16;
  const steps = opts.steps ?? 50;
  const config = resolveUNetConfig(presetName);
  const unet = UNet.create(config, 0, { zeroInit: false });
  const pipeline: PipelineForSampling = {
    schedule: { kind: 'cosine', steps: 1000 },
    noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
    unet: { model: 'bench', preset: 'custom', modelVarType: config.learnSigma ? 'learned_range' : 'fixed_large', numClasses: config.numClasses },
  };
  const model: SamplingModel = { unet, pipeline, imageSize: config.imageSize, channels: config.inChannels, numClasses: config.numClasses };
  try {
    await generate(model, { count: 1, steps: 2, seed: 0 }); // warm-up: kernel setup and first allocations
    const rate = async (method: 'ancestral' | 'ddim', onFirst?: (ms: number) => void): Promise<number> => {
      const start = performance.now();
      let first = true;
      await generate(model, { count, batchSize: count, steps, method, seed: 1, progressEvery: 1 }, {
        onProgress: () => {
          if (first) onFirst?.(performance.now() - start);
          first = false;
        },
      });
      return count / ((performance.now() - start) / 1000);
    };
    let firstProgressMs = NaN;
    const ancestralImagesPerSec = await rate('ancestral', (ms) => (firstProgressMs = ms));
    const ddimImagesPerSec = await rate('ddim');
    return { ancestralImagesPerSec, ddimImagesPerSec, firstProgressMs };
  } finally {
    unet.dispose();
  }
}
