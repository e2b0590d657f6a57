/**
 * The class-conditional demo as trained with the reference (scripts/reference/launch_demo.py): the shipped demo's
 * pipeline (tiny preset, cosine T = 1000, hybrid loss, learned_range, importance-sampled t)
 * with the 10 MNIST classes, and the recipe of a short CPU run.
 */
import type { CompletePipeline } from '../../engine/spec';
import type { LauncherRecipe } from '../../engine/interop/launcher';

export const DEMO_REFERENCE_PIPELINE: CompletePipeline = {
  schedule: { kind: 'cosine', steps: 1000 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model: 'demo', preset: 'tiny', modelVarType: 'learned_range', numClasses: 10 },
  loss: { kind: 'hybrid', lambda: 0.001 },
  // Uniform t, as the paper trains L_hybrid (its importance sampling is the remedy for L_vlb's noise). The demo run
  // began with the loss-second-moment sampler and switched at step 10000: with L_hybrid it drew t ≥ 750 about 5%
  // of the time instead of 25% (p_t ∝ √E[L_t²] of a loss that shrinks with t, measured on the step-9000 EMA), and
  // its samples' global structure, decided at large t, failed as grey and white blobs (models/demo/README.md).
  timesteps: { kind: 'uniform' },
};

/** Batch 32, lr 2e-4, EMA 0.9995 (a horizon of ~2000 steps), a checkpoint every 500 steps, a log line every 100. */
export const DEMO_REFERENCE_RECIPE: LauncherRecipe = {
  batch_size: 32,
  lr: 2e-4,
  ema_rate: '0.9995',
  save_interval: 500,
  log_interval: 100,
  microbatch: -1,
  resume_checkpoint: '',
};
