/**
 * Adam as torch.optim.Adam / AdamW with weight_decay = 0 (the reference trains with AdamW(weight_decay=0)), step
 * for step in the same float32 order, so a run can be compared with PyTorch and its moments saved and restored
 * bit-exactly:
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − (lr / (1−β1^k)) · m / (√v / √(1−β2^k) + ε)
 * The bias corrections are float64 scalars (as torch computes them in Python floats).
 */
import { tf } from '../tf';
import { TRAIN_DEFAULTS } from '../spec';

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Adam's state as plain arrays: the step count and, per parameter (in parameter order), m and v. */
export interface AdamState {
  step: number;
  expAvg: Float32Array[];
  expAvgSq: Float32Array[];
}

/**
 * The update runs on all parameters at once: gradients and parameters are concatenated into one flat tensor
 * and m, v are kept flat, so a step is ~15 kernels instead of ~11 per parameter (the UNet has 166–274 of them;
 * on wasm the per-kernel cost dominated). Elementwise, the arithmetic is the same as per parameter.
 */
export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Number of updates applied (torch's `state['step']`). */
  step = 0;
  /** m and v of every parameter, concatenated in parameter order. */
  private readonly m: tf.Variable;
  private readonly v: tf.Variable;
  private readonly sizes: number[];

  constructor(private readonly params: tf.Variable[], opts: AdamOptions = {}) {
    this.lr = opts.lr ?? TRAIN_DEFAULTS.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    if (!(this.lr > 0 && Number.isFinite(this.lr))) throw new Error(`Adam: learning rate must be a positive number, got ${opts.lr}`);
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`Adam: ${k} must be in [0, 1), got ${b}`);
    }
    this.sizes = params.map((p) => p.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.m = tf.variable(tf.zeros([total]), false);
    this.v = tf.variable(tf.zeros([total]), false);
  }

  /**
   * One update from gradients given in parameter order. A parameter whose gradient is undefined is skipped,
   * moments included, as torch skips parameters with `grad is None` (the bias corrections use this optimizer's
   * step count, where torch counts per parameter: the same whenever every parameter gets a gradient every step,
   * as the UNet's do).
   */
  applyGradients(grads: Array<tf.Tensor | undefined>): void {
    if (grads.length !== this.params.length) throw new Error(`Adam: ${grads.length} gradients for ${this.params.length} parameters`);
    tf.tidy(() => this.applyFlat(flattenGradients(grads, this.params), grads.map((g) => !!g)));
  }

  /**
   * One update from the gradients of all parameters concatenated in parameter order; `hasGrad[i]` false
   * leaves parameter i and its moments as they are (all have one when omitted).
   */
  applyFlat(g: tf.Tensor1D, hasGrad?: readonly boolean[]): void {
    if (g.size !== this.m.size) throw new Error(`Adam: ${g.size} gradient values for ${this.m.size} parameter values`);
    this.step += 1;
    const stepSize = this.lr / (1 - Math.pow(this.beta1, this.step));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(this.beta2, this.step));
    tf.tidy(() => {
      const p = flatten(this.params);
      let m = this.m.mul(this.beta1).add(g.mul(1 - this.beta1));
      let v = this.v.mul(this.beta2).add(g.mul(g).mul(1 - this.beta2));
      const denom = v.sqrt().div(bc2Sqrt).add(this.eps);
      let next = p.sub(m.div(denom).mul(stepSize));
      if (hasGrad && hasGrad.some((h) => !h)) {
        const present = tf.concat(this.sizes.map((n, i) => tf.fill([n], hasGrad[i] ? 1 : 0, 'bool')));
        m = tf.where(present, m, this.m);
        v = tf.where(present, v, this.v);
        next = tf.where(present, next, p);
      }
      this.m.assign(m);
      this.v.assign(v);
      assignFlat(this.params, next);
    });
  }

  getState(): AdamState {
    return { step: this.step, expAvg: this.unflatten(this.m), expAvgSq: this.unflatten(this.v) };
  }

  setState(state: AdamState): void {
    if (state.expAvg.length !== this.params.length || state.expAvgSq.length !== this.params.length) {
      throw new Error(`Adam state holds ${state.expAvg.length} moments, the model has ${this.params.length} parameters`);
    }
    const load = (target: tf.Variable, arrays: Float32Array[], what: string): void => {
      const flat = new Float32Array(target.size);
      let offset = 0;
      arrays.forEach((a, i) => {
        if (a.length !== this.sizes[i]) throw new Error(`Adam state: ${what}[${i}] has ${a.length} values, parameter has ${this.sizes[i]}`);
        flat.set(a, offset);
        offset += a.length;
      });
      tf.tidy(() => target.assign(tf.tensor1d(flat)));
    };
    load(this.m, state.expAvg, 'exp_avg');
    load(this.v, state.expAvgSq, 'exp_avg_sq');
    this.step = state.step;
  }

  /** Per-parameter copies of a flat moment. */
  private unflatten(flat: tf.Variable): Float32Array[] {
    const data = flat.dataSync() as Float32Array;
    let offset = 0;
    return this.sizes.map((n) => data.slice(offset, (offset += n)));
  }

  dispose(): void {
    this.m.dispose();
    this.v.dispose();
  }
}

/** The tensors' values concatenated into one 1-D tensor, in order. */
export function flatten(ts: readonly tf.Tensor[]): tf.Tensor1D {
  return tf.tidy(() => tf.concat(ts.map((t) => t.reshape([-1]))) as tf.Tensor1D);
}

/** Gradients in parameter order as one flat tensor, zeros where a parameter has none. */
export function flattenGradients(grads: ReadonlyArray<tf.Tensor | undefined>, params: readonly tf.Tensor[]): tf.Tensor1D {
  return tf.tidy(() => flatten(grads.map((g, i) => g ?? tf.zeros(params[i].shape))));
}

/** Assigns consecutive pieces of `flat` to the variables, in order. */
export function assignFlat(vars: readonly tf.Variable[], flat: tf.Tensor): void {
  tf.tidy(() => {
    const parts = tf.split(flat, vars.map((v) => v.size));
    vars.forEach((v, i) => v.assign(parts[i].reshape(v.shape)));
  });
}
