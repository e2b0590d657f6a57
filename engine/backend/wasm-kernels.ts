/**
 * Gradient and matmul kernels for the tfjs WASM backend (tfjs-backend-wasm 4.22).
 *
 * The stock wasm backend has no `Conv2DBackpropFilter` and no `UnsortedSegmentSum` (so conv and gather gradients
 * throw), its `Conv2DBackpropInput` is ~10x slower than its XNNPACK `Conv2D`, and its `BatchMatMul` is fast only
 * for one batch entry without transposes (every attention matmul and every matmul gradient takes a naive loop).
 * Each replacement here re-expresses the op through the fast wasm kernels:
 *   - filter gradient  = ONE Conv2D of xᵀ with dyᵀ as the kernel, dilation = stride;
 *   - input gradient   = Conv2D of the zero-dilated dy with the flipped, in/out-swapped filter;
 *   - batched matmul   = explicit transposes, then one XNNPACK matmul per batch entry on views of wasm memory.
 * It also adds the fused GroupNorm kernels of wasm-groupnorm.ts (new kernel names, used by engine/ops/groupnorm.ts).
 * Only the 'wasm' backend is touched; 'cpu' and 'tensorflow' keep their own kernels.
 */
import { tf } from '../tf';
import { unsortedSegmentSum } from './wasm-segment';
import { makeIdentity, makeSlice, makeSplitV, makeTranspose, makeUnpack } from './wasm-layout';
import { groupNormKernels } from './wasm-groupnorm';
import { dropView, matMulIds, view } from './wasm-matmul';
import { shiftedFilterGrad, shiftedFilterGradApplies } from './wasm-conv-filter';
import type { WasmBackend } from './wasm-backend';

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type Pads = [[number, number], [number, number], [number, number], [number, number]];

interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: WasmBackend;
  attrs: Attrs;
}
type WasmKernel = (args: KernelArgs) => TensorInfo;
type MultiKernel = (args: KernelArgs) => TensorInfo[];

/** The stock wasm kernels, captured before any replacement, so replacements can build on them. */
const stock = new Map<string, WasmKernel>();

function stockKernel<K = WasmKernel>(name: string): K {
  const k = stock.get(name);
  if (!k) throw new Error(`wasm kernel ${name} is not registered`);
  return k as unknown as K;
}

function run(backend: WasmBackend, name: string, inputs: Record<string, TensorInfo>, attrs: Attrs = {}): TensorInfo {
  return stockKernel(name)({ inputs, backend, attrs });
}

function free(backend: WasmBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function reshape(backend: WasmBackend, x: TensorInfo, shape: number[]): TensorInfo {
  return run(backend, 'Reshape', { x }, { shape });
}

function transpose(backend: WasmBackend, x: TensorInfo, perm: number[]): TensorInfo {
  return run(backend, 'Transpose', { x }, { perm });
}

/** Keeps the leading `size` entries of each axis (used when a conv had to run with a clamped negative pad). */
function cropTo(backend: WasmBackend, x: TensorInfo, size: number[]): TensorInfo {
  if (size.every((s, i) => s === x.shape[i])) return x;
  const out = run(backend, 'Slice', { x }, { begin: size.map(() => 0), size });
  free(backend, x);
  return out;
}

/** Stride-1 NHWC Conv2D with explicit pads; negative bottom/right pads are run as 0 and cropped after. */
function conv2dExplicit(backend: WasmBackend, x: TensorInfo, filter: TensorInfo, pads: [number, number, number, number],
  dilations: [number, number], outShape: number[]): TensorInfo {
  const [top, bottom, left, right] = pads;
  const pad: Pads = [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]];
  const y = run(backend, 'Conv2D', { x, filter }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined });
  return cropTo(backend, y, outShape);
}

function convInfo(inShape: number[], filterShape: number[], attrs: Attrs): tf.backend_util.Conv2DInfo {
  const dataFormat = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat as 'NHWC' | 'NCHW');
  if (dataFormat !== 'channelsLast') throw new Error('wasm conv gradients support NHWC only');
  return tf.backend_util.computeConv2DInfo(inShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides as [number, number], 1, attrs.pad as 'same', attrs.dimRoundingMode as 'round' | undefined, false, dataFormat);
}

