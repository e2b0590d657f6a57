/**
 * GroupNorm over NHWC tensors, optionally followed by the ResBlock's scale-shift and SiLU
 * (improved-diffusion's `normalization(ch)` = GroupNorm32, and `ResBlock` with use_scale_shift_norm):
 *   y = GN(x)·γ + β;  y = y·(1 + scale) + shift;  y = silu(y)
 *
 * `groupNorm` has a hand-written backward (tf.customGrad) that keeps only the normalised x̂ and the per-group
 * 1/σ, instead of every intermediate of the plain-op graph; on wasm forward + backward is 2-3x faster
 * ([8,32,32,64], 32 groups: 53 → 18 ms; with scale-shift and SiLU: 57 → 19-28 ms).
 * On wasm both passes are single kernels (engine/backend/wasm-groupnorm.ts: two loops over memory each);
 * elsewhere they are composed of tf ops.
 * `groupNormPlain` is the same function over plain ops, the reference it is tested against.
 */
import { tf } from '../tf';
import { GROUP_NORM, GROUP_NORM_GRAD } from '../backend/wasm-groupnorm';

export interface GroupNormOptions {
  groups?: number;
  eps?: number;
  /** [N, C] per-example scale (the first half of the ResBlock's embedding projection). */
  scale?: tf.Tensor2D;
  /** [N, C] per-example shift. */
  shift?: tf.Tensor2D;
  /** Apply SiLU (x·sigmoid(x)) at the end. */
  silu?: boolean;
}

function checkGroups(c: number, groups: number): void {
  if (c % groups !== 0) throw new Error(`GroupNorm: ${c} channels do not split into ${groups} groups`);
}

/** The plain-op GroupNorm (+ scale-shift, SiLU); autodiff through every op. */
export function groupNormPlain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, opts: GroupNormOptions = {}): tf.Tensor4D {
  const groups = opts.groups ?? 32;
  const eps = opts.eps ?? 1e-5;
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    checkGroups(c, groups);
    const g = x.reshape([n, h * w, groups, c / groups]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    let y = g.sub(mean).mul(tf.rsqrt(variance.add(eps))).reshape([n, h, w, c]);
    y = y.mul(gamma).add(beta);
    if (opts.scale) y = y.mul(opts.scale.add(1).reshape([n, 1, 1, c]));
    if (opts.shift) y = y.add(opts.shift.reshape([n, 1, 1, c]));
    if (opts.silu) y = y.mul(tf.sigmoid(y));
    return y as tf.Tensor4D;
  });
}

/** [N, G] per-group values → [N, 1, 1, C], each channel taking its group's value. */
function perChannel(t: tf.Tensor, n: number, groups: number, c: number): tf.Tensor4D {
  return t.reshape([n, groups, 1]).tile([1, 1, c / groups]).reshape([n, 1, 1, c]);
}

/** Σ over a group's channels of [N, C] → [N, G]. */
function groupSum(t: tf.Tensor, n: number, groups: number, c: number): tf.Tensor {
  return t.reshape([n, groups, c / groups]).sum(2);
}

/** x̂ = (x − μ_g)/σ_g and 1/σ_g as [N,1,1,C], with μ_g, σ_g² the mean and variance over (h, w, group channels). */
function normalise(x: tf.Tensor4D, groups: number, eps: number): { xhat: tf.Tensor4D; rstd: tf.Tensor4D } {
  const [n, h, w, c] = x.shape;
  const { mean, variance } = tf.moments(x.reshape([n, h * w, groups, c / groups]), [1, 3]);
  const rstd = perChannel(tf.rsqrt(variance.add(eps)), n, groups, c);
  return { xhat: x.sub(perChannel(mean, n, groups, c)).mul(rstd), rstd };
}

/** The affine part y = x̂·A + B with per-example, per-channel A = γ(1+scale), B = β(1+scale) + shift ([N,1,1,C]). */
function affine(gamma: tf.Tensor, beta: tf.Tensor, scale: tf.Tensor | undefined, shift: tf.Tensor | undefined, n: number, c: number) {
  const a = scale ? scale.add(1) : tf.ones([n, c]);
  const coefA = a.mul(gamma).reshape([n, 1, 1, c]);
  let coefB = a.mul(beta);
  if (shift) coefB = coefB.add(shift);
  return { a, coefA, coefB: coefB.reshape([n, 1, 1, c]) };
}

