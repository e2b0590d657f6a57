/**
 * A UNet's parameters in one SharedArrayBuffer, concatenated in state_dict order (engine layout): the main
 * thread copies them out of its wasm heap once, and each worker copies them into its own.
 */
import { tf } from '../tf';

/** Views of `buffer`, one per variable, in order. */
export function parameterViews(buffer: SharedArrayBuffer, vars: readonly tf.Variable[]): Float32Array[] {
  let offset = 0;
  return vars.map((v) => {
    const view = new Float32Array(buffer, offset * 4, v.size);
    offset += v.size;
    return view;
  });
}

/** A shared buffer big enough for the variables. */
export function sharedBufferFor(vars: readonly tf.Variable[]): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * vars.reduce((n, v) => n + v.size, 0));
}

/** The wasm backend's view of a tensor's memory (no copy), where the backend has one. */
interface HeapBackend {
  typedArrayFromHeap?(info: { dataId: object; shape: number[]; dtype: string }): Float32Array;
}

/**
 * Copies a float32 tensor's values into `dst`: on wasm straight from its memory (dataSync would first copy
 * into a new array, megabytes of garbage per step for every parameter and gradient), elsewhere by dataSync.
 */
export function copyValues(t: tf.Tensor, dst: Float32Array): void {
  const backend = tf.backend() as HeapBackend;
  if (typeof backend.typedArrayFromHeap === 'function' && tf.getBackend() === 'wasm') dst.set(backend.typedArrayFromHeap(t));
  else dst.set(t.dataSync() as Float32Array);
}

/** Writes the variables' values into their views. */
export function storeVariables(vars: readonly tf.Variable[], views: readonly Float32Array[]): void {
  vars.forEach((v, i) => copyValues(v, views[i]));
}

/** Assigns the views' values to the variables (the wasm backend copies them into its heap). */
export function loadVariables(vars: readonly tf.Variable[], views: readonly Float32Array[]): void {
  tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(views[i], v.shape, 'float32'))));
}
