/**
 * diffusion_ops.json: the forward process, posterior, p_mean_variance, training losses, prior bpd and the
 * likelihood helpers against the reference, for every timestep block of every result block (`reference`,
 * `f64_coefficients`), in float32 (harness F32 tolerance). Inputs are NCHW float64: converted to NHWC float32
 * for the engine, and our outputs converted back. Variance/loss types and channel counts come from the
 * recorded entry fields (or, for p_mean_variance, whose entries do not record them, from the key).
 */
import { FileReport, F32, flat, isRefArray, nchwToNhwc, nhwcToNchw, readJson, type RefArray } from './harness';
import { tf } from '../../engine/tf';
import { getNamedBetaSchedule, type BetaScheduleName } from '../../engine/schedule';
import { GaussianDiffusion, approxStandardNormalCdf, discretizedGaussianLogLikelihood, normalKl, type LossType } from '../../engine/diffusion';
import { MODEL_VAR_TYPES, type ModelMeanType, type ModelVarType } from '../../engine/spec';

export const file = 'diffusion_ops.json';

/** The reference's LossType names; RESCALED_MSE is our hybrid loss with λ = 0.001 (mse + (T/1000)·vb). */
const LOSS_TYPES: Record<string, LossType> = { MSE: 'mse', RESCALED_MSE: 'hybrid', KL: 'kl', RESCALED_KL: 'rescaled-kl' };
const LOSS_KEYS = ['loss', 'mse', 'vb'] as const;

interface Setting {
  schedule: BetaScheduleName;
  T: number;
  meanType: ModelMeanType;
  rescale: boolean;
}

/** An NCHW reference image tensor as an NHWC float32 tensor. */
function nhwc(a: RefArray): tf.Tensor {
  const [n, c, ...spatial] = a.shape;
  return tf.tensor(Float32Array.from(nchwToNhwc(flat(a), a.shape)), [n, ...spatial, c], 'float32');
}

/** Our NHWC result, reordered to the reference's NCHW layout of `like`. */
function nchw(x: tf.Tensor, like: RefArray): Float64Array {
  return nhwcToNchw(x.dataSync(), like.shape);
}

function timesteps(a: RefArray): tf.Tensor1D {
  return tf.tensor1d(Int32Array.from(flat(a)), 'int32');
}

class OpsCheck {
  private readonly processes = new Map<string, GaussianDiffusion>();
  constructor(readonly report: FileReport, readonly inputs: Record<string, any>, readonly setting: Setting) {}

  diffusion(varType: ModelVarType, lossType: LossType, T = this.setting.T): GaussianDiffusion {
    const key = `${varType}/${lossType}/${T}`;
    let d = this.processes.get(key);
    if (!d) {
      d = new GaussianDiffusion({
        betas: getNamedBetaSchedule(this.setting.schedule, T),
        modelMeanType: this.setting.meanType,
        modelVarType: varType,
        lossType,
        hybridLambda: 0.001,
        rescaleTimesteps: this.setting.rescale,
      });
      this.processes.set(key, d);
    }
    return d;
  }

  /** The recorded model output (an `inputs.model_output_*` array) with the given channel count. */
  modelOutput(channels: number): RefArray {
    const found = Object.entries(this.inputs).find(([k, v]) => k.startsWith('model_output') && isRefArray(v) && v.shape[1] === channels);
    if (!found) throw new Error(`no inputs.model_output_* with ${channels} channels`);
    return found[1] as RefArray;
  }

  /** Compares when the reference recorded `expected`; `nhwc` results of image rank are reordered to NCHW first. */
  cmp(name: string, ours: tf.Tensor, expected: unknown, layout: 'nhwc' | 'same' = 'nhwc'): void {
    if (!isRefArray(expected)) return;
    const actual = layout === 'nhwc' && expected.shape.length >= 3 ? nchw(ours, expected) : ours.dataSync();
    this.report.compare(name, actual, flat(expected), F32);
  }

