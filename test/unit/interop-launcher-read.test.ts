/**
 * A launch.py read back (engine/interop/launcher-read.ts) gives the pipeline it was written from: through
 * create_gaussian_diffusion and through a SpacedDiffusion built directly (LEARNED variance, plain KL, other cosine
 * constants, a custom importance sampler), and for the committed demo launcher that trained the reference demo
 * run. Text the generator does not write is refused, naming what was not understood.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launcherFor } from '../../engine/interop/launcher';
import { pipelineFromLauncher } from '../../engine/interop/launcher-read';
import { checkPipeline, type CompletePipeline } from '../../engine/spec';
import { unetConfigFor } from '../../engine/unet/presets';
import { DEMO_REFERENCE_PIPELINE } from '../../scripts/reference/demo';
import { SMALL_PIPELINE } from './import-fixtures';

/** Equal as processes: the same parts, and the same UNet whether named by a preset or spelt out. */
function assertSamePipeline(actual: CompletePipeline, expected: CompletePipeline, what: string): void {
  const e = checkPipeline(expected);
  assert.deepEqual(unetConfigFor(actual.unet), unetConfigFor(e.unet), `${what}: UNet`);
  assert.equal(actual.unet.modelVarType, e.unet.modelVarType, `${what}: variance`);
  for (const part of ['schedule', 'noiser', 'loss', 'timesteps'] as const) assert.deepEqual(actual[part], e[part], `${what}: ${part}`);
}

const DIRECT: CompletePipeline = {
  schedule: { kind: 'cosine', steps: 400, cosineS: 0.01, maxBeta: 0.99 },
  noiser: { modelMeanType: 'start_x', rescaleTimesteps: false },
  unet: { model: 'direct', preset: 'custom', modelVarType: 'learned', numClasses: 3, config: { imageSize: 16, inChannels: 3, modelChannels: 32, channelMult: [1, 2], numResBlocks: 2, attentionResolutions: [16, 8], numHeads: 2, dropout: 0.1, useScaleShiftNorm: false } },
  loss: { kind: 'kl', lambda: 0.001 },
  timesteps: { kind: 'importance', history: 20, uniformProb: 0.01 },
};

test('launcherFor(p) read back is p: named diffusion, direct SpacedDiffusion, fixed variance, presets', () => {
  const cases: Array<[string, CompletePipeline]> = [
    ['demo', DEMO_REFERENCE_PIPELINE],
    ['small', SMALL_PIPELINE],
    ['direct', DIRECT],
    ['fixed', { ...SMALL_PIPELINE, schedule: { kind: 'linear', steps: 1000 }, unet: { ...SMALL_PIPELINE.unet, modelVarType: 'fixed_small' }, loss: { kind: 'simple', lambda: 0.001 } }],
    ['mnist preset', { ...DEMO_REFERENCE_PIPELINE, unet: { model: 'm', preset: 'mnist', modelVarType: 'learned_range', numClasses: null }, loss: { kind: 'rescaled-kl', lambda: 0.001 } }],
    ['hybrid λ = 0.01', { ...DEMO_REFERENCE_PIPELINE, loss: { kind: 'hybrid', lambda: 0.01 } }],
    ['hybrid λ = 0', { ...SMALL_PIPELINE, loss: { kind: 'hybrid', lambda: 0 } }],
  ];
  for (const [what, p] of cases) {
    const text = launcherFor(p);
    assert.equal(/SpacedDiffusion\(/.test(text), what === 'direct', `${what}: the form written`);
    assert.equal(/HybridDiffusion\(/.test(text), what.startsWith('hybrid'), `${what}: the weighted form written`);
    assertSamePipeline(pipelineFromLauncher(text, 'x'), p, what);
  }
});

test('the committed demo launcher (the one that trained the reference demo run) reads as the demo pipeline', () => {
  const text = readFileSync(join(__dirname, '..', '..', 'scripts', 'reference', 'launch_demo.py'), 'utf8');
  const p = pipelineFromLauncher(text, 'demo-reference');
  assertSamePipeline(p, DEMO_REFERENCE_PIPELINE, 'launch_demo.py');
  assert.equal(p.unet.model, 'demo-reference');
});

test('text the generator does not write is refused, naming it', () => {
  const text = launcherFor(DEMO_REFERENCE_PIPELINE);
  assert.throws(() => pipelineFromLauncher('print("hello")'), /Not a launch\.py written by node-red-iddpm: no def create_model\(\)/);
  assert.throws(() => pipelineFromLauncher(text.replace('num_res_blocks=1,', 'num_res_blocks=int("1"),')), /UNetModel num_res_blocks = int\("1"\) is not a literal/);
  assert.throws(() => pipelineFromLauncher(text.replace('        dropout=0.0,\n', '        **extra,\n')), /create_model\(\): cannot read "\*\*extra,"/);
  assert.throws(() => pipelineFromLauncher(text.replace('create_named_schedule_sampler("uniform", diffusion)', 'make_sampler(diffusion)')), /create_schedule_sampler returns make_sampler/);
});
