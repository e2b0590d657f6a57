/**
 * A small seedable pseudo-random generator for everything the engine draws on the JS side (timestep indices,
 * noise for sampling, data shuffling). sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state,
 * passes PractRand) seeded through splitmix32, so nearby seeds give unrelated streams.
 *
 * The whole state (four 32-bit words plus the cached second Box–Muller normal) is a plain number array, so a
 * training run saved with `getState()` and restored with `setState()` continues with exactly the same draws.
 */

const TWO_POW_32 = 4294967296;

/** One step of splitmix32: returns the next state and a well-mixed 32-bit output. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a hash of a label, for `fork`. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The serialisable state: `[a, b, c, d, hasSpare (0|1), spare]`. */
export type RngState = number[];

export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  /** The second normal of the last Box–Muller pair, or null when none is cached. */
  private spare: number | null = null;

  /** `seed` is any finite number; integers up to 2^53 are used in full (high and low words both mix in). */
  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new Error(`Rng seed must be a finite number, got ${String(seed)}`);
    const lo = seed >>> 0;
    const hi = Math.floor(Math.abs(seed) / TWO_POW_32) >>> 0;
    let s = lo ^ Math.imul(hi, 0x9e3779b1) ^ (seed < 0 ? 0x5bd1e995 : 0);
    [s, this.a] = splitmix32(s);
    [s, this.b] = splitmix32(s);
    [s, this.c] = splitmix32(s);
    [, this.d] = splitmix32(s);
    // A few rounds so the first outputs do not reflect the seeding directly.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next raw 32-bit output of sfc32. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the incomplete top block). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) throw new Error(`Rng.int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return u % n;
  }

  /** Standard normal by Box–Muller; the pair's second value is cached (and is part of the state). */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const u1 = 1 - this.next(); // (0, 1]: log never sees 0
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `n` standard normals as float32 (for noise tensors). */
  normalArray(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new Error(`Rng.normalArray(n) needs a non-negative integer, got ${n}`);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  /**
   * An independent generator for one purpose (e.g. `fork('noise')`), derived from the current state and the
   * label without advancing this one, so adding a consumer does not shift the draws of the others.
   */
  fork(label: string): Rng {
    const h = hashLabel(label);
    const child = new Rng(0);
    let s = (this.a ^ h) | 0;
    [s, child.a] = splitmix32(s ^ this.c);
    [s, child.b] = splitmix32(s ^ this.b);
    [s, child.c] = splitmix32(s ^ this.d);
    [, child.d] = splitmix32(s ^ h);
    for (let i = 0; i < 12; i++) child.nextUint32();
    return child;
  }

  getState(): RngState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0, this.spare === null ? 0 : 1, this.spare ?? 0];
  }

  setState(state: RngState): void {
    if (!Array.isArray(state) || state.length !== 6) throw new Error('Rng state must be an array of 6 numbers (from getState())');
    const words = state.slice(0, 4);
    if (!words.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)) throw new Error('Rng state words must be 32-bit unsigned integers');
    if (state[4] !== 0 && state[4] !== 1) throw new Error('Rng state flag (index 4) must be 0 or 1');
    if (!Number.isFinite(state[5])) throw new Error('Rng state spare (index 5) must be a finite number');
    [this.a, this.b, this.c, this.d] = words.map((w) => w | 0);
    this.spare = state[4] === 1 ? state[5] : null;
  }
}
