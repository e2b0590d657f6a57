/**
 * Generated images → what the Sampler node sends: one PNG grid, one PNG per image, or the raw [−1, 1] floats
 * (design.md, "Sampler"). Frames of the reverse process become one grid per recorded step. Given the request's
 * provenance, every PNG carries it (engine/spec/provenance.ts) with the images it holds.
 */
import { encodePng, encodePngs, makeGrid } from '../image';
import type { OutputFormat, Provenance, RawImages } from '../spec';
import type { GenerateResult } from './generate';
import { withProvenance, type ProvenanceBase } from './provenance';

/** What a sampling request answers (the Sampler node's msg.payload is png, pngs or raw). */
export interface SampleResult {
  format: OutputFormat;
  /** The seed the images were drawn with (a fresh random one when the request gave none). */
  seed: number;
  /** grid: one PNG; pngs: one per image. */
  png?: Buffer;
  pngs?: Buffer[];
  raw?: RawImages;
  classes?: number[];
  seconds: number;
  backend: string;
  /** frames[k] = { t, xt: PNG grid, predXstart: PNG grid } when framesEvery > 0. */
  frames?: Array<{ t: number; xt: Buffer; predXstart: Buffer }>;
  /** What made the images (the grid's record, or the request's for pngs and raw). */
  provenance?: Provenance;
}

/** The columns makeGrid uses for n images (the setting, else near-square, never more than n). */
export function gridColumns(n: number, columns?: number): number {
  return Math.min(columns || Math.ceil(Math.sqrt(n)), n);
}

/** Tiles a batch into one PNG with `columns` images per row (default near-square). */
export async function gridPng(images: RawImages, columns?: number, provenance?: ProvenanceBase & Partial<Provenance>): Promise<Buffer> {
  const n = images.shape[0];
  const cols = gridColumns(n, columns);
  const grid = makeGrid(images, { columns: cols });
  const [, h, w, c] = grid.shape;
  const png = await encodePng(grid.data, h, w, c);
  if (!provenance) return png;
  return withProvenance(png, { images: Array.from({ length: n }, (_, i) => i), ...provenance, columns: cols });
}

/** Packs a generate() result in the requested format; `seconds` and `backend` are the caller's measurements. */
export async function samplesToResult(
  result: GenerateResult, format: OutputFormat = 'grid', columns: number | undefined, seconds: number, backend: string,
  provenance?: ProvenanceBase,
): Promise<SampleResult> {
  const base = { format, seed: result.seed, classes: result.classes, seconds, backend };
  const n = result.images.shape[0];
  const all = Array.from({ length: n }, (_, i) => i);
  const record = provenance && { ...provenance, images: all, output: format === 'pngs' ? 'pngs' as const : 'grid' as const };
  const frames = result.frames
    ? await Promise.all(result.frames.map(async (f) => ({
      t: f.t,
      xt: await gridPng(f.xt, columns, record && { ...record, frame: { t: f.t, of: 'xt' } }),
      predXstart: await gridPng(f.predXstart, columns, record && { ...record, frame: { t: f.t, of: 'predXstart' } }),
    })))
    : undefined;
  switch (format) {
    case 'grid': {
      const cols = gridColumns(n, columns);
      return { ...base, png: await gridPng(result.images, cols, record), frames, ...(record ? { provenance: { ...record, columns: cols } } : {}) };
    }
    case 'pngs': {
      const pngs = await encodePngs(result.images);
      return { ...base, pngs: record ? pngs.map((p, i) => withProvenance(p, { ...record, images: [i] })) : pngs, frames, ...(record ? { provenance: record } : {}) };
    }
    case 'raw': return { ...base, raw: result.images, frames, ...(record ? { provenance: record } : {}) };
    default: throw new Error(`Unknown sample format ${JSON.stringify(format)}: use grid, pngs or raw`);
  }
}
