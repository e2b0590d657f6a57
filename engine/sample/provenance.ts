/**
 * Provenance of generated images (engine/spec/provenance.ts): the record of a sampling request, written into each
 * PNG as an iTXt chunk, read back from one, and turned into the request that draws the same pixels again.
 */
import { readTextChunks, withTextChunk } from '../image';
import { packageInfo, pipelineDigest } from '../digest';
import {
  PROVENANCE_FORMAT, PROVENANCE_KEYWORD, checkProvenance, refuseProvenance, respacingText, type ModelSpec, type Provenance, type Respacing,
  type SampleRequest, type SamplingMethod,
} from '../spec';

/** What a sampling request's images share; each PNG adds which images it holds. */
export type ProvenanceBase = Omit<Provenance, 'images' | 'columns' | 'output' | 'frame'>;

export interface SampledWith {
  kind?: 'sample' | 'preview';
  spec: Pick<ModelSpec, 'name' | 'step' | 'pipeline'>;
  steps?: Respacing;
  method: SamplingMethod;
  eta: number;
  clipDenoised: boolean;
  ema: boolean;
  count: number;
  classes?: number[];
  seed: number;
  trainStep?: number;
}

/** The record of a sampling request from a stored model (or of a preview drawn during training). */
export function sampleProvenance(s: SampledWith): ProvenanceBase {
  const pkg = packageInfo();
  const p: ProvenanceBase = {
    format: PROVENANCE_FORMAT,
    kind: s.kind ?? 'sample',
    package: pkg.name,
    packageVersion: pkg.version,
    model: s.spec.name,
    modelStep: s.spec.step,
    pipelineDigest: pipelineDigest(s.spec.pipeline),
    sampler: {
      ...(s.steps ? { steps: respacingText(s.steps) } : {}),
      method: s.method,
      eta: s.eta,
      clipDenoised: s.clipDenoised,
      ema: s.ema,
      count: s.count,
      ...(s.classes ? { classes: s.classes } : {}),
    },
    seed: s.seed,
  };
  if (s.trainStep !== undefined) p.trainStep = s.trainStep;
  return p;
}

/** The PNG with its provenance as JSON in an iTXt chunk. */
export function withProvenance(png: Uint8Array, p: Provenance): Buffer {
  return withTextChunk(png, PROVENANCE_KEYWORD, JSON.stringify(p));
}

/** The provenance of a PNG, checked; a user's mistake (BAD_REQUEST) when it has none or is not a PNG. */
export function readProvenance(png: Uint8Array): Provenance {
  let text: string | undefined;
  try {
    text = readTextChunks(png).get(PROVENANCE_KEYWORD);
  } catch (err) {
    refuseProvenance(`it is not a readable PNG (${(err as Error).message})`);
  }
  return checkProvenance(text);
}

/**
 * The sampling request that draws the images of `p` again, refused (with the reason) for a frame, for a picture of
 * the forward process, and for a model whose pipeline or weights are no longer the ones that drew it.
 */
export function regenerationRequest(p: Provenance, current: Pick<ModelSpec, 'step' | 'pipeline'>): SampleRequest & { seed: number } {
  const why = refuseProvenance;
  if (p.kind === 'noise') why('it shows the forward process (a Noiser strip), not samples of a model');
  if (p.frame) why(`it is a frame (${p.frame.of} at t = ${p.frame.t}) of a sampling run; give the Sampler the sample itself`);
  if (pipelineDigest(current.pipeline) !== p.pipelineDigest) why(`model "${p.model}" now has another pipeline than the one that drew it`);
  if (current.step !== p.modelStep) {
    why(`it was drawn by model "${p.model}" at step ${p.modelStep}, and the model is now at step ${current.step}; set msg.seed = ${p.seed} with the same settings for a new image from today's weights`);
  }
  const s = p.sampler!;
  return {
    model: p.model!,
    count: s.count,
    ...(s.steps ? { steps: s.steps } : {}),
    method: s.method,
    eta: s.eta,
    clipDenoised: s.clipDenoised,
    ema: s.ema,
    ...(s.classes ? { classes: s.classes } : {}),
    seed: p.seed,
    format: p.output === 'pngs' ? 'pngs' : 'grid',
    ...(p.columns ? { columns: p.columns } : {}),
  };
}