  /** One timestep block: q_sample, q_mean_variance, q_posterior_mean_variance, p_mean_variance, training_losses. */
  timestepBlock(label: string, block: Record<string, any>): void {
    const { report, inputs } = this;
    const C = inputs.x_start.shape[1] as number;
    tf.tidy(() => {
      const x0 = nhwc(inputs.x_start);
      const noise = nhwc(inputs.noise);
      const t = timesteps(block.t);
      const base = this.diffusion('fixed_small', 'mse');
      if (block.q_sample) this.cmp(`${label} q_sample`, base.qSample(x0, t, noise), block.q_sample);
      // The reference's own x_t feeds everything below, so each operation is checked on its own.
      const xt = block.q_sample ? nhwc(block.q_sample) : base.qSample(x0, t, noise);
      if (block.q_mean_variance) {
        const q = base.qMeanVariance(x0, t);
        for (const [k, v] of [['mean', q.mean], ['variance', q.variance], ['log_variance', q.logVariance]] as const) {
          this.cmp(`${label} q_mean_variance.${k}`, v, block.q_mean_variance[k]);
        }
      }
      if (block.q_posterior_mean_variance) {
        const q = base.qPosteriorMeanVariance(x0, xt, t);
        const r = block.q_posterior_mean_variance;
        this.cmp(`${label} q_posterior.mean`, q.mean, r.mean);
        this.cmp(`${label} q_posterior.variance`, q.variance, r.variance);
        this.cmp(`${label} q_posterior.log_variance_clipped`, q.logVarianceClipped, r.log_variance_clipped);
      }
      for (const [key, entry] of Object.entries((block.p_mean_variance ?? {}) as Record<string, any>)) {
        const m = /^(.+)_clip_(true|false)$/.exec(key);
        const varType = (entry.model_var_type?.toLowerCase() ?? m?.[1]) as ModelVarType;
        if (!(MODEL_VAR_TYPES as readonly string[]).includes(varType)) {
          report.expect(`${label} p_mean_variance.${key}`, false, 'cannot tell its model variance type');
          continue;
        }
        const clip = typeof entry.clip_denoised === 'boolean' ? entry.clip_denoised : m?.[2] === 'true';
        const d = this.diffusion(varType, 'mse');
        const out = nhwc(this.modelOutput(d.modelOutputChannels(C)));
        const p = d.pMeanVariance(out, xt, t, { clipDenoised: clip });
        this.cmp(`${label} p_mean_variance.${key}.mean`, p.mean, entry.mean);
        this.cmp(`${label} p_mean_variance.${key}.variance`, p.variance, entry.variance);
        this.cmp(`${label} p_mean_variance.${key}.log_variance`, p.logVariance, entry.log_variance);
        this.cmp(`${label} p_mean_variance.${key}.pred_xstart`, p.predXstart, entry.pred_xstart);
        this.cmp(`${label} p_mean_variance.${key}.model_received_t`, d.scaleTimesteps(t), entry.model_received_t);
      }
      for (const [key, entry] of Object.entries((block.training_losses ?? {}) as Record<string, any>)) {
        this.trainingLosses(`${label} training_losses.${key}`, entry, x0, xt, t, noise);
      }
    });
  }

  /** One training_losses entry; `T` and the types default to the file's process and the entry's own fields. */
  trainingLosses(name: string, entry: Record<string, any>, x0: tf.Tensor, xt: tf.Tensor, t: tf.Tensor1D, noise: tf.Tensor, T?: number): void {
    const varType = String(entry.model_var_type).toLowerCase() as ModelVarType;
    const lossType = LOSS_TYPES[entry.loss_type as string];
    if (!(MODEL_VAR_TYPES as readonly string[]).includes(varType) || !lossType) {
      this.report.expect(name, false, `unknown model_var_type ${entry.model_var_type} or loss_type ${entry.loss_type}`);
      return;
    }
    const d = this.diffusion(varType, lossType, T);
    const channels = (entry.model_output_channels as number | undefined) ?? d.modelOutputChannels(xt.shape[xt.rank - 1]);
    const ours = d.trainingLosses(nhwc(this.modelOutput(channels)), x0, xt, t, noise);
    const theirs = LOSS_KEYS.filter((k) => isRefArray(entry[k]));
    const mine = LOSS_KEYS.filter((k) => ours[k] !== undefined);
    this.report.expect(`${name} terms`, theirs.join() === mine.join(), `ours ${mine.join()}, reference ${theirs.join()}`);
    for (const k of theirs) if (ours[k]) this.cmp(`${name}.${k}`, ours[k]!, entry[k]);
    this.cmp(`${name}.model_received_t`, d.scaleTimesteps(t), entry.model_received_t);
  }

