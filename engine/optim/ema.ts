/**
 * Exponential moving average of the weights, the reference's `update_ema`:
 *   ema ← rate·ema + (1 − rate)·param      (targ.mul_(rate).add_(src, alpha=1 − rate))
 * The EMA lives in variables of a second model instance so it can be sampled and saved like the model itself.
 */
import { tf } from '../tf';
import { assignFlat, flatten } from './adam';

/** One update over all parameters at once (concatenated, as Adam's): a few kernels instead of 3 per parameter. */
export function updateEma(ema: tf.Variable[], params: tf.Variable[], rate: number): void {
  if (ema.length !== params.length) throw new Error(`EMA: ${ema.length} targets for ${params.length} parameters`);
  tf.tidy(() => assignFlat(ema, flatten(ema).mul(rate).add(flatten(params).mul(1 - rate))));
}
