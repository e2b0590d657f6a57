/**
 * Generated images → what the Sampler node sends: one PNG grid, one PNG per image, or the raw [−1, 1] floats
 * (design.md, "Sampler"). Frames of the reverse process become one grid per recorded step.
 */
import { encodePng, encodePngs, makeGrid } from '../image';
import type { OutputFormat, RawImages } from '../spec';
import type { GenerateResult } from './generate';

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
}

/** Tiles a batch into one PNG with `columns` images per row (default near-square). */
export async function gridPng(images: RawImages, columns?: number): Promise<Buffer> {
  const grid = makeGrid(images, { columns });
  const [, h, w, c] = grid.shape;
  return encodePng(grid.data, h, w, c);
}

/** Packs a generate() result in the requested format; `seconds` and `backend` are the caller's measurements. */
export async function samplesToResult(
  result: GenerateResult, format: OutputFormat = 'grid', columns: number | undefined, seconds: number, backend: string,
): Promise<SampleResult> {
  const base = { format, seed: result.seed, classes: result.classes, seconds, backend };
  const frames = result.frames
    ? await Promise.all(result.frames.map(async (f) => ({ t: f.t, xt: await gridPng(f.xt, columns), predXstart: await gridPng(f.predXstart, columns) })))
    : undefined;
  switch (format) {
    case 'grid': return { ...base, png: await gridPng(result.images, columns), frames };
    case 'pngs': return { ...base, pngs: await encodePngs(result.images), frames };
    case 'raw': return { ...base, raw: result.images, frames };
    default: throw new Error(`Unknown sample format ${JSON.stringify(format)}: use grid, pngs or raw`);
  }
}
