/**
 * `npm run bench`: speed and memory of the `tiny` and `mnist` presets at batch 16, as the anchors in
 * ../shared/anchors measure the reference on PyTorch — a whole training step (importance-sampled t, hybrid
 * loss, backward, Adam, EMA), UNet evaluation, sampling 16 images at 50 respaced steps (mnist), peak RSS and
 * tensors alive after 20 steps. Prints a table; writes JSON to IDDPM_BENCH_JSON when set.
 * Images per second come from the median time of a step or pass, as the anchor's script computes them.
 * IDDPM_BENCH_PRESETS=tiny limits the presets (for a quick look); IDDPM_BENCH_STEPS the training steps (default 20). On wasm the engine's worker threads do the work
 * (IDDPM_WORKERS, default one per core; 1 = all in this thread). The machine may be shared: besides images per
 * second of wall time, the figures per CPU-second (all threads of this process) say what the work costs.
 * Beside the speeds: the UNet's FLOPs per image (engine/unet/flops.ts: forward, and a training step), the GFLOP/s
 * they amount to, and this machine's wasm-SIMD limit — a 1024³ matmul timed on every worker thread at once —
 * so the figures say how close to the hardware's limit (as wasm reaches it) the engine runs, not only to PyTorch.
 * Last, the fairness figure (bench-share.ts): a 4-image DDIM-25 request's latency while one `tiny` job trains, over
 * its idle latency (goal ≤ 2×); IDDPM_BENCH_SHARE=0 skips it.
 */
import { writeFileSync } from 'node:fs';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { datasetFromImages } from '../engine/data';
import { Rng } from '../engine/rng';
import { Trainer, resolveTrainRequest, trainingDiffusion, unetConfigFor } from '../engine/train';
import type { CompletePipeline } from '../engine/spec';
import { UNet } from '../engine/unet/model';
import { resolveUNetConfig } from '../engine/unet/presets';
import type { SamplingModel } from '../engine/sample/generate';
import { ParallelGradients, acquirePool, closePool, forwardInWorkers, generateInWorkers, matmulGflops, poolMatmulGflops, releasePool, shareWeights, workerCount, type WorkerPool } from '../engine/parallel';
import { unetFlops } from '../engine/unet/flops';
import { benchSamplingDuringTraining, type ShareFigures } from './bench-share';

