/**
 * stopGradient(x): the identity forward, a zero gradient backward (torch's `.detach()` inside a graph).
 * tfjs has no such op. The hybrid loss needs it: the vb term must train only the variance output v, so it
 * sees ε̂ through stopGradient (the reference's `th.cat([model_output.detach(), model_var_values])`).
 */
import { tf } from '../tf';

const detach = tf.customGrad((x: tf.Tensor | tf.GradSaveFunc) => {
  const input = x as tf.Tensor;
  return { value: input.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
});

export function stopGradient<T extends tf.Tensor>(x: T): T {
  return detach(x) as T;
}
