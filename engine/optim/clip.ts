/**
 * The global gradient norm ‖g‖ = √Σ g² over every parameter (the reference logs it as `grad_norm`) and the
 * coefficient of torch's `clip_grad_norm_`, min(1, maxNorm / (‖g‖ + 1e-6)), on all gradients concatenated.
 */
import { tf } from '../tf';

export function globalNorm(flat: tf.Tensor): number {
  const sq = tf.tidy(() => flat.square().sum());
  const value = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  return value;
}

/** What clip_grad_norm_ multiplies the gradients by: 1 when ‖g‖ is within `maxNorm`. */
export function clipCoefficient(norm: number, maxNorm: number): number {
  const coef = maxNorm / (norm + 1e-6);
  return coef < 1 ? coef : 1;
}
