/**
 * What made an image: the record every PNG of the plugin carries in an iTXt chunk (keyword PROVENANCE_KEYWORD,
 * JSON text). A sample's record has everything the Sampler needs to draw the same pixels again: the model and the
 * step of its weights, the digest of its pipeline, the sampler settings, the seed and which images of the seed's
 * sequence the PNG holds (a grid's in reading order, `columns` per row).
 */
import { InvalidValue } from './validate';
import { isModelName } from './limits';
import { SAMPLING_METHODS, type SamplingMethod } from './kinds';
import { parseRespacing } from './respacing';

export const PROVENANCE_KEYWORD = 'iddpm';
export const PROVENANCE_FORMAT = 'iddpm-provenance/1';
export const PROVENANCE_KINDS = ['sample', 'preview', 'noise'] as const;
export type ProvenanceKind = (typeof PROVENANCE_KINDS)[number];

/** The sampler settings of a sample or preview: with the seed, the model's weights decide every pixel. */
export interface SamplerSettings {
  /** The respacing as text (`50`, `ddim25`, `10,15,20`), absent for the full T. */
  steps?: string;
  method: SamplingMethod;
  eta: number;
  clipDenoised: boolean;
  ema: boolean;
  /** Images in the request (the seed's sequence 0 … count−1). */
  count: number;
  classes?: number[];
}

export interface Provenance {
  format: typeof PROVENANCE_FORMAT;
  kind: ProvenanceKind;
  package: string;
  packageVersion: string;
  model?: string;
  /** The training step of the weights that drew it. */
  modelStep?: number;
  /** `sha256:<hex>` of the canonical JSON of the model's pipeline. */
  pipelineDigest?: string;
  sampler?: SamplerSettings;
  seed: number;
  /** Which images of the request the PNG shows, in reading order. */
  images: number[];
  /** A grid: its columns; one image: absent. */
  columns?: number;
  /** The request's output format (`grid` or `pngs`): what regenerating it gives back. */
  output?: 'grid' | 'pngs';
  /** noise: the timesteps of the columns. */
  t?: number[];
  /** A frame of the reverse process (x_t or x̂₀ at timestep t), not the sample itself. */
  frame?: { t: number; of: 'xt' | 'predXstart' };
  /** preview: the training step it was drawn at. */
  trainStep?: number;
}

/** Refuses to make an image again, saying why (BAD_REQUEST on the image, msg.payload). */
export function refuseProvenance(why: string): never {
  throw new InvalidValue('msg.payload', { key: 'provenance', params: { reason: why } });
}
const fail = refuseProvenance;

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/**
 * The record read from a PNG's text, checked: a sample or preview names a model, its step and digest, the
 * sampler settings and which images it holds. Anything else is refused with the reason.
 */
export function checkProvenance(text: string | undefined): Provenance {
  if (text === undefined) fail('the PNG has no IDDPM provenance (no iTXt chunk "iddpm"): only PNGs made by the IDDPM nodes can be made again');
  let p: Provenance;
  try {
    p = JSON.parse(text as string) as Provenance;
  } catch {
    return fail('its IDDPM provenance is not JSON');
  }
  if (!p || typeof p !== 'object' || p.format !== PROVENANCE_FORMAT) fail(`its provenance is not ${PROVENANCE_FORMAT}`);
  if (!(PROVENANCE_KINDS as readonly string[]).includes(p.kind)) fail(`unknown provenance kind ${JSON.stringify(p.kind)}`);
  if (!isCount(p.seed) || !Array.isArray(p.images) || !p.images.every(isCount)) fail('its provenance has no seed or image indices');
  if (p.kind === 'noise') return p;
  const s = p.sampler;
  if (!isModelName(p.model) || !isCount(p.modelStep) || typeof p.pipelineDigest !== 'string' || !s || typeof s !== 'object') {
    fail('its provenance names no model, step, pipeline digest or sampler settings');
  }
  if (!(SAMPLING_METHODS as readonly string[]).includes(s!.method) || !isCount(s!.count) || s!.count < 1) fail('its sampler settings are incomplete');
  if (s!.steps !== undefined && !parseRespacing(s!.steps)) fail(`its steps ${JSON.stringify(s!.steps)} are not a respacing`);
  if (p.images.some((i) => i >= s!.count)) fail('its image indices exceed the request');
  return p;
}
