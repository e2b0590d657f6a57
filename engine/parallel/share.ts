/**
 * How the engine shares its worker threads (or its one thread) between training jobs and sampling requests.
 *
 * A training step keeps every thread busy for its whole length; a sampling request runs step by step and yields
 * between steps, so left alone it gets a sliver of the threads while a job trains (a 4-image request took ~7× its
 * idle time beside one `tiny` job). The share is a time share decided at training-step boundaries:
 *
 * - training steps pass one at a time through a turn (FIFO), so two jobs alternate step by step;
 * - while a sampling request runs, a training step that took T ms lets the next one start only after the threads
 *   were left to sampling for share·T ms (ENGINE_DEFAULTS.samplingShare), so sampling gets share/(1+share) of the
 *   time and a request takes about (1 + 1/share)× as long as on an idle engine;
 * - when the last sampling request ends, waiting steps go on at once.
 *
 * Only timing changes: what a step computes, and so training's exactness, does not depend on the share.
 */
import { ENGINE_DEFAULTS } from '../spec';

/** The share of the threads sampling gets beside training: env IDDPM_SAMPLING_SHARE (≥ 0), else the default. */
function samplingShare(): number {
  const v = Number(process.env.IDDPM_SAMPLING_SHARE);
  return process.env.IDDPM_SAMPLING_SHARE !== undefined && Number.isFinite(v) && v >= 0 ? v : ENGINE_DEFAULTS.samplingShare;
}

export class WorkShare {
  private samplers = 0;
  private trainBusy = false;
  private readonly waiting: Array<() => void> = [];
  /** Training may start its next step from this time (performance.now() ms) while sampling runs. */
  private openAt = 0;
  private wakeSleeper?: () => void;

  constructor(private readonly share = samplingShare()) {}

  /** A sampling request starts; call the returned function when it ends (however it ends). */
  samplingStarted(): () => void {
    this.samplers++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.samplers === 0) this.wakeSleeper?.();
    };
  }

  /** Sampling requests running now. */
  get sampling(): number {
    return this.samplers;
  }

  /**
   * Waits for this training step's turn; resolves with the function to call when the step's work on the threads
   * is done. Pass the work itself to `trainStep` instead where that is simpler.
   */
  async trainTurn(): Promise<() => void> {
    // A waiter is handed the turn by release(), which leaves trainBusy set for it.
    if (this.trainBusy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.trainBusy = true;
    try {
      while (this.samplers > 0 && performance.now() < this.openAt) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.openAt - performance.now());
          function done(): void {
            clearTimeout(timer);
            resolve();
          }
          this.wakeSleeper = done;
        });
        this.wakeSleeper = undefined;
      }
    } catch (err) {
      this.release();
      throw err;
    }
    const started = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = performance.now();
      if (this.samplers > 0) this.openAt = now + this.share * (now - started);
      this.release();
    };
  }

  /** Runs `work` (a training step's part on the threads) in its turn. */
  async trainStep<T>(work: () => Promise<T> | T): Promise<T> {
    const done = await this.trainTurn();
    try {
      return await work();
    } finally {
      done();
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.trainBusy = false;
  }
}

let shared: WorkShare | undefined;

/** The engine process's share (one for all jobs and requests of the process). */
export function workShare(): WorkShare {
  shared ??= new WorkShare();
  return shared;
}
