/**
 * `npm run bench`: speed and memory of the `tiny` and `mnist` presets at batch 16, as the anchors in
 * ../shared/anchors measure the reference on PyTorch — a whole training step (importance-sampled t, hybrid
 * loss, backward, Adam, EMA), UNet evaluation, sampling 16 images at 50 respaced steps (mnist), peak RSS and
 * tensors alive after 20 steps. Prints a table; writes JSON to IDDPM_BENCH_JSON when set.
 * IDDPM_BENCH_PRESETS=tiny limits the presets (for a quick look).
 */
import { writeFileSync } from 'node:fs';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { datasetFromImages } from '../engine/data';
import { Rng } from '../engine/rng';
import { Trainer, resolveTrainRequest, trainingDiffusion, unetConfigFor } from '../engine/train';
import type { CompletePipeline } from '../engine/host/protocol';

const BATCH = 16;
const STEPS = 20;
const WARMUP = 2;

type Figures = Record<string, number>;

function pipeline(preset: 'tiny' | 'mnist'): CompletePipeline {
  return {
    schedule: { kind: 'cosine', steps: 1000 },
    noiser: { modelMeanType: 'epsilon' },
    unet: { model: `bench-${preset}`, preset, modelVarType: 'learned_range', numClasses: null },
    loss: { kind: 'hybrid', lambda: 0.001 },
    timesteps: { kind: 'importance' },
  };
}

const now = (): number => performance.now();
const peakRssMB = (): number => process.resourceUsage().maxRSS / 1024;

async function benchPreset(preset: 'tiny' | 'mnist', backend: string): Promise<Figures> {
  const pipe = pipeline(preset);
  const config = unetConfigFor(pipe.unet);
  // Random images in [-1, 1]: speed does not depend on the pixels, and the bench needs no data files.
  const rng = new Rng(7);
  const n = 64 * config.imageSize * config.imageSize * config.inChannels;
  const data = Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
  const images = { shape: [64, config.imageSize, config.imageSize, config.inChannels] as [number, number, number, number], data };
  const dataset = datasetFromImages(images);
  const { options } = resolveTrainRequest(pipe.unet.model, pipe, { dataset: { kind: 'images', images }, batchSize: BATCH, seed: 1 });
  const diffusion = trainingDiffusion(pipe);
  const trainer = new Trainer({ pipeline: pipe, config, options, diffusion, dataset });

  // Training: every step is a whole step; the first WARMUP are not timed (kernels compile, caches fill).
  let timed = 0;
  let tensorsAtWarmup = 0;
  for (let s = 0; s < STEPS; s++) {
    if (s === WARMUP) tensorsAtWarmup = tf.memory().numTensors;
    const t0 = now();
    trainer.runStep();
    if (s >= WARMUP) timed += now() - t0;
  }
  const tensorsAfter20 = tf.memory().numTensors;
  const trainImagesPerSec = (BATCH * (STEPS - WARMUP)) / (timed / 1000);

  // Evaluation: the UNet's forward pass on a batch of 16 at random t.
  const evalReps = preset === 'tiny' ? 10 : 4;
  const x = tf.randomNormal([BATCH, config.imageSize, config.imageSize, config.inChannels]) as tf.Tensor4D;
  const ts = tf.randomUniform([BATCH], 0, 1000);
  tf.tidy(() => trainer.ema.apply(x, ts as tf.Tensor1D).dataSync());
  const e0 = now();
  for (let r = 0; r < evalReps; r++) tf.tidy(() => trainer.ema.apply(x, ts as tf.Tensor1D).dataSync());
  const evalImagesPerSec = (BATCH * evalReps) / ((now() - e0) / 1000);
  tf.dispose([x, ts]);

  const figures: Figures = {
    trainImagesPerSec,
    evalImagesPerSec,
    peakRssMB: peakRssMB(),
    tensorsAfter20,
    tensorsGrowthAfterWarmup: tensorsAfter20 - tensorsAtWarmup,
  };
  trainer.dispose();
  diffusion.dispose();

  if (preset === 'mnist') Object.assign(figures, await benchSamplingFigures(preset));
  console.error(`  ${preset} done on ${backend}`);
  return figures;
}

/** Sampling figures come from engine/sample's own bench when it is there (16 images, 50 respaced steps). */
async function benchSamplingFigures(preset: string): Promise<Figures> {
  let mod: { benchSampling?: (p: string, o: { count: number; steps: number }) => Promise<Record<string, number>> };
  try {
    mod = require('../engine/sample/bench');
  } catch {
    return {};
  }
  if (!mod.benchSampling) return {};
  const r = await mod.benchSampling(preset, { count: 16, steps: 50 });
  return {
    sample50AncestralImagesPerSec: r.ancestralImagesPerSec,
    sample50DdimImagesPerSec: r.ddimImagesPerSec,
    firstProgressMs: r.firstProgressMs,
  };
}

async function main(): Promise<void> {
  const info = await initBackend();
  if (info.fellBack) console.error(`warning: running on ${info.name}; skipped: ${info.skipped.join('; ')}`);
  const presets = (process.env.IDDPM_BENCH_PRESETS ?? 'tiny,mnist').split(',').map((s) => s.trim()) as Array<'tiny' | 'mnist'>;
  const result: { backend: string; batch: number; presets: Record<string, Figures> } = { backend: info.name, batch: BATCH, presets: {} };
  for (const p of presets) result.presets[p] = await benchPreset(p, info.name);

  const cols = ['trainImagesPerSec', 'evalImagesPerSec', 'sample50AncestralImagesPerSec', 'sample50DdimImagesPerSec', 'firstProgressMs', 'peakRssMB', 'tensorsAfter20', 'tensorsGrowthAfterWarmup'];
  console.log(`backend: ${info.name}, batch ${BATCH}`);
  console.log('figure'.padEnd(32) + presets.map((p) => p.padStart(12)).join(''));
  for (const c of cols) {
    if (!presets.some((p) => result.presets[p][c] !== undefined)) continue;
    console.log(c.padEnd(32) + presets.map((p) => {
      const v = result.presets[p][c];
      return (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(2)).padStart(12);
    }).join(''));
  }
  if (process.env.IDDPM_BENCH_JSON) writeFileSync(process.env.IDDPM_BENCH_JSON, JSON.stringify(result, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
