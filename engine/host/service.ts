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
import { initBackend, backendInfo } from '../backend';
import { createDataset } from '../data';
import { ModelStore, imageShapeOf, modelSummaries, type ModelSummary } from '../train';
import { TrainingJob, type JobStatus, type TrainEvent } from '../run/job';
import { noiseImages, scheduleChart, type NoiseResult, type ScheduleChart } from '../run/noise';
import { generateInWorkers } from '../parallel/sample';
import { closePool } from '../parallel/pool';
import { samplesToResult, type SampleResult } from '../sample/result';
import { evaluateBpd, type EvaluateResult } from '../sample/bpd';
import { freshSeed } from '../sample/generate';
import { readProvenance, regenerationRequest, sampleProvenance } from '../sample/provenance';
import {
  ENGINE_DEFAULTS, EngineError, TRAIN_CONTROLS, checkEvaluateRequest, checkSampleRequest, choice, integer, isBytes, modelName, need,
  respacingText, type ModelSpec, type NoiseRequest, type ScheduleSpec,
} from '../spec';
import { ModelCache } from './models';
import { SampleQueue, type QueuedRequest } from './queue';
import type { EngineInfo, EngineRequest, SampleProgress, SampleQueueEntry, TrainLogPoint } from './protocol';

export interface EngineServiceOptions {
  modelsDir: string;
  backend?: string;
  /** Where training events go (to the client, over IPC). */
  broadcast: (ev: TrainEvent) => void;
  /** Where sampling-queue changes go (to the client, over IPC). */
  onQueue?: (entries: SampleQueueEntry[]) => void;
  /** Sampling requests waiting at most (more are refused with QUEUE_FULL). */
  maxQueue?: number;
}

/** Lines of a training log sent at most (trainLog's default and limit). */
const LOG_POINTS = { default: 500, max: 5000 };

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
  private readonly queue: SampleQueue;
  private closing = false;

  constructor(private readonly opts: EngineServiceOptions) {
    this.store = new ModelStore(opts.modelsDir);
    this.models = new ModelCache(this.store);
    this.queue = new SampleQueue({
      maxQueue: opts.maxQueue ?? DEFAULT_MAX_QUEUE,
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
      case 'sample': return this.queue.add({ id, request: checkSampleRequest(req.request), onProgress: progress });
      case 'regenerate': return this.regenerate(req.png, progress, id);
      case 'cancelSample': return this.cancelSample(req.requestId);
      case 'sampleQueue': return this.queue.list();
      case 'models': return this.modelList();
      case 'trainLog': return this.trainLog(req.name, req.points);
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

  /** Cancels a queued or running sampling request by id (the queue listing's, or the client's request id). */
  cancelSample(requestId: unknown): { cancelled: number } {
    const id = need('requestId', integer(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), requestId);
    if (!this.queue.cancel(id)) throw new EngineError(`No sampling request ${id} is queued or running`, 'NOT_FOUND');
    return { cancelled: id };
  }

  /** One request of the queue: its model's current weights, its images, their PNGs with their provenance. */
  private async sample({ request: req, onProgress: progress, regenerate }: QueuedRequest, isCancelled: () => boolean): Promise<SampleResult> {
    const started = Date.now();
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
    }, { onProgress: progress, isCancelled: () => this.closing || isCancelled() });
    const provenance = sampleProvenance({
      spec: model.spec, steps: req.steps, method: req.method, eta: req.eta, clipDenoised: req.clipDenoised, ema: req.ema,
      count: req.count, classes: result.classes, seed: result.seed,
      // Made again: the same record as the original (a preview stays a preview of its training step).
      ...(regenerate ? { kind: regenerate.kind as 'sample' | 'preview', trainStep: regenerate.trainStep } : {}),
    });
    return samplesToResult(result, req.format, req.columns || undefined, (Date.now() - started) / 1000, await this.backend(), provenance);
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
    const request = checkSampleRequest(regenerationRequest(provenance, this.store.readSpec(provenance.model!)));
    const result = await this.queue.add({ id, request, regenerate: provenance, onProgress: progress });
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

  async evaluate(request: unknown): Promise<EvaluateResult> {
    const req = checkEvaluateRequest(request);
    const model = this.models.load(req.model, req.ema);
    const dataset = await createDataset(req.dataset, imageShapeOf(model.spec.unetConfig));
    const result = await evaluateBpd(model, dataset, {
      count: req.count,
      batchSize: req.batchSize,
      seed: req.seed,
      perTimestep: req.perTimestep,
      steps: req.steps,
    }, { isCancelled: () => this.closing });
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
