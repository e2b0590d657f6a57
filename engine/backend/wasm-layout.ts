/**
 * Layout kernels for the tfjs wasm backend: Identity, Transpose, Slice, SplitV, Unpack.
 *
 * Stock tfjs-backend-wasm 4.22 copies the whole input out of wasm memory on every Slice (`readSync`) and then
 * copies row by row (so splitting a tensor in k parts, as every concat's gradient does, costs k full copies),
 * and its Transpose walks element by element for rank > 4 (the gather/attention reshapes produce rank 5).
 * Here Slice reads the input through a heap view and copies maximal contiguous runs, and Transpose first merges
 * axes that stay adjacent under the permutation, which brings most high-rank transposes down to rank ≤ 4.
 * Identity (stock: a full copy; the gradient tape calls it for every pass-through gradient) shares the data,
 * as the cpu backend's does: no wasm kernel writes into its inputs.
 */
import { tf } from '../tf';
import type { WasmBackend } from './wasm-backend';

type TensorInfo = tf.TensorInfo;
type Args = { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };
type Kernel = (args: Args) => TensorInfo;
/** Kernels with several outputs (SplitV, Unpack). */
type MultiKernel = (args: Args) => TensorInfo[];

/**
 * Shape and permutation with size-1 axes dropped and runs of input axes that stay consecutive in the output
 * merged into one axis: transposing [a,b,c,d] by [2,3,0,1] is transposing [a·b, c·d] by [1,0].
 */
export function collapseTranspose(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((a) => shape[a] !== 1);
  const groups: number[][] = [];
  for (const [j, a] of kept.entries()) {
    if (j > 0 && a === kept[j - 1] + 1) groups[groups.length - 1].push(a);
    else groups.push([a]);
  }
  const byInput = [...groups].sort((g, h) => g[0] - h[0]);
  return {
    shape: byInput.map((g) => g.reduce((p, a) => p * shape[a], 1)),
    perm: groups.map((g) => byInput.indexOf(g)),
  };
}

/** Identity by reference: one more owner of the same wasm buffer. */
export function makeIdentity(stockIdentity: Kernel): Kernel {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (x.dtype === 'string') return stockIdentity({ inputs, backend, attrs });
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** Transpose through the stock kernel on the collapsed shape (stock is fast up to rank 4). */
export function makeTranspose(stockTranspose: Kernel, stockIdentity: Kernel): Kernel {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    const perm = attrs.perm as number[];
    const outShape = perm.map((a) => x.shape[a]);
    const c = collapseTranspose(x.shape, perm);
    const flat = { dataId: x.dataId, shape: c.shape, dtype: x.dtype };
    const out = c.perm.every((a, i) => a === i)
      ? stockIdentity({ inputs: { x }, backend, attrs: {} })
      : stockTranspose({ inputs: { x: flat }, backend, attrs: { perm: c.perm } });
    return { ...out, shape: outShape };
  };
}

/** out = x[begin : begin+size], copying the longest contiguous runs straight from wasm memory. */
function sliceInfo(backend: WasmBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  // Views only after makeOutput: an allocation may grow (and detach) the wasm memory.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  // Axes after `c` are taken whole, so each run covers size[c]·stride[c] elements.
  let c = rank - 1;
  while (c > 0 && size[c] === x.shape[c]) c--;
  const run = rank === 0 ? 1 : size[c] * (strides[c] ?? 1);
  const base = begin.reduce((o, b, i) => o + b * (strides[i] ?? 1), 0);
  const idx = new Array<number>(Math.max(c, 0)).fill(0);
  const total = dst.length;
  for (let o = 0; o < total; o += run) {
    let off = base;
    for (let i = 0; i < idx.length; i++) off += idx[i] * strides[i];
    if (run >= 16) dst.set(src.subarray(off, off + run), o);
    else for (let k = 0; k < run; k++) dst[o + k] = src[off + k];
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i] < size[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

export function makeSlice(stockSlice: Kernel): Kernel {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (x.dtype === 'string') return stockSlice({ inputs, backend, attrs });
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
    return sliceInfo(backend, x, begin, size);
  };
}

/** SplitV as consecutive slices along the axis (the gradient of concat). */
export function makeSplitV(stockSplitV: MultiKernel): MultiKernel {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (x.dtype === 'string') return stockSplitV({ inputs, backend, attrs });
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number[], axis);
    const begin = x.shape.map(() => 0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[axis] = s;
      const part = sliceInfo(backend, x, begin.slice(), size);
      begin[axis] += s;
      return part;
    });
  };
}

/** Unpack (unstack) as one slice per entry along the axis (the gradient of stack). */
export function makeUnpack(stockUnpack: MultiKernel): MultiKernel {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.value;
    if (x.dtype === 'string') return stockUnpack({ inputs, backend, attrs });
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const outShape = x.shape.filter((_, i) => i !== axis);
    const size = x.shape.slice();
    size[axis] = 1;
    return Array.from({ length: x.shape[axis] }, (_, i) => {
      const begin = x.shape.map((_d, a) => (a === axis ? i : 0));
      return { ...sliceInfo(backend, x, begin, size), shape: outShape };
    });
  };
}
