/**
 * `npm run train-demo`: trains the demo model that ships in models/demo further, with this project's own trainer.
 *
 * The shipped demo was trained by the reference implementation through the PyTorch bridge (models/demo/README.md,
 * training/demo/); this continues it here with the same pipeline (scripts/reference/demo.ts: the paper's cosine
 * schedule, hybrid loss, learned_range variance and importance-sampled t on the class-conditional `tiny` preset)
 * and the same recipe (batch 32, lr 2e-4, EMA 0.9995, no clipping). The first run starts from the shipped EMA
 * weights with a fresh Adam (the package ships no optimizer state); it checkpoints into .demo-train/
 * (gitignored) and resumes from there when run again; at every checkpoint it exports what sampling needs
 * (model.json and the EMA weights in half precision) to models/demo.
 *
 *   npm run train-demo -- --steps 20000 [--minutes 60]      (steps: the step to reach, counted from the shipped one)
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../engine/backend';
import { ModelStore } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import type { TrainOptions } from '../engine/spec';
import { DEMO_REFERENCE_PIPELINE, DEMO_REFERENCE_RECIPE } from './reference/demo';

const root = join(__dirname, '..');

export function demoOptions(maxSteps: number): TrainOptions {
  return {
    dataset: { kind: 'mnist', split: 'train' },
    batchSize: DEMO_REFERENCE_RECIPE.batch_size,
    lr: DEMO_REFERENCE_RECIPE.lr,
    gradClip: 0,
    emaRate: Number(DEMO_REFERENCE_RECIPE.ema_rate),
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
  const steps = arg('steps', 20000);
  const minutes = arg('minutes', 0);
  const backend = await initBackend();
  const store = new ModelStore(join(root, '.demo-train'));
  const shipped = new ModelStore(join(root, 'models'));
  // The first run starts from the shipped model (its EMA weights, a fresh optimizer).
  if (!store.hasCheckpoint('demo')) {
    if (!shipped.hasCheckpoint('demo')) throw new Error('No models/demo to train further');
    fs.cpSync(join(root, 'models', 'demo'), join(root, '.demo-train', 'demo'), { recursive: true });
  }
  const job = new TrainingJob({
    name: 'demo',
    pipeline: DEMO_REFERENCE_PIPELINE,
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
