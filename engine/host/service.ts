/**
 * What the engine process does with each request: a dispatcher over the run layer. It owns the backend, the
 * training jobs (one per model), the models loaded for sampling and a bounded queue of sampling requests. Usable
 * in-process (tests, library callers) or behind main.ts in the child process.
 *
 * One error mapping: an EngineError keeps its code (a user's mistake is BAD_REQUEST or NOT_FOUND where it was
 * found); a cancelled sampling run is CANCELLED; anything else is INTERNAL — a failure of the engine, not of the
 * request, so flows answer it with 500, not 400.
 */
import { initBackend, backendInfo } from '../backend';
import { createDataset } from '../data';
import { ModelStore, imageShapeOf } from '../train';
import { TrainingJob, type JobStatus, type TrainEvent } from '../run/job';
import { noiseImages, scheduleChart, type NoiseResult, type ScheduleChart } from '../run/noise';
import { generateInWorkers } from '../parallel/sample';
import { closePool } from '../parallel/pool';
import { samplesToResult } from '../sample/result';
import { evaluateBpd } from '../sample/bpd';
import { evaluateQuality, measureSamples } from '../run/quality';
import { freshSeed } from '../sample/generate';
import {
  EngineError, TRAIN_CONTROLS, checkEvaluateRequest, checkSampleRequest, choice, modelName, need,
  type CheckedSampleRequest, type ModelSpec, type NoiseRequest, type ScheduleSpec,
} from '../spec';
import { ModelCache } from './models';
import type { EngineInfo, EngineRequest, EvaluateResult, SampleProgress, SampleResult } from './protocol';

export interface EngineServiceOptions {
  modelsDir: string;
  backend?: string;
  /** Where training events go (to the client, over IPC). */
  broadcast: (ev: TrainEvent) => void;
  /** Sampling requests waiting at most (more are refused with QUEUE_FULL). */
  maxQueue?: number;
}

const DEFAULT_MAX_QUEUE = Number(process.env.IDDPM_SAMPLE_QUEUE) || 32;
const ACTIVE_STATES = ['starting', 'running', 'paused', 'stopping'];

/** The error a request fails with, as the client sees it. */
export function asEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as Error | undefined;
  if (e?.name === 'SamplingCancelledError') return new EngineError(e.message, 'CANCELLED');
  return new EngineError(e?.message ?? String(err), 'INTERNAL');
}

export class EngineService {
  readonly store: ModelStore;
  private readonly models: ModelCache;
  private readonly jobs = new Map<string, { job: TrainingJob; done: Promise<void> }>();
  private sampleChain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private closing = false;
  /** Ids of sampling requests the client gave up on (a closed Sampler node): they stop at the next step. */
  private readonly cancelled = new Set<number>();

  constructor(private readonly opts: EngineServiceOptions) {
    this.store = new ModelStore(opts.modelsDir);
    this.models = new ModelCache(this.store);
  }

  private async backend(): Promise<string> {
    return (await initBackend(this.opts.backend)).name;
  }

  /** `id` is the client's request id, which `cancelSample` refers to. Every failure is an EngineError. */
  async handle(req: EngineRequest, progress: (p: SampleProgress) => void = () => undefined, id = 0): Promise<unknown> {
    try {
      return await this.dispatch(req, progress, id);
    } catch (err) {
      throw asEngineError(err);
    }
  }

  private async dispatch(req: EngineRequest, progress: (p: SampleProgress) => void, id: number): Promise<unknown> {
    if (this.closing && req.op !== 'shutdown' && req.op !== 'info') throw new EngineError('The IDDPM engine is shutting down', 'BUSY');
    await this.backend();
    switch (req.op) {
      case 'info': return this.info();
      case 'train': return this.train(req.name, req.pipeline, req.options);
      case 'control': return this.control(req.name, req.action);
      case 'status': return this.status(req.name);
      case 'sample': return this.enqueueSample(req.request, progress, id);
      case 'cancelSample': return this.cancelled.add(req.requestId) && { cancelled: req.requestId };
      case 'noise': return this.noise(req.request);
      case 'schedule': return this.schedule(req.spec);
      case 'evaluate': return this.evaluate(req.request);
      case 'modelSpec': return this.modelSpec(req.name);
      case 'shutdown': return this.shutdown();
      default: throw new EngineError(`Unknown request ${JSON.stringify((req as { op?: unknown }).op)}`, 'BAD_REQUEST');
    }
  }

  info(): EngineInfo {
    return {
      backend: backendInfo()?.name ?? 'none',
      pid: process.pid,
      modelsDir: this.opts.modelsDir,
      models: this.store.list(),
      jobs: [...this.jobs.values()].map((j) => j.job.status()),
    };
  }

  private activeJob(name: string): TrainingJob | undefined {
    const j = this.jobs.get(name)?.job;
    return j && ACTIVE_STATES.includes(j.status().state) ? j : undefined;
  }

