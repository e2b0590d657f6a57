/**
 * The reverse-process loops `p_sample_loop` and `ddim_sample_loop` of improved-diffusion: walk t = K−1 … 0 of
 * the (possibly respaced) process from x_T. Between steps they yield to the event loop, so the process that
 * hosts them keeps answering, and check for cancellation.
 */
import { tf } from '../tf';
import type { GaussianDiffusion } from '../diffusion';
import type { SamplingMethod } from '../spec';
import { nextTurn } from '../turn';
import { ModelFn, ddimSample, pSample } from './steps';

/** Thrown when a loop stops because its caller cancelled it (between two steps). */
export class SamplingCancelledError extends Error {
  constructor() {
    super('Sampling was cancelled');
    this.name = 'SamplingCancelledError';
  }
}

/** What a step hands to `onStep`; the tensors are disposed after the call returns (copy what you keep). */
export interface StepInfo {
  /** Index into the process being run (respaced index when respaced). */
  t: number;
  /** How many steps are done, this one included (1 … K). */
  done: number;
  total: number;
  /** The input x_t of this step. */
  xt: tf.Tensor4D;
  /** x̂₀ predicted from x_t (clipped when clipDenoised). */
  predXstart: tf.Tensor4D;
  /** x_{t−1}, the step's output. */
  sample: tf.Tensor4D;
}

export interface LoopOptions {
  clipDenoised: boolean;
  /** DDIM's η (ignored by the ancestral loop). */
  eta?: number;
  /** Fresh z ~ N(0, I) for the step at t; called only where the step adds noise. */
  drawNoise?: (t: number) => tf.Tensor4D;
  onStep?: (info: StepInfo) => void | Promise<void>;
  isCancelled?: () => boolean;
  signal?: AbortSignal;
}

/** Whether the step at t draws z: the ancestral step always except at t = 0; DDIM only when η > 0. */
function stepNeedsNoise(method: SamplingMethod, t: number, eta: number): boolean {
  return t > 0 && (method === 'ancestral' || eta > 0);
}

/**
 * Runs the whole reverse process from `xT` with one method and returns x_0 (the caller owns it; `xT` is not
 * disposed). Throws SamplingCancelledError when cancelled between steps.
 */
export async function reverseLoop(
  method: SamplingMethod, diffusion: GaussianDiffusion, model: ModelFn, xT: tf.Tensor4D, opts: LoopOptions,
): Promise<tf.Tensor4D> {
  const eta = opts.eta ?? 0;
  const total = diffusion.numTimesteps;
  const n = xT.shape[0];
  let x = xT.clone();
  try {
    for (let t = total - 1; t >= 0; t--) {
      if (opts.isCancelled?.() || opts.signal?.aborted) throw new SamplingCancelledError();
      const tt = tf.fill([n], t, 'int32') as tf.Tensor1D;
      const noise = stepNeedsNoise(method, t, eta) && opts.drawNoise ? opts.drawNoise(t) : null;
      const out = method === 'ddim'
        ? ddimSample(diffusion, model, x, tt, { clipDenoised: opts.clipDenoised, eta, noise })
        : pSample(diffusion, model, x, tt, { clipDenoised: opts.clipDenoised, noise });
      tt.dispose();
      noise?.dispose();
      try {
        await opts.onStep?.({ t, done: total - t, total, xt: x, predXstart: out.predXstart, sample: out.sample });
      } finally {
        // At t = 0 the ancestral sample is the mean itself: dispose everything else, once.
        for (const value of new Set<tf.Tensor>(Object.values(out))) if (value !== out.sample) value.dispose();
        x.dispose();
        x = out.sample;
      }
      if (t > 0) await nextTurn();
    }
    return x;
  } catch (err) {
    x.dispose();
    throw err;
  }
}
