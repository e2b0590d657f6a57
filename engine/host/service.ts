/**
 * What the engine process does with each request: a dispatcher over the run layer. It owns the backend, the
 * training jobs (one per model), the models loaded for sampling and a bounded queue of sampling requests
 * (queue.ts), which it lists and cancels by id. Usable in-process (tests, library callers) or behind main.ts in
 * the child process.
 *
 * One error mapping: an EngineError keeps its code (a user's mistake is BAD_REQUEST or NOT_FOUND where it was
 * found); a cancelled sampling run is CANCELLED; anything else is INTERNAL — a failure of the engine, not of the
 * request, so flows answer it with 500, not 400.
 */
import { dirname, join, resolve } from 'node:path';
import { initBackend, backendInfo } from '../backend';
import { createDataset } from '../data';
import { ModelStore, imageShapeOf, modelSummaries, type ModelSummary } from '../train';
import { TrainingJob, type JobStatus, type TrainEvent } from '../run/job';
import { noiseImages, scheduleChart, type NoiseResult, type ScheduleChart } from '../run/noise';
import { importReferenceCheckpoint, type ImportReferenceResult } from '../run/import-reference';
import { generateInWorkers } from '../parallel/sample';
import { evaluateBpdInWorkers } from '../parallel/bpd';
import { closePool } from '../parallel/pool';
import { samplesToResult } from '../sample/result';
import { evaluateQuality, measureSamples } from '../run/quality';
import { freshSeed } from '../sample/generate';
import { respacingFor } from '../sample/process';
import { readProvenance, regenerationRequest, sampleProvenance } from '../sample/provenance';
import {
  ENGINE_DEFAULTS, EngineError, TRAIN_CONTROLS, checkEvaluateRequest, checkImportReferenceRequest, checkSampleRequest, choice,
  integer, isBytes, modelName, need, respacingSteps, respacingText, type ModelSpec, type NoiseRequest, type Respacing,
  type ScheduleSpec,
} from '../spec';
import { parameterCount } from '../unet/layout';
import { ModelCache } from './models';
import { SampleQueue, type QueuedRequest } from './queue';
import type {
  EngineInfo, EngineRequest, EngineSettings, EvaluateResult, SampleProgress, SampleQueueEntry, SampleResult, TrainLogPoint,
} from './protocol';

export interface EngineServiceOptions extends EngineSettings {
  /** Where training events go (to the client, over IPC). */
  broadcast: (ev: TrainEvent) => void;
  /** Where sampling-queue changes go (to the client, over IPC). */
  onQueue?: (entries: SampleQueueEntry[]) => void;
}

/** Lines of a training log sent at most (trainLog's default and limit). */
const LOG_POINTS = { default: 500, max: 5000 };

