/**
 * Shared by the sampling and bits/dim tests: a `tiny`-preset model trained briefly on MNIST with the hybrid loss
 * (tf.train.adam over GaussianDiffusion.trainingLosses, uniform t), so samples and likelihoods come from a model
 * that has learned something rather than from random weights.
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/rng';
import { UNet } from '../engine/unet/model';
import { PRESETS } from '../engine/unet/presets';
import type { UNetConfig } from '../engine/unet/config';
import { loadMnist } from '../engine/data';
import type { PipelineForSampling } from '../engine/sample/process';
import { samplingDiffusion } from '../engine/sample/process';
import type { SamplingModel } from '../engine/sample/generate';

/** The IDDPM recipe (cosine, learned_range, hybrid loss) on a short process, so the full-T bound stays cheap. */
export function tinyPipeline(numClasses: number | null, T = 200): PipelineForSampling {
  return {
    schedule: { kind: 'cosine', steps: T },
    noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
    unet: { model: 'test', preset: 'tiny', modelVarType: 'learned_range', numClasses },
    loss: { kind: 'hybrid', lambda: 0.001 },
  };
}

export interface TrainedModel extends SamplingModel {
  unet: UNet;
  finalLoss: number;
}

/**
 * Trains the tiny preset for `steps` Adam steps on the MNIST digits in `digits` (all when absent), with labels
 * when `conditional`. Deterministic in `seed` (initialisation, batches, t and noise).
 */
export async function trainTiny(opts: {
  steps: number; batchSize?: number; lr?: number; digits?: number[]; conditional?: boolean; seed?: number; T?: number;
  /** Architecture overrides on the tiny preset (e.g. a smaller imageSize for a faster test). */
  config?: Partial<UNetConfig>;
}): Promise<TrainedModel> {
  const size = opts.config?.imageSize ?? PRESETS.tiny.imageSize;
  const all = loadMnist({ split: 'train', imageSize: size, channels: 1, limit: 4000 });
  const keep = Array.from({ length: all.size }, (_, i) => i);
  const labelsOf = all.getBatch(keep).y as Int32Array;
  const chosen = opts.digits ? keep.filter((i) => opts.digits!.includes(labelsOf[i])) : keep;
  const numClasses = opts.conditional ? (opts.digits?.length ?? 10) : null;
  // Conditional models see class k = position of the digit in `digits`.
  const classOf = (digit: number): number => (opts.digits ? opts.digits.indexOf(digit) : digit);
  const config: UNetConfig = {
    ...PRESETS.tiny, attentionResolutions: [...PRESETS.tiny.attentionResolutions], channelMult: [...PRESETS.tiny.channelMult], ...opts.config, numClasses,
  };
  const unet = UNet.create(config, opts.seed ?? 1);
  const pipeline = tinyPipeline(numClasses, opts.T);
  const diffusion = samplingDiffusion(pipeline);
  const rng = new Rng(opts.seed ?? 1);
  const optimizer = tf.train.adam(opts.lr ?? 2e-3);
  const bs = opts.batchSize ?? 16;
  let finalLoss = NaN;
  for (let step = 0; step < opts.steps; step++) {
    const idx = Array.from({ length: bs }, () => chosen[rng.int(chosen.length)]);
    const batch = all.getBatch(idx);
    const ts = Array.from({ length: bs }, () => rng.int(diffusion.numTimesteps));
    const noise = rng.normalArray(batch.x.length);
    const loss = tf.tidy(() => {
      const x0 = tf.tensor4d(batch.x, [bs, size, size, 1]);
      const t = tf.tensor1d(ts, 'int32');
      const eps = tf.tensor4d(noise, x0.shape);
      const y = numClasses !== null ? tf.tensor1d(Array.from(batch.y as Int32Array, classOf), 'int32') : undefined;
      return optimizer.minimize(() => {
        const xt = diffusion.qSample(x0, t, eps) as tf.Tensor4D;
        const out = unet.apply(xt, diffusion.scaleTimesteps(t), y, { training: true });
        return diffusion.trainingLosses(out, x0, xt, t, eps).loss.mean() as tf.Scalar;
      }, true, unet.trainableVariables()) as tf.Scalar;
    });
    finalLoss = loss.dataSync()[0];
    loss.dispose();
  }
  optimizer.dispose();
  diffusion.dispose();
  return { unet, pipeline, imageSize: size, channels: 1, numClasses, finalLoss };
}
