/**
 * GroupNorm over NHWC tensors, optionally followed by the ResBlock's scale-shift and SiLU:
 *   y = GN(x)·γ + β;  y = y·(1 + scale) + shift;  y = silu(y)
 * This is the plain-op version (correct on every backend); faster fused variants must match it.
 */
import { tf } from '../tf';

export interface GroupNormOptions {
  groups?: number;
  eps?: number;
  /** [N, C] per-example scale (the first half of the ResBlock's embedding projection). */
  scale?: tf.Tensor2D;
  /** [N, C] per-example shift. */
  shift?: tf.Tensor2D;
  /** Apply SiLU (x·sigmoid(x)) at the end. */
  silu?: boolean;
}

export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, opts: GroupNormOptions = {}): tf.Tensor4D {
  const groups = opts.groups ?? 32;
  const eps = opts.eps ?? 1e-5;
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    if (c % groups !== 0) throw new Error(`GroupNorm: ${c} channels do not split into ${groups} groups`);
    const g = x.reshape([n, h * w, groups, c / groups]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    let y = g.sub(mean).mul(tf.rsqrt(variance.add(eps))).reshape([n, h, w, c]);
    y = y.mul(gamma).add(beta);
    if (opts.scale) y = y.mul(opts.scale.add(1).reshape([n, 1, 1, c]));
    if (opts.shift) y = y.add(opts.shift.reshape([n, 1, 1, c]));
    if (opts.silu) y = y.mul(tf.sigmoid(y));
    return y as tf.Tensor4D;
  });
}
