/**
 * The filter gradient of a stride-1 "same" convolution (odd kernel, pads (k−1)/2) as kh·kw plain matmuls on
 * shifted views of one padded copy of x, instead of a convolution with dy as its kernel (which XNNPACK re-packs
 * every call and runs with an indirection pointer per N channels: ~17 GFLOP/s against ~28 for a matmul here).
 *
 *   dW[a,b,c,o] = Σ_{n,i,j} x[n, i+a−ph, j+b−pw, c] · dy[n,i,j,o]
 *
 * Lay every channel of x out as one plane of rows W+pw long, each starting with pw zeros, and each image's H rows
 * after ph zero rows (plus ph zero rows at the end): pixel (n,i,j) sits at P(n,i,j) = (n(H+ph) + ph + i)(W+pw) +
 * pw + j. A shift by (a−ph, b−pw) is then the constant offset s = (a−ph)(W+pw) + (b−pw) in the plane — the zero
 * columns and rows stand in for the padding, across a row's end too. Put dy at the same positions P (zeros
 * elsewhere) as dyp [L, Co]; then, for each tap,
 *
 *   dW[a,b] = X_s · dyp,   X_s[c, q] = plane_c[q + s]     ([Ci, L]·[L, Co]),
 *
 * and X_s is a view: consecutive planes lie back to back, so row c of X_s ends where row c+1 begins. Where q is
 * not a pixel, dyp is 0, so what X_s holds there (a neighbour plane's zero margin, or the zeroed slack around the
 * buffer) adds exactly 0. The matmuls add the same products as the convolution, in another order. Each tap's
 * [Ci, Co] result lands straight in its slot of the HWIO output. The padding costs (H+ph)(W+pw)/(HW) more
 * multiply-adds (6% at 32×32, 27% at 8×8 for 3×3), less than the convolution loses to its layout.
 */
import type { tf } from '../tf';
import type { WasmBackend } from './wasm-backend';
import { dropView, matMulIds, view } from './wasm-matmul';

type TensorInfo = tf.TensorInfo;

/** Whether the shifted-matmul form applies: stride 1, no dilation, an odd kernel padded by (k−1)/2 on every side. */
export function shiftedFilterGradApplies(info: tf.backend_util.Conv2DInfo): boolean {
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, filterHeight: kh, filterWidth: kw, padInfo, inHeight, inWidth, outHeight, outWidth } = info;
  return strideHeight === 1 && strideWidth === 1 && dilationHeight === 1 && dilationWidth === 1 && kh % 2 === 1 && kw % 2 === 1 &&
    padInfo.top === (kh - 1) / 2 && padInfo.bottom === (kh - 1) / 2 && padInfo.left === (kw - 1) / 2 && padInfo.right === (kw - 1) / 2 &&
    outHeight === inHeight && outWidth === inWidth;
}

/** dW [kh, kw, Ci, Co] of a stride-1 "same" convolution of x [N,H,W,Ci] with output gradient dy [N,H,W,Co]. */
export function shiftedFilterGrad(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, kh: number, kw: number): TensorInfo {
  const [n, h, w, ci] = x.shape;
  const co = dy.shape[3];
  const ph = (kh - 1) / 2;
  const pw = (kw - 1) / 2;
  const rowLen = w + pw;
  const plane = (n * (h + ph) + ph) * rowLen;
  const margin = ph * rowLen + pw;
  const at = (img: number, i: number): number => (img * (h + ph) + ph + i) * rowLen + pw;

  const planes = backend.makeOutput([ci * plane + 2 * margin], 'float32');
  const dyp = backend.makeOutput([plane, co], 'float32');
  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  // Views only after the allocations (one may grow, and so detach, the wasm memory).
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const dys = backend.typedArrayFromHeap(dy) as Float32Array;
  const xp = backend.typedArrayFromHeap(planes) as Float32Array;
  const dp = backend.typedArrayFromHeap(dyp) as Float32Array;
  xp.fill(0);
  dp.fill(0);
  for (let img = 0; img < n; img++) {
    for (let i = 0; i < h; i++) {
      const row = at(img, i);
      const src = (img * h + i) * w;
      // dy's row of W pixels is contiguous in both layouts.
      dp.set(dys.subarray(src * co, (src + w) * co), row * co);
      for (let c = 0; c < ci; c++) {
        const dst = margin + c * plane + row;
        for (let j = 0, s = src * ci + c; j < w; j++, s += ci) xp[dst + j] = xs[s];
      }
    }
  }

  const b = view(backend, dyp, 0, plane * co);
  for (let a = 0; a < kh; a++) {
    for (let bb = 0; bb < kw; bb++) {
      const shift = (a - ph) * rowLen + (bb - pw);
      const va = view(backend, planes, margin + shift, ci * plane);
      const vo = view(backend, out, (a * kw + bb) * ci * co, ci * co);
      matMulIds(backend, va, b, vo, ci, plane, co);
      dropView(backend, va);
      dropView(backend, vo);
    }
  }
  dropView(backend, b);
  backend.disposeData(planes.dataId);
  backend.disposeData(dyp.dataId);
  return out;
}
