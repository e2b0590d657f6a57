/**
 * The client the Node-RED nodes use to reach the shared engine: a child process (child_process.fork) that owns
 * TensorFlow.js, so training never blocks Node-RED and a native crash cannot take it down. The child is started
 * on the first request; if it dies, pending requests fail with ENGINE_EXITED, `exit` is emitted, and the next
 * request starts a new one. Events: `train` (a job's TrainEvent), `queue` (the sampling queue changed), `exit`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { delimiter, join } from 'node:path';
import {
  EngineError,
  type EvaluateRequest, type ImportReferenceRequest, type ModelSpec, type NoiseRequest, type PipelineSpec, type SampleRequest, type ScheduleSpec,
  type TrainControl, type TrainOptions,
} from '../spec';
import type {
  EngineInfo, EngineReply, EngineRequest, EngineSettings, EvaluateResult, ImportReferenceResult, JobStatus, ModelSummary,
  NoiseResult, SampleProgress, SampleQueueEntry, SampleResult, ScheduleChart, TrainLogPoint,
} from './protocol';

/** The engine's settings (engine/host/protocol EngineSettings). */
export type EngineOptions = EngineSettings;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  onProgress?: (p: SampleProgress) => void;
}

/** How long `close` waits for the engine to checkpoint and exit before killing it. */
const CLOSE_TIMEOUT_MS = 12_000;

function childEntry(): { file: string; execArgv: string[] } {
  // Running from sources (tests through tsx) forks the .ts entry through the same loader.
  const fromSource = __filename.endsWith('.ts');
  return fromSource
    ? { file: join(__dirname, 'main.ts'), execArgv: ['--import', 'tsx'] }
    : { file: join(__dirname, 'main.js'), execArgv: [] };
}

export class EngineClient extends EventEmitter {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(readonly options: EngineOptions) {
    super();
  }

  /** The running child's pid, if one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private start(): ChildProcess {
    const { file, execArgv } = childEntry();
    const env: NodeJS.ProcessEnv = { ...process.env, IDDPM_ENGINE_SETTINGS: JSON.stringify(this.options) };
    const child = fork(file, [], { execArgv, env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m) => this.onReply(m as EngineReply));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      const reason = signal ? `signal ${signal}` : `code ${code}`;
      const err = new EngineError(`The IDDPM engine process exited (${reason}); it restarts on the next request`, 'ENGINE_EXITED');
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.emit('exit', err.message);
    });
    child.on('error', (err) => this.emit('error-log', err));
    this.child = child;
    return child;
  }

  private onReply(reply: EngineReply): void {
    if ('broadcast' in reply) {
      this.emit('train', reply.broadcast);
      return;
    }
    if ('queue' in reply) {
      this.emit('queue', reply.queue);
      return;
    }
    const p = this.pending.get(reply.id);
    if (!p) return;
    if ('progress' in reply) {
      p.onProgress?.(reply.progress);
      return;
    }
    this.pending.delete(reply.id);
    this.updateRef();
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new EngineError(reply.error.message, reply.error.code));
  }

  /** Keep Node-RED (or a test) alive only while a request is in flight. */
  private updateRef(): void {
    const c = this.child;
    if (!c) return;
    const ch = c.channel as unknown as { ref(): void; unref(): void } | undefined;
    if (this.pending.size > 0) {
      c.ref();
      ch?.ref();
    } else {
      c.unref();
      ch?.unref();
    }
  }

  /** Sends one request and resolves with its result; `signal` withdraws a sampling request (cancelSample). */
  request<T>(req: EngineRequest, onProgress?: (p: SampleProgress) => void, signal?: AbortSignal): Promise<T> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    signal?.addEventListener('abort', () => {
      if (this.pending.has(id)) this.request({ op: 'cancelSample', requestId: id }).catch(() => undefined);
    }, { once: true });
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.updateRef();
      child.send({ id, ...req }, (err) => {
        if (err && this.pending.delete(id)) reject(new EngineError(`Could not reach the IDDPM engine: ${err.message}`, 'ENGINE_EXITED'));
      });
    });
  }

  info(): Promise<EngineInfo> {
    return this.request({ op: 'info' });
  }
  train(name: string, pipeline: PipelineSpec, options: TrainOptions): Promise<JobStatus> {
    return this.request({ op: 'train', name, pipeline, options });
  }
  control(name: string, action: TrainControl): Promise<JobStatus> {
    return this.request({ op: 'control', name, action });
  }
  status(name: string): Promise<JobStatus | null> {
    return this.request({ op: 'status', name });
  }
  /** Generates images; aborting `signal` stops the request at the engine's next step (it then rejects). */
  sample(request: SampleRequest, onProgress?: (p: SampleProgress) => void, signal?: AbortSignal): Promise<SampleResult> {
    return this.request({ op: 'sample', request }, onProgress, signal);
  }
  /** Draws a PNG made by the engine again from its provenance (result.png is the remade PNG). */
  regenerate(png: Uint8Array, onProgress?: (p: SampleProgress) => void, signal?: AbortSignal): Promise<SampleResult> {
    return this.request({ op: 'regenerate', png }, onProgress, signal);
  }
  /** Cancels a sampling request by its id (a SampleQueueEntry's): a waiting one at once, a running one at its next step. */
  cancelSample(requestId: number): Promise<{ cancelled: number }> {
    return this.request({ op: 'cancelSample', requestId });
  }
  /** The sampling queue, the running request first, with its progress. */
  sampleQueue(): Promise<SampleQueueEntry[]> {
    return this.request({ op: 'sampleQueue' });
  }
  /** Every stored model with its pipeline, steps, last loss and last bits/dim. */
  models(): Promise<Array<ModelSummary & { training: boolean }>> {
    return this.request({ op: 'models' });
  }
  trainLog(name: string, points?: number): Promise<TrainLogPoint[]> {
    return this.request({ op: 'trainLog', name, ...(points !== undefined ? { points } : {}) });
  }
  noise(request: NoiseRequest): Promise<NoiseResult> {
    return this.request({ op: 'noise', request });
  }
  schedule(spec: ScheduleSpec): Promise<ScheduleChart> {
    return this.request({ op: 'schedule', spec });
  }
  /** Evaluates bits/dim; aborting `signal` stops it at the engine's next pass (it then rejects). */
  evaluate(request: EvaluateRequest, signal?: AbortSignal): Promise<EvaluateResult> {
    return this.request({ op: 'evaluate', request }, undefined, signal);
  }
  modelSpec(name: string): Promise<ModelSpec> {
    return this.request({ op: 'modelSpec', name });
  }
  /** Imports a reference checkpoint from an import folder as model `request.name` (engine/run/import-reference.ts). */
  importReference(request: ImportReferenceRequest): Promise<ImportReferenceResult> {
    return this.request({ op: 'importReference', request });
  }

  /** Stops every job at a step boundary (each writes its checkpoint), then ends the process. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.request({ op: 'shutdown' }).catch(() => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

const shared = new Map<string, EngineClient>();

/** One engine per settings in this process: every IDDPM node of a Node-RED runtime shares it. */
export function sharedEngine(options: EngineOptions): EngineClient {
  const key = JSON.stringify(options);
  let client = shared.get(key);
  if (!client) {
    client = new EngineClient(options);
    shared.set(key, client);
  }
  return client;
}
