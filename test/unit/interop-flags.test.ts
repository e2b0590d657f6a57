import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReferenceArgs, splitCommandLine } from '../../engine/interop/args';
import { flagsFromPipeline, normaliseArgs, pipelineFromFlags, scriptLimitations, unetConfigOf } from '../../engine/interop/flags';
import { referenceModel, referenceProcess, referenceStateDict } from '../../engine/interop/describe';
import { objectiveOf, referenceLossType } from '../../engine/interop/mapping';
import { REFERENCE_PRESET_NAMES, pipelineFromPreset, presetFlags } from '../../engine/interop/presets';
import { attentionFactorsFromSizes, attentionSizesFromFactors } from '../../engine/unet/config';
import type { CompletePipeline } from '../../engine/spec';
import { DEMO_REFERENCE_PIPELINE } from '../../scripts/reference/demo';
import { hasFile, readJson, referenceDir } from '../conformance/harness';

test('argparser: defaults, str2bool, int/float/str typing, --flag=value, quotes, and argparse-like refusals', () => {
  const args = parseReferenceArgs('--learn_sigma yes --lr=3e-4 --batch_size 128 --ema_rate 0.999,0.9999 --data_dir "/my images"');
  assert.equal(args.learn_sigma, true);
  assert.equal(args.lr, 3e-4);
  assert.equal(args.batch_size, 128);
  assert.equal(args.ema_rate, '0.999,0.9999');
  assert.equal(args.data_dir, '/my images');
  assert.equal(args.image_size, 64);
  assert.equal(args.rescale_learned_sigmas, true);
  assert.equal(args.schedule_sampler, 'uniform');
  assert.equal(parseReferenceArgs('--dropout 0').dropout, 0);
  assert.equal(parseReferenceArgs({ class_cond: 'T', num_channels: 192 }).class_cond, true);
  assert.equal(parseReferenceArgs('--use_ddim True', 'image_sample').use_ddim, true);
  assert.deepEqual(splitCommandLine(` --a 'b c'  --d "" `), ['--a', 'b c', '--d', '']);
  assert.throws(() => parseReferenceArgs('--use_ddim True'), /unrecognized argument --use_ddim for scripts\/image_train\.py/);
  assert.throws(() => parseReferenceArgs('--learn_sigma maybe'), /--learn_sigma: boolean value expected/);
  assert.throws(() => parseReferenceArgs('--batch_size 1.5'), /--batch_size: invalid int value "1\.5"/);
  assert.throws(() => parseReferenceArgs('--lr'), /argument --lr: expected one argument/);
  assert.throws(() => parseReferenceArgs('image_size 64'), /flags look like --name value/);
  assert.throws(() => parseReferenceArgs({ num_channels: 12.5 }), /--num_channels: invalid int value 12\.5/);
});

