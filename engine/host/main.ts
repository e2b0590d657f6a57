/**
 * Entry of the engine child process: initialises the backend, then answers the client's requests over IPC.
 * It exits when its parent goes away (IPC disconnect) or on `shutdown`, after stopping jobs at a step boundary.
 */
import { delimiter } from 'node:path';
import { EngineService, asEngineError } from './service';
import type { EngineReply, EngineRequest, EngineSettings, SampleProgress } from './protocol';

const send = (reply: EngineReply): void => {
  if (process.connected) process.send?.(reply);
};

/** The settings the client passed (engine/host/protocol EngineSettings). */
function settings(): EngineSettings {
  const given = process.env.IDDPM_ENGINE_SETTINGS ? (JSON.parse(process.env.IDDPM_ENGINE_SETTINGS) as EngineSettings) : undefined;
  return given ?? { modelsDir: process.env.IDDPM_MODELS_DIR ?? 'iddpm-models', backend: process.env.IDDPM_BACKEND };
}

const service = new EngineService({
  ...settings(),
  broadcast: (ev) => send({ broadcast: ev }),
  onQueue: (entries) => send({ queue: entries }),
});

async function shutdown(code: number): Promise<never> {
  await service.shutdown().catch(() => undefined);
  process.exit(code);
}

process.on('message', (raw) => {
  const { id, ...req } = raw as EngineRequest & { id: number };
  const progress = (p: SampleProgress): void => send({ id, progress: p });
  service
    .handle(req as EngineRequest, progress, id)
    .then((result) => {
      send({ id, ok: true, result });
      if (req.op === 'shutdown') void shutdown(0);
    })
    .catch((err: unknown) => {
      const e = asEngineError(err);
      send({ id, ok: false, error: { message: e.message, code: e.code } });
    });
});
process.on('disconnect', () => void shutdown(0));
