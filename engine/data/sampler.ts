/**
 * Deterministic shuffled batches of dataset indices, the part of improved-diffusion's
 * `DataLoader(shuffle=True)` + `while True: yield from loader` that decides which images train together.
 *
 * Each epoch is a fresh Fisher-Yates permutation of 0..size−1 drawn from a generator derived from
 * (seed, epoch) alone, so the state is five integers and a resumed run continues with exactly the same
 * batches. Batches run on across epoch boundaries (every image is seen once per epoch, none dropped),
 * which also lets a dataset smaller than one batch train.
 */
import { Rng } from '../rng';

export interface BatchSamplerState {
  size: number;
  batchSize: number;
  seed: number;
  epoch: number;
  /** Next position within this epoch's permutation. */
  position: number;
}

export class BatchSampler {
  private epoch = 0;
  private position = 0;
  private permutation: Int32Array;

  constructor(readonly size: number, readonly batchSize: number, readonly seed: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`dataset size must be a positive integer, got ${size}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
    this.permutation = epochPermutation(size, seed, 0);
  }

  /** The current epoch (0-based): how many full passes over the data are complete. */
  get epochs(): number {
    return this.epoch;
  }

  /** The next `batchSize` indices. */
  next(): Int32Array {
    const out = new Int32Array(this.batchSize);
    for (let j = 0; j < this.batchSize; j++) {
      if (this.position === this.size) {
        this.epoch++;
        this.position = 0;
        this.permutation = epochPermutation(this.size, this.seed, this.epoch);
      }
      out[j] = this.permutation[this.position++];
    }
    return out;
  }

  getState(): BatchSamplerState {
    return { size: this.size, batchSize: this.batchSize, seed: this.seed, epoch: this.epoch, position: this.position };
  }

  /** Restores a state from `getState()`; it must come from a sampler over the same dataset size, batch and seed. */
  setState(state: BatchSamplerState): void {
    if (typeof state !== 'object' || state === null) throw new Error('batch sampler state must be an object from getState()');
    for (const key of ['size', 'batchSize', 'seed'] as const) {
      if (state[key] !== this[key]) {
        throw new Error(`batch sampler state has ${key} ${String(state[key])} but this sampler has ${this[key]}`);
      }
    }
    const { epoch, position } = state;
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`batch sampler state epoch must be a non-negative integer, got ${epoch}`);
    if (!Number.isInteger(position) || position < 0 || position > this.size) {
      throw new Error(`batch sampler state position must be an integer 0..${this.size}, got ${position}`);
    }
    if (epoch !== this.epoch) this.permutation = epochPermutation(this.size, this.seed, epoch);
    this.epoch = epoch;
    this.position = position;
  }
}

/** Fisher-Yates shuffle of 0..size−1 with a generator that depends only on (seed, epoch). */
function epochPermutation(size: number, seed: number, epoch: number): Int32Array {
  const rng = new Rng(seed).fork(`data-epoch-${epoch}`);
  const perm = new Int32Array(size);
  for (let i = 0; i < size; i++) perm[i] = i;
  for (let i = size - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}
