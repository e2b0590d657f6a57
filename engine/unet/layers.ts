/**
 * The UNet's layers as functions of NHWC tensors and a parameter lookup, following improved_diffusion/unet.py and
 * nn.py. Linear maps over feature maps run as one matmul over [N·H·W, C] rows; convolutions and matmuls carry
 * their bias in the fused kernel, so each costs one kernel forward and a few backward.
 */
import { tf } from '../tf';
import { groupNorm } from '../ops/groupnorm';
import { GROUPS } from './config';
import type { AttentionLayer, ResBlockLayer } from './layout';

/** Looks a parameter up by its reference name. */
export type ParamLookup = (name: string) => tf.Tensor;

const EPS = 1e-5;
const DOWNSAMPLE_PAD: [[0, 0], [1, 1], [1, 1], [0, 0]] = [[0, 0], [1, 1], [1, 1], [0, 0]];

/** SiLU(x) = x·sigmoid(x) (nn.py `SiLU`). */
export function silu<T extends tf.Tensor>(x: T): T {
  return x.mul(tf.sigmoid(x));
}

/**
 * nn.py `timestep_embedding`: [cos(t·f), sin(t·f)] with f_i = exp(−ln(10000)·i/half), i < half. The frequencies
 * are computed step by step in float32 as torch does.
 */
export function timestepEmbedding(timesteps: tf.Tensor1D, dim: number): tf.Tensor2D {
  const half = Math.floor(dim / 2);
  const negLog = Math.fround(-Math.log(10000));
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.fround(Math.exp(Math.fround(Math.fround(negLog * i) / half)));
  const args = timesteps.toFloat().reshape([-1, 1]).mul(tf.tensor2d(freqs, [1, half]));
  return tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D;
}

/** A Linear / Conv1d(k=1) layer: rows [M, in] → [M, out] with weight [in, out]. */
export function linear(x: tf.Tensor2D, p: ParamLookup, prefix: string): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: p(`${prefix}.weight`) as tf.Tensor2D, bias: p(`${prefix}.bias`) }) as tf.Tensor2D;
}

/** A 1×1 convolution (HWIO weight [1, 1, in, out]) as one matmul over the N·H·W pixels. */
export function conv1x1(x: tf.Tensor4D, p: ParamLookup, prefix: string): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const weight = p(`${prefix}.weight`);
  const out = weight.shape[3] as number;
  const y = tf.fused.matMul({ a: x.reshape([n * h * w, c]), b: weight.reshape([c, out]), bias: p(`${prefix}.bias`) });
  return y.reshape([n, h, w, out]);
}

/** conv_nd(2, in, out, 3, padding=1[, stride=2]); the stride-2 form is `Downsample` (pads 1 on every side). */
export function conv3x3(x: tf.Tensor4D, p: ParamLookup, prefix: string, stride: 1 | 2 = 1): tf.Tensor4D {
  return tf.fused.conv2d({
    x,
    filter: p(`${prefix}.weight`) as tf.Tensor4D,
    bias: p(`${prefix}.bias`),
    strides: stride,
    pad: stride === 1 ? 'same' : DOWNSAMPLE_PAD,
  });
}

/** unet.py `Upsample`: nearest-neighbour ×2, then a 3×3 conv. */
export function upsample(x: tf.Tensor4D, p: ParamLookup, prefix: string): tf.Tensor4D {
  const [, h, w] = x.shape;
  return conv3x3(tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w]), p, `${prefix}.conv`);
}

/** nn.py `normalization`: GroupNorm32 (eps 1e-5), optionally with the scale-shift and SiLU fused after it. */
export function normalization(x: tf.Tensor4D, p: ParamLookup, prefix: string, opts: { scale?: tf.Tensor2D; shift?: tf.Tensor2D; silu?: boolean } = {}): tf.Tensor4D {
  return groupNorm(x, p(`${prefix}.weight`) as tf.Tensor1D, p(`${prefix}.bias`) as tf.Tensor1D, { groups: GROUPS, eps: EPS, ...opts });
}

export interface ResBlockContext {
  /** SiLU(emb), shared by every ResBlock's emb_layers (SiLU, Linear). */
  embSilu: tf.Tensor2D;
  useScaleShiftNorm: boolean;
  /** Dropout rate, or 0 when not training. */
  dropout: number;
  dropoutSeed: number;
}

/**
 * unet.py `ResBlock`: h = conv(SiLU(GN(x))); e = Linear(SiLU(emb)); with scale-shift norm
 * h = GN(h)·(1 + scale) + shift, else GN(h + e); then SiLU, dropout, conv; out = skip(x) + h.
 */
export function resBlock(x: tf.Tensor4D, p: ParamLookup, layer: ResBlockLayer, ctx: ResBlockContext): tf.Tensor4D {
  const { prefix, outCh } = layer;
  let h = conv3x3(normalization(x, p, `${prefix}.in_layers.0`, { silu: true }), p, `${prefix}.in_layers.2`);
  const e = linear(ctx.embSilu, p, `${prefix}.emb_layers.1`);
  if (ctx.useScaleShiftNorm) {
    const [scale, shift] = tf.split(e, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    h = normalization(h, p, `${prefix}.out_layers.0`, { scale, shift, silu: true });
  } else {
    h = normalization(h.add(e.reshape([-1, 1, 1, outCh])), p, `${prefix}.out_layers.0`, { silu: true });
  }
  if (ctx.dropout > 0) h = tf.dropout(h, ctx.dropout, undefined, ctx.dropoutSeed + 7919 * layer.index) as tf.Tensor4D;
  h = conv3x3(h, p, `${prefix}.out_layers.3`);
  const skip = layer.inCh === outCh ? x : conv1x1(x, p, `${prefix}.skip_connection`);
  return skip.add(h);
}

/**
 * unet.py `AttentionBlock` + `QKVAttention` with the legacy head ordering: qkv's 3C channels split into `heads`
 * contiguous chunks of [q | k | v] (C/heads each). softmax(q·kᵀ/√d) over the keys, with q and k both scaled by
 * d^(−1/4) in the reference; here q alone by d^(−1/2), which is the same product.
 */
export function attentionBlock(x: tf.Tensor4D, p: ParamLookup, layer: AttentionLayer): tf.Tensor4D {
  const [n, hh, ww, c] = x.shape;
  const t = hh * ww;
  const heads = layer.heads;
  const d = c / heads;
  const qkv = linear(normalization(x, p, `${layer.prefix}.norm`).reshape([n * t, c]), p, `${layer.prefix}.qkv`);
  const perHead = qkv.reshape([n, t, heads, 3 * d]).transpose([0, 2, 1, 3]).reshape([n * heads, t, 3 * d]);
  const [q, k, v] = tf.split(perHead, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
  const weights = tf.softmax(tf.matMul(q.mul(1 / Math.sqrt(d)), k, false, true));
  const a = tf.matMul(weights, v).reshape([n, heads, t, d]).transpose([0, 2, 1, 3]).reshape([n * t, c]) as tf.Tensor2D;
  return x.add(linear(a, p, `${layer.prefix}.proj_out`).reshape([n, hh, ww, c]));
}
