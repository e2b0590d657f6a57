/**
 * What the engine process does with each request: it owns the backend, the training jobs (one per model), the
 * models loaded for sampling and a bounded queue of sampling requests. Usable in-process (tests) or behind
 * main.ts in the child process. Training and sampling share one thread: both yield between steps, so a
 * sampling request runs between two training steps rather than after the whole run.
 */
import { initBackend, backendInfo } from '../backend';
import { tf } from '../tf';
import { Rng } from '../rng';
import { createDiffusion } from '../diffusion';
import { createDataset } from '../data';
import { ModelStore, TrainingJob, datasetSpecFor } from '../train';
import { generateInWorkers } from '../parallel/sample';
import { closePool } from '../parallel/pool';
import { samplesToResult } from '../sample/result';
import { evaluateBpd } from '../sample/bpd';
import { ModelCache } from './models';
import {
  EngineError,
  type EngineInfo, type EngineRequest, type EvaluateRequest, type EvaluateResult, type JobStatus, type NoiseRequest,
  type NoiseResult, type SampleProgress, type SampleRequest, type SampleResult, type ScheduleSpec, type ScheduleTables,
  type TrainEvent,
} from './protocol';
import { checkChoice, checkModelName, checkNumber, checkPipeline, checkRawImages, checkSampleRequest, checkDataset, checkSteps, LIMITS } from './validate';

export interface EngineServiceOptions {
  modelsDir: string;
  backend?: string;
  /** Where training events go (to the client, over IPC). */
  broadcast: (ev: TrainEvent) => void;
  /** Sampling requests waiting at most (more are refused with QUEUE_FULL). */
  maxQueue?: number;
}

const DEFAULT_MAX_QUEUE = Number(process.env.IDDPM_SAMPLE_QUEUE) || 32;

export class EngineService {
  readonly store: ModelStore;
  private readonly models: ModelCache;
  private readonly jobs = new Map<string, { job: TrainingJob; done: Promise<void> }>();
  private sampleChain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private closing = false;

  constructor(private readonly opts: EngineServiceOptions) {
    this.store = new ModelStore(opts.modelsDir);
    this.models = new ModelCache(this.store);
  }

  private async backend(): Promise<string> {
    return (await initBackend(this.opts.backend)).name;
  }

  /** Ids of sampling requests the client gave up on (a closed Sampler node): they stop at the next step. */
  private readonly cancelled = new Set<number>();

  /** `id` is the client's request id, which `cancelSample` refers to. */
  async handle(req: EngineRequest, progress: (p: SampleProgress) => void = () => undefined, id = 0): Promise<unknown> {
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
      default: throw new EngineError(`Unknown request ${JSON.stringify((req as { op?: unknown }).op)}`);
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
    return j && ['starting', 'running', 'paused', 'stopping'].includes(j.status().state) ? j : undefined;
  }

  async train(name: string, pipeline: unknown, options: unknown): Promise<JobStatus> {
    checkModelName(name);
    if (this.activeJob(name)) throw new EngineError(`Model "${name}" is already training; stop it first or train under another name`, 'BUSY');
    let job: TrainingJob;
    try {
      job = new TrainingJob({
        name,
        pipeline: checkPipeline(pipeline as never),
        options: options as never,
        store: this.store,
        onEvent: (ev) => this.opts.broadcast(ev),
      });
    } catch (err) {
      throw err instanceof EngineError ? err : new EngineError((err as Error).message);
    }
    const done = job.start().catch(() => undefined);
    this.jobs.set(name, { job, done });
    return job.status();
  }

  async control(name: string, action: 'stop' | 'pause' | 'resume'): Promise<JobStatus> {
    checkModelName(name);
    checkChoice('action', action, ['stop', 'pause', 'resume'] as const);
    const entry = this.jobs.get(name);
    if (!entry) throw new EngineError(`Model "${name}" is not training`, 'NOT_FOUND');
    if (action === 'stop') {
      await entry.job.stop();
      await entry.done;
    } else if (action === 'pause') entry.job.pause();
    else entry.job.resume();
    return entry.job.status();
  }

  status(name: string): JobStatus | null {
    checkModelName(name);
    const job = this.jobs.get(name)?.job;
    if (job) return job.status();
    if (!this.store.hasCheckpoint(name)) return null;
    const spec = this.store.readSpec(name);
    return { name, state: 'stopped', step: spec.step, maxSteps: spec.train?.maxSteps ?? 0 };
  }

