/**
 * The one TensorFlow.js import of the engine. We use the `@tensorflow/tfjs` bundle rather than tfjs-core alone
 * because tfjs-core's CommonJS build registers neither the gradients nor the chained tensor methods
 * (`x.add(y)`); the bundle registers both, and `@tensorflow/tfjs-node` builds on the same package.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
