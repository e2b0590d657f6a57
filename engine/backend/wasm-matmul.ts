/**
 * The wasm module's own matmul (XNNPACK's fully-connected operator) on views of wasm memory: a tensor id that
 * aliases part of another tensor's memory, so batched and shifted matmuls run without copies.
 */
import type { tf } from '../tf';
import type { WasmBackend } from './wasm-backend';

type TensorInfo = tf.TensorInfo;
type MatMulEntry = (...args: unknown[]) => void;

/** The wasm module's own BatchMatMul entry point (the XNNPACK path for 1-entry, untransposed operands), per backend. */
const wasmMatMuls = new WeakMap<WasmBackend, MatMulEntry>();
function wasmMatMul(backend: WasmBackend): MatMulEntry {
  let f = wasmMatMuls.get(backend);
  if (!f) {
    f = backend.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
    wasmMatMuls.set(backend, f);
  }
  return f;
}
const shapeBytes = (s: number[]): Uint8Array => new Uint8Array(new Int32Array(s).buffer);

/** A tensor id aliasing `size` floats of `base` from element `offset` (no copy); release with `dropView`. */
export function view(backend: WasmBackend, base: TensorInfo, offset: number, size: number): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, backend.dataIdMap.get(base.dataId).memoryOffset + 4 * offset);
  return id;
}
export const dropView = (backend: WasmBackend, id: number): void => backend.wasm.tfjs.disposeData(id);

/** out[M,N] = a[M,K]·b[K,N] for tensor ids (views or whole tensors), row-major, through XNNPACK. */
export function matMulIds(backend: WasmBackend, a: number, b: number, out: number, m: number, k: number, n: number): void {
  wasmMatMul(backend)(a, shapeBytes([1, m, k]), 3, b, shapeBytes([1, k, n]), 3, 0, 0, out);
}
