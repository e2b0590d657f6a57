/**
 * Trainer node: starts training of the pipeline a message carries (msg.iddpm, design.md "Pipeline assembly") in
 * the shared engine, controls it by msg.topic (stop, pause, resume, status) and sends the engine's progress,
 * sample previews, checkpoints and the final "done" as messages. Closing (redeploy, removal) stops its jobs at a
 * step boundary; the engine writes the last checkpoint first.
 */
import { checkImageInput, checkLabels, missingParts, type CompletePipeline, type DatasetSpec, type TrainOptions } from '../../engine/spec';
import type { JobStatus, TrainEvent } from '../../engine/host/protocol';
import { pipelineOf, setting, UserError, valueOf } from '../shared/component';
import { engineFor } from '../shared/engine';
import { translator, sharedT, type Translate } from '../shared/i18n';
import { codeOf, fail, messageOf, showBusy, showReady } from '../shared/status';
import type { DoneFn, Node, NodeDef, NodeMessage, Red, SendFn } from '../shared/red';
import catalog from './locales/en-US/iddpm-trainer.json';

const TYPE = 'iddpm-trainer';
const CONTROLS = ['stop', 'pause', 'resume', 'status'] as const;
type Control = (typeof CONTROLS)[number];
/** Node-RED allows 15 s for close; leave room for the rest of the shutdown. */
const STOP_TIMEOUT_MS = 13_000;

/** The dataset: the node's, or msg.dataset; `images` takes msg.payload (and msg.labels). */
function datasetOf(config: NodeDef, msg: NodeMessage, t: Translate): DatasetSpec {
  const kind = setting(TYPE, 'dataset', config, msg);
  const limit = setting(TYPE, 'limit', config, msg);
  const dataset: DatasetSpec = { kind, ...(limit !== undefined ? { limit } : {}) };
  if (kind === 'folder') {
    const path = setting(TYPE, 'folder', config, msg);
    if (!path) throw new UserError(t('errors.noFolder'));
    dataset.path = path;
  }
  if (kind === 'images') {
    // Checked here for a prompt refusal; decoded in the engine process (no image codec in Node-RED's).
    dataset.images = checkImageInput('msg.payload', msg.payload);
    if (msg.labels !== undefined) dataset.labels = checkLabels('msg.labels', msg.labels);
  }
  return dataset;
}

/** Training options from the settings and the message's overrides. */
export function trainOptionsOf(config: NodeDef, msg: NodeMessage, t: Translate): TrainOptions {
  return {
    dataset: datasetOf(config, msg, t),
    batchSize: setting(TYPE, 'batchSize', config, msg),
    microbatch: setting(TYPE, 'microbatch', config, msg),
    lr: setting(TYPE, 'lr', config, msg),
    emaRate: setting(TYPE, 'emaRate', config, msg),
    gradClip: setting(TYPE, 'gradClip', config, msg),
    maxSteps: setting(TYPE, 'maxSteps', config, msg),
    logEvery: setting(TYPE, 'logEvery', config, msg),
    sampleEvery: setting(TYPE, 'sampleEvery', config, msg),
    sampleCount: setting(TYPE, 'sampleCount', config, msg),
    checkpointEvery: setting(TYPE, 'checkpointEvery', config, msg),
    seed: setting(TYPE, 'seed', config, msg),
    resume: setting(TYPE, 'resume', config, msg),
  };
}

/** The whole pipeline, or an error naming the missing parts and the nodes that provide them. */
export function completePipeline(msg: NodeMessage, t: Translate): CompletePipeline {
  const pipeline = pipelineOf(msg);
  const missing = missingParts(pipeline);
  if (missing.length) {
    const parts = missing.map((p) => t(`parts.${p}`)).join(', ');
    throw new UserError(t('errors.missing', { parts }));
  }
  return pipeline as CompletePipeline;
}