  /** Sampling runs one request at a time (they would only compete for the same cores); the queue is bounded. */
  private enqueueSample(request: SampleRequest, progress: (p: SampleProgress) => void, id: number): Promise<SampleResult> {
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

  private async sample(req: SampleRequest, progress: (p: SampleProgress) => void, id: number): Promise<SampleResult> {
    const started = Date.now();
    if (this.cancelled.has(id)) throw new EngineError('Sampling was cancelled before it started');
    const model = this.models.load(req.model, req.ema ?? true);
    try {
      const result = await generateInWorkers(model, {
        count: req.count,
        batchSize: req.batchSize,
        steps: req.steps,
        method: req.method,
        eta: req.eta,
        clipDenoised: req.clipDenoised,
        classes: req.classes,
        seed: req.seed,
        progressEvery: req.progressEvery,
        framesEvery: req.framesEvery,
      }, { onProgress: progress, isCancelled: () => this.closing || this.cancelled.has(id) });
      return await samplesToResult(result, req.format, req.columns, (Date.now() - started) / 1000, await this.backend());
    } catch (err) {
      throw err instanceof EngineError ? err : new EngineError((err as Error).message);
    }
  }

  /** x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε for every image at every requested t (image-major order). */
  noise(request: NoiseRequest): NoiseResult {
    const images = checkRawImages('images', request?.images);
    const diffusion = this.diffusionFor(request.schedule);
    const T = diffusion.numTimesteps;
    const ts = (Array.isArray(request.t) ? request.t : [request.t]).map((t, i) => checkNumber(`t[${i}]`, t, { min: 0, max: T - 1, integer: true }));
    if (ts.length === 0) throw new EngineError('t must be a timestep or a non-empty list of timesteps');
    const [n, h, w, c] = images.shape;
    if (n * ts.length > LIMITS.imagesPerRequest) throw new EngineError(`${n} images × ${ts.length} timesteps is more than ${LIMITS.imagesPerRequest} images`);
    const rng = new Rng(checkNumber('seed', request.seed, { min: 0, max: 2 ** 32 - 1, integer: true, fallback: 0 }));
    const out = tf.tidy(() => {
      const x0 = tf.tensor4d(images.data, images.shape).reshape([n, 1, h, w, c]).tile([1, ts.length, 1, 1, 1]).reshape([n * ts.length, h, w, c]);
      const t = tf.tensor1d(Array.from({ length: n }, () => ts).flat(), 'int32');
      const eps = tf.tensor4d(rng.normalArray(n * ts.length * h * w * c), [n * ts.length, h, w, c]);
      return diffusion.qSample(x0, t, eps).clipByValue(-1, 1);
    });
    const data = out.dataSync() as Float32Array;
    out.dispose();
    diffusion.dispose?.();
    return { images: { shape: [n * ts.length, h, w, c], data: Float32Array.from(data) }, t: ts };
  }

  private diffusionFor(spec: ScheduleSpec) {
    if (!spec || typeof spec !== 'object') throw new EngineError('A schedule is required, e.g. { kind: "cosine", steps: 1000 }');
    const kind = checkChoice('schedule.kind', spec.kind, ['linear', 'cosine'] as const);
    const steps = checkNumber('schedule.steps', spec.steps, { min: 2, max: LIMITS.steps, integer: true });
    try {
      return createDiffusion({
        schedule: { name: kind, steps, cosineS: spec.cosineS, maxBeta: spec.maxBeta },
        modelMeanType: 'epsilon',
        modelVarType: 'fixed_small',
        lossType: 'simple',
      });
    } catch (err) {
      throw new EngineError((err as Error).message);
    }
  }

  /** The schedule's tables for charting (β_t, ᾱ_t, √ᾱ_t, √(1−ᾱ_t), SNR = ᾱ/(1−ᾱ), posterior variance). */
  schedule(spec: ScheduleSpec): ScheduleTables {
    const d = this.diffusionFor(spec);
    const tb = d.tables;
    const list = (a: ArrayLike<number>): number[] => Array.from(a);
    d.dispose?.();
    return {
      kind: spec.kind,
      steps: d.numTimesteps,
      betas: list(tb.betas),
      alphasCumprod: list(tb.alphasCumprod),
      sqrtAlphasCumprod: list(tb.sqrtAlphasCumprod),
      sqrtOneMinusAlphasCumprod: list(tb.sqrtOneMinusAlphasCumprod),
      snr: Array.from(tb.alphasCumprod, (a) => a / (1 - a)),
      posteriorVariance: list(tb.posteriorVariance),
      posteriorLogVarianceClipped: list(tb.posteriorLogVarianceClipped),
    };
  }

  async evaluate(request: EvaluateRequest): Promise<EvaluateResult> {
    const name = checkModelName(request?.model);
    const model = this.models.load(name, request.ema ?? true);
    const config = this.store.readSpec(name).unetConfig as { imageSize: number; inChannels: number };
    try {
      const dataset = await createDataset(datasetSpecFor(checkDataset(request.dataset), config as never));
      const r = await evaluateBpd(model, dataset, {
        count: checkNumber('count', request.count, { min: 1, max: 100_000, integer: true, fallback: 16 }),
        batchSize: request.batchSize,
        seed: request.seed,
        perTimestep: request.perTimestep,
        steps: checkSteps(request.steps),
      }, { isCancelled: () => this.closing });
      return r;
    } catch (err) {
      throw err instanceof EngineError ? err : new EngineError((err as Error).message);
    }
  }

  modelSpec(name: string) {
    checkModelName(name);
    if (!this.store.hasCheckpoint(name)) throw new EngineError(`No trained model named "${name}"`, 'NOT_FOUND');
    return this.store.readSpec(name);
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
