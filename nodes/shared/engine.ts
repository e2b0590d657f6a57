/** The shared engine of this Node-RED runtime, configured from Node-RED's settings (design.md, "The shared engine"). */
import { join, resolve } from 'node:path';
import { sharedEngine, type EngineClient } from '../../engine/host/client';
import type { EngineSettings } from '../../engine/host/protocol';
import type { Red } from './red';

type Settings = Pick<Red, 'settings'>;

function userDirOf(red: Settings): string {
  const u = red.settings.userDir;
  return typeof u === 'string' && u ? u : process.cwd();
}

/** `iddpmModelsDir`, else `<userDir>/iddpm/models`. */
export function modelsDir(red: Settings): string {
  const s = red.settings.iddpmModelsDir;
  return typeof s === 'string' && s ? s : join(userDirOf(red), 'iddpm', 'models');
}

/** `iddpmDataDirs` (a folder or a list), else `<userDir>/iddpm/data`: the only folders a Trainer reads images from. */
export function dataDirs(red: Settings): string[] {
  const s = red.settings.iddpmDataDirs;
  if (typeof s === 'string' && s) return [s];
  if (Array.isArray(s)) return s.filter((d): d is string => typeof d === 'string' && d !== '');
  return [join(userDirOf(red), 'iddpm', 'data')];
}

/**
 * The folders the Import node may read checkpoints from: `iddpmImportDirs` (a folder or a list; relative ones
 * are under userDir), else `<userDir>/iddpm/import`. Nothing outside them is ever read.
 */
export function importDirs(red: Settings): string[] {
  const given = red.settings.iddpmImportDirs;
  const list = typeof given === 'string' && given ? [given] : Array.isArray(given) ? given.filter((d): d is string => typeof d === 'string' && d !== '') : [];
  const dirs = list.length ? list : [join('iddpm', 'import')];
  return dirs.map((d) => resolve(userDirOf(red), d));
}

/** `iddpmBackend`, else env IDDPM_BACKEND, else the engine's own choice (auto). */
export function backendSetting(red: Settings): string | undefined {
  const b = red.settings.iddpmBackend;
  return typeof b === 'string' && b ? b : process.env.IDDPM_BACKEND || undefined;
}

/** A positive number setting, if set. */
function positive(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** The engine's settings from Node-RED's (engine/spec ENGINE_DEFAULTS fills what is not set). */
export function engineSettings(red: Settings): EngineSettings {
  const s = red.settings;
  const out: EngineSettings = { modelsDir: modelsDir(red), dataDirs: dataDirs(red), importDirs: importDirs(red) };
  const backend = backendSetting(red);
  if (backend) out.backend = backend;
  const cost = positive(s.iddpmMaxRequestCost);
  if (cost !== undefined) out.maxRequestCost = cost;
  const timeout = positive(s.iddpmRequestTimeout);
  if (timeout !== undefined) out.requestTimeoutSeconds = timeout;
  return out;
}

/** One client per runtime (per settings); the child process starts on the first request. */
export function engineFor(red: Settings): EngineClient {
  const client = sharedEngine(engineSettings(red));
  // Every Trainer and Sampler listens to the one client: many listeners are expected, not a leak.
  client.setMaxListeners(0);
  return client;
}
