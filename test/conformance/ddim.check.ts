/**
 * ddim.json: the small reference UNet inside the process `create_gaussian_diffusion(**recorded args)`: the whole
 * DDIM (η = 0) loop from the recorded x_T, one ancestral `p_sample` step and one `ddim_sample` step (η > 0), each
 * with the recorded noise. Schedule, respacing, variance type and the model all come from the files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../engine/tf';
import { FileReport, F32, F64, Tolerance, flat, nchwToNhwc, nhwcToNchw, readJson, RefArray } from './harness';
import { parseSafetensors } from '../../engine/safetensors';
import { fromReferenceConfig, ReferenceUNetConfig } from '../../engine/unet/config';
import { UNet } from '../../engine/unet/model';
import { createDiffusion, GaussianDiffusion, DiffusionSpec } from '../../engine/diffusion';
import { ModelFn, ddimSample, pSample } from '../../engine/sample/steps';
import { reverseLoop } from '../../engine/sample/loop';

export const file = 'ddim.json';

/**
 * Float32 throughout, so the harness's F32 bar — on the scale of ε̂. Everything after the UNet derives from
 * x̂₀ = √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε̂, which multiplies the UNet's own float32 disagreement with torch (up to
 * ~9e-6 in unet_small.json) by √(1/ᾱ_t − 1): ≈ 5.9 at the noisiest step of ddim10 on cosine T = 1000. So the
 * absolute arm grows with that factor at the step's t (never below F32); the relative arm stays F32's.
 */
function stepTol(diffusion: GaussianDiffusion, ts: ArrayLike<number>): Tolerance {
  const factor = Math.max(1, ...Array.from(ts, (t) => diffusion.tables.sqrtRecipm1AlphasCumprod[t]));
  return { abs: F32.abs * factor, rel: F32.rel };
}

/** `create_gaussian_diffusion`'s arguments as recorded by the generator (script_util.py names). */
interface CreateArgs {
  steps: number;
  learn_sigma: boolean;
  sigma_small: boolean;
  noise_schedule: 'linear' | 'cosine';
  use_kl: boolean;
  predict_xstart: boolean;
  rescale_timesteps: boolean;
  rescale_learned_sigmas: boolean;
  timestep_respacing: string;
}

/** What the reference passed to the model besides x and t: class labels `y` for a class-conditional model. */
interface ModelKwargs { y?: RefArray | null }

interface StepRef { x: RefArray; t: RefArray; noise: RefArray; model_received_t: RefArray; sample: RefArray; pred_xstart: RefArray; clip_denoised: boolean; model_kwargs?: ModelKwargs }

interface DdimRef {
  model: string;
  /** For every block that has none of its own. */
  model_kwargs?: ModelKwargs;
  diffusion: {
    create_gaussian_diffusion_args: CreateArgs;
    num_timesteps: number;
    original_num_steps: number;
    timestep_map: number[];
    betas: RefArray;
    alphas_cumprod: RefArray;
    alphas_cumprod_prev: RefArray;
  };
  ddim_sample_loop: {
    eta: number;
    clip_denoised: boolean;
    x_T: RefArray;
    steps: Array<{ t_index: number; model_received_t: RefArray; sample: RefArray; pred_xstart: RefArray }>;
    final_sample: RefArray;
    model_kwargs?: ModelKwargs;
  };
  p_sample: StepRef & { mean: RefArray; variance: RefArray; log_variance: RefArray };
  ddim_sample_step: StepRef & { eta: number };
}

/** script_util.py `create_gaussian_diffusion` in our vocabulary (RESCALED_MSE is our hybrid with λ = 0.001). */
function diffusionSpec(a: CreateArgs): DiffusionSpec {
  return {
    schedule: { name: a.noise_schedule, steps: a.steps },
    respacing: a.timestep_respacing || undefined,
    modelMeanType: a.predict_xstart ? 'start_x' : 'epsilon',
    modelVarType: a.learn_sigma ? 'learned_range' : a.sigma_small ? 'fixed_small' : 'fixed_large',
    lossType: a.use_kl ? 'rescaled-kl' : a.rescale_learned_sigmas ? 'hybrid' : 'mse',
    rescaleTimesteps: a.rescale_timesteps,
  };
}

/** The UNet file named in ddim.json's `model` note (the small UNet's JSON), default unet_small.json. */
function unetFile(ref: DdimRef): string {
  return /([\w.-]+\.json)/.exec(ref.model ?? '')?.[1] ?? 'unet_small.json';
}

const toNhwc = (a: RefArray): tf.Tensor4D => {
  const [n, c, h, w] = a.shape;
  return tf.tensor4d(Float32Array.from(nchwToNhwc(flat(a), a.shape)), [n, h, w, c]);
};
const nchw = (t: tf.Tensor, ref: RefArray): Float64Array => nhwcToNchw(t.dataSync(), ref.shape);

/** The class labels of a block's model_kwargs (or the file's), if the reference passed any. */
function labelsOf(ref: DdimRef, block: { model_kwargs?: ModelKwargs }): Int32Array | undefined {
  const y = (block.model_kwargs ?? ref.model_kwargs)?.y;
  return y ? Int32Array.from(flat(y)) : undefined;
}

/** The model as the samplers call it, with the block's labels, recording the (scaled) timesteps it receives. */
function recordingModel(unet: UNet, diffusion: GaussianDiffusion, seen: Float32Array[], labels?: Int32Array): ModelFn {
  return (x, t) => tf.tidy(() => {
    const ts = diffusion.scaleTimesteps(t);
    seen.push(ts.dataSync() as Float32Array);
    const y = labels ? tf.tensor1d(labels, 'int32') : undefined;
    return unet.apply(x, ts, y, { training: false });
  });
}

