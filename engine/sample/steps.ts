/**
 * One reverse step of a diffusion process: the ancestral step `p_sample` and the DDIM step `ddim_sample` of
 * improved-diffusion's gaussian_diffusion.py, on top of the process's `pMeanVariance`. Every tensor is float32
 * NHWC; `t` holds int32 indices into the (possibly respaced) process, so the coefficients are the respaced ones.
 */
import { tf } from '../tf';
import type { GaussianDiffusion } from '../diffusion';

/** The model as the samplers call it: x_t and process indices t in, raw model output (C or 2C channels) out. */
export type ModelFn = (x: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D;

export interface StepOptions {
  clipDenoised: boolean;
  /** z ~ N(0, I) of the image's shape; only read where t > 0 (and, for DDIM, where σ > 0). */
  noise?: tf.Tensor4D | null;
}

export interface PSampleOutput {
  sample: tf.Tensor4D;
  predXstart: tf.Tensor4D;
  mean: tf.Tensor4D;
  variance: tf.Tensor4D;
  logVariance: tf.Tensor4D;
}

/** [t ≠ 0] as a float [N, 1, 1, 1] mask: the last step (t = 0) adds no noise. */
export function nonzeroMask(t: tf.Tensor1D): tf.Tensor4D {
  return tf.tidy(() => tf.notEqual(t, 0).cast('float32').reshape([-1, 1, 1, 1]) as tf.Tensor4D);
}

/**
 * `p_sample`: x_{t−1} = μ_θ(x_t, t) + [t > 0]·exp(½ log σ²_t)·z (iddpm.md, "Ancestral step"). Returns the
 * p_mean_variance outputs too, so callers can record them.
 */
export function pSample(diffusion: GaussianDiffusion, model: ModelFn, x: tf.Tensor4D, t: tf.Tensor1D, opts: StepOptions): PSampleOutput {
  return tf.tidy(() => {
    const out = diffusion.pMeanVariance(model(x, t), x, t, { clipDenoised: opts.clipDenoised });
    let sample = out.mean as tf.Tensor4D;
    if (opts.noise) sample = sample.add(nonzeroMask(t).mul(out.logVariance.mul(0.5).exp()).mul(opts.noise));
    return {
      sample,
      predXstart: out.predXstart as tf.Tensor4D,
      mean: out.mean as tf.Tensor4D,
      variance: out.variance as tf.Tensor4D,
      logVariance: out.logVariance as tf.Tensor4D,
    };
  });
}

/**
 * `ddim_sample` (Song et al., eq. 12): from the clipped x̂₀ re-derive ε = (√(1/ᾱ_t)·x_t − x̂₀)/√(1/ᾱ_t − 1), then
 * σ = η·√((1−ᾱ_{t−1})/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t−1}) and
 * x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1−ᾱ_{t−1}−σ²)·ε + [t > 0]·σ·z. With η = 0 the step is deterministic.
 * ᾱ and ᾱ_prev are looked up as float32 and combined in float32, as the reference does.
 */
export function ddimSample(
  diffusion: GaussianDiffusion, model: ModelFn, x: tf.Tensor4D, t: tf.Tensor1D, opts: StepOptions & { eta: number },
): { sample: tf.Tensor4D; predXstart: tf.Tensor4D } {
  return tf.tidy(() => {
    const out = diffusion.pMeanVariance(model(x, t), x, t, { clipDenoised: opts.clipDenoised });
    const predXstart = out.predXstart as tf.Tensor4D;
    const eps = diffusion.predictEpsFromXstart(x, t, predXstart);
    const alphaBar = diffusion.coefficient('alphasCumprod', t, 4) as tf.Tensor4D;
    const alphaBarPrev = diffusion.coefficient('alphasCumprodPrev', t, 4) as tf.Tensor4D;
    const sigma = tf.scalar(opts.eta, 'float32')
      .mul(tf.sqrt(tf.scalar(1).sub(alphaBarPrev).div(tf.scalar(1).sub(alphaBar))))
      .mul(tf.sqrt(tf.scalar(1).sub(alphaBar.div(alphaBarPrev))));
    const meanPred = predXstart.mul(tf.sqrt(alphaBarPrev))
      .add(tf.sqrt(tf.scalar(1).sub(alphaBarPrev).sub(sigma.square())).mul(eps));
    const sample = opts.noise && opts.eta > 0 ? meanPred.add(nonzeroMask(t).mul(sigma).mul(opts.noise)) : meanPred;
    return { sample: sample as tf.Tensor4D, predXstart };
  });
}
