/**
 * Sampler node: generates images from a trained model by name with the reverse process p(x_{t-1} | x_t)
 * (ancestral, over the full T or respaced steps, paper section 4) or DDIM; or, in evaluate mode, measures the
 * model's likelihood in bits/dim on dataset images (the variational bound, with per-timestep terms for the
 * paper's Figure 2). The model's stored spec says everything else; a pipeline in msg.iddpm is checked against it
 * and a mismatch refused.
 */
import {
  PIPELINE_PARTS, respacingText, type EvaluateRequest, type ModelSpec, type PipelineSpec, type QualityRequest, type SampleRequest,
} from '../../engine/spec';
import type { EvaluateResult, SampleResult } from '../../engine/host/protocol';
import { pipelineOf, setting, UserError, valueOf } from '../shared/component';
import { engineFor } from '../shared/engine';
import { translator, type Translate } from '../shared/i18n';
import { fail, showBusy, showReady } from '../shared/status';
import type { DoneFn, Node, NodeDef, NodeMessage, Red, SendFn } from '../shared/red';
import catalog from './locales/en-US/iddpm-sampler.json';

const TYPE = 'iddpm-sampler';
/** Status updates at most this often while sampling. */
const STATUS_EVERY_MS = 250;

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Where the message's pipeline disagrees with the model's stored one: "part.key: message X, model Y" for every
 * setting both state (the stored spec may hold more, e.g. defaults the engine filled in).
 */
export function pipelineMismatches(message: PipelineSpec, stored: PipelineSpec): string[] {
  const out: string[] = [];
  for (const part of PIPELINE_PARTS) {
    const mine = message[part] as Record<string, unknown> | undefined;
    const theirs = stored[part] as Record<string, unknown> | undefined;
    if (!mine || !theirs) continue;
    for (const key of Object.keys(mine)) {
      if (key in theirs && !sameValue(mine[key], theirs[key])) {
        out.push(`${part}.${key}: ${JSON.stringify(mine[key])} ≠ ${JSON.stringify(theirs[key])}`);
      }
    }
  }
  return out;
}

/** The model: the setting or msg.model, else the pipeline's UNet. */
function modelOf(config: NodeDef, msg: NodeMessage, t: Translate): string {
  const model = setting(TYPE, 'model', config, msg) || pipelineOf(msg).unet?.model;
  if (!model) throw new UserError(t('errors.noModel'));
  return model;
}

/** generate or evaluate: msg.topic "evaluate" / "generate" chooses for one message, else the node's mode. */
export function modeOf(config: NodeDef, msg: NodeMessage): 'generate' | 'evaluate' {
  if (msg.topic === 'evaluate' || msg.topic === 'generate') return msg.topic;
  return setting(TYPE, 'mode', config);
}

/**
 * msg.quality (true, false, or an object of QualityRequest fields, which the engine checks), else the Quality
 * setting: whether to report the sample-quality figures.
 */
function qualityAsked(config: NodeDef, msg: NodeMessage): boolean | QualityRequest {
  const given = msg.quality;
  if (given !== null && typeof given === 'object' && !Array.isArray(given)) return given as QualityRequest;
  return setting(TYPE, 'quality', config, msg);
}

/** The sampling request from the settings and the message's overrides (msg.model, msg.count, msg.steps, …). */
export function sampleRequestOf(config: NodeDef, msg: NodeMessage, t: Translate): SampleRequest {
  const model = modelOf(config, msg, t);
  const steps = setting(TYPE, 'steps', config, msg);
  const classes = setting(TYPE, 'class', config, msg);
  const seed = setting(TYPE, 'seed', config, msg);
  const quality = qualityAsked(config, msg);
  return {
    model,
    count: setting(TYPE, 'count', config, msg),
    method: setting(TYPE, 'method', config, msg),
    eta: setting(TYPE, 'eta', config, msg),
    format: setting(TYPE, 'format', config, msg),
    columns: setting(TYPE, 'columns', config, msg) || undefined,
    ...(steps !== undefined ? { steps: respacingText(steps) } : {}),
    ...(classes !== undefined ? { classes } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(quality ? { quality } : {}),
    progressEvery: 1,
  };
}

/** The evaluation dataset: msg.dataset as a kind ("mnist") or { kind, split }, msg.split, else the settings. */
function evaluationDataset(config: NodeDef, msg: NodeMessage): EvaluateRequest['dataset'] {
  const given = msg.dataset;
  if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
    const { kind, split } = given as { kind?: unknown; split?: unknown };
    return {
      kind: valueOf(TYPE, 'dataset', kind, 'msg.dataset.kind'),
      split: split === undefined ? setting(TYPE, 'split', config, msg) : valueOf(TYPE, 'split', split, 'msg.dataset.split'),
    };
  }
  return { kind: setting(TYPE, 'dataset', config, msg), split: setting(TYPE, 'split', config, msg) };
}

/**
 * The evaluation request: bits/dim of the model on the first msg.count images of the dataset's split (test by
 * default), the noise drawn from msg.seed, per-timestep terms with msg.perTimestep; the bound of the full process,
 * or of msg.steps respaced steps (the Steps setting is for sampling). With quality (the setting or msg.quality):
 * also `qualityCount` samples made with the node's Steps, Method, η and Seed (0 when unset) and their quality
 * figures; msg.quality as an object sets any of count, steps, method, eta, seed, batchSize, dataset.
 */
