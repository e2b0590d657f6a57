/**
 * Sampler node: generates images from a trained model by name with the reverse process p(x_{t-1} | x_t)
 * (ancestral, over the full T or respaced steps, paper section 4) or DDIM; or, in evaluate mode, measures the
 * model's likelihood in bits/dim on dataset images (the variational bound, with per-timestep terms for the
 * paper's Figure 2). The model's stored spec says everything else; a pipeline in msg.iddpm is checked against it
 * and a mismatch refused. Given a PNG it made (msg.payload), it draws the same image again from the provenance
 * the PNG carries. Every reply says its seed (msg.sample.seed, header X-IDDPM-Seed).
 */
import {
  HTTP_STATUS, PIPELINE_PARTS, respacingText, type EvaluateRequest, type ModelSpec, type PipelineSpec, type QualityRequest, type SampleRequest,
} from '../../engine/spec';
import type { EvaluateResult, SampleResult } from '../../engine/host/protocol';
import { pipelineOf, setting, UserError, valueOf } from '../shared/component';
import { engineFor } from '../shared/engine';
import { translator, type Translate } from '../shared/i18n';
import { fail, nodeError, showBusy, showReady } from '../shared/status';
import type { DoneFn, Node, NodeDef, NodeMessage, Red, SendFn } from '../shared/red';
import catalog from './locales/en-US/iddpm-sampler.json';

const TYPE = 'iddpm-sampler';
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A PNG file in msg.payload (its signature): the Sampler then makes that image again from its provenance. */
export function isPng(payload: unknown): payload is Uint8Array {
  return payload instanceof Uint8Array && payload.length > 8 && PNG_SIGNATURE.every((b, i) => payload[i] === b);
}
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

/** The HTTP response a message from an `http in` node carries (express), if any. */
interface HttpRes {
  headersSent: boolean;
  writableFinished: boolean;
  once(event: 'close', fn: () => void): void;
  status(code: number): HttpRes;
  set(field: string, value: string): HttpRes;
  json(body: unknown): void;
}
function httpResponseOf(msg: NodeMessage): HttpRes | undefined {
  const res = (msg.res as { _res?: Partial<HttpRes> } | undefined)?._res;
  return res && typeof res.once === 'function' && typeof res.json === 'function' ? (res as HttpRes) : undefined;
}

/**
 * Messages whose requests a redeploy withdrew, by node id: the Sampler of the new deployment (same id) reports
 * each to its flow's Catch nodes, which can still answer (an HTTP response, an MQTT reply) — the old flow's nodes
 * are all stopping at once and can no longer.
 */
const withdrawn = new Map<string, NodeMessage[]>();
/** How long a handed-over HTTP request may wait for the new flow to answer it before the Sampler does. */
const HANDOVER_HTTP_MS = 3000;

/** Longest wait for the new deployment's MQTT brokers to reconnect before reporting handed-over requests. */
const RECONNECT_MS = 10_000;

/**
 * Resolves once the new deployment can carry replies: its MQTT broker connections (which an `mqtt out` needs to
 * publish, and which reconnect after every deploy) are up, or RECONNECT_MS have passed.
 */
function whenFlowsCanReply(RED: Red): Promise<void> {
  const brokers: string[] = [];
  RED.nodes.eachNode?.((n) => void (n.type === 'mqtt-broker' && brokers.push(n.id)));
  const until = Date.now() + RECONNECT_MS;
  return new Promise((resolve) => {
    const check = (): void => {
      const up = brokers.every((id) => (RED.nodes.getNode?.(id) as { connected?: boolean } | null)?.connected !== false);
      if (up || Date.now() > until) resolve();
      else setTimeout(check, 100).unref();
    };
    check();
  });
}

/** Answers an HTTP request the flow can no longer answer: 503, code CANCELLED, try again in 5 s. */
function answer503(msg: NodeMessage, error: Error): void {
  const res = httpResponseOf(msg);
  if (res && !res.headersSent) res.status(HTTP_STATUS.CANCELLED).set('Retry-After', '5').json({ error: error.message, code: 'CANCELLED', status: HTTP_STATUS.CANCELLED });
}

