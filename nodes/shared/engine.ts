/** The shared engine of this Node-RED runtime, configured from Node-RED's settings (design.md, "The shared engine"). */
import { join } from 'node:path';
import { sharedEngine, type EngineClient } from '../../engine/host/client';
import type { Red } from './red';

/** `iddpmModelsDir`, else `<userDir>/iddpm/models`. */
export function modelsDir(red: Pick<Red, 'settings'>): string {
  const s = red.settings;
  if (typeof s.iddpmModelsDir === 'string' && s.iddpmModelsDir) return s.iddpmModelsDir;
  const userDir = typeof s.userDir === 'string' && s.userDir ? s.userDir : process.cwd();
  return join(userDir, 'iddpm', 'models');
}

/** `iddpmBackend`, else env IDDPM_BACKEND, else the engine's own choice (auto). */
export function backendSetting(red: Pick<Red, 'settings'>): string | undefined {
  const b = red.settings.iddpmBackend;
  return typeof b === 'string' && b ? b : process.env.IDDPM_BACKEND || undefined;
}

/** One client per runtime (per models folder and backend); the child process starts on the first request. */
export function engineFor(red: Pick<Red, 'settings'>): EngineClient {
  const client = sharedEngine({ modelsDir: modelsDir(red), backend: backendSetting(red) });
  // Every Trainer and Sampler listens to the one client: many listeners are expected, not a leak.
  client.setMaxListeners(0);
  return client;
}
