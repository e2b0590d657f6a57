/** The shared engine of this Node-RED runtime, configured from Node-RED's settings (design.md, "The shared engine"). */
import { dirname, join, resolve } from 'node:path';
import { sharedEngine, type EngineClient } from '../../engine/host/client';
import type { Red } from './red';

function userDirOf(red: Pick<Red, 'settings'>): string {
  const s = red.settings;
  return typeof s.userDir === 'string' && s.userDir ? s.userDir : process.cwd();
}

/** `iddpmModelsDir`, else `<userDir>/iddpm/models`. */
export function modelsDir(red: Pick<Red, 'settings'>): string {
  const s = red.settings;
  if (typeof s.iddpmModelsDir === 'string' && s.iddpmModelsDir) return s.iddpmModelsDir;
  return join(userDirOf(red), 'iddpm', 'models');
}

/**
 * The folders the Import node may read checkpoints from: `iddpmImportDirs` (a folder or a list; relative ones
 * are under userDir), else `<userDir>/iddpm/import`. Nothing outside them is ever read.
 */
export function importDirs(red: Pick<Red, 'settings'>): string[] {
  const given = red.settings.iddpmImportDirs;
  const list = typeof given === 'string' && given ? [given] : Array.isArray(given) ? given.filter((d): d is string => typeof d === 'string' && d !== '') : [];
  const dirs = list.length ? list : [join('iddpm', 'import')];
  return dirs.map((d) => resolve(userDirOf(red), d));
}

/** `iddpmBackend`, else env IDDPM_BACKEND, else the engine's own choice (auto). */
export function backendSetting(red: Pick<Red, 'settings'>): string | undefined {
  const b = red.settings.iddpmBackend;
  return typeof b === 'string' && b ? b : process.env.IDDPM_BACKEND || undefined;
}

/** One client per runtime (per models folder, backend and import folders); the child process starts on the first request. */
export function engineFor(red: Pick<Red, 'settings'>): EngineClient {
  const models = modelsDir(red);
  const imports = importDirs(red);
  // The engine's own default is the `import` folder beside the models folder: pass the list only when it differs,
  // so a client made without it (a test, a library caller) is the same shared client.
  const isDefault = imports.length === 1 && imports[0] === join(dirname(resolve(models)), 'import');
  const client = sharedEngine({ modelsDir: models, backend: backendSetting(red), ...(isDefault ? {} : { importDirs: imports }) });
  // Every Trainer and Sampler listens to the one client: many listeners are expected, not a leak.
  client.setMaxListeners(0);
  return client;
}
