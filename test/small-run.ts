/**
 * The small training run that the exactness tests share (train-resume, parallel-train): a class-conditional UNet
 * on 8×8 MNIST, T = 4 with an importance sampler of history 2, so that within a few steps every random source and
 * every piece of state is exercised: dropout masks, labels, the sampler's warm-up and its weights, Adam's moments,
 * the EMA.
 */
import assert from 'node:assert/strict';
import { createDataset } from '../engine/data';
import { ModelStore, Trainer, resolveTrainRequest, trainingDiffusion, unetConfigFor } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import { imageShapeOf } from '../engine/train';
import type { TrainEvent } from '../engine/host/protocol';
import type { CompletePipeline, TrainOptions } from '../engine/spec';

export function smallPipeline(name: string, dropout = 0.1): CompletePipeline {
  return {
    schedule: { kind: 'cosine', steps: 4 },
    noiser: { modelMeanType: 'epsilon' },
    unet: { model: name, preset: 'tiny', config: { imageSize: 8, channelMult: [1, 2], attentionResolutions: [4], modelChannels: 32, dropout }, modelVarType: 'learned_range', numClasses: 10 },
    loss: { kind: 'hybrid', lambda: 0.001 },
    timesteps: { kind: 'importance', history: 2 },
  };
}

export const smallOptions = (maxSteps: number, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  dataset: { kind: 'mnist', limit: 50 }, batchSize: 4, microbatch: 2, lr: 1e-3, emaRate: 0.9, gradClip: 1, maxSteps, logEvery: 1, checkpointEvery: 0, seed: 5, ...extra,
});

/** A Trainer of the small run without dropout (its masks are drawn per microbatch: only then are splits comparable). */
export async function smallTrainer(batchSize: number, microbatch: number, extra: Partial<TrainOptions> = {}, pipeline: Partial<CompletePipeline> = {}): Promise<Trainer> {
  const { pipeline: p, options } = resolveTrainRequest('m', { ...smallPipeline('m', 0), ...pipeline }, smallOptions(0, { batchSize, microbatch, ...extra }));
  const config = unetConfigFor(p.unet);
  return new Trainer({ pipeline: p, config, options, diffusion: trainingDiffusion(p), dataset: await createDataset(options.dataset, imageShapeOf(config)) });
}

/** Runs the small job `name` to maxSteps (stopping it after step `stopAfter` if given); the loss of every step. */
export async function runSmallJob(store: ModelStore, name: string, maxSteps: number, stopAfter?: number): Promise<Map<number, number>> {
  const losses = new Map<number, number>();
  const job: TrainingJob = new TrainingJob({ name, pipeline: smallPipeline(name), options: smallOptions(maxSteps), store, onEvent: (ev: TrainEvent) => {
    if (ev.type === 'progress') {
      losses.set(ev.payload.step, ev.payload.loss);
      if (ev.payload.step === stopAfter) void job.stop();
    }
  } });
  await job.start();
  assert.ok(['done', 'stopped'].includes(job.status().state), job.status().error);
  return losses;
}