export default function (RED: Red): void {
  const t = translator(RED, catalog);
  RED.nodes.registerType(TYPE, function (this: Node, config: NodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const engine = engineFor(RED);
    /** Requests in flight: closing the node (redeploy, removal) withdraws them from the engine and answers them. */
    const inFlight = new Map<AbortController, NodeMessage>();
    let closed = false;

    /**
     * Runs one engine request for `msg`, withdrawn when the node closes or when the HTTP client that asked for it
     * hangs up (nobody is left to answer: the engine stops at its next step).
     */
    async function withdrawable<T>(msg: NodeMessage, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
      const withdraw = new AbortController();
      inFlight.set(withdraw, msg);
      const res = httpResponseOf(msg);
      res?.once('close', () => {
        if (!res.writableFinished) {
          msg._iddpmClientGone = true;
          withdraw.abort();
        }
      });
      try {
        return await run(withdraw.signal);
      } finally {
        inFlight.delete(withdraw);
      }
    }
    showReady(node, config.model ? t('status.idle', { model: config.model }) : t('status.idleNoModel'));

    // Requests the previous deployment of this node withdrew: reported here once the new flows run.
    const handedOver = withdrawn.get(node.id);
    if (handedOver) {
      withdrawn.delete(node.id);
      const report = async (): Promise<void> => {
        await whenFlowsCanReply(RED);
        for (const msg of handedOver) {
          const error = nodeError(t('errors.closed'), 'CANCELLED');
          node.error(error, msg);
          setTimeout(() => answer503(msg, error), HANDOVER_HTTP_MS).unref();
        }
      };
      if (RED.events) RED.events.once('flows:started', () => void report());
      else setImmediate(() => void report());
    }

    async function checkAgainstModel(msg: NodeMessage, model: string): Promise<void> {
      const pipeline = pipelineOf(msg);
      if (!PIPELINE_PARTS.some((p) => pipeline[p])) return;
      const spec: ModelSpec = await engine.modelSpec(model);
      const diffs = pipelineMismatches(pipeline, spec.pipeline);
      if (diffs.length) throw new UserError(t('errors.mismatch', { model, diffs: diffs.join('; ') }));
    }

    async function generate(msg: NodeMessage): Promise<void> {
      const again = isPng(msg.payload);
      const request = again ? undefined : sampleRequestOf(config, msg, t);
      if (request) await checkAgainstModel(msg, request.model);
      showBusy(node, request ? t('status.starting', { model: request.model }) : t('status.regenerating'));
      let last = 0;
      const onProgress = (p: { step: number; total: number; batch: number; batches: number }): void => {
        const now = Date.now();
        if (closed || now - last < STATUS_EVERY_MS) return;
        last = now;
        // p.batch is the engine's 0-based batch index.
        showBusy(node, t('status.progress', { step: p.step, total: p.total, batch: p.batch + 1, batches: p.batches }));
      };
      const result = await withdrawable(msg, (signal) => (request
        ? engine.sample(request, onProgress, signal)
        : engine.regenerate(msg.payload as Uint8Array, onProgress, signal)));
      const model = request?.model ?? result.provenance?.model ?? '';
      const count = result.provenance?.sampler?.count ?? request?.count ?? 0;
      if (!closed) showReady(node, t(request ? 'status.done' : 'status.regenerated', { count, seconds: result.seconds.toFixed(1), backend: result.backend, seed: result.seed }));
      // Made again: the one PNG it was given, drawn anew.
      msg.payload = request ? payloadOf(result) : result.png;
      msg.sample = {
        model, count, format: result.format, classes: result.classes, seconds: result.seconds, backend: result.backend,
        seed: result.seed, provenance: result.provenance, ...(request ? {} : { regenerated: true }),
        ...(result.quality ? { quality: result.quality } : {}),
      };
      const headers: Record<string, string> = { ...(msg.headers as Record<string, string> | undefined), 'x-iddpm-seed': String(result.seed) };
      if (result.format === 'grid' || !request) headers['content-type'] = 'image/png';
      msg.headers = headers;
    }

    async function evaluate(msg: NodeMessage): Promise<void> {
      const request = evaluateRequestOf(config, msg, t);
      await checkAgainstModel(msg, request.model);
      showBusy(node, t('status.evaluating', { model: request.model, count: request.count }));
      const result: EvaluateResult = await withdrawable(msg, (signal) => engine.evaluate(request, signal));
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
        if (msg._iddpmClientGone) {
          // The HTTP client hung up: nobody to answer, nothing failed.
          if (!closed) showReady(node, t('status.clientGone'));
          done();
        } else if (closed) {
          // Withdrawn by a redeploy or a removal: answered by the next deployment or just below (see close).
          done();
        } else fail(node, err, msg, done);
      }
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closed = true;
      const pending = [...inFlight.values()].filter((m) => !m._iddpmClientGone);
      for (const request of inFlight.keys()) request.abort();
      if (pending.length && !removed) withdrawn.set(node.id, pending);
      // Removed (or Node-RED stopping): no new deployment will answer; an HTTP request is answered here.
      else for (const msg of pending) answer503(msg, nodeError(t('errors.closed'), 'CANCELLED'));
      done();
    });
  });
}
