/**
 * Adam as torch.optim.Adam / AdamW with weight_decay = 0 (the reference trains with AdamW(weight_decay=0)), step
 * for step in the same float32 order, so a run can be compared with PyTorch and its moments saved and restored
 * bit-exactly:
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − (lr / (1−β1^k)) · m / (√v / √(1−β2^k) + ε)
 * The bias corrections are float64 scalars (as torch computes them in Python floats).
 */
import { tf } from '../tf';

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

export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Number of updates applied (torch's `state['step']`). */
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(private readonly params: tf.Variable[], opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 1e-4;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    if (!(this.lr > 0 && Number.isFinite(this.lr))) throw new Error(`Adam: learning rate must be a positive number, got ${opts.lr}`);
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`Adam: ${k} must be in [0, 1), got ${b}`);
    }
    // tidy frees the zeros; each variable keeps its own reference to the buffer.
    this.m = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    this.v = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
  }

  /**
   * One update from gradients given in parameter order. A parameter whose gradient is undefined is skipped,
   * moments included, as torch skips parameters with `grad is None`.
   */
  applyGradients(grads: Array<tf.Tensor | undefined>): void {
    if (grads.length !== this.params.length) throw new Error(`Adam: ${grads.length} gradients for ${this.params.length} parameters`);
    this.step += 1;
    const stepSize = this.lr / (1 - Math.pow(this.beta1, this.step));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(this.beta2, this.step));
    tf.tidy(() => {
      grads.forEach((g, i) => {
        if (!g) return;
        const m = this.m[i].mul(this.beta1).add(g.mul(1 - this.beta1));
        const v = this.v[i].mul(this.beta2).add(g.mul(g).mul(1 - this.beta2));
        const denom = v.sqrt().div(bc2Sqrt).add(this.eps);
        this.m[i].assign(m);
        this.v[i].assign(v);
        this.params[i].assign(this.params[i].sub(m.div(denom).mul(stepSize)));
      });
    });
  }

  getState(): AdamState {
    return {
      step: this.step,
      expAvg: this.m.map((t) => t.dataSync() as Float32Array).map((a) => Float32Array.from(a)),
      expAvgSq: this.v.map((t) => t.dataSync() as Float32Array).map((a) => Float32Array.from(a)),
    };
  }

  setState(state: AdamState): void {
    if (state.expAvg.length !== this.m.length || state.expAvgSq.length !== this.v.length) {
      throw new Error(`Adam state holds ${state.expAvg.length} moments, the model has ${this.m.length} parameters`);
    }
    const load = (vars: tf.Variable[], arrays: Float32Array[], what: string): void =>
      vars.forEach((variable, i) => {
        if (arrays[i].length !== variable.size) {
          throw new Error(`Adam state: ${what}[${i}] has ${arrays[i].length} values, parameter has ${variable.size}`);
        }
        tf.tidy(() => variable.assign(tf.tensor(arrays[i], variable.shape, 'float32')));
      });
    load(this.m, state.expAvg, 'exp_avg');
    load(this.v, state.expAvgSq, 'exp_avg_sq');
    this.step = state.step;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
