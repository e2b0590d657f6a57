/**
 * Noiser node: the forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I) (paper eq. 9) and what the model
 * predicts (the reference's model mean type: ε or x_0), as msg.iddpm.noiser. Standalone, given images in
 * msg.payload and msg.t, it noises them at t (one t, or a list: a strip of the forward process) and sends a PNG.
 * Without msg.t images pass on untouched: they may be a Trainer's in-message dataset.
 */
import type { NoiserSpec, ScheduleSpec } from '../../engine/host/protocol';
import { decodeImages, encodePng, makeGrid } from '../../engine/image';
import { intOrList } from '../shared/rules';
import { describeIssue } from '../shared/i18n';
import { pipelineOf, putPart, registerComponent, setting, UserError, type ComponentContext } from '../shared/component';
import { showReady } from '../shared/status';
import type { NodeDef, NodeMessage, Red } from '../shared/red';
import catalog from './locales/en-US/iddpm-noiser.json';

const TYPE = 'iddpm-noiser';

/** The schedule noised with when the message has none: the paper's cosine schedule, T = 1000. */
const DEFAULT_SCHEDULE: ScheduleSpec = { kind: 'cosine', steps: 1000, cosineS: 0.008, maxBeta: 0.999 };
/** Most t values in one strip. */
const MAX_T = 64;

export function buildNoiser(config: NodeDef, msg: NodeMessage | undefined): NoiserSpec {
  return {
    modelMeanType: setting(TYPE, 'modelMeanType', config, msg),
    rescaleTimesteps: setting(TYPE, 'rescaleTimesteps', config, msg),
  };
}

/** PNG/JPEG Buffer(s) or { shape, data }: what the Noiser noises instead of passing the pipeline on. */
export function holdsImages(payload: unknown): boolean {
  if (payload instanceof Uint8Array) return true;
  if (Array.isArray(payload)) return payload.length > 0 && payload[0] instanceof Uint8Array;
  return typeof payload === 'object' && payload !== null && 'shape' in payload && 'data' in payload;
}

/** msg.t checked against T. */
function timesOf(msg: NodeMessage, steps: number): number[] {
  const r = intOrList(0, steps - 1, MAX_T)(msg.t);
  if (!r.ok) throw new UserError(describeIssue('msg.t', r.issue));
  return Array.isArray(r.value) ? r.value : [r.value];
}

/** Noises msg.payload at msg.t; one PNG, rows = images, columns = t values. */
async function noiseImages({ node, msg, spec, t, engine }: ComponentContext<NoiserSpec>): Promise<NodeMessage> {
  const schedule = pipelineOf(msg).schedule ?? DEFAULT_SCHEDULE;
  const times = timesOf(msg, schedule.steps);
  const seed = setting(TYPE, 'seed', {} as NodeDef, msg);
  const images = await decodeImages(msg.payload).catch((err: Error) => {
    throw new UserError(t('errors.images', { reason: err.message }));
  });
  const result = await engine().noise({ schedule, images, t: times, seed });
  const [n, h, w, c] = result.images.shape;
  const picture = n === 1 ? result.images : makeGrid(result.images, { columns: times.length });
  const png = await encodePng(picture.data, picture.shape[1], picture.shape[2], picture.shape[3]);
  putPart(msg, 'noiser', spec);
  showReady(node, t('status.noised', { count: images.shape[0], times: times.length }));
  return { ...msg, payload: png, t: result.t, imageSize: [h, w, c], headers: { 'content-type': 'image/png' } };
}

export default function (RED: Red): void {
  registerComponent(RED, {
    type: TYPE,
    part: 'noiser',
    catalog,
    build: buildNoiser,
    summary: (s, t) => t(s.rescaleTimesteps ? 'status.summaryRescaled' : 'status.summary', { mean: s.modelMeanType }),
    standalone: (ctx) => (ctx.msg.t !== undefined && holdsImages(ctx.msg.payload) ? noiseImages(ctx) : undefined),
  });
}