/**
 * GroupNorm (+ scale-shift, SiLU) with a fused backward. With y₂ = x̂·A + B, dy₂ = dy·silu'(y₂), and the two
 * reductions S = Σ_hw dy₂, P = Σ_hw dy₂·x̂ (per example and channel):
 *   dshift = S, dscale = γ·P + β·S, dγ = Σ_n a·P, dβ = Σ_n a·S  (a = 1 + scale),
 *   dx = (1/σ)·(dy₂·A − mean_g(dy₂·A) − x̂·mean_g(dy₂·A·x̂)), the group means coming from S and P.
 * Between the passes it keeps x̂ and 1/σ (the wasm kernels: x, μ and 1/σ) and, before a SiLU, y₂.
 */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, opts: GroupNormOptions = {}): tf.Tensor4D {
  const groups = opts.groups ?? 32;
  const eps = opts.eps ?? 1e-5;
  const [n, , , c] = x.shape;
  checkGroups(c, groups);
  const { scale, shift, silu } = opts;
  const inputs: tf.Tensor[] = [x, gamma, beta, ...(scale ? [scale] : []), ...(shift ? [shift] : [])];
  /** Names for [γ, β, scale?, shift?]. */
  const parts = (ps: tf.Tensor[]) => ({ g: ps[0], b: ps[1], sc: scale ? ps[2] : undefined, sh: shift ? ps[ps.length - 1] : undefined });
  const passes = hasFusedKernels() ? kernelPasses : opPasses;

  const forward = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xx, ...params] = args as tf.Tensor[];
    const p = parts(params);
    const { coefA, coefB } = affine(p.g, p.b, p.sc, p.sh, n, c);
    const { y2, kept } = passes.forward(xx as tf.Tensor4D, coefA, coefB, groups, eps);
    // The parameters are saved too: scale and shift are often intermediates that a tidy frees before backward.
    save([...kept, ...(silu ? [y2] : []), ...params]);
    const value = silu ? y2.mul(tf.sigmoid(y2)) : y2;

    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const stats = saved.slice(0, kept.length);
      const ps = saved.slice(kept.length + (silu ? 1 : 0));
      const { g, b, sc } = parts(ps);
      const { a, coefA: A } = affine(g, b, sc, undefined, n, c);
      const dy2 = silu ? siluGrad(dy, saved[kept.length]) : dy;
      const { dx, S, P } = passes.backward(dy2, stats, A, groups);
      const grads = [dx, a.mul(P).sum(0), a.mul(S).sum(0)];
      if (scale) grads.push(P.mul(g).add(S.mul(b)));
      if (shift) grads.push(S);
      return grads;
    };
    return { value, gradFunc };
  });
  return forward(...inputs) as tf.Tensor4D;
}

/** dy·silu'(y) with silu'(y) = s·(1 + y·(1 − s)), s = sigmoid(y): same-shape ops (wasm runs them with SIMD). */
function siluGrad(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const s = tf.sigmoid(y);
  return dy.mul(s.mul(y.mul(s.neg().add(1)).add(1)));
}

/** The two passes of GroupNorm around the affine coefficients A, B ([N,1,1,C]): what forward keeps, what backward gives. */
interface Passes {
  forward(x: tf.Tensor4D, coefA: tf.Tensor, coefB: tf.Tensor, groups: number, eps: number): { y2: tf.Tensor; kept: tf.Tensor[] };
  backward(dy2: tf.Tensor, kept: tf.Tensor[], coefA: tf.Tensor, groups: number): { dx: tf.Tensor; S: tf.Tensor; P: tf.Tensor };
}

/** Composed of tf ops (any backend). */
const opPasses: Passes = {
  forward(x, coefA, coefB, groups, eps) {
    const { xhat, rstd } = normalise(x, groups, eps);
    return { y2: xhat.mul(coefA).add(coefB), kept: [xhat, rstd] };
  },
  backward(dy2, [xh, rs], A, groups) {
    const [n, h, w, c] = xh.shape;
    const S = dy2.sum([1, 2]);
    const P = dy2.mul(xh).sum([1, 2]);
    const aGamma = A.reshape([n, c]);
    const count = h * w * (c / groups);
    const m1 = perChannel(groupSum(aGamma.mul(S), n, groups, c).div(count), n, groups, c);
    const m2 = perChannel(groupSum(aGamma.mul(P), n, groups, c).div(count), n, groups, c);
    return { dx: dy2.mul(A).sub(m1).sub(xh.mul(m2)).mul(rs), S, P };
  },
};

/** The IddpmGroupNorm / IddpmGroupNormGrad kernels (wasm). */
const kernelPasses: Passes = {
  forward(x, coefA, coefB, groups, eps) {
    const [n, , , c] = x.shape;
    const [y2, mean, rstd] = tf.engine().runKernel(GROUP_NORM, { x, a: coefA.reshape([n, c]), b: coefB.reshape([n, c]) }, { groups, eps }) as tf.Tensor[];
    return { y2, kept: [x, mean, rstd] };
  },
  backward(dy2, [x, mean, rstd], A, groups) {
    const [n, , , c] = x.shape;
    const [dx, S, P] = tf.engine().runKernel(GROUP_NORM_GRAD, { dy: dy2, x, mean, rstd, a: A.reshape([n, c]) }, { groups }) as tf.Tensor[];
    return { dx, S, P };
  },
};

/** Whether the active backend has the single-kernel GroupNorm (wasm, after engine/backend registered it). */
function hasFusedKernels(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(GROUP_NORM, backend) !== undefined && tf.getKernel(GROUP_NORM_GRAD, backend) !== undefined;
}
