/**
 * Respacing: running a process on a subset of its timesteps (`space_timesteps` and `SpacedDiffusion` in the
 * reference's respace.py). With learned variances this is what makes 50–100 sampling steps nearly as good as T.
 */

/** Python's `round(x)` for floats: to the nearest integer, ties to even (48.5 → 48), unlike Math.round. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f; // exact in float64
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function parseCount(text: string, whole: string): number {
  const s = text.trim();
  if (!/^\d+$/.test(s)) throw new Error(`Invalid respacing "${whole}": "${text}" is not a non-negative integer`);
  return Number(s);
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
  throw new Error(`Respacing "${spec}": cannot create exactly ${desired} steps from ${numTimesteps} with an integer stride`);
}

/**
 * `space_timesteps(T, section_counts)`: splits [0, T) into len(counts) equal sections (the first T % k one step
 * longer) and takes counts[i] evenly strided steps from section i. `sectionCounts` is a string ("ddim50",
 * "10,15,20", "250"), an array of counts, or one number N (N steps spread over the whole process).
 * Returns the kept original timesteps, sorted.
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: string | number[] | number): number[] {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) {
    throw new Error(`Number of diffusion steps must be a positive integer, got ${String(numTimesteps)}`);
  }
  let counts: number[];
  if (typeof sectionCounts === 'string') {
    const spec = sectionCounts.trim();
    if (spec.startsWith('ddim')) return ddimSteps(numTimesteps, parseCount(spec.slice(4), sectionCounts), sectionCounts);
    if (spec === '') throw new Error('Respacing is empty: give a step count, comma-separated counts or "ddimN"');
    counts = spec.split(',').map((c) => parseCount(c, sectionCounts));
  } else if (typeof sectionCounts === 'number') {
    counts = [sectionCounts];
  } else if (Array.isArray(sectionCounts) && sectionCounts.length > 0) {
    counts = sectionCounts;
  } else {
    throw new Error('Respacing must be a number, a non-empty array of counts, or a string such as "ddim50" or "10,15,20"');
  }
  for (const c of counts) {
    if (!Number.isInteger(c) || c < 0) throw new Error(`Respacing section counts must be non-negative integers, got ${String(c)}`);
  }
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  const steps = new Set<number>();
  let start = 0;
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new Error(`Respacing: cannot divide a section of ${size} steps into ${count} (T = ${numTimesteps})`);
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
