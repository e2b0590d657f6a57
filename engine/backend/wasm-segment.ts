/**
 * `UnsortedSegmentSum` for the wasm backend, which lacks it. tfjs needs it for the gradient of `gather`
 * (embedding tables, per-timestep coefficient lookups): dL/dtable[s] = Σ_{i: ids[i] = s} dy[i].
 * The row count is the batch size, so a plain loop over wasm memory is exact and fast enough.
 */
import type { tf } from '../tf';
import type { WasmBackend } from './wasm-backend';

/** out[s, ...] = Σ_{i: segmentIds[i] = s} x[i, ...]; ids outside [0, numSegments) are dropped, as in TensorFlow. */
export function unsortedSegmentSum({ inputs, backend, attrs }: {
  inputs: { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  backend: WasmBackend;
  attrs: { numSegments: number };
}): tf.TensorInfo {
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments;
  const rows = segmentIds.shape.reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(segmentIds.shape.length).reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  // Heap views only after makeOutput: an allocation may grow (and detach) the wasm memory.
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  dst.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    for (let j = 0; j < inner; j++) dst[s * inner + j] += src[i * inner + j];
  }
  return out;
}