test('attention: pixel sizes <-> downsample factors, the floor division of script_util', () => {
  assert.deepEqual(attentionFactorsFromSizes(64, [16, 8]), [4, 8]);
  assert.deepEqual(attentionSizesFromFactors(64, [4, 8]), [16, 8]);
  assert.deepEqual(attentionFactorsFromSizes(64, [30]), [2]);
  assert.throws(() => pipelineFromFlags('--attention_resolutions 30'), /30 px at image_size 64 is downsample factor 2 \(64 \/\/ 30\)/);
  assert.throws(() => pipelineFromFlags('--image_size 32 --attention_resolutions 2'), /not one of this UNet's feature maps \(32, 16, 8, 4 px\)/);
});

test('the loss table: every use_kl x rescale_learned_sigmas x learn_sigma is the reference objective, and back', () => {
  // The reference's weights of mse and vb (gaussian_diffusion.training_losses), per LossType and variance.
  const T = 4000;
  const expected = (useKl: boolean, rescale: boolean, learned: boolean): { mseWeight: number; vbWeight: number } =>
    useKl ? { mseWeight: 0, vbWeight: T } : { mseWeight: 1, vbWeight: learned ? (rescale ? T / 1000 : 1) : 0 };
  for (const useKl of [false, true]) {
    for (const rescale of [false, true]) {
      for (const learned of [false, true]) {
        const r = pipelineFromFlags(`--diffusion_steps ${T} --use_kl ${useKl} --rescale_learned_sigmas ${rescale} --learn_sigma ${learned}`);
        const what = `use_kl ${useKl}, rescale ${rescale}, learn_sigma ${learned}: ${JSON.stringify(r.pipeline.loss)}`;
        const got = objectiveOf(r.pipeline.loss, r.pipeline.unet.modelVarType, T);
        assert.equal(got.mseWeight, expected(useKl, rescale, learned).mseWeight, what);
        assert.ok(Math.abs(got.vbWeight - expected(useKl, rescale, learned).vbWeight) < 1e-9, what);
        assert.equal(referenceLossType(r.pipeline.loss, r.pipeline.unet.modelVarType, T).value,
          useKl ? 'RESCALED_KL' : rescale ? 'RESCALED_MSE' : 'MSE', what);
      }
    }
  }
  const learnedMse = pipelineFromFlags('--diffusion_steps 4000 --learn_sigma True --rescale_learned_sigmas False').pipeline.loss;
  assert.deepEqual(learnedMse, { kind: 'hybrid', lambda: 1 / 4000 });
  assert.equal(pipelineFromFlags('--rescale_learned_sigmas False').pipeline.loss.kind, 'simple');
  assert.equal(pipelineFromFlags('--learn_sigma True --sigma_small True').pipeline.unet.modelVarType, 'learned_range');
  assert.equal(pipelineFromFlags('--sigma_small True').pipeline.unet.modelVarType, 'fixed_small');
  assert.equal(pipelineFromFlags('').pipeline.unet.modelVarType, 'fixed_large');
});

test('flags the reference accepts but our UNet cannot represent, or that cannot build a model, are refused clearly', () => {
  assert.throws(() => pipelineFromFlags('--image_size 128'), /--image_size 128: unsupported image size/);
  assert.throws(() => pipelineFromFlags('--num_heads 4 --num_heads_upsample 2'), /--num_heads_upsample 2: our UNet uses num_heads \(4\)/);
  assert.throws(() => pipelineFromFlags('--noise_schedule quadratic'), /--noise_schedule "quadratic"/);
  assert.throws(() => pipelineFromFlags('--schedule_sampler lossaware'), /--schedule_sampler "lossaware"/);
  assert.throws(() => pipelineFromFlags('--num_channels 100'), /modelChannels \(100\) must be a multiple of 32/);
  // num_heads_upsample equal to num_heads is the same network.
  assert.equal(pipelineFromFlags('--num_heads 2 --num_heads_upsample 2').pipeline.unet.config?.numHeads, 2);
});

test('use_scale_shift_norm False and class_cond: our layout gives the reference state_dict shapes', () => {
  const r = pipelineFromFlags('--image_size 32 --num_channels 64 --num_res_blocks 1 --use_scale_shift_norm False --class_cond True');
  const config = unetConfigOf(r.pipeline.unet);
  assert.equal(config.useScaleShiftNorm, false);
  assert.equal(config.numClasses, 1000);
  const sd = new Map(referenceStateDict(config).map((e) => [e.name, e.shape]));
  // emb_layers project to out_channels (not 2x) without scale-shift norm; label_emb is [1000, 4 * 64].
  assert.deepEqual(sd.get('input_blocks.1.0.emb_layers.1.weight'), [64, 256]);
  assert.deepEqual(sd.get('label_emb.weight'), [1000, 256]);
});

test('flagsFromPipeline: flags where the scripts can express the pipeline, else the reasons', () => {
  const cifar = pipelineFromPreset('cifar10-uncond-hybrid');
  const back = flagsFromPipeline(cifar.pipeline, { train: cifar.train, samplingRespacing: '100' });
  assert.ok(back.flags, back.reason ?? '');
  assert.equal(back.flags.model, '--image_size 32 --num_res_blocks 3 --dropout 0.3 --learn_sigma True');
  assert.equal(back.flags.diffusion, '--diffusion_steps 4000 --noise_schedule cosine');
  assert.equal(back.flags.train, '--batch_size 128');
  assert.equal(back.flags.sample, '--timestep_respacing 100');

  const demo = flagsFromPipeline(DEMO_REFERENCE_PIPELINE);
  assert.equal(demo.flags, null);
  assert.match(demo.reason ?? '', /1 input channel: the scripts fix 3.*channel_mult \(1, 2, 2\): at 32 px the scripts fix \(1, 2, 2, 2\).*10 classes/);
  const rgb = (over: Partial<CompletePipeline>): CompletePipeline => ({ ...cifar.pipeline, ...over });
  const reasonOf = (p: CompletePipeline): string => flagsFromPipeline(p).reason ?? '';
  assert.match(reasonOf(rgb({ loss: { kind: 'kl', lambda: 0.001 } })), /LossType\.KL, which create_gaussian_diffusion never builds/);
  assert.match(reasonOf(rgb({ loss: { kind: 'simple', lambda: 0.001 } })), /"simple" with a learned variance/);
  assert.match(reasonOf(rgb({ loss: { kind: 'hybrid', lambda: 0.002 } })), /hybrid λ = 0\.002/);
  assert.match(reasonOf(rgb({ timesteps: { kind: 'importance', history: 5 } })), /history 5/);
  assert.match(reasonOf(rgb({ unet: { ...cifar.pipeline.unet, modelVarType: 'learned' } })), /ModelVarType\.LEARNED/);
  assert.match(reasonOf(rgb({ schedule: { kind: 'cosine', steps: 4000, cosineS: 0.01 } })), /s = 0\.01/);
  assert.deepEqual(scriptLimitations(cifar.pipeline), []);
});

test('README presets: each builds, goes back to the same flags, and the ones in recipes.json have its parameter counts', () => {
  for (const name of REFERENCE_PRESET_NAMES) {
    const r = pipelineFromPreset(name);
    const back = flagsFromPipeline(r.pipeline, { train: r.train });
    assert.ok(back.flags, `${name}: ${back.reason}`);
    assert.deepEqual(normaliseArgs(parseReferenceArgs(back.flags.imageTrain)), normaliseArgs(parseReferenceArgs(presetFlags(name))), name);
  }
  const cond = pipelineFromPreset('imagenet64-cond').pipeline;
  assert.equal(cond.unet.numClasses, 1000);
  assert.equal(cond.noiser.rescaleTimesteps, false);
  assert.deepEqual(cond.loss, { kind: 'hybrid', lambda: 1 / 4000 });
  // "270M parameters" in the README.
  assert.ok(Math.abs(referenceModel(cond).numParameters / 270e6 - 1) < 0.02, String(referenceModel(cond).numParameters));
  const lsun = unetConfigOf(pipelineFromPreset('lsun-bedroom-lr2e-5').pipeline.unet);
  assert.deepEqual([lsun.imageSize, lsun.numHeads, lsun.useScaleShiftNorm, lsun.attentionResolutions], [256, 1, false, [16]]);
  assert.throws(() => pipelineFromPreset('upsample'), /Unknown reference preset "upsample"/);

  const dir = referenceDir();
  assert.ok(hasFile(dir, 'recipes.json'), `recipes.json missing from ${dir}`);
  const cases = readJson<{ cases: Array<{ flags: string; num_parameters: number }> }>(dir, 'recipes.json').cases;
  let matched = 0;
  for (const name of REFERENCE_PRESET_NAMES) {
    const model = normaliseArgs(parseReferenceArgs(presetFlags(name)));
    for (const c of cases) {
      const theirs = normaliseArgs(parseReferenceArgs(c.flags));
      const keys = ['image_size', 'num_channels', 'num_res_blocks', 'learn_sigma', 'class_cond', 'attention_resolutions', 'num_heads', 'use_scale_shift_norm'];
      if (keys.every((k) => theirs[k] === model[k])) {
        assert.equal(referenceModel(pipelineFromPreset(name).pipeline).numParameters, c.num_parameters, `${name} vs ${c.flags}`);
        matched++;
      }
    }
  }
  assert.ok(matched > 0, 'no preset shares an architecture with a recipes.json case');
});

test('referenceProcess: respacing and the re-derived betas of SpacedDiffusion', () => {
  const r = pipelineFromFlags('--diffusion_steps 1000 --noise_schedule cosine --learn_sigma True --timestep_respacing ddim50');
  const p = referenceProcess(r.pipeline, r.samplingRespacing);
  assert.equal(p.numTimesteps, 50);
  assert.deepEqual(p.timestepMap.slice(0, 3), [0, 20, 40]);
  assert.equal(p.originalNumSteps, 1000);
  // β'_k = 1 − ᾱ(t_k)/ᾱ(t_{k−1}): the product of the respaced (1 − β') is ᾱ at the last kept step.
  const full = referenceProcess(r.pipeline, null);
  const prodFull = full.betas.subarray(0, 981).reduce((a, b) => a * (1 - b), 1);
  const prodSpaced = p.betas.reduce((a, b) => a * (1 - b), 1);
  assert.ok(Math.abs(prodSpaced / prodFull - 1) < 1e-12, `${prodSpaced} vs ${prodFull}`);
  assert.throws(() => referenceProcess({ ...r.pipeline, loss: { kind: 'simple', lambda: 0 } }), /"simple" with a learned variance/);
});
