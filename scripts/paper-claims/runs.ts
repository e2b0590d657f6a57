/**
 * The runs behind docs/paper-claims.md, in one table, so each is reproducible by name.
 *
 * Reference runs (claims a, b): the demo recipe (scripts/reference/demo.ts: `tiny`, class-conditional MNIST 32×32,
 * batch 32, lr 2e-4, EMA 0.9995) trained by the reference's TrainLoop on PyTorch through our launcher
 * (engine/interop launcherFor), one component changed per run:
 *   demo       learned σ (learned_range), L_hybrid, cosine: the demo run itself (/work/demo-ref), whose steps 0–10000
 *              drew t with the loss-second-moment sampler (so its step-5000 checkpoint, compared here, did) and then
 *              uniformly (scripts/reference/demo.ts says why); the runs below inherit its uniform t unless they set it
 *   fixed      fixed σ (learn_sigma False: fixed_large), L_simple, cosine, uniform t (the reference's DDPM setting)
 *   linear     as demo but the linear schedule
 *   kl-uniform, kl-importance   L_vlb (rescaled-kl: T·L_t, the reference's use_kl) with uniform / importance-sampled
 *              t, learned_range, cosine; logged every step (the L_vlb estimate of each batch), 1500 steps. The
 *              reference, not our engine, trains these: it can express them and runs ~3.5× more images per CPU
 *              second than our wasm engine (measured: 36 vs 10 img/s per core), and this claim needs ~50k images a run.
 *
 * Engine runs (claim d; the reference cannot express λ ≠ 0.001): our TrainingJob on MNIST 32×32 `tiny`
 * (unconditional), batch 16, lr 2e-4 (the demo's), no clipping, EMA 0.995 (a ~200-step horizon: these runs are
 * short), seed 0 for all, so every run sees the same batches, t and noise:
 *   lambda-0, lambda-0.001, lambda-0.01   L_hybrid with λ = 0, 0.001, 0.01, learned_range, cosine, uniform t
 *     (the paper trains L_hybrid with uniform t; importance sampling is its remedy for L_vlb)
 */
import type { CompletePipeline, TrainOptions } from '../../engine/spec';
import type { LauncherRecipe } from '../../engine/interop/launcher';
import { DEMO_REFERENCE_PIPELINE, DEMO_REFERENCE_RECIPE } from '../reference/demo';

/** Where the runs' states live (not in the repo). */
export const RUNS_DIR = process.env.CLAIMS_RUNS ?? '/work/claims-runs';

export interface ReferenceRun {
  name: string;
  pipeline: CompletePipeline;
  recipe: LauncherRecipe;
  /** Steps to train (the demo's kept checkpoints are every 1000 steps, full triples every 5000). */
  steps: number;
}

const demoUnet = DEMO_REFERENCE_PIPELINE.unet;

export const REFERENCE_RUNS: Record<'fixed' | 'linear' | 'kl-uniform' | 'kl-importance', ReferenceRun> = {
  fixed: {
    name: 'fixed',
    pipeline: {
      ...DEMO_REFERENCE_PIPELINE,
      unet: { ...demoUnet, model: 'claims-fixed', modelVarType: 'fixed_large' },
      loss: { kind: 'simple', lambda: 0.001 },
      timesteps: { kind: 'uniform' },
    },
    recipe: { ...DEMO_REFERENCE_RECIPE, save_interval: 1000 },
    steps: 5000,
  },
  linear: {
    name: 'linear',
    pipeline: { ...DEMO_REFERENCE_PIPELINE, schedule: { kind: 'linear', steps: 1000 }, unet: { ...demoUnet, model: 'claims-linear' } },
    recipe: { ...DEMO_REFERENCE_RECIPE, save_interval: 1000 },
    steps: 5000,
  },
  'kl-uniform': {
    name: 'kl-uniform',
    pipeline: { ...DEMO_REFERENCE_PIPELINE, unet: { ...demoUnet, model: 'claims-kl-uniform' }, loss: { kind: 'rescaled-kl', lambda: 0.001 }, timesteps: { kind: 'uniform' } },
    recipe: { ...DEMO_REFERENCE_RECIPE, save_interval: 500, log_interval: 1 },
    steps: 1500,
  },
  'kl-importance': {
    name: 'kl-importance',
    pipeline: { ...DEMO_REFERENCE_PIPELINE, unet: { ...demoUnet, model: 'claims-kl-importance' }, loss: { kind: 'rescaled-kl', lambda: 0.001 }, timesteps: { kind: 'importance' } },
    recipe: { ...DEMO_REFERENCE_RECIPE, save_interval: 500, log_interval: 1 },
    steps: 1500,
  },
};

export interface EngineRun {
  name: string;
  pipeline: CompletePipeline;
  options: TrainOptions;
}

const engineBase = (name: string, loss: CompletePipeline['loss'], timesteps: CompletePipeline['timesteps']): CompletePipeline => ({
  schedule: { kind: 'cosine', steps: 1000 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model: name, preset: 'tiny', modelVarType: 'learned_range', numClasses: null },
  loss,
  timesteps,
});

const engineOptions = (maxSteps: number, logEvery: number): TrainOptions => ({
  dataset: { kind: 'mnist', split: 'train' },
  batchSize: 16,
  lr: 2e-4,
  gradClip: 0,
  emaRate: 0.995,
  maxSteps,
  logEvery,
  checkpointEvery: 100,
  seed: 0,
  resume: true,
});

export const ENGINE_RUNS: Record<string, EngineRun> = {
  'lambda-0': { name: 'lambda-0', pipeline: engineBase('lambda-0', { kind: 'hybrid', lambda: 0 }, { kind: 'uniform' }), options: engineOptions(2000, 10) },
  'lambda-0.001': { name: 'lambda-0.001', pipeline: engineBase('lambda-0.001', { kind: 'hybrid', lambda: 0.001 }, { kind: 'uniform' }), options: engineOptions(2000, 10) },
  'lambda-0.01': { name: 'lambda-0.01', pipeline: engineBase('lambda-0.01', { kind: 'hybrid', lambda: 0.01 }, { kind: 'uniform' }), options: engineOptions(2000, 10) },
};
