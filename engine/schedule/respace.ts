/**
 * Respacing: running a process on a subset of its timesteps (`space_timesteps` and `SpacedDiffusion` in the
 * reference's respace.py). With learned variances this is what makes 50–100 sampling steps nearly as good as T.
 */
import { badRequest, parseRespacing, respacingText, type Respacing } from '../spec';

/** Python's `round(x)` for floats: to the nearest integer, ties to even (48.5 → 48), unlike Math.round. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f; // exact in float64
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * `"ddimN"`: the fixed striding of the DDIM paper, 0, i, 2i, … for the smallest stride i ≥ 1 with exactly N
 * steps in range(0, T, i).
 */
function ddimSteps(numTimesteps: number, desired: number, spec: string): number[] {
  for (let i = 1; i < numTimesteps; i++) {
    if (Math.floor((numTimesteps + i - 1) / i) === desired) {
      const steps: number[] = [];
      for (let t = 0; t < numTimesteps; t += i) steps.push(t);
      return steps;
    }
  }
  throw badRequest(`Respacing "${spec}": cannot create exactly ${desired} steps from ${numTimesteps} with an integer stride`);
}

/**
 * `space_timesteps(T, section_counts)`: splits [0, T) into len(counts) equal sections (the first T % k one step
 * longer) and takes counts[i] evenly strided steps from section i; `ddimN` takes DDIM's fixed stride instead.
 * `respacing` is parsed (engine/spec parseRespacing: "ddim50", "10,15,20", "250", a number) or an array of
 * section counts. Returns the kept original timesteps, sorted.
 */
export function spaceTimesteps(numTimesteps: number, respacing: Respacing | string | number | number[]): number[] {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) {
    throw new Error(`Number of diffusion steps must be a positive integer, got ${String(numTimesteps)}`);
  }
  if (typeof respacing === 'string' && respacing.trim() === '') throw badRequest('Respacing is empty: give a step count, comma-separated counts or "ddimN"');
  const parsed = Array.isArray(respacing) ? { kind: 'sections' as const, counts: respacing } : typeof respacing === 'object' ? respacing : parseRespacing(respacing);
  if (!parsed) throw badRequest(`Respacing ${JSON.stringify(respacing)} not understood: give a step count, comma-separated counts or "ddimN"`);
  if (parsed.kind === 'ddim') return ddimSteps(numTimesteps, parsed.steps, respacingText(parsed));
  const counts = parsed.counts;
  if (counts.length === 0) throw badRequest('Respacing keeps no sections: give at least one count');
  for (const c of counts) {
    if (!Number.isInteger(c) || c < 0) throw new Error(`Respacing section counts must be non-negative integers, got ${String(c)}`);
  }
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  const steps = new Set<number>();
  let start = 0;
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw badRequest(`Respacing: cannot divide a section of ${size} steps into ${count} (T = ${numTimesteps})`);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    // Accumulate as the reference does (cur += stride), float error included: k·stride can round differently.
    let cur = 0.0;
    for (let k = 0; k < count; k++) {
      steps.add(start + roundHalfEven(cur));
      cur += stride;
    }
    start += size;
  });
  return [...steps].sort((a, b) => a - b);
}

/**
 * `SpacedDiffusion.__init__`: the betas of the process restricted to `useTimesteps`, β'_k = 1 − ᾱ_t / ᾱ_prev
 * over the kept t in increasing order (ᾱ_prev starts at 1), and the map from new index k to original t.
 * The new betas are not clipped again (they can come within ~1e-8 of 1).
 */
export function respaceBetas(alphasCumprod: ArrayLike<number>, useTimesteps: Iterable<number>): { betas: Float64Array; timestepMap: number[] } {
  const keep = new Set(useTimesteps);
  for (const t of keep) {
    if (!Number.isInteger(t) || t < 0 || t >= alphasCumprod.length) {
      throw new Error(`Respacing: timestep ${t} is outside the original process [0, ${alphasCumprod.length})`);
    }
  }
  if (keep.size === 0) throw new Error('Respacing keeps no timesteps');
  const betas: number[] = [];
  const timestepMap: number[] = [];
  let last = 1.0;
  for (let i = 0; i < alphasCumprod.length; i++) {
    if (!keep.has(i)) continue;
    betas.push(1 - alphasCumprod[i] / last);
    last = alphasCumprod[i];
    timestepMap.push(i);
  }
  return { betas: Float64Array.from(betas), timestepMap };
}
