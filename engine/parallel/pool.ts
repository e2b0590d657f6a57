/**
 * A pool of worker threads, each with its own wasm backend (tfjs-backend-wasm runs one thread per backend here,
 * so one backend per core is how the engine uses several cores). The engine process shares one pool between its
 * training jobs and sampling requests: users acquire it and release it, and it ends its threads once nobody has
 * used it for a while. Idle threads are unref'd, so they never keep a process alive.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './protocol';

/** Worker threads for a backend: env IDDPM_WORKERS, else one per core on wasm; 1 (no pool) on other backends. */
export function workerCount(backend: string | undefined): number {
  if (backend !== 'wasm') return 1;
  const env = process.env.IDDPM_WORKERS?.trim();
  if (!env) return Math.max(1, os.availableParallelism());
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`IDDPM_WORKERS must be a whole number from 1 to 64, got "${env}"`);
  return n;
}

/** How long an unused pool keeps its threads (ms): starting one costs a second or two. */
function idleMs(): number {
  const v = Number(process.env.IDDPM_WORKERS_IDLE_MS);
  return Number.isFinite(v) && v >= 0 ? v : 30_000;
}

/** The worker entry beside this file: through tsx when running from sources, else the built .js. */
function spawnWorker(): Worker {
  const entry = path.join(__dirname, `worker${path.extname(__filename)}`);
  if (__filename.endsWith('.ts')) {
    // Node 20 resolves a worker's entry before `--import tsx` hooks apply; registering tsx's require hook first works.
    return new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(entry)});`, { eval: true });
  }
  return new Worker(entry);
}

interface Pending {
  worker: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  onEvent?: (event: unknown) => void;
}

/** An error thrown in a worker, carried back with its name (e.g. SamplingCancelledError). */
export class WorkerError extends Error {
  constructor(message: string, name: string) {
    super(message);
    this.name = name;
  }
}

export class WorkerPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private readonly inFlight: number[];
  private nextId = 1;
  private failure?: Error;
  private ended = false;

  constructor(readonly size: number) {
    this.workers = Array.from({ length: size }, (_, i) => this.start(i));
    this.inFlight = new Array<number>(size).fill(0);
  }

  private start(index: number): Worker {
    const w = spawnWorker();
    w.unref();
    w.on('message', (reply: WorkerReply) => this.onReply(reply));
    w.on('error', (err) => this.fail(new Error(`IDDPM worker thread ${index} failed: ${err.message}`)));
    w.on('exit', (code) => {
      if (!this.ended) this.fail(new Error(`IDDPM worker thread ${index} exited (code ${code})`));
    });
    return w;
  }

  /** False once a worker has crashed or the pool was terminated: acquire a new one. */
  get usable(): boolean {
    return !this.failure && !this.ended;
  }

  /** Sends one request to worker `index`; resolves with its result. Events it emits on the way go to onEvent. */
  request<T>(index: number, msg: WorkerRequest, transfer: ArrayBuffer[] = [], onEvent?: (event: unknown) => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(new Error('The IDDPM worker pool was terminated'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { worker: index, resolve: resolve as (v: unknown) => void, reject, onEvent });
      // A thread with work in flight keeps the process alive until it answers.
      if (this.inFlight[index]++ === 0) this.workers[index].ref();
      this.workers[index].postMessage({ id, msg }, transfer);
    });
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    if (--this.inFlight[p.worker] === 0 && !this.ended) this.workers[p.worker].unref();
    return p;
  }

  private onReply(reply: WorkerReply): void {
    if ('event' in reply) {
      this.pending.get(reply.id)?.onEvent?.(reply.event);
      return;
    }
    const p = this.settle(reply.id);
    if (!p) return;
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new WorkerError(reply.error.message, reply.error.name));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
    void this.terminate();
  }

  /** Ends every thread now; requests in flight are rejected. */
  async terminate(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new Error('The IDDPM worker pool was terminated'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

let shared: { pool: WorkerPool; users: number; idle?: NodeJS.Timeout } | undefined;

/** The process's pool of `size` threads (started on first use); pair every call with releasePool. */
export function acquirePool(size: number): WorkerPool {
  if (!shared || !shared.pool.usable || (shared.users === 0 && shared.pool.size !== size)) {
    if (shared) void shared.pool.terminate();
    shared = { pool: new WorkerPool(size), users: 0 };
  }
  clearTimeout(shared.idle);
  shared.users++;
  return shared.pool;
}

/** Gives the pool back; once unused for IDDPM_WORKERS_IDLE_MS (default 30 s) its threads end. */
export function releasePool(pool: WorkerPool): void {
  if (!shared || shared.pool !== pool) {
    void pool.terminate();
    return;
  }
  if (--shared.users > 0) return;
  const ms = idleMs();
  const end = (): void => {
    if (shared?.pool === pool && shared.users === 0) {
      shared = undefined;
      void pool.terminate();
    }
  };
  if (ms === 0) end();
  else {
    shared.idle = setTimeout(end, ms);
    shared.idle.unref();
  }
}

/** Ends the shared pool's threads now (engine shutdown, tests). */
export async function closePool(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) {
    clearTimeout(s.idle);
    await s.pool.terminate();
  }
}

/** Threads of the shared pool alive now (0 when none), for status and tests. */
export function poolThreads(): number {
  return shared?.pool.usable ? shared.pool.size : 0;
}
