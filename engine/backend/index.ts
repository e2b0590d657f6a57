/**
 * Picks and initialises the TensorFlow.js backend at run time.
 *
 * `auto` tries, in order: tensorflow (`@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node`, where one is
 * installed and its native library loads), `wasm`, then `cpu`. A backend asked for by name must load or this
 * throws: the pure-JS `cpu` backend is ~40x slower than wasm for convolutions, so nothing falls back to it
 * silently except `auto` when wasm itself cannot start (and then `backendInfo().fellBack` says so).
 */
import { tf } from '../tf';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from './wasm-kernels';

export type BackendRequest = 'auto' | 'tensorflow' | 'tensorflow-gpu' | 'tensorflow-cpu' | 'wasm' | 'cpu';
export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', 'tensorflow', 'tensorflow-gpu', 'tensorflow-cpu', 'wasm', 'cpu'];

export interface BackendInfo {
  /** What was asked for. */
  requested: BackendRequest;
  /** The tfjs backend name now active: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** Which native package provides 'tensorflow', if that is the backend. */
  nativePackage?: string;
  /** True when `auto` had to skip a faster backend that failed to load. */
  fellBack: boolean;
  /** Why faster backends were skipped, for the logs. */
  skipped: string[];
}

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

function parseRequest(value: string | undefined): BackendRequest {
  const v = (value ?? 'auto').trim().toLowerCase() || 'auto';
  if (!(BACKEND_REQUESTS as readonly string[]).includes(v)) {
    throw new Error(`Unknown backend "${value}": use one of ${BACKEND_REQUESTS.join(', ')}`);
  }
  return v as BackendRequest;
}

function tryNative(pkg: string): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(pkg);
    return tf.findBackend('tensorflow') ? undefined : `${pkg} loaded but registered no backend`;
  } catch (err) {
    return `${pkg}: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function select(requested: BackendRequest): Promise<BackendInfo> {
  const skipped: string[] = [];
  const nativeOrder =
    requested === 'tensorflow-gpu' ? ['@tensorflow/tfjs-node-gpu']
      : requested === 'tensorflow-cpu' ? ['@tensorflow/tfjs-node']
        : ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];
  if (requested === 'auto' || requested.startsWith('tensorflow')) {
    for (const pkg of nativeOrder) {
      const why = tryNative(pkg);
      if (!why && (await activate('tensorflow'))) {
        return { requested, name: 'tensorflow', nativePackage: pkg, fellBack: skipped.length > 0, skipped };
      }
      skipped.push(why ?? `${pkg}: backend failed to initialise`);
    }
    if (requested !== 'auto') throw new Error(`Backend "${requested}" is not available: ${skipped.join('; ')}`);
  }
  if (requested === 'auto' || requested === 'wasm') {
    if (await activate('wasm')) return { requested, name: 'wasm', fellBack: false, skipped };
    skipped.push('wasm: failed to initialise');
    if (requested === 'wasm') throw new Error('Backend "wasm" failed to initialise');
  }
  if (await activate('cpu')) return { requested, name: 'cpu', fellBack: requested === 'auto', skipped };
  throw new Error('No TensorFlow.js backend could be initialised');
}

/**
 * Initialises the backend once (later calls return the same result unless a different one is requested).
 * The request comes from the argument, else env `IDDPM_BACKEND`, else `auto`.
 */
export async function initBackend(request?: string): Promise<BackendInfo> {
  const requested = parseRequest(request ?? process.env.IDDPM_BACKEND);
  if (current && (current.requested === requested || current.name === requested)) return current;
  if (pending && !current) return pending;
  pending = select(requested).then((info) => {
    current = info;
    // Our gradient kernels replace or add to the wasm backend's own (engine/backend/wasm-kernels.ts).
    if (info.name === 'wasm') registerWasmKernels();
    return info;
  });
  try {
    return await pending;
  } finally {
    pending = undefined;
  }
}

/** The active backend, or undefined before `initBackend`. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