export function evaluateRequestOf(config: NodeDef, msg: NodeMessage, t: Translate): EvaluateRequest {
  const seed = setting(TYPE, 'seed', config, msg);
  const asked = qualityAsked(config, msg);
  const steps = msg.steps !== undefined ? valueOf(TYPE, 'steps', msg.steps, 'msg.steps') : undefined;
  let quality: QualityRequest | undefined;
  if (asked) {
    const sampleSteps = setting(TYPE, 'steps', config, msg);
    quality = {
      count: setting(TYPE, 'qualityCount', config),
      method: setting(TYPE, 'method', config, msg),
      eta: setting(TYPE, 'eta', config, msg),
      ...(sampleSteps !== undefined ? { steps: respacingText(sampleSteps) } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(typeof asked === 'object' ? asked : {}),
    };
  }
  return {
    model: modelOf(config, msg, t),
    dataset: evaluationDataset(config, msg),
    count: setting(TYPE, 'count', config, msg),
    perTimestep: setting(TYPE, 'perTimestep', config, msg),
    ...(seed !== undefined ? { seed } : {}),
    ...(steps !== undefined ? { steps: respacingText(steps) } : {}),
    ...(quality ? { quality } : {}),
  };
}

/** The sampled images as msg.payload: one PNG (grid), PNGs, or { shape, data }. */
function payloadOf(result: SampleResult): unknown {
  if (result.format === 'grid') return result.png;
  if (result.format === 'pngs') return result.pngs;
  return result.raw;
}

export default function (RED: Red): void {
  const t = translator(RED, catalog);
  RED.nodes.registerType(TYPE, function (this: Node, config: NodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const engine = engineFor(RED);
    /** Sampling requests in flight: closing the node (redeploy, removal) withdraws them from the engine. */
    const inFlight = new Set<AbortController>();
    let closed = false;
    showReady(node, config.model ? t('status.idle', { model: config.model }) : t('status.idleNoModel'));

    async function checkAgainstModel(msg: NodeMessage, model: string): Promise<void> {
      const pipeline = pipelineOf(msg);
      if (!PIPELINE_PARTS.some((p) => pipeline[p])) return;
      const spec: ModelSpec = await engine.modelSpec(model);
      const diffs = pipelineMismatches(pipeline, spec.pipeline);
      if (diffs.length) throw new UserError(t('errors.mismatch', { model, diffs: diffs.join('; ') }));
    }

    async function generate(msg: NodeMessage): Promise<void> {
      const request = sampleRequestOf(config, msg, t);
      await checkAgainstModel(msg, request.model);
      showBusy(node, t('status.starting', { model: request.model }));
      let last = 0;
      const withdraw = new AbortController();
      inFlight.add(withdraw);
      const result = await engine.sample(request, (p) => {
        const now = Date.now();
        if (closed || now - last < STATUS_EVERY_MS) return;
        last = now;
        // p.batch is the engine's 0-based batch index.
        showBusy(node, t('status.progress', { step: p.step, total: p.total, batch: p.batch + 1, batches: p.batches }));
      }, withdraw.signal).finally(() => inFlight.delete(withdraw));
      if (!closed) showReady(node, t('status.done', { count: request.count, seconds: result.seconds.toFixed(1), backend: result.backend }));
      msg.payload = payloadOf(result);
      msg.sample = {
        model: request.model, count: request.count, format: result.format, classes: result.classes, seconds: result.seconds, backend: result.backend,
        ...(result.quality ? { quality: result.quality } : {}),
      };
      if (result.format === 'grid') msg.headers = { ...(msg.headers as object | undefined), 'content-type': 'image/png' };
    }

    async function evaluate(msg: NodeMessage): Promise<void> {
      const request = evaluateRequestOf(config, msg, t);
      await checkAgainstModel(msg, request.model);
      showBusy(node, t('status.evaluating', { model: request.model, count: request.count }));
      const result: EvaluateResult = await engine.evaluate(request);
      const q = result.quality;
      if (!closed) {
        showReady(node, q
          ? t('status.evaluatedQuality', { bpd: result.bitsPerDim.toFixed(3), fid: q.samples.fid.toFixed(0), floor: q.floor?.fid.toFixed(0) ?? '-', confident: Math.round(100 * q.samples.confidentShare) })
          : t('status.evaluated', { bpd: result.bitsPerDim.toFixed(3), count: result.count, seconds: result.seconds.toFixed(1) }));
      }
      msg.payload = result;
      msg.evaluation = { model: request.model, dataset: request.dataset };
    }

    node.on('input', async (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      try {
        if (modeOf(config, msg) === 'evaluate') await evaluate(msg);
        else await generate(msg);
        // A closed node (redeployed, removed) sends nothing more.
        if (!closed) send(msg);
        done();
      } catch (err) {
        // A request withdrawn because the node closed is no failure of the message.
        if (closed) done();
        else fail(node, err, msg, done);
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      for (const request of inFlight) request.abort();
      done();
    });
  });
}
