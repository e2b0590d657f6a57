/**
 * The IDDPM sidebar, runtime side: a Node-RED editor plugin (package.json `node-red.plugins`) that relays the
 * shared engine's events to the editors over comms (`iddpm/jobs`, `iddpm/queue`) and answers the sidebar's admin
 * endpoints, each behind Node-RED's own permission check like its core routes:
 *
 *   GET    iddpm/sidebar.js            the editor script (static code, like Node-RED's resources: no token on <script>)
 *   GET    iddpm/jobs                  iddpm.read   every job seen: status, history, curves over t, latest preview
 *   POST   iddpm/jobs/:name/:action    iddpm.write  pause | resume | stop
 *   GET    iddpm/queue                 iddpm.read   the sampling queue with each request's progress
 *   DELETE iddpm/queue/:id             iddpm.write  cancel a sampling request
 *   GET    iddpm/models                iddpm.read   every stored model's summary (the dialogs' model lists too)
 *
 * It needs nothing but the engine's client: the engine starts on the first request that needs it (the models
 * list), never for the job and queue views, which come from the events this process has seen.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRAIN_CONTROLS, codeOf, HTTP_STATUS, type TrainControl } from '../../engine/spec';
import type { SampleQueueEntry, TrainEvent } from '../../engine/host/protocol';
import { engineFor } from '../shared/engine';
import type { HttpHandler, HttpResponse, Red } from '../shared/red';
import { JobBoard } from './board';

export const PLUGIN_ID = 'iddpm-sidebar';
export const TOPICS = { jobs: 'iddpm/jobs', queue: 'iddpm/queue' } as const;
const PERMISSION = { read: 'iddpm.read', write: 'iddpm.write' } as const;

/** The bundled editor script: beside this file when built, else in dist/ (running from sources). */
function sidebarScriptPath(): string {
  const built = join(__dirname, 'sidebar.js');
  return existsSync(built) ? built : join(__dirname, '..', '..', 'dist', 'nodes', 'iddpm-sidebar', 'sidebar.js');
}

/** An engine refusal as JSON with the status its code maps to. */
function sendError(res: HttpResponse, err: unknown): void {
  const code = codeOf(err);
  res.status(HTTP_STATUS[code]).json({ error: (err as Error)?.message ?? String(err), code });
}

export default function (RED: Red): void {
  const engine = engineFor(RED);
  const board = new JobBoard();
  const publish = (topic: string, data: unknown, retain = false): void => RED.comms?.publish(topic, data, retain);

  const onTrain = (ev: TrainEvent): void => {
    const seed = board.needsHistory(ev.name);
    const update = board.apply(ev);
    if (update) publish(TOPICS.jobs, update);
    // A resumed model: its earlier steps are in its training log.
    if (seed && (ev.type === 'status' || ev.type === 'progress')) {
      engine.trainLog(ev.name).then((log) => board.seedHistory(ev.name, log), () => undefined);
    }
  };
  const onQueue = (entries: SampleQueueEntry[]): void => {
    board.queue = entries;
    publish(TOPICS.queue, entries, true);
  };
  const onExit = (reason: string): void => {
    for (const update of board.engineExited(reason)) publish(TOPICS.jobs, update);
    publish(TOPICS.queue, [], true);
  };
  engine.on('train', onTrain);
  engine.on('queue', onQueue);
  engine.on('exit', onExit);

  RED.plugins?.registerPlugin(PLUGIN_ID, {
    type: 'iddpm-sidebar',
    onremove: () => {
      engine.off('train', onTrain);
      engine.off('queue', onQueue);
      engine.off('exit', onExit);
    },
  });

  const admin = RED.httpAdmin;
  if (!admin) return;
  const allow = (p: string): HttpHandler => RED.auth?.needsPermission(p) ?? ((_req, _res, next) => next());
  let bundle: string | undefined;
  admin.get('/iddpm/sidebar.js', (_req, res) => {
    try {
      bundle ??= readFileSync(sidebarScriptPath(), 'utf8');
      res.type('application/javascript').send(bundle);
    } catch (err) {
      res.status(500).type('text/plain').send(`IDDPM sidebar script unavailable (run npm run build): ${(err as Error).message}`);
    }
  });
  admin.get('/iddpm/jobs', allow(PERMISSION.read), (_req, res) => res.json({ jobs: board.list() }));
  admin.post('/iddpm/jobs/:name/:action', allow(PERMISSION.write), (req, res) => {
    const action = req.params.action as TrainControl;
    if (!(TRAIN_CONTROLS as readonly string[]).includes(action)) {
      res.status(400).json({ error: `Unknown action "${action}": use ${TRAIN_CONTROLS.join(', ')}`, code: 'BAD_REQUEST' });
      return;
    }
    engine.control(req.params.name, action).then((status) => res.json(status), (err) => sendError(res, err));
  });
  admin.get('/iddpm/queue', allow(PERMISSION.read), (_req, res) => res.json(board.queue));
  admin.delete('/iddpm/queue/:id', allow(PERMISSION.write), (req, res) => {
    engine.cancelSample(Number(req.params.id)).then((r) => res.json(r), (err) => sendError(res, err));
  });
  admin.get('/iddpm/models', allow(PERMISSION.read), (_req, res) => {
    engine.models().then((models) => res.json(models), (err) => sendError(res, err));
  });
}
