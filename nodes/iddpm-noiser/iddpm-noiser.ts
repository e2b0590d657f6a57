/**
 * Noiser node: the forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I) (paper eq. 9) and what the model
 * predicts (the reference's model mean type: ε or x_0), as msg.iddpm.noiser. Standalone, given images in
 * msg.payload and msg.t, it noises them at t (one t, or a list: a strip of the forward process) and sends a PNG.
 * The images may be real digits: msg.payload = { dataset: "mnist", split: "test", indices: [0, 1, 2] }.
 * Without msg.t images pass on untouched: they may be a Trainer's in-message dataset.
 */
import { LIMITS, SCHEDULE_DEFAULTS, isBytes, isDatasetPick, type NoiseRequest, type NoiserSpec, type ScheduleSpec } from '../../engine/spec';
import { intOrList, shown } from '../shared/rules';
import { describeIssue } from '../shared/i18n';
import { pipelineOf, putPart, registerComponent, setting, UserError, type ComponentContext } from '../shared/component';
import { showReady } from '../shared/status';
import type { NodeDef, NodeMessage, Red } from '../shared/red';
import catalog from './locales/en-US/iddpm-noiser.json';

const TYPE = 'iddpm-noiser';

/** The schedule noised with when the message has none: the paper's cosine schedule, T = 1000. */
const DEFAULT_SCHEDULE: ScheduleSpec = SCHEDULE_DEFAULTS;

export function buildNoiser(config: NodeDef, msg: NodeMessage | undefined): NoiserSpec {
  return {
    modelMeanType: setting(TYPE, 'modelMeanType', config, msg),
    rescaleTimesteps: setting(TYPE, 'rescaleTimesteps', config, msg),
  };
}

/**
 * PNG/JPEG Buffer(s), { shape, data } or a dataset pick { dataset, split, indices }: what the Noiser noises instead
 * of passing the pipeline on.
 */
export function holdsImages(payload: unknown): boolean {
  if (isBytes(payload)) return true;
  if (Array.isArray(payload)) return payload.length > 0 && isBytes(payload[0]);
  if (isDatasetPick(payload)) return true;
  return typeof payload === 'object' && payload !== null && 'shape' in payload && 'data' in payload;
}

/** msg.t checked against T. */
function timesOf(msg: NodeMessage, steps: number): number[] {
  const r = intOrList(0, steps - 1, LIMITS.noiseTimes)(msg.t);
  if (!r.ok) throw new UserError(describeIssue('msg.t', r.issue));
  return Array.isArray(r.value) ? r.value : [r.value];
}

/** Noises msg.payload at msg.t; one PNG, rows = images, columns = t values. */
async function noiseImages({ node, msg, spec, t, engine }: ComponentContext<NoiserSpec>): Promise<NodeMessage> {
  if (!holdsImages(msg.payload)) throw new UserError(t('errors.noImages', { got: shown(msg.payload) }));
  const schedule = pipelineOf(msg).schedule ?? DEFAULT_SCHEDULE;
  const times = timesOf(msg, schedule.steps);
  const seed = setting(TYPE, 'seed', {} as NodeDef, msg);
  // The engine decodes and encodes the images: no image codec in the Node-RED process.
  const result = await engine().noise({ schedule, images: msg.payload as NoiseRequest['images'], t: times, seed }).catch((err: Error) => {
    // The engine names the images `images`; here they are msg.payload.
    const m = /^images: (.*)$/s.exec(err.message);
    throw m ? new UserError(t('errors.images', { reason: m[1] }), 'BAD_REQUEST') : err;
  });
  const [n, h, w, c] = result.images.shape;
  putPart(msg, 'noiser', spec);
  showReady(node, t('status.noised', { count: n / times.length, times: times.length }));
  return { ...msg, payload: result.png, t: result.t, imageSize: [h, w, c], headers: { 'content-type': 'image/png' } };
}

export default function (RED: Red): void {
  registerComponent(RED, {
    type: TYPE,
    part: 'noiser',
    catalog,
    build: buildNoiser,
    summary: (s, t) => t(s.rescaleTimesteps ? 'status.summaryRescaled' : 'status.summary', { mean: s.modelMeanType }),
    // msg.t asks for a strip: then msg.payload must hold images (refused, not passed on, when it does not).
    standalone: (ctx) => (ctx.msg.t !== undefined ? noiseImages(ctx) : undefined),
  });
}
