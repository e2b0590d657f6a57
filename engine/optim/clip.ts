/**
 * The global gradient norm ‖g‖ = √Σ g² over every parameter (the reference logs it as `grad_norm`) and
 * torch's `clip_grad_norm_`: scale all gradients by min(1, maxNorm / (‖g‖ + 1e-6)).
 */
import { tf } from '../tf';

export function globalNorm(grads: Array<tf.Tensor | undefined>): number {
  const sq = tf.tidy(() => tf.addN(grads.filter((g): g is tf.Tensor => !!g).map((g) => g.square().sum())));
  const value = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  return value;
}

/** Returns new gradients (the inputs are disposed) scaled so their global norm is at most `maxNorm`. */
export function clipByGlobalNorm(grads: Array<tf.Tensor | undefined>, norm: number, maxNorm: number): Array<tf.Tensor | undefined> {
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef < 1)) return grads;
  return grads.map((g) => {
    if (!g) return g;
    const scaled = g.mul(coef);
    g.dispose();
    return scaled;
  });
}