const BATCH = 16;
/** Training steps per preset, the first WARMUP untimed (IDDPM_BENCH_STEPS for a shorter run on a shared machine). */
const STEPS = Math.max(4, Number(process.env.IDDPM_BENCH_STEPS) || 20);
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
/** The statistic the anchor reports (median time of a step or pass): robust to a stall of a shared machine. */
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const peakRssMB = (): number => process.resourceUsage().maxRSS / 1024;
/** CPU seconds used so far by every thread of this process. */
const cpuSec = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function benchPreset(preset: 'tiny' | 'mnist', backend: string, pool: WorkerPool | undefined): Promise<Figures> {
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
  if (pool) trainer.useGradientSource(await ParallelGradients.start(pool, trainer));

  // Training: every step is a whole step; the first WARMUP are not timed (kernels compile, caches fill).
  const stepMs: number[] = [];
  let timedCpu = 0;
  let tensorsAtWarmup = 0;
  for (let s = 0; s < STEPS; s++) {
    if (s === WARMUP) tensorsAtWarmup = tf.memory().numTensors;
    const t0 = now();
    const c0 = cpuSec();
    await trainer.nextStep();
    if (s >= WARMUP) {
      stepMs.push(now() - t0);
      timedCpu += cpuSec() - c0;
    }
  }
  const tensorsAfter20 = tf.memory().numTensors;
  if (process.env.IDDPM_BENCH_VERBOSE) console.error(`  ${preset} step ms: ${stepMs.map((t) => t.toFixed(0)).join(" ")}`);
  const trainImagesPerSec = BATCH / (median(stepMs) / 1000);
  const trainImagesPerCpuSec = (BATCH * (STEPS - WARMUP)) / timedCpu;

  // Evaluation: the UNet's forward pass on a batch of 16 at random t (split over the threads when there are some),
  // after 2 untimed passes; as many passes as the anchor times.
  const evalReps = preset === 'tiny' ? 10 : 5;
  const x = tf.randomNormal([BATCH, config.imageSize, config.imageSize, config.inChannels]) as tf.Tensor4D;
  const ts = tf.randomUniform([BATCH], 0, 1000);
  const shape = x.shape as [number, number, number, number];
  const weights = pool ? shareWeights(trainer.ema) : undefined;
  const evaluate = async (): Promise<void> => {
    if (pool && weights) await forwardInWorkers(pool, weights, x.dataSync() as Float32Array, shape, ts.dataSync() as Float32Array);
    else tf.tidy(() => void trainer.ema.apply(x, ts as tf.Tensor1D).dataSync()); // void: tidy would walk a returned array
  };
  for (let r = 0; r < 2; r++) await evaluate();
  const evalMs: number[] = [];
  const ec0 = cpuSec();
  for (let r = 0; r < evalReps; r++) {
    const e0 = now();
    await evaluate();
    evalMs.push(now() - e0);
  }
  const evalImagesPerSec = BATCH / (median(evalMs) / 1000);
  const evalImagesPerCpuSec = (BATCH * evalReps) / (cpuSec() - ec0);
  tf.dispose([x, ts]);

  const flops = unetFlops(config);
  const figures: Figures = {
    forwardGflopPerImage: flops.forward / 1e9,
    trainStepGflopPerImage: flops.trainingStep / 1e9,
    trainImagesPerSec,
    trainGflops: (trainImagesPerSec * flops.trainingStep) / 1e9,
    trainImagesPerCpuSec,
    evalImagesPerSec,
    evalGflops: (evalImagesPerSec * flops.forward) / 1e9,
    evalImagesPerCpuSec,
    peakRssMB: peakRssMB(),
    tensorsAfter20,
    tensorsGrowthAfterWarmup: tensorsAfter20 - tensorsAtWarmup,
  };
  trainer.dispose();
  diffusion.dispose();

  if (preset === 'mnist') {
    Object.assign(figures, await benchSamplingFigures(preset));
    figures.sample50AncestralGflops = (figures.sample50AncestralImagesPerSec * 50 * flops.forward) / 1e9;
  }
  console.error(`  ${preset} done on ${backend}`);
  return figures;
}

/**
 * Sampling 16 images at 50 respaced steps (of T = 1000, cosine, learned_range) from random weights, ancestral
 * and DDIM, as the engine serves a request (on the threads when there are some); and the time to the first
 * progress event, what a user waits before anything moves.
 */
async function benchSamplingFigures(preset: string): Promise<Figures> {
  const count = 16;
  const steps = 50;
  const config = resolveUNetConfig(preset);
  const unet = UNet.create(config, 0, { zeroInit: false });
  const model: SamplingModel = {
    unet,
    pipeline: {
      schedule: { kind: 'cosine', steps: 1000 },
      noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
      unet: { model: 'bench', preset: 'custom', modelVarType: config.learnSigma ? 'learned_range' : 'fixed_large', numClasses: config.numClasses },
    },
    imageSize: config.imageSize,
    channels: config.inChannels,
    numClasses: config.numClasses,
  };
  try {
    await generateInWorkers(model, { count: 2, steps: 2, seed: 0 }); // warm-up: kernel setup, first allocations
    const figures: Figures = {};
    for (const method of ['ancestral', 'ddim'] as const) {
      const start = now();
      const c0 = cpuSec();
      let first = NaN;
      await generateInWorkers(model, { count, batchSize: count, steps, method, seed: 1, progressEvery: 1 }, {
        onProgress: () => { if (Number.isNaN(first)) first = now() - start; },
      });
      const name = method === 'ancestral' ? 'Ancestral' : 'Ddim';
      figures[`sample50${name}ImagesPerSec`] = count / ((now() - start) / 1000);
      figures[`sample50${name}ImagesPerCpuSec`] = count / (cpuSec() - c0);
      if (method === 'ancestral') figures.firstProgressMs = first;
    }
    return figures;
  } finally {
    unet.dispose();
  }
}

