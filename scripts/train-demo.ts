/**
 * `npm run train-demo`: trains the demo model that ships in models/demo, with this project's own trainer.
 *
 * The paper's recipe (cosine schedule, hybrid loss, learned_range variance, importance-sampled t) on the `tiny`
 * preset and MNIST, with a learning rate and EMA rate suited to a short CPU run. It resumes from its own
 * checkpoint in .demo-train/ (gitignored), so it can be run again and again to train further; at every
 * checkpoint it exports what sampling needs (model.json and the EMA weights in half precision, ~2.4 MB) to
 * models/demo. Reproducible: a fixed seed, and the same steps give the same weights on the same backend.
 *
 *   npm run train-demo -- --steps 4000 [--minutes 60]
 */
import { join } from 'node:path';
import { initBackend } from '../engine/backend';
import { ModelStore } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import type { CompletePipeline, TrainOptions } from '../engine/spec';

const root = join(__dirname, '..');

export const DEMO_PIPELINE: CompletePipeline = {
  schedule: { kind: 'cosine', steps: 1000 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model: 'demo', preset: 'tiny', modelVarType: 'learned_range', numClasses: null },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'importance' },
};

export function demoOptions(maxSteps: number): TrainOptions {
  return {
    dataset: { kind: 'mnist', split: 'train' },
    batchSize: 16,
    // A short CPU run: a larger step than the paper's 1e-4 (with clipping), and an EMA horizon of ~200 steps
    // (the paper's 0.9999 would still be mostly the initial weights after a few thousand steps).
    lr: 5e-4,
    gradClip: 1,
    emaRate: 0.995,
    maxSteps,
    logEvery: 25,
    checkpointEvery: 100,
    seed: 2021,
    resume: true,
  };
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const steps = arg('steps', 4000);
  const minutes = arg('minutes', 0);
  const backend = await initBackend();
  const store = new ModelStore(join(root, '.demo-train'));
  const shipped = new ModelStore(join(root, 'models'));
  const job = new TrainingJob({
    name: 'demo',
    pipeline: DEMO_PIPELINE,
    options: demoOptions(steps),
    store,
    onEvent: (ev) => {
      if (ev.type === 'progress') {
        const p = ev.payload;
        console.log(`step ${p.step}  loss ${p.loss.toFixed(4)}  mse ${p.mse?.toFixed(4)}  vb ${p.vb?.toFixed(4)}  ${p.imagesPerSec.toFixed(1)} img/s  ${p.backend}`);
      } else if (ev.type === 'checkpoint') {
        const path = store.exportForSampling('demo', shipped);
        console.log(`checkpoint at step ${ev.step} → ${path}`);
      } else if (ev.type === 'error') {
        console.error(ev.message);
      }
    },
  });
  console.log(`training the demo model on ${backend.name} to step ${steps}${minutes ? ` or for ${minutes} min` : ''}`);
  if (minutes > 0) setTimeout(() => void job.stop(), minutes * 60_000).unref();
  process.on('SIGINT', () => void job.stop());
  await job.start();
  const s = job.status();
  console.log(`${s.state} at step ${s.step}${s.error ? `: ${s.error}` : ''}`);
  if (s.state === 'failed') process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