/**
 * dL/dW[kh,kw,ci,co] = Σ_{n,i,j} x[n, i·s+kh−top, j·s+kw−left, ci] · dy[n,i,j,co]: a correlation over (n,i,j),
 * computed as one Conv2D with batch = ci, channels = n and dyᵀ [Ho,Wo,N,Co] as a kernel dilated by the stride.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const info = convInfo(x.shape, attrs.filterShape as number[], attrs);
  if (x.dtype === 'float32' && shiftedFilterGradApplies(info)) return shiftedFilterGrad(backend, x, dy, info.filterHeight, info.filterWidth);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo, padInfo } = info;
  const [, h, w, ci] = x.shape;
  const co = dy.shape[3];
  const bottom = kh + (ho - 1) * sh - h - padInfo.top;
  const right = kw + (wo - 1) * sw - w - padInfo.left;
  const xT = transpose(backend, x, [3, 1, 2, 0]);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]);
  const g = conv2dExplicit(backend, xT, dyT, [padInfo.top, bottom, padInfo.left, right], [sh, sw], [ci, kh, kw, co]);
  free(backend, xT, dyT);
  const out = transpose(backend, g, [1, 2, 0, 3]);
  free(backend, g);
  return out;
}

/** dy [N,Ho,Wo,C] → [N,Ho·sh,Wo·sw,C] with dy at multiples of the stride and zeros between (and trailing). */
function zeroDilate(backend: WasmBackend, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  if (sh === 1 && sw === 1) return reshape(backend, dy, dy.shape);
  const [n, ho, wo, c] = dy.shape;
  const r = reshape(backend, dy, [n, ho, 1, wo, 1, c]);
  const paddings = [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]];
  const p = run(backend, 'PadV2', { x: r }, { paddings, constantValue: 0 });
  free(backend, r);
  const out = reshape(backend, p, [n, ho * sh, wo * sw, c]);
  free(backend, p);
  return out;
}

/**
 * W [kh,kw,ci,co] → W' [kh,kw,co,ci] with W'[i,j,o,c] = W[kh−1−i, kw−1−j, c, o], in one pass over wasm memory
 * (the stock Reverse kernel alone costs more than a small conv).
 */
function flipSwap(backend: WasmBackend, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  // Views only after makeOutput: an allocation may grow (and detach) the wasm memory.
  const src = backend.typedArrayFromHeap(filter);
  const dst = backend.typedArrayFromHeap(out);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
      const to = (i * kw + j) * co * ci;
      for (let c = 0; c < ci; c++) {
        for (let o = 0; o < co; o++) dst[to + o * ci + c] = src[from + c * co + o];
      }
    }
  }
  return out;
}

/**
 * dL/dx[n,y,x,ci] = Σ dy[n,i,j,co]·W[y+top−i·s, x+left−j·s, ci, co]: a stride-1 correlation of the zero-dilated dy
 * with W flipped in space and transposed in channels, padded by (k−1−top) before.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs;
  const inShape = attrs.inputShape as number[];
  const info = convInfo(inShape, filter.shape, attrs);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const top = kh - 1 - padInfo.top;
  const left = kw - 1 - padInfo.left;
  if (top < 0 || left < 0) return run(backend, 'Conv2DBackpropInput', inputs, attrs);
  const [, h, w] = inShape;
  const dyd = zeroDilate(backend, dy, sh, sw);
  const bottom = h + kh - 1 - dyd.shape[1] - top;
  const right = w + kw - 1 - dyd.shape[2] - left;
  const wT = flipSwap(backend, filter);
  const dx = conv2dExplicit(backend, dyd, wT, [top, bottom, left, right], [1, 1], inShape);
  free(backend, dyd, wT);
  return dx;
}

/** out[i] = a[i]·b[i] for [Ba,M,K]·[Bb,K,N] (Ba, Bb ∈ {1, B}), one XNNPACK matmul per batch entry on views. */
function matMulPerEntry(backend: WasmBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  const [ba, m, k] = a.shape;
  const [bb, , n] = b.shape;
  const batch = Math.max(ba, bb);
  const out = backend.makeOutput([batch, m, n], 'float32');
  for (let i = 0; i < batch; i++) {
    const va = view(backend, a, ba === 1 ? 0 : i * m * k, m * k);
    const vb = view(backend, b, bb === 1 ? 0 : i * k * n, k * n);
    const vo = view(backend, out, i * m * n, m * n);
    matMulIds(backend, va, vb, vo, m, k, n);
    dropView(backend, va);
    dropView(backend, vb);
    dropView(backend, vo);
  }
  return out;
}

