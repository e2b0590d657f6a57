import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompletePipeline } from '../../engine/spec';
import { launcherFor } from '../../engine/interop/launcher';
import { pipelineFromPreset } from '../../engine/interop/presets';
import { DEMO_REFERENCE_PIPELINE, DEMO_REFERENCE_RECIPE } from '../../scripts/reference/demo';

/** The value of `name=` inside a generated call (the first match). */
function kwarg(text: string, name: string): string | undefined {
  return new RegExp(`\\b${name}=(.+),$`, 'm').exec(text)?.[1];
}

test('the demo launcher committed as scripts/reference/launch_demo.py is exactly the generator output', () => {
  const committed = readFileSync(join(__dirname, '..', '..', 'scripts', 'reference', 'launch_demo.py'), 'utf8');
  assert.equal(launcherFor(DEMO_REFERENCE_PIPELINE, { recipe: DEMO_REFERENCE_RECIPE }), committed);
});

test('demo launcher: the tiny preset class-conditional, the paper\'s diffusion, the recipe as argparse defaults', () => {
  const text = launcherFor(DEMO_REFERENCE_PIPELINE, { recipe: DEMO_REFERENCE_RECIPE });
  const model = text.slice(text.indexOf('return UNetModel('));
  assert.deepEqual(
    ['in_channels', 'model_channels', 'out_channels', 'num_res_blocks', 'attention_resolutions', 'dropout', 'channel_mult', 'num_classes', 'num_heads', 'use_scale_shift_norm'].map((k) => kwarg(model, k)),
    ['1', '32', '2', '1', '(4,)', '0.0', '(1, 2, 2)', '10', '4', 'True'],
  );
  const diffusion = text.slice(text.indexOf('return create_gaussian_diffusion('));
  assert.deepEqual(
    ['steps', 'learn_sigma', 'sigma_small', 'noise_schedule', 'use_kl', 'predict_xstart', 'rescale_timesteps', 'rescale_learned_sigmas', 'timestep_respacing'].map((k) => kwarg(diffusion, k)),
    ['1000', 'True', 'False', '"cosine"', 'False', 'False', 'True', 'True', '""'],
  );
  assert.match(text, /return create_named_schedule_sampler\("uniform", diffusion\)/);
  const importance = launcherFor({ ...DEMO_REFERENCE_PIPELINE, timesteps: { kind: 'importance' } });
  assert.match(importance, /return create_named_schedule_sampler\("loss-second-moment", diffusion\)/);
  assert.match(text, /RECIPE = dict\(\n {4}batch_size=32,\n {4}lr=0\.0002,\n {4}ema_rate="0\.9995",\n {4}save_interval=500,\n {4}log_interval=100,\n {4}microbatch=-1,\n {4}resume_checkpoint="",\n\)/);
  assert.match(text, /^NUM_CLASSES = 10$/m);
  assert.match(text, /^th\.set_num_threads\(2\)$/m);
});

test('an RGB unconditional pipeline the scripts can express: create_gaussian_diffusion, num_classes None', () => {
  const cifar = pipelineFromPreset('cifar10-uncond-vlb').pipeline;
  const text = launcherFor(cifar, { threads: 1 });
  assert.equal(kwarg(text, 'num_classes'), 'None');
  assert.equal(kwarg(text, 'channel_mult'), '(1, 2, 2, 2)');
  assert.equal(kwarg(text, 'attention_resolutions'), '(2, 4)');
  assert.equal(kwarg(text, 'dropout'), '0.3');
  assert.equal(kwarg(text, 'use_kl'), 'True');
  assert.match(text, /^IN_CHANNELS = 3$/m);
  assert.match(text, /could train this pipeline too/);
  assert.match(text, /^th\.set_num_threads\(1\)$/m);
  // The reference's own defaults when no recipe is given.
  assert.equal(kwarg(text.slice(text.indexOf('RECIPE')), 'ema_rate'), '"0.9999"');
});