/** The queue bound: the setting, else env IDDPM_SAMPLE_QUEUE, else ENGINE_DEFAULTS. */
const maxQueueOf = (o: EngineSettings): number => o.maxQueue ?? (Number(process.env.IDDPM_SAMPLE_QUEUE) || ENGINE_DEFAULTS.maxQueue);
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
  private readonly queue: SampleQueue;
  private closing = false;
  /** Ids of evaluations the client gave up on (a closed Sampler node): they stop at the next pass. */
  private readonly cancelled = new Set<number>();
  /** Ids of evaluations running now (cancelSample finds them here; sampling requests are in the queue). */
  private readonly evaluating = new Set<number>();

  constructor(private readonly opts: EngineServiceOptions) {
    this.store = new ModelStore(opts.modelsDir);
    this.models = new ModelCache(this.store);
    this.queue = new SampleQueue({
      maxQueue: maxQueueOf(opts),
      run: (entry, isCancelled) => this.sample(entry, isCancelled),
      onChange: opts.onQueue,
      updateMs: ENGINE_DEFAULTS.queueUpdateMs,
    });
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
      case 'regenerate': return this.regenerate(req.png, progress, id);
      case 'cancelSample': return this.cancelSample(req.requestId);
      case 'sampleQueue': return this.queue.list();
      case 'models': return this.modelList();
      case 'trainLog': return this.trainLog(req.name, req.points);
      case 'noise': return this.noise(req.request);
      case 'schedule': return this.schedule(req.spec);
      case 'evaluate': return this.evaluate(req.request, id);
      case 'modelSpec': return this.modelSpec(req.name);
      case 'importReference': return this.importReference(req.request);
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
    const job = new TrainingJob({ name: model, pipeline, options, store: this.store, dataDirs: this.opts.dataDirs ?? [], onEvent: (ev) => this.opts.broadcast(ev) });
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

  /**
   * Cancels a sampling request by id (the queue listing's, or the client's request id) — a waiting one at once, a
   * running one at its next step — or a running evaluation at its next pass.
   */
  cancelSample(requestId: unknown): { cancelled: number } {
    const id = need('requestId', integer(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), requestId);
    if (this.queue.cancel(id)) return { cancelled: id };
    if (!this.evaluating.has(id)) throw new EngineError(`No sampling request ${id} is queued or running`, 'NOT_FOUND');
    this.cancelled.add(id);
    return { cancelled: id };
  }

  /**
   * What a request over `count` images of `model` at `steps` costs (image-steps × million parameters), refused
   * up front beyond the engine's limit, before anything is loaded or queued.
   */
  private checkCost(model: string, count: number, steps: Respacing | undefined, what: string): void {
    if (!this.store.hasCheckpoint(model)) throw new EngineError(`No trained model named "${model}"`, 'NOT_FOUND');
    const spec = this.store.readSpec(model);
    // Steps the model cannot take are the request's mistake (BAD_REQUEST), whatever they would cost.
    const T = spec.pipeline.schedule.steps;
    const respaced = respacingFor(steps, T);
    const K = Math.min(respaced ? respacingSteps(respaced) : T, T);
    const cost = Math.round((count * K * parameterCount(spec.unetConfig)) / 1e6);
    const limit = this.opts.maxRequestCost ?? ENGINE_DEFAULTS.maxRequestCost;
    if (cost > limit) {
      throw new EngineError(`This ${what} would cost ${cost} image-steps × M parameters (${count} images × ${K} steps of a ${(parameterCount(spec.unetConfig) / 1e6).toFixed(1)} M-parameter model); the limit is ${limit}: ask for fewer images or steps`, 'TOO_LARGE');
    }
  }

  /** The engine's time limit for one request: `expired()` turns true when it has run out; `clear()` ends it. */
  private timeLimit(): { expired: () => boolean; clear: () => void } {
    const seconds = this.opts.requestTimeoutSeconds ?? ENGINE_DEFAULTS.requestTimeoutSeconds;
    let expired = false;
    const timer = setTimeout(() => (expired = true), seconds * 1000);
    timer.unref();
    return { expired: () => expired, clear: () => clearTimeout(timer) };
  }

  /** Sampling runs one request at a time (they would only compete for the same cores); the queue is bounded. */
  private enqueueSample(request: unknown, progress: (p: SampleProgress) => void, id: number, regenerate?: QueuedRequest['regenerate']): Promise<SampleResult> {
    const req = checkSampleRequest(request);
    this.checkCost(req.model, req.count, req.steps, 'sampling request');
    return this.queue.add({ id, request: req, regenerate, onProgress: progress });
  }

  /** One request of the queue: its model's current weights, its images, their PNGs with their provenance. */
  private async sample({ request: req, onProgress: progress, regenerate }: QueuedRequest, isCancelled: () => boolean): Promise<SampleResult> {
    const started = Date.now();
    const model = this.models.load(req.model, req.ema);
    const limit = this.timeLimit();
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
    }, { onProgress: progress, isCancelled: () => this.closing || isCancelled() || limit.expired() })
      .catch((err: unknown) => {
        throw limit.expired() ? this.timeoutError() : err;
      })
      .finally(() => limit.clear());
    const quality = req.quality ? measureSamples(req.model, model, model.spec, result.images, result.classes, req.quality.dataset) : undefined;
    const provenance = sampleProvenance({
      spec: model.spec, steps: req.steps, method: req.method, eta: req.eta, clipDenoised: req.clipDenoised, ema: req.ema,
      count: req.count, classes: result.classes, seed: result.seed,
      // Made again: the same record as the original (a preview stays a preview of its training step).
      ...(regenerate ? { kind: regenerate.kind as 'sample' | 'preview', trainStep: regenerate.trainStep } : {}),
    });
    const reply = await samplesToResult(result, req.format, req.columns || undefined, (Date.now() - started) / 1000, await this.backend(), provenance);
    return quality ? { ...reply, quality } : reply;
  }

  /**
   * Draws the images of a PNG the engine made (a sample or a preview) again from its provenance: the same model
   * at the same step, the same settings and seed give the same bytes. The reply's `png` is the remade PNG.
   */
  async regenerate(png: unknown, progress: (p: SampleProgress) => void = () => undefined, id = 0): Promise<SampleResult> {
    if (!isBytes(png)) throw new EngineError('regenerate needs a PNG (msg.payload) made by the IDDPM nodes', 'BAD_REQUEST');
    const provenance = readProvenance(png);
    if (provenance.model && !this.store.hasCheckpoint(provenance.model)) {
      throw new EngineError(`The PNG was drawn by model "${provenance.model}", which is not stored here`, 'NOT_FOUND');
    }
    const request = regenerationRequest(provenance, this.store.readSpec(provenance.model!));
    const result = await this.enqueueSample(request, progress, id, provenance);
    const again = provenance.output === 'pngs' ? result.pngs![provenance.images[0]] : result.png!;
    return { ...result, png: again, pngs: undefined, provenance: { ...result.provenance!, images: provenance.images } };
  }

  /** Every stored model's summary; `training` for those with a job running. */
  modelList(): Array<ModelSummary & { training: boolean }> {
    return modelSummaries(this.store).map((m) => ({ ...m, training: this.activeJob(m.name) !== undefined }));
  }

  /** A model's training log, thinned evenly to at most `points` lines (the last always kept). */
  trainLog(name: unknown, points: unknown): TrainLogPoint[] {
    const model = need('name', modelName, name);
    const max = points === undefined ? LOG_POINTS.default : need('points', integer(1, LOG_POINTS.max), points);
    const log = this.store.readLog(model).filter((e) => typeof e.step === 'number' && typeof e.loss === 'number');
    const stride = Math.max(1, Math.ceil(log.length / max));
    const kept = log.filter((_, i) => (log.length - 1 - i) % stride === 0);
    return kept.map((e) => {
      const p: TrainLogPoint = { step: e.step as number, loss: e.loss as number };
      for (const k of ['mse', 'vb', 'imagesPerSec'] as const) if (typeof e[k] === 'number') p[k] = e[k] as number;
      if (Array.isArray(e.lossQuartiles)) p.lossQuartiles = e.lossQuartiles as Array<number | null>;
      return p;
    });
  }

  noise(request: NoiseRequest): Promise<NoiseResult> {
    return noiseImages(request);
  }

  schedule(spec: ScheduleSpec): ScheduleChart {
    return scheduleChart(spec);
  }

  private timeoutError(): EngineError {
    return new EngineError(`The request ran longer than the engine allows (${this.opts.requestTimeoutSeconds ?? ENGINE_DEFAULTS.requestTimeoutSeconds} s) and was stopped`, 'TIMEOUT');
  }

  async evaluate(request: unknown, id = 0): Promise<EvaluateResult> {
    const req = checkEvaluateRequest(request);
    this.checkCost(req.model, req.count, req.steps, 'evaluation');
    if (req.quality) this.checkCost(req.model, req.quality.count, req.quality.steps, "evaluation's quality samples");
    const model = this.models.load(req.model, req.ema);
    const dataset = await createDataset(req.dataset, imageShapeOf(model.spec.unetConfig));
    const limit = this.timeLimit();
    this.evaluating.add(id);
    const isCancelled = (): boolean => this.closing || this.cancelled.has(id) || limit.expired();
    const timedOut = (err: unknown): never => {
      throw limit.expired() ? this.timeoutError() : err;
    };
    let result: EvaluateResult;
    try {
      result = await evaluateBpdInWorkers(model, dataset, {
        count: req.count,
        batchSize: req.batchSize,
        seed: req.seed,
        perTimestep: req.perTimestep,
        steps: req.steps,
      }, { isCancelled }).catch(timedOut);
      if (req.quality) {
        result.quality = await evaluateQuality(req.model, model, model.spec, req.quality, req.dataset.kind, { isCancelled }).catch(timedOut);
      }
    } finally {
      limit.clear();
      this.evaluating.delete(id);
      this.cancelled.delete(id);
    }
    // The Models list shows the last evaluation (of which weights: the step says).
    this.store.saveEvaluation(req.model, {
      bitsPerDim: result.bitsPerDim, count: result.count, dataset: req.dataset,
      ...(req.steps ? { steps: respacingText(req.steps) } : {}), step: model.spec.step, at: new Date().toISOString(),
    });
    return result;
  }

  modelSpec(name: unknown): ModelSpec {
    const model = need('name', modelName, name);
    if (!this.store.hasCheckpoint(model)) throw new EngineError(`No trained model named "${model}"`, 'NOT_FOUND');
    return this.store.readSpec(model);
  }

  /** A reference checkpoint from an import folder → a model folder (engine/run/import-reference.ts). */
  async importReference(request: unknown): Promise<ImportReferenceResult> {
    const req = checkImportReferenceRequest(request);
    if (this.activeJob(req.name)) throw new EngineError(`Model "${req.name}" is training; stop it before importing over it`, 'BUSY');
    const importDirs = this.opts.importDirs ?? [join(dirname(resolve(this.opts.modelsDir)), 'import')];
    const result = await importReferenceCheckpoint({ ...req, store: this.store, importDirs });
    this.models.forget(req.name);
    return result;
  }

  /** Stops every job at a step boundary (each writes its final checkpoint) and frees the models. */
  async shutdown(): Promise<{ stopped: string[] }> {
    this.closing = true;
    const active = [...this.jobs.entries()].filter(([n]) => this.activeJob(n));
    await Promise.all(active.map(async ([, e]) => {
      await e.job.stop();
      await e.done;
    }));
    this.queue.rejectWaiting(new EngineError('The IDDPM engine is shutting down', 'BUSY'));
    await this.queue.idle();
    this.models.clear();
    await closePool();
    return { stopped: active.map(([n]) => n) };
  }
}
