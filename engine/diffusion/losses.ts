/**
 * The likelihood pieces of the variational bound (the reference's losses.py and nn.mean_flat), in float32 tfjs.
 * Each is written in a form that is algebraically identical to the reference but avoids float32 cancellation,
 * because these values are small differences of O(1) numbers and float32 has only ~7 digits.
 */
import { tf } from '../tf';

type TensorOrNumber = tf.Tensor | number;

/** √(2/π), the constant of the tanh approximation of the normal CDF. */
const SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);
/** log(1e-12): the reference clamps probabilities at 1e-12 before taking logs. */
const LOG_MIN_PROB = Math.log(1e-12);
/** Half the width of one of the 256 pixel bins of data scaled to [−1, 1]. */
const BIN_HALF_WIDTH = 1.0 / 255.0;

/** `mean_flat`: the mean over every axis but the first (batch) one, giving [N]. */
export function meanFlat(x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const axes = x.shape.map((_, i) => i).slice(1);
    return (axes.length ? x.mean(axes) : x) as tf.Tensor1D;
  });
}

/**
 * `normal_kl`: KL(N(μ₁, e^{lv₁}) ‖ N(μ₂, e^{lv₂})) elementwise, in nats:
 *   ½(−1 + lv₂ − lv₁ + e^{lv₁−lv₂} + (μ₁−μ₂)² e^{−lv₂}).
 * Computed as ½(expm1(d) − d + (μ₁−μ₂)² e^{−lv₂}) with d = lv₁ − lv₂, the same value without the float32
 * cancellation of −1 + e^d when the two variances are close (as they are once the variance is learned).
 */
export function normalKl(mean1: TensorOrNumber, logvar1: TensorOrNumber, mean2: TensorOrNumber, logvar2: TensorOrNumber): tf.Tensor {
  return tf.tidy(() => {
    const d = tf.sub(logvar1, logvar2);
    const meanTerm = tf.square(tf.sub(mean1, mean2)).mul(tf.exp(tf.neg(logvar2)));
    return tf.expm1(d).sub(d).add(meanTerm).mul(0.5);
  });
}

/** The argument 2·√(2/π)(x + 0.044715x³) for which the tanh-approximate CDF equals sigmoid(·). */
function cdfLogit(x: tf.Tensor): tf.Tensor {
  return x.add(x.square().mul(x).mul(0.044715)).mul(2 * SQRT_2_OVER_PI);
}

/**
 * log σ(x) = −softplus(−x). Not tf.logSigmoid: its gradient closes over its input instead of saving it, so
 * inside a tf.tidy (as here) the backward pass finds that input disposed.
 */
function logSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.neg(tf.softplus(tf.neg(x)));
}

/**
 * `approx_standard_normal_cdf`: ½(1 + tanh(√(2/π)(x + 0.044715x³))), the tanh approximation (not erf).
 * Evaluated as sigmoid(2·√(2/π)(x + 0.044715x³)), which is the same function (½(1 + tanh y) = σ(2y)) but keeps
 * full relative precision in the lower tail, where 1 + tanh y rounds to 0 in float32.
 */
export function approxStandardNormalCdf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sigmoid(cdfLogit(x)));
}

/**
 * `discretized_gaussian_log_likelihood`: log-probability (nats, elementwise) of data x ∈ [−1, 1] quantised to
 * 256 bins under N(means, e^{2·logScales}), with the edge bins open (x < −0.999: P = CDF(upper);
 * x > 0.999: P = 1 − CDF(lower)) and P clamped at 1e-12 before the log.
 *
 * With a = logit(CDF(upper)), b = logit(CDF(lower)) (CDF = σ∘logit, see above) the bin probability
 * σ(a) − σ(b) equals σ(a)·σ(−b)·(1 − e^{b−a}), so
 *   log P = logσ(a) + logσ(−b) + log(−expm1(b − a)),
 * which stays accurate in float32 where the reference's CDF difference would cancel (both CDFs near 1).
 */
export function discretizedGaussianLogLikelihood(x: tf.Tensor, means: tf.Tensor, logScales: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const centered = tf.sub(x, means);
    const invStdv = tf.exp(tf.neg(logScales));
    const a = cdfLogit(invStdv.mul(centered.add(BIN_HALF_WIDTH)));
    const b = cdfLogit(invStdv.mul(centered.sub(BIN_HALF_WIDTH)));
    const logCdfPlus = logSigmoid(a);
    const logOneMinusCdfMin = logSigmoid(tf.neg(b));
    const logCdfDelta = logCdfPlus.add(logOneMinusCdfMin).add(tf.log(tf.neg(tf.expm1(b.sub(a)))));
    const clamp = (v: tf.Tensor): tf.Tensor => tf.maximum(v, LOG_MIN_PROB);
    const inner = tf.where(tf.greater(x, 0.999), clamp(logOneMinusCdfMin), clamp(logCdfDelta));
    return tf.where(tf.less(x, -0.999), clamp(logCdfPlus), inner);
  });
}