  async train(name: unknown, pipeline: unknown, options: unknown): Promise<JobStatus> {
    const model = need('name', modelName, name);
    if (this.activeJob(model)) throw new EngineError(`Model "${model}" is already training; stop it first or train under another name`, 'BUSY');
    const job = new TrainingJob({ name: model, pipeline, options, store: this.store, onEvent: (ev) => this.opts.broadcast(ev) });
    const done = job.start().catch(() => undefined);
    this.jobs.set(model, { job, done });
    return job.status();
  }

  async control(name: unknown, action: unknown): Promise<JobStatus> {
    const model = need('name', modelName, name);
    const what = need('action', choice(TRAIN_CONTROLS), action);
    const entry = this.jobs.get(model);
    if (!entry) throw new EngineError(`Model "${model}" is not training`, 'NOT_FOUND');
    if (what === 'stop') {
      await entry.job.stop();
      await entry.done;
    } else if (what === 'pause') entry.job.pause();
    else entry.job.resume();
    return entry.job.status();
  }

  status(name: unknown): JobStatus | null {
    const model = need('name', modelName, name);
    const job = this.jobs.get(model)?.job;
    if (job) return job.status();
    if (!this.store.hasCheckpoint(model)) return null;
    const spec = this.store.readSpec(model);
    return { name: model, state: 'stopped', step: spec.step, maxSteps: spec.train?.maxSteps ?? 0 };
  }

  /** Sampling runs one request at a time (they would only compete for the same cores); the queue is bounded. */
  private enqueueSample(request: unknown, progress: (p: SampleProgress) => void, id: number): Promise<SampleResult> {
    const req = checkSampleRequest(request);
    if (this.queued >= (this.opts.maxQueue ?? DEFAULT_MAX_QUEUE)) {
      throw new EngineError(`The sampling queue is full (${this.queued} requests waiting); try again shortly`, 'QUEUE_FULL');
    }
    this.queued++;
    const run = this.sampleChain.then(() => this.sample(req, progress, id)).finally(() => {
      this.queued--;
      this.cancelled.delete(id);
    });
    this.sampleChain = run.catch(() => undefined);
    return run;
  }

  private async sample(req: CheckedSampleRequest, progress: (p: SampleProgress) => void, id: number): Promise<SampleResult> {
    const started = Date.now();
    if (this.cancelled.has(id)) throw new EngineError('Sampling was cancelled before it started', 'CANCELLED');
    const model = this.models.load(req.model, req.ema);
    const result = await generateInWorkers(model, {
      count: req.count,
      batchSize: req.batchSize,
      steps: req.steps,
      method: req.method,
      eta: req.eta,
      clipDenoised: req.clipDenoised,
      classes: req.classes,
      seed: req.seed ?? freshSeed(),
      progressEvery: req.progressEvery,
      framesEvery: req.framesEvery,
    }, { onProgress: progress, isCancelled: () => this.closing || this.cancelled.has(id) });
    const quality = req.quality ? measureSamples(req.model, model, this.store.readSpec(req.model), result.images, result.classes, req.quality.dataset) : undefined;
    const reply = await samplesToResult(result, req.format, req.columns || undefined, (Date.now() - started) / 1000, await this.backend());
    return quality ? { ...reply, quality } : reply;
  }

  noise(request: NoiseRequest): Promise<NoiseResult> {
    return noiseImages(request);
  }

  schedule(spec: ScheduleSpec): ScheduleChart {
    return scheduleChart(spec);
  }

  async evaluate(request: unknown): Promise<EvaluateResult> {
    const req = checkEvaluateRequest(request);
    const model = this.models.load(req.model, req.ema);
    const spec = this.store.readSpec(req.model);
    const dataset = await createDataset(req.dataset, imageShapeOf(spec.unetConfig));
    const isCancelled = (): boolean => this.closing;
    const result: EvaluateResult = await evaluateBpd(model, dataset, {
      count: req.count,
      batchSize: req.batchSize,
      seed: req.seed,
      perTimestep: req.perTimestep,
      steps: req.steps,
    }, { isCancelled });
    if (req.quality) result.quality = await evaluateQuality(req.model, model, spec, req.quality, req.dataset.kind, { isCancelled });
    return result;
  }

  modelSpec(name: unknown): ModelSpec {
    const model = need('name', modelName, name);
    if (!this.store.hasCheckpoint(model)) throw new EngineError(`No trained model named "${model}"`, 'NOT_FOUND');
    return this.store.readSpec(model);
  }

  /** Stops every job at a step boundary (each writes its final checkpoint) and frees the models. */
  async shutdown(): Promise<{ stopped: string[] }> {
    this.closing = true;
    const active = [...this.jobs.entries()].filter(([n]) => this.activeJob(n));
    await Promise.all(active.map(async ([, e]) => {
      await e.job.stop();
      await e.done;
    }));
    await this.sampleChain;
    this.models.clear();
    await closePool();
    return { stopped: active.map(([n]) => n) };
  }
}
