/**
 * Respacing strings, parsed once (the reference's `timestep_respacing` / `space_timesteps` section counts;
 * iddpm.md, "Fewer sampling steps"): a whole number N (N evenly spread steps: one section), `ddimN` (DDIM's fixed
 * stride), or comma-separated counts per equal section of [0, T) ("10,15,20"). engine/schedule turns a parsed
 * respacing into timesteps for a given T.
 */

export type Respacing = { kind: 'sections'; counts: number[] } | { kind: 'ddim'; steps: number };

/** Largest count in a respacing (no process has more steps than diffusionSteps.max). */
const MAX_COUNT = 100_000;
const MAX_SECTIONS = 64;

/** A respacing from a number or its text; undefined when it is not one. Blank text is not a respacing. */
export function parseRespacing(v: unknown): Respacing | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 && v <= MAX_COUNT ? { kind: 'sections', counts: [v] } : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  const ddim = /^ddim(\d{1,6})$/.exec(s);
  if (ddim) {
    const n = Number(ddim[1]);
    return n >= 1 && n <= MAX_COUNT ? { kind: 'ddim', steps: n } : undefined;
  }
  if (!/^\d{1,6}(\s*,\s*\d{1,6})*$/.test(s)) return undefined;
  const counts = s.split(',').map((c) => Number(c.trim()));
  if (counts.length > MAX_SECTIONS || counts.some((c) => c < 1 || c > MAX_COUNT)) return undefined;
  return { kind: 'sections', counts };
}

/** The reference's string for a respacing ("ddim50", "10,15,20"). */
export function respacingText(r: Respacing): string {
  return r.kind === 'ddim' ? `ddim${r.steps}` : r.counts.join(',');
}

/** Steps of the respaced process (before de-duplication of coinciding timesteps). */
export function respacingSteps(r: Respacing): number {
  return r.kind === 'ddim' ? r.steps : r.counts.reduce((a, b) => a + b, 0);
}
