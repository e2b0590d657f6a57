/**
 * The bench's fairness figure: how long a 4-image DDIM-25 request of the `tiny` preset takes while one `tiny`
 * training job (a real TrainingJob: batch 16, random images) runs in the same engine, over how long it takes on
 * an idle engine (engine/parallel/share.ts is what keeps it near 1 + 1/samplingShare; the goal is ≤ 2×).
 * Each latency is the median of REPS requests after a warm-up. Run alone: `node --import tsx scripts/bench-share.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../engine/rng';
import { ModelStore } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import { UNet } from '../engine/unet/model';
import { resolveUNetConfig } from '../engine/unet/presets';
import { generateInWorkers } from '../engine/parallel';
import type { SamplingModel } from '../engine/sample/generate';
import type { CompletePipeline } from '../engine/spec';

const REPS = 3;
const REQUEST = { count: 4, batchSize: 4, steps: 'ddim25', method: 'ddim' as const };

export interface ShareFigures {
  idleSeconds: number;
  duringTrainingSeconds: number;
  /** duringTrainingSeconds / idleSeconds */
  ratio: number;
  /** Training steps the job made while the requests ran, per second. */
  trainStepsPerSecDuring: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function tinyModel(): SamplingModel {
  const config = resolveUNetConfig('tiny');
  return {
    unet: UNet.create(config, 0, { zeroInit: false }),
    pipeline: {
      schedule: { kind: 'cosine', steps: 1000 },
      noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
      unet: { model: 'bench', preset: 'tiny', modelVarType: 'learned_range', numClasses: null },
    },
    imageSize: config.imageSize,
    channels: config.inChannels,
    numClasses: null,
  };
}

async function latencies(model: SamplingModel, reps: number): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await generateInWorkers(model, { ...REQUEST, seed: r });
    out.push((performance.now() - t0) / 1000);
  }
  return out;
}

export async function benchSamplingDuringTraining(): Promise<ShareFigures> {
  const model = tinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'iddpm-bench-share-'));
  const rng = new Rng(3);
  const images = { shape: [64, 32, 32, 1] as [number, number, number, number], data: Float32Array.from({ length: 64 * 32 * 32 }, () => rng.next() * 2 - 1) };
  const pipeline: CompletePipeline = {
    schedule: { kind: 'cosine', steps: 1000 },
    noiser: { modelMeanType: 'epsilon' },
    unet: { model: 'bench-job', preset: 'tiny', modelVarType: 'learned_range', numClasses: null },
    loss: { kind: 'hybrid', lambda: 0.001 },
    timesteps: { kind: 'importance' },
  };
  let steps = 0;
  const job = new TrainingJob({
    name: 'bench-job', pipeline, store: new ModelStore(dir),
    options: { dataset: { kind: 'images', images }, batchSize: 16, maxSteps: 0, logEvery: 1, checkpointEvery: 0, sampleEvery: 0, seed: 1 },
    onEvent: (ev) => {
      if (ev.type === 'progress') steps = ev.payload.step;
    },
  });
  try {
    await latencies(model, 1); // warm-up: kernels, threads
    const idle = median(await latencies(model, REPS));
    const running = job.start();
    // Until the job trains at its pace (its first steps compile kernels).
    while (steps < 3) await new Promise((r) => setTimeout(r, 100));
    const s0 = steps;
    const t0 = performance.now();
    const during = median(await latencies(model, REPS));
    const trainStepsPerSecDuring = (steps - s0) / ((performance.now() - t0) / 1000);
    await job.stop();
    await running;
    return { idleSeconds: idle, duringTrainingSeconds: during, ratio: during / idle, trainStepsPerSecDuring };
  } finally {
    await job.stop();
    (model.unet as UNet).dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void (async () => {
    const { initBackend } = await import('../engine/backend');
    const { closePool } = await import('../engine/parallel');
    await initBackend();
    const f = await benchSamplingDuringTraining();
    console.log(`4-image DDIM-25 (tiny): idle ${f.idleSeconds.toFixed(2)} s, beside one tiny job ${f.duringTrainingSeconds.toFixed(2)} s: ${f.ratio.toFixed(2)}× (goal ≤ 2×); the job made ${f.trainStepsPerSecDuring.toFixed(2)} steps/s meanwhile`);
    await closePool();
  })();
}