function checkProcess(report: FileReport, ref: DdimRef, diffusion: GaussianDiffusion): void {
  const d = ref.diffusion;
  report.compare('num_timesteps', diffusion.numTimesteps, d.num_timesteps, { abs: 0, rel: 0 });
  report.compare('original_num_steps', diffusion.originalNumSteps, d.original_num_steps, { abs: 0, rel: 0 });
  report.compare('timestep_map', [...diffusion.timestepMap], d.timestep_map, { abs: 0, rel: 0 });
  report.compare('betas', diffusion.tables.betas, flat(d.betas), F64);
  report.compare('alphas_cumprod', diffusion.tables.alphasCumprod, flat(d.alphas_cumprod), F64);
  report.compare('alphas_cumprod_prev', diffusion.tables.alphasCumprodPrev, flat(d.alphas_cumprod_prev), F64);
}

async function checkDdimLoop(report: FileReport, ref: DdimRef, diffusion: GaussianDiffusion, unet: UNet): Promise<void> {
  const r = ref.ddim_sample_loop;
  const seen: Float32Array[] = [];
  const byT = new Map(r.steps.map((s) => [s.t_index, s]));
  const xT = toNhwc(r.x_T);
  const final = await reverseLoop('ddim', diffusion, recordingModel(unet, diffusion, seen, labelsOf(ref, r)), xT, {
    clipDenoised: r.clip_denoised,
    eta: r.eta,
    onStep: ({ t, sample, predXstart }) => {
      const s = byT.get(t);
      if (!report.expect(`ddim_sample_loop step t=${t} recorded`, s !== undefined) || !s) return;
      report.compare(`ddim_sample_loop t=${t} model_received_t`, seen[seen.length - 1], flat(s.model_received_t), F32);
      const tol = stepTol(diffusion, [t]);
      report.compare(`ddim_sample_loop t=${t} sample`, nchw(sample, s.sample), flat(s.sample), tol);
      report.compare(`ddim_sample_loop t=${t} pred_xstart`, nchw(predXstart, s.pred_xstart), flat(s.pred_xstart), tol);
    },
  });
  report.expect('ddim_sample_loop ran every recorded step', seen.length === r.steps.length, `${seen.length} model calls, ${r.steps.length} steps recorded`);
  report.compare('ddim_sample_loop final_sample', nchw(final, r.final_sample), flat(r.final_sample), stepTol(diffusion, [0]));
  tf.dispose([xT, final]);
}

function checkPSample(report: FileReport, ref: DdimRef, diffusion: GaussianDiffusion, unet: UNet): void {
  const r = ref.p_sample;
  const seen: Float32Array[] = [];
  tf.tidy(() => {
    const t = tf.tensor1d(Int32Array.from(flat(r.t)), 'int32');
    const tol = stepTol(diffusion, flat(r.t));
    const out = pSample(diffusion, recordingModel(unet, diffusion, seen, labelsOf(ref, r)), toNhwc(r.x), t, { clipDenoised: r.clip_denoised, noise: toNhwc(r.noise) });
    report.compare('p_sample model_received_t', seen[0], flat(r.model_received_t), F32);
    for (const [name, ours, theirs] of [
      ['sample', out.sample, r.sample], ['pred_xstart', out.predXstart, r.pred_xstart], ['mean', out.mean, r.mean],
      ['variance', out.variance, r.variance], ['log_variance', out.logVariance, r.log_variance],
    ] as const) {
      report.compare(`p_sample ${name}`, nchw(ours, theirs), flat(theirs), tol);
    }
  });
}

function checkDdimStep(report: FileReport, ref: DdimRef, diffusion: GaussianDiffusion, unet: UNet): void {
  const r = ref.ddim_sample_step;
  const seen: Float32Array[] = [];
  tf.tidy(() => {
    const t = tf.tensor1d(Int32Array.from(flat(r.t)), 'int32');
    const tol = stepTol(diffusion, flat(r.t));
    const out = ddimSample(diffusion, recordingModel(unet, diffusion, seen, labelsOf(ref, r)), toNhwc(r.x), t, { clipDenoised: r.clip_denoised, eta: r.eta, noise: toNhwc(r.noise) });
    report.compare('ddim_sample_step model_received_t', seen[0], flat(r.model_received_t), F32);
    report.compare('ddim_sample_step sample', nchw(out.sample, r.sample), flat(r.sample), tol);
    report.compare('ddim_sample_step pred_xstart', nchw(out.predXstart, r.pred_xstart), flat(r.pred_xstart), tol);
  });
}

export async function check(refDir: string): Promise<FileReport> {
  const report = new FileReport(file);
  const ref = readJson<DdimRef>(refDir, file);
  const unetRef = readJson<{ config: ReferenceUNetConfig; weights_file: string; inputs: { x: RefArray } }>(refDir, unetFile(ref));
  const config = fromReferenceConfig(unetRef.config, unetRef.config.image_size ?? ref.ddim_sample_loop.x_T.shape[2]);
  const unet = UNet.fromStateDict(config, parseSafetensors(readFileSync(join(refDir, unetRef.weights_file))));
  const diffusion = createDiffusion(diffusionSpec(ref.diffusion.create_gaussian_diffusion_args));
  try {
    checkProcess(report, ref, diffusion);
    await checkDdimLoop(report, ref, diffusion, unet);
    checkPSample(report, ref, diffusion, unet);
    checkDdimStep(report, ref, diffusion, unet);
  } finally {
    unet.dispose();
    diffusion.dispose();
  }
  return report;
}