/**
 * BatchMatMul through the fast path only: operands are brought to plain [B,M,K]·[B,K,N] layout by explicit
 * transposes (cheap next to a naive matmul); a shared right operand folds the batch into M (one matmul).
 */
function batchMatMul({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { a, b } = inputs;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const size = (s: number[]): number => s.reduce((p, d) => p * d, 1);
  const ba = size(a.shape.slice(0, -2));
  const bb = size(b.shape.slice(0, -2));
  const batch = size(outer);
  const mixedBroadcast = (ba !== batch && ba !== 1) || (bb !== batch && bb !== 1);
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || mixedBroadcast) return run(backend, 'BatchMatMul', inputs, attrs);
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ca, ra] : [ra, ca];
  const n = transposeB ? rb : cb;
  // Plain layouts: A as [Ba, M, K] (or [1, Ba·M, K] when B is shared), B as [Bb, K, N].
  const fold = bb === 1 && !transposeA;
  const a3 = reshape(backend, a, fold ? [1, ba * m, k] : [ba, ra, ca]);
  const aN = transposeA ? transpose(backend, a3, [0, 2, 1]) : a3;
  const b3 = reshape(backend, b, [bb, rb, cb]);
  const bN = transposeB ? transpose(backend, b3, [0, 2, 1]) : b3;
  const out = matMulPerEntry(backend, aN, bN);
  free(backend, a3, b3);
  if (aN !== a3) free(backend, aN);
  if (bN !== b3) free(backend, bN);
  const res = reshape(backend, out, [...outer, m, n]);
  free(backend, out);
  return res;
}

const replacements = (identity = makeIdentity(stockKernel('Identity'))): Record<string, WasmKernel | MultiKernel> => ({
  Conv2DBackpropFilter: conv2DBackpropFilter,
  Conv2DBackpropInput: conv2DBackpropInput,
  BatchMatMul: batchMatMul,
  UnsortedSegmentSum: unsortedSegmentSum as WasmKernel,
  Identity: identity,
  Transpose: makeTranspose(stockKernel('Transpose'), identity),
  Slice: makeSlice(stockKernel('Slice')),
  SplitV: makeSplitV(stockKernel<MultiKernel>('SplitV')),
  Unpack: makeUnpack(stockKernel<MultiKernel>('Unpack')),
  ...groupNormKernels,
});

let registered = false;

/**
 * Registers the replacement kernels for the 'wasm' backend (idempotent). Each replacement keeps the stock
 * kernel's setupFunc, so a re-initialised backend still sets up the wasm functions the stock kernels need.
 */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const used = ['Conv2D', 'Conv2DBackpropInput', 'BatchMatMul', 'Transpose', 'Identity', 'Reshape', 'PadV2', 'Slice', 'SplitV', 'Unpack'];
  for (const name of used) {
    const k = tf.getKernel(name, 'wasm');
    if (!k) throw new Error(`tfjs-backend-wasm has no ${name} kernel`);
    stock.set(name, k.kernelFunc as unknown as WasmKernel);
  }
  for (const [kernelName, kernelFunc] of Object.entries(replacements())) {
    const old = tf.getKernel(kernelName, 'wasm');
    if (old) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', setupFunc: old?.setupFunc, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