test('what create_gaussian_diffusion cannot build is built with SpacedDiffusion directly; other samplers explicitly', () => {
  const p: CompletePipeline = {
    schedule: { kind: 'cosine', steps: 200, cosineS: 0.01, maxBeta: 0.99 },
    noiser: { modelMeanType: 'start_x', rescaleTimesteps: false },
    unet: { model: 'x', preset: 'tiny', modelVarType: 'learned', numClasses: null, config: { inChannels: 3 } },
    loss: { kind: 'kl', lambda: 0.001 },
    timesteps: { kind: 'importance', history: 5, uniformProb: 0.01 },
  };
  const text = launcherFor(p);
  assert.match(text, /betas = gd\.betas_for_alpha_bar\(200, lambda t: math\.cos\(\(t \+ 0\.01\) \/ \(1 \+ 0\.01\) \* math\.pi \/ 2\) \*\* 2, max_beta=0\.99\)/);
  assert.match(text, /model_mean_type=gd\.ModelMeanType\.START_X,\n\s+model_var_type=gd\.ModelVarType\.LEARNED,\n\s+loss_type=gd\.LossType\.KL,\n\s+rescale_timesteps=False,/);
  assert.match(text, /^import math$/m);
  assert.match(text, /from improved_diffusion\.respace import SpacedDiffusion, space_timesteps/);
  assert.doesNotMatch(text, /create_gaussian_diffusion\(/);
  assert.match(text, /LossSecondMomentResampler\(diffusion, history_per_term=5, uniform_prob=0\.01\)/);
});

test('L_hybrid with a λ no reference loss type gives: a SpacedDiffusion whose loss weighs the vb term by λ·T', () => {
  for (const [lambda, weight] of [[0.01, '10.0'], [0, '0.0'], [0.0025, '2.5']] as const) {
    const text = launcherFor({ ...DEMO_REFERENCE_PIPELINE, loss: { kind: 'hybrid', lambda } });
    const call = text.slice(text.indexOf('return HybridDiffusion('));
    assert.equal(kwarg(call, 'vb_weight'), weight, `λ = ${lambda}`);
    assert.equal(kwarg(call, 'loss_type'), 'gd.LossType.MSE', 'MSE: the vb term is not rescaled by T/1000 before the weight');
    assert.equal(kwarg(call, 'model_var_type'), 'gd.ModelVarType.LEARNED_RANGE');
    assert.match(text, /class HybridDiffusion\(SpacedDiffusion\):/);
    assert.match(text, /terms = super\(\)\.training_losses\(model, \*args, \*\*kwargs\)\n\s+terms\["loss"\] = terms\["mse"\] \+ self\.vb_weight \* terms\["vb"\]/);
  }
  // λ = 0.001 and λ = 1/T stay the reference's own loss types.
  assert.doesNotMatch(launcherFor(DEMO_REFERENCE_PIPELINE), /HybridDiffusion/);
  assert.doesNotMatch(launcherFor({ ...DEMO_REFERENCE_PIPELINE, loss: { kind: 'hybrid', lambda: 1 / 1000 } }), /HybridDiffusion/);
});

test('launcher refusals: an objective the reference has not, channels the loader cannot read, a bad recipe', () => {
  const base = DEMO_REFERENCE_PIPELINE;
  assert.throws(() => launcherFor({ ...base, loss: { kind: 'simple', lambda: 0 } }), /No launcher for this pipeline: loss "simple" with a learned variance/);
  assert.throws(() => launcherFor({ ...base, unet: { ...base.unet, config: { inChannels: 2 } } }), /inChannels: must be one of 1, 3, not 2/);
  assert.throws(() => launcherFor(base, { recipe: { microbatch: 0 } }), /microbatch must be -1/);
  assert.throws(() => launcherFor(base, { recipe: { ema_rate: 'fast' } }), /ema_rate must be comma-separated rates/);
});
