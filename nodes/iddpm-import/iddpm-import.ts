/**
 * Import node: brings a checkpoint trained with the reference implementation (openai/improved-diffusion on
 * PyTorch: `ema_<rate>_<step>.pt`, `model<step>.pt`, a published `.pt`) into the engine as a model folder that
 * the Sampler, evaluate mode and the HTTP/MQTT flows use by name. The file lies in the import folder
 * (`iddpmImportDirs`, default `<userDir>/iddpm/import`; the engine reads nothing outside it); the architecture is
 * a published preset and/or the flags it was trained with, or a whole pipeline in msg.iddpm (a model trained by an
 * exported launch.py). Sends the stored model.json (ModelSpec) as msg.payload and its pipeline as msg.iddpm.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PIPELINE_PARTS, type ImportReferenceRequest } from '../../engine/spec';
import { pipelineOf, setting, UserError } from '../shared/component';
import { engineFor, importDirs } from '../shared/engine';
import { translator, type Translate } from '../shared/i18n';
import { fail, showBusy, showReady } from '../shared/status';
import type { DoneFn, Node, NodeDef, NodeMessage, Red, SendFn } from '../shared/red';
import catalog from './locales/en-US/iddpm-import.json';

const TYPE = 'iddpm-import';

/**
 * The import request from the settings and the message: msg.file, msg.model, msg.preset, msg.flags, msg.ema,
 * msg.opt, msg.overwrite override the settings; a complete pipeline in msg.iddpm (without msg.preset / msg.flags)
 * describes the architecture instead of the preset and flags.
 */
export function importRequestOf(config: NodeDef, msg: NodeMessage, t: Translate): ImportReferenceRequest {
  const file = setting(TYPE, 'file', config, msg);
  if (!file) throw new UserError(t('errors.noFile'));
  const pipeline = pipelineOf(msg);
  const hasPipeline = PIPELINE_PARTS.every((p) => pipeline[p]);
  const fromMessage = msg.preset !== undefined || msg.flags !== undefined;
  const name = setting(TYPE, 'model', config, msg) || (hasPipeline ? pipeline.unet?.model : undefined);
  if (!name) throw new UserError(t('errors.noModel'));
  const request: ImportReferenceRequest = { file, name, overwrite: setting(TYPE, 'overwrite', config, msg) };
  if (hasPipeline && !fromMessage) request.pipeline = pipeline;
  else {
    const preset = setting(TYPE, 'preset', config, msg);
    const flags = setting(TYPE, 'flags', config, msg);
    if (!preset && !flags) throw new UserError(t('errors.noArchitecture'));
    if (preset) request.preset = preset;
    if (flags) request.flags = flags;
  }
  const ema = setting(TYPE, 'ema', config, msg);
  const opt = setting(TYPE, 'opt', config, msg);
  if (ema) request.ema = ema;
  if (opt) request.opt = opt;
  return request;
}

export default function (RED: Red): void {
  const t = translator(RED, catalog);
  RED.nodes.registerType(TYPE, function (this: Node, config: NodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const engine = engineFor(RED);
    // The default folder is made on first use, so the user sees where to put checkpoints.
    if (RED.settings.iddpmImportDirs === undefined) {
      try {
        mkdirSync(importDirs(RED)[0], { recursive: true });
      } catch {
        // A read-only userDir: the engine then reports the missing file when asked.
      }
    }
    let closed = false;
    showReady(node, config.file ? t('status.idle', { file: config.file }) : t('status.idleNoFile'));

    node.on('input', async (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      try {
        const request = importRequestOf(config, msg, t);
        showBusy(node, t('status.importing', { file: request.file }));
        const started = Date.now();
        const result = await engine.importReference(request);
        if (closed) return done();
        showReady(node, t('status.done', { model: result.spec.name, step: result.spec.step, seconds: ((Date.now() - started) / 1000).toFixed(1) }));
        msg.payload = result.spec;
        msg.model = result.spec.name;
        // The stored pipeline (under the model's name): a Sampler or Trainer after this node agrees with the model.
        msg.iddpm = result.spec.pipeline;
        msg.import = { model: result.spec.name, path: join(result.path), notes: result.notes };
        send(msg);
        done();
      } catch (err) {
        if (closed) done();
        else fail(node, err, msg, done);
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      done();
    });
  });
}
