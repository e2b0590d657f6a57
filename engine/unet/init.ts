/**
 * Deterministic initial values like PyTorch's defaults, from a seeded generator (so `UNet.create(config, seed)`
 * gives the same weights on every backend and run):
 *   Conv / Linear / Conv1d weight and bias: uniform(±1/√fan_in) (kaiming_uniform with a = √5, and the bias rule);
 *   GroupNorm: weight 1, bias 0;  Embedding: N(0, 1);
 *   zero_module() layers (each ResBlock's last conv, attention proj_out, the output conv): 0.
 */
import type { ParamSpec } from './layout';

/** mulberry32: a small, fast 32-bit generator; uniform in [0, 1). */
export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Initial values of one parameter (our layout; element order does not matter for i.i.d. draws). */
export function initialValues(spec: ParamSpec, rand: () => number, zeroInit: boolean): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  if (spec.kind === 'norm') {
    if (spec.role === 'weight') out.fill(1);
  } else if (spec.kind === 'embedding') {
    for (let i = 0; i < size; i++) {
      // Box–Muller; 1 − u keeps the log finite.
      out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    }
  } else if (!(spec.zeroInit && zeroInit)) {
    const bound = 1 / Math.sqrt(spec.fanIn);
    for (let i = 0; i < size; i++) out[i] = (2 * rand() - 1) * bound;
  }
  return out;
}
