/**
 * Sampler node: generates images from a trained model by name with the reverse process p(x_{t-1} | x_t)
 * (ancestral, over the full T or respaced steps, paper section 4) or DDIM; or, in evaluate mode, measures the
 * model's likelihood in bits/dim on dataset images (the variational bound, with per-timestep terms for the
 * paper's Figure 2). The model's stored spec says everything else; a pipeline in msg.iddpm is checked against it
 * and a mismatch refused. Given a PNG it made (msg.payload), it draws the same image again from the provenance
 * the PNG carries. Every reply says its seed (msg.sample.seed, header X-IDDPM-Seed).
 */
import {
  PIPELINE_PARTS, respacingText, type EvaluateRequest, type ModelSpec, type PipelineSpec, type SampleRequest,
} from '../../engine/spec';
import type { EvaluateResult, SampleResult } from '../../engine/host/protocol';
import { pipelineOf, setting, UserError, valueOf } from '../shared/component';
import { engineFor } from '../shared/engine';
import { translator, type Translate } from '../shared/i18n';
import { fail, showBusy, showReady } from '../shared/status';
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

/** The sampling request from the settings and the message's overrides (msg.model, msg.count, msg.steps, …). */
export function sampleRequestOf(config: NodeDef, msg: NodeMessage, t: Translate): SampleRequest {
  const model = modelOf(config, msg, t);
  const steps = setting(TYPE, 'steps', config, msg);
  const classes = setting(TYPE, 'class', config, msg);
  const seed = setting(TYPE, 'seed', config, msg);
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
 * default), the noise drawn from msg.seed, per-timestep terms with msg.perTimestep.
 */
export function evaluateRequestOf(config: NodeDef, msg: NodeMessage, t: Translate): EvaluateRequest {
  const seed = setting(TYPE, 'seed', config, msg);
  return {
    model: modelOf(config, msg, t),
    dataset: evaluationDataset(config, msg),
    count: setting(TYPE, 'count', config, msg),
    perTimestep: setting(TYPE, 'perTimestep', config, msg),
    ...(seed !== undefined ? { seed } : {}),
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
      const again = isPng(msg.payload);
      const request = again ? undefined : sampleRequestOf(config, msg, t);
      if (request) await checkAgainstModel(msg, request.model);
      showBusy(node, request ? t('status.starting', { model: request.model }) : t('status.regenerating'));
      let last = 0;
      const withdraw = new AbortController();
      inFlight.add(withdraw);
      const onProgress = (p: { step: number; total: number; batch: number; batches: number }): void => {
        const now = Date.now();
        if (closed || now - last < STATUS_EVERY_MS) return;
        last = now;
        // p.batch is the engine's 0-based batch index.
        showBusy(node, t('status.progress', { step: p.step, total: p.total, batch: p.batch + 1, batches: p.batches }));
      };
      const result = await (request
        ? engine.sample(request, onProgress, withdraw.signal)
        : engine.regenerate(msg.payload as Uint8Array, onProgress, withdraw.signal)
      ).finally(() => inFlight.delete(withdraw));
      const model = request?.model ?? result.provenance?.model ?? '';
      const count = result.provenance?.sampler?.count ?? request?.count ?? 0;
      if (!closed) showReady(node, t(request ? 'status.done' : 'status.regenerated', { count, seconds: result.seconds.toFixed(1), backend: result.backend, seed: result.seed }));
      // Made again: the one PNG it was given, drawn anew.
      msg.payload = request ? payloadOf(result) : result.png;
      msg.sample = {
        model, count, format: result.format, classes: result.classes, seconds: result.seconds, backend: result.backend,
        seed: result.seed, provenance: result.provenance, ...(request ? {} : { regenerated: true }),
      };
      const headers: Record<string, string> = { ...(msg.headers as Record<string, string> | undefined), 'x-iddpm-seed': String(result.seed) };
      if (result.format === 'grid' || !request) headers['content-type'] = 'image/png';
      msg.headers = headers;
    }

    async function evaluate(msg: NodeMessage): Promise<void> {
      const request = evaluateRequestOf(config, msg, t);
      await checkAgainstModel(msg, request.model);
      showBusy(node, t('status.evaluating', { model: request.model, count: request.count }));
      const result: EvaluateResult = await engine.evaluate(request);
      if (!closed) showReady(node, t('status.evaluated', { bpd: result.bitsPerDim.toFixed(3), count: result.count, seconds: result.seconds.toFixed(1) }));
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