/** "1h 02m", "4m 05s", "12s": an ETA at a glance. */
export function durationText(seconds: number): string {
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** "step 120/2000" or "step 120" (no max). */
function stepText(step: number, maxSteps?: number): string {
  return maxSteps ? `${step}/${maxSteps}` : String(step);
}

export function progressText(t: Translate, p: { step: number; maxSteps?: number; etaSeconds?: number; loss: number; imagesPerSec: number; backend: string }): string {
  const text = t('status.progress', { step: stepText(p.step, p.maxSteps), loss: p.loss.toPrecision(4), speed: p.imagesPerSec.toFixed(1), backend: p.backend });
  return p.etaSeconds !== undefined ? `${text} · ${t('status.eta', { eta: durationText(p.etaSeconds) })}` : text;
}

/** While a job starts, its phase (loading the dataset, building the model, …) is its status. */
function phaseText(t: Translate, status: JobStatus): string | undefined {
  if (!status.phase || status.state !== 'starting' && status.state !== 'running') return undefined;
  if (status.phase === 'training' || status.phase === 'finished') return undefined;
  return t(`phase.${status.phase}`, { model: status.name, step: stepText(status.step, status.maxSteps) });
}

export default function (RED: Red): void {
  const t = translator(RED, catalog);
  RED.nodes.registerType(TYPE, function (this: Node, config: NodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const engine = engineFor(RED);
    /** This node's jobs by model name, with the message that started each (errors go to Catch with it). */
    const jobs = new Map<string, NodeMessage>();
    let lastModel: string | undefined;
    showReady(node, t('status.idle'));

    const onTrain = (ev: TrainEvent): void => {
      const trigger = jobs.get(ev.name);
      if (!trigger) return;
      const out = (topic: string, payload: unknown, extra: NodeMessage = {}): void =>
        node.send({ _msgid: trigger._msgid, topic, model: ev.name, payload, ...extra });
      switch (ev.type) {
        case 'status': {
          const text = phaseText(t, ev.status);
          if (text) showBusy(node, text);
          break;
        }
        case 'progress':
          showBusy(node, progressText(t, ev.payload));
          out('progress', ev.payload);
          break;
        case 'sample':
          out('sample', ev.png, { step: ev.step, headers: { 'content-type': 'image/png' } });
          break;
        case 'checkpoint':
          out('checkpoint', { step: ev.step, path: ev.path });
          break;
        case 'done':
          jobs.delete(ev.name);
          showReady(node, t('status.done', { model: ev.name, step: ev.status.step, state: ev.status.state }));
          out('done', ev.status);
          break;
        case 'error':
          jobs.delete(ev.name);
          fail(node, t('errors.failed', { model: ev.name, reason: ev.message }), trigger, undefined, ev.code);
          break;
      }
    };
    const onExit = (reason: string): void => {
      for (const [name, trigger] of jobs) fail(node, t('errors.failed', { model: name, reason: sharedT('engine.exited', { reason }) }), trigger, undefined, 'ENGINE_EXITED');
      jobs.clear();
    };
    engine.on('train', onTrain);
    engine.on('exit', onExit);

    /** stop | pause | resume | status for msg.model, else the pipeline's model, else this node's last one. */
    async function control(action: Control, msg: NodeMessage, send: SendFn): Promise<void> {
      const name = msg.model !== undefined ? valueOf('iddpm-unet', 'model', msg.model, 'msg.model') : (pipelineOf(msg).unet?.model ?? lastModel);
      if (!name) throw new UserError(t('errors.noModel', { action }));
      const status: JobStatus | null = action === 'status' ? await engine.status(name) : await engine.control(name, action);
      if (action === 'pause' && status) showBusy(node, t('status.paused', { model: name, step: status.step }));
      if (action === 'resume' && status) showBusy(node, t('status.resumed', { model: name, step: status.step }));
      send({ ...msg, topic: 'status', model: name, payload: status });
    }

    async function start(msg: NodeMessage): Promise<void> {
      const pipeline = completePipeline(msg, t);
      const name = pipeline.unet.model;
      if (jobs.has(name)) throw new UserError(t('errors.busy', { model: name }), 'BUSY');
      const options = trainOptionsOf(config, msg, t);
      jobs.set(name, msg);
      lastModel = name;
      showBusy(node, t('status.starting', { model: name }));
      try {
        await engine.train(name, pipeline, options);
      } catch (err) {
        jobs.delete(name);
        throw new UserError(t('errors.refused', { model: name, reason: messageOf(err) }), codeOf(err));
      }
    }

    node.on('input', async (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      try {
        const topic = typeof msg.topic === 'string' ? msg.topic : '';
        if ((CONTROLS as readonly string[]).includes(topic)) await control(topic as Control, msg, send);
        else await start(msg);
        done();
      } catch (err) {
        fail(node, err, msg, done);
      }
    });

    node.on('close', async (_removed: boolean, done: () => void) => {
      engine.off('train', onTrain);
      engine.off('exit', onExit);
      const names = [...jobs.keys()];
      jobs.clear();
      if (names.length) showBusy(node, t('status.stopping'));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS)));
      const stops = Promise.all(names.map((n) => engine.control(n, 'stop').catch((err) => node.warn(t('errors.stopFailed', { model: n, reason: messageOf(err) })))));
      await Promise.race([stops, timeout]);
      clearTimeout(timer);
      done();
    });
  });
}