  /** other_T_hybrid_losses: the same losses on a process of another length; x_t is ours (their q_sample is not recorded). */
  otherT(label: string, other: Record<string, any>, mainBlock: Record<string, any>): void {
    const T = other.num_timesteps as number;
    for (const [blockKey, block] of Object.entries(other)) {
      if (typeof block !== 'object' || block === null || isRefArray(block)) continue;
      const tRef = (block.t ?? mainBlock[blockKey]?.t ?? this.inputs[blockKey]) as RefArray | undefined;
      if (!isRefArray(tRef)) continue;
      tf.tidy(() => {
        const x0 = nhwc(this.inputs.x_start);
        const noise = nhwc(this.inputs.noise);
        const t = timesteps(tRef);
        const xt = this.diffusion('fixed_small', 'mse', T).qSample(x0, t, noise);
        for (const [key, entry] of Object.entries(block as Record<string, any>)) {
          if (isRefArray(entry) || typeof entry !== 'object') continue;
          // Entries here do not repeat their types: take them from the same-named entry of the main block.
          const same = mainBlock[blockKey]?.training_losses?.[key] ?? {};
          const full = { model_var_type: same.model_var_type, loss_type: same.loss_type, model_output_channels: same.model_output_channels, ...entry };
          this.trainingLosses(`${label} T=${T} ${blockKey}.${key}`, full, x0, xt, t, noise, T);
        }
      });
    }
  }

  /** prior_bpd and the elementwise helpers (elementwise, so the NCHW data is used as is). */
  helpers(label: string, results: Record<string, any>): void {
    const { inputs } = this;
    const f32 = (a: RefArray): tf.Tensor => tf.tensor(Float32Array.from(flat(a)), a.shape, 'float32');
    tf.tidy(() => {
      if (isRefArray(results.prior_bpd)) {
        this.cmp(`${label} prior_bpd`, this.diffusion('fixed_small', 'mse').priorBpd(nhwc(inputs.x_start)), results.prior_bpd);
      }
      const kl = inputs.normal_kl;
      if (kl) {
        const [m1, lv1, m2, lv2] = [kl.mean1, kl.logvar1, kl.mean2, kl.logvar2].map(f32);
        this.cmp(`${label} normal_kl`, normalKl(m1, lv1, m2, lv2), results.normal_kl, 'same');
        this.cmp(`${label} normal_kl_vs_standard`, normalKl(m1, lv1, 0, 0), results.normal_kl_vs_standard, 'same');
      }
      if (isRefArray(inputs.cdf_grid)) this.cmp(`${label} approx_standard_normal_cdf`, approxStandardNormalCdf(f32(inputs.cdf_grid)), results.approx_standard_normal_cdf, 'same');
      const g = inputs.discretized_gaussian_log_likelihood;
      if (g) {
        const ll = discretizedGaussianLogLikelihood(f32(g.x), f32(g.means), f32(g.log_scales));
        this.cmp(`${label} discretized_gaussian_log_likelihood`, ll, results.discretized_gaussian_log_likelihood, 'same');
      }
    });
  }

  dispose(): void {
    for (const d of this.processes.values()) d.dispose();
  }
}

export async function check(refDir: string): Promise<FileReport> {
  const report = new FileReport(file);
  const data = readJson(refDir, file);
  const setting: Setting = {
    schedule: data.diffusion.noise_schedule,
    T: data.diffusion.num_timesteps,
    meanType: String(data.diffusion.model_mean_type ?? 'EPSILON').toLowerCase() as ModelMeanType,
    rescale: data.diffusion.rescale_timesteps ?? true,
  };
  const ops = new OpsCheck(report, data.inputs, setting);
  try {
    for (const blockName of ['reference', 'f64_coefficients']) {
      const results = data[blockName] as Record<string, any> | undefined;
      if (!results) continue;
      for (const [key, block] of Object.entries(results)) {
        if (typeof block === 'object' && block !== null && isRefArray(block.t)) ops.timestepBlock(`${blockName} ${key}`, block);
      }
      if (results.other_T_hybrid_losses) ops.otherT(blockName, results.other_T_hybrid_losses, results);
      ops.helpers(blockName, results);
    }
  } finally {
    ops.dispose();
  }
  return report;
}