async function main(): Promise<void> {
  const info = await initBackend();
  if (info.fellBack) console.error(`warning: running on ${info.name}; skipped: ${info.skipped.join('; ')}`);
  const presets = (process.env.IDDPM_BENCH_PRESETS ?? 'tiny,mnist').split(',').map((s) => s.trim()) as Array<'tiny' | 'mnist'>;
  const threads = workerCount(info.name);
  const pool = threads > 1 ? acquirePool(threads) : undefined;
  const result: {
    backend: string; workers: number; batch: number; peakGflops?: { perThread: number[]; total: number };
    presets: Record<string, Figures>; samplingDuringTraining?: ShareFigures;
  } = { backend: info.name, workers: threads, batch: BATCH, presets: {} };
  try {
    if (info.name === 'wasm') {
      result.peakGflops = pool ? await poolMatmulGflops(pool) : { perThread: [matmulGflops(1024, 5)], total: 0 };
      if (!pool) result.peakGflops.total = result.peakGflops.perThread[0];
    }
    for (const p of presets) result.presets[p] = await benchPreset(p, info.name, pool);
    if (pool) releasePool(pool);
    if (process.env.IDDPM_BENCH_SHARE !== '0') result.samplingDuringTraining = await benchSamplingDuringTraining();
  } finally {
    await closePool();
  }

  const cols = [
    'forwardGflopPerImage', 'trainStepGflopPerImage', 'trainImagesPerSec', 'trainGflops', 'trainImagesPerCpuSec', 'evalImagesPerSec', 'evalGflops',
    'evalImagesPerCpuSec', 'sample50AncestralImagesPerSec', 'sample50AncestralGflops',
    'sample50AncestralImagesPerCpuSec', 'sample50DdimImagesPerSec', 'sample50DdimImagesPerCpuSec', 'firstProgressMs', 'peakRssMB',
    'tensorsAfter20', 'tensorsGrowthAfterWarmup',
  ];
  console.log(`backend: ${info.name}, worker threads ${threads}, batch ${BATCH}`);
  const peak = result.peakGflops;
  if (peak) {
    console.log(`wasm-SIMD limit (1024³ matmul on every thread at once): ${peak.total.toFixed(1)} GFLOP/s (${peak.perThread.map((g) => g.toFixed(1)).join(' + ')})`);
    for (const p of presets) {
      const f = result.presets[p];
      const pct = (g: number | undefined): string => (g === undefined ? '-' : `${((100 * g) / peak.total).toFixed(0)}%`);
      console.log(`  ${p}: training ${pct(f.trainGflops)}, evaluation ${pct(f.evalGflops)}, sampling ${pct(f.sample50AncestralGflops)} of that limit`);
    }
  }
  console.log('figure'.padEnd(32) + presets.map((p) => p.padStart(12)).join(''));
  for (const c of cols) {
    if (!presets.some((p) => result.presets[p][c] !== undefined)) continue;
    console.log(c.padEnd(32) + presets.map((p) => {
      const v = result.presets[p][c];
      return (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(2)).padStart(12);
    }).join(''));
  }
  const share = result.samplingDuringTraining;
  if (share) {
    console.log(`sampling during training: a 4-image DDIM-25 request (tiny) takes ${share.duringTrainingSeconds.toFixed(2)} s beside one tiny job, ${share.idleSeconds.toFixed(2)} s idle: ${share.ratio.toFixed(2)}× (goal ≤ 2×)`);
  }
  if (process.env.IDDPM_BENCH_JSON) writeFileSync(process.env.IDDPM_BENCH_JSON, JSON.stringify(result, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
