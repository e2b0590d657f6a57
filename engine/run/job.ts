/**
 * A training job as the engine host runs it: builds the run from the pipeline and options, resumes from the
 * model's checkpoint, and loops over steps, yielding to the event loop between them (so the engine keeps
 * answering sampling and status requests) and taking its turns on the threads through the work share
 * (engine/parallel/share.ts), so sampling requests are not starved. It sends its phase while it starts, progress
 * (with step of max, pace, ETA and the curves over t), preview samples and checkpoints as TrainEvents, stops or
 * pauses at step boundaries, and writes a final checkpoint when it stops or finishes. A failed run (a non-finite
 * loss among others) writes nothing: the last checkpoint stays the last good state.
 *
 * Previews: the first after ENGINE_DEFAULTS.firstPreviewSeconds of training or at step `sampleEvery`, whichever
 * comes first, then every `sampleEvery` steps.
 */
import { backendInfo, initBackend } from '../backend';
import { createDataset } from '../data';
import type { GaussianDiffusion } from '../diffusion';
import {
  ENGINE_DEFAULTS, checkPipeline, codeOf, type CheckedTrainOptions, type CompletePipeline, type ErrorCode, type JobPhase,
  type JobState, type UNetConfig,
} from '../spec';
import type { UNet } from '../unet/model';
import {
  MetricsWindow, ModelStore, StepClock, TimestepLosses, Trainer, imageShapeOf, modelSpecOf, resolveTrainRequest,
  trainingDiffusion, unetConfigFor, type TrainProgress,
} from '../train';
import { acquirePool, releasePool, workerCount, type WorkerPool } from '../parallel/pool';
import { ParallelGradients } from '../parallel/train';
import { workShare } from '../parallel/share';
import { nextTurn } from '../turn';
import { drawPreview, type PreviewFrame } from './preview';
import { folderUnder } from './paths';

export interface JobStatus {
  name: string;
  state: JobState;
  /** What it is doing now (while it starts: loading the dataset, building the model, …). */
  phase?: JobPhase;
  step: number;
  maxSteps: number;
  lastLoss?: number;
  imagesPerSec?: number;
  stepsPerSec?: number;
  /** Seconds until maxSteps at the recent pace. */
  etaSeconds?: number;
  /** The step of the last preview. */
  previewStep?: number;
  startedAt?: string;
  error?: string;
}

/** What a job reports while it runs (the engine broadcasts them; the Trainer node sends them on). */
export type TrainEvent =
  | { type: 'status'; name: string; status: JobStatus }
  | { type: 'progress'; name: string; payload: TrainProgress }
  | { type: 'sample'; name: string; step: number; png: Buffer; frames?: PreviewFrame[] }
  | { type: 'checkpoint'; name: string; step: number; path: string }
  | { type: 'done'; name: string; status: JobStatus }
  /** `code`: BAD_REQUEST when the run failed on the user's data or settings, else INTERNAL (engine/spec codeOf). */
  | { type: 'error'; name: string; message: string; code: ErrorCode; status: JobStatus };

/** Renders `n` preview samples from the EMA model as one PNG. */
export type PreviewFn = (ema: UNet, diffusion: GaussianDiffusion, n: number) => Promise<Buffer>;

export interface TrainingJobInit {
  name: string;
  /** Checked here (engine/spec): any JSON a flow or library caller sends. */
  pipeline: unknown;
  options: unknown;
  store: ModelStore;
  onEvent?: (ev: TrainEvent) => void;
  /** Replaces the default preview (a 25-step respaced ancestral sample of the EMA model). */
  preview?: PreviewFn;
  /**
   * The folders a `folder` dataset may be read from (engine/run/paths folderUnder): the engine passes its
   * configured ones; absent (a library caller's own job) the path is used as given.
   */
  dataDirs?: readonly string[];
}

export class TrainingJob {
  readonly name: string;
  private readonly pipeline: CompletePipeline;
  private readonly options: CheckedTrainOptions;
  private readonly config: UNetConfig;
  private readonly store: ModelStore;
  private readonly onEvent: (ev: TrainEvent) => void;
  private readonly preview?: PreviewFn;
  private state: JobState = 'starting';
  private phase: JobPhase = 'loading-dataset';
  private readonly startedAt = new Date().toISOString();
  private readonly clock = new StepClock();
  private error?: string;
  private lastLoss?: number;
  private imagesPerSec?: number;
  private previewStep?: number;
  private stepCount = 0;
  private stopRequested = false;
  private wake?: () => void;
  private running?: Promise<void>;
  /** model.json's `source` of the checkpoint resumed from (an import), kept in the checkpoints this run writes. */
  private source?: Record<string, unknown>;

  /** Validates everything that can be checked without loading data; throws an error naming the bad setting. */
  constructor(init: TrainingJobInit) {
    const { pipeline, options } = resolveTrainRequest(init.name, init.pipeline, init.options);
    this.name = init.name;
    this.pipeline = pipeline;
    this.options = options;
    this.config = unetConfigFor(pipeline.unet);
    this.store = init.store;
    this.store.modelDir(init.name);
    this.onEvent = init.onEvent ?? (() => undefined);
    this.preview = init.preview;
    const d = options.dataset;
    // Checked now, so a folder outside the data folders is refused with the request, not as a failed run.
    if (d.kind === 'folder' && init.dataDirs) d.path = folderUnder(init.dataDirs, d.path ?? '');
  }

  /** Runs the job; resolves when it has finished, stopped or failed (see status()). */
  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  /** Asks the job to stop at the next step boundary (it then checkpoints); resolves when it has ended. */
  stop(): Promise<void> {
    this.stopRequested = true;
    if (this.state === 'running' || this.state === 'paused') this.state = 'stopping';
    this.wake?.();
    this.announce();
    return this.running ?? Promise.resolve();
  }

  pause(): void {
    if (this.state === 'running') this.state = 'paused';
    this.announce();
  }

  resume(): void {
    if (this.state === 'paused') {
      this.state = 'running';
      this.clock.reset();
    }
    this.wake?.();
    this.announce();
  }

  status(): JobStatus {
    const s: JobStatus = { name: this.name, state: this.state, phase: this.phase, step: this.stepCount, maxSteps: this.options.maxSteps, startedAt: this.startedAt };
    if (this.lastLoss !== undefined) s.lastLoss = this.lastLoss;
    if (this.imagesPerSec !== undefined) s.imagesPerSec = this.imagesPerSec;
    const pace = this.clock.stepsPerSec();
    if (pace !== undefined) s.stepsPerSec = pace;
    const eta = this.state === 'running' ? this.clock.eta(this.stepCount, this.options.maxSteps) : undefined;
    if (eta !== undefined) s.etaSeconds = eta;
    if (this.previewStep !== undefined) s.previewStep = this.previewStep;
    if (this.error !== undefined) s.error = this.error;
    return s;
  }

  /** Tells listeners the job's state or phase changed. */
  private announce(): void {
    this.onEvent({ type: 'status', name: this.name, status: this.status() });
  }

  private enter(phase: JobPhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.announce();
  }

  private async run(): Promise<void> {
    let trainer: Trainer | undefined;
    let pool: WorkerPool | undefined;
    try {
      this.announce();
      const backend = (backendInfo() ?? (await initBackend())).name;
      const dataset = await createDataset(this.options.dataset, imageShapeOf(this.config));
      this.enter('building-model');
      await nextTurn(); // the status goes out before the (synchronous) build
      trainer = new Trainer({ pipeline: this.pipeline, config: this.config, options: this.options, diffusion: trainingDiffusion(this.pipeline), dataset });
      const threads = workerCount(backend);
      if (threads > 1) {
        // Data-parallel steps on the worker threads; the trainer keeps the weights, Adam, EMA and all state.
        this.enter('starting-workers');
        pool = acquirePool(threads);
        trainer.useGradientSource(await ParallelGradients.start(pool, trainer));
      }
      if (this.options.resume && this.store.hasCheckpoint(this.name)) this.enter('resuming');
      const createdAt = this.resumeFromCheckpoint(trainer);
      this.stepCount = trainer.step;
      let savedStep = trainer.step;
      if (!this.stopRequested) this.state = 'running';
      this.enter('first-step');
      const T = trainer.parts.diffusion.numTimesteps;
      const metrics = new MetricsWindow(T);
      const overT = new TimestepLosses(T, ENGINE_DEFAULTS.timestepHistory);
      const { maxSteps, logEvery, sampleEvery, checkpointEvery } = this.options;
      const uniformProb = this.pipeline.timesteps.kind === 'importance' ? this.pipeline.timesteps.uniformProb : undefined;
      const save = (): void => {
        this.enter('checkpoint');
        const spec = { ...modelSpecOf(this.name, this.pipeline, this.config, this.options, trainer!.step, createdAt), ...(this.source ? { source: this.source } : {}) };
        const path = this.store.saveCheckpoint(this.name, { spec, ...trainer!.stateDicts(), optimizer: trainer!.optimizerRecord(), state: trainer!.trainState() });
        savedStep = trainer!.step;
        this.onEvent({ type: 'checkpoint', name: this.name, step: trainer!.step, path });
        this.enter('training');
      };
      const report = (): void => {
        const { curves: _curves, ...record } = this.progress(metrics.flush(this.name, trainer!.step, backend, trainer!.importanceSummary()));
        this.lastLoss = record.loss;
        this.imagesPerSec = record.imagesPerSec;
        this.store.appendLog(this.name, record);
        const curves = overT.curves(ENGINE_DEFAULTS.curvePoints, trainer!.timestepSampler.weights(), uniformProb);
        this.onEvent({ type: 'progress', name: this.name, payload: { ...record, curves } });
      };
      // Training time (pauses excluded) until the first preview is due.
      let firstPreviewIn = ENGINE_DEFAULTS.firstPreviewSeconds * 1000;
      while (!this.stopRequested && (maxSteps === 0 || trainer.step < maxSteps)) {
        if (this.state === 'paused') {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        const began = performance.now();
        const r = await workShare().trainStep(() => trainer!.nextStep());
        this.stepCount = r.step;
        this.clock.tick();
        this.enter('training');
        metrics.add(r.t, r.weights, r.losses, r.gradNorm);
        overT.add(r.t, r.losses);
        firstPreviewIn -= performance.now() - began;
        if (logEvery > 0 && r.step % logEvery === 0) report();
        const previewDue = sampleEvery > 0 && (r.step % sampleEvery === 0 || (this.previewStep === undefined && firstPreviewIn <= 0));
        if (previewDue) await this.sendPreview(trainer);
        if (checkpointEvery > 0 && r.step % checkpointEvery === 0) save();
        await nextTurn();
      }
      if (logEvery > 0 && metrics.stepCount > 0) report();
      if (trainer.step > savedStep) save();
      this.state = this.stopRequested ? 'stopped' : 'done';
      this.phase = 'finished';
      this.onEvent({ type: 'done', name: this.name, status: this.status() });
    } catch (err) {
      this.state = 'failed';
      this.phase = 'finished';
      this.error = (err as Error)?.message ?? String(err);
      this.onEvent({ type: 'error', name: this.name, message: this.error, code: codeOf(err), status: this.status() });
    } finally {
      trainer?.dispose();
      if (pool) releasePool(pool);
    }
  }

  /**
   * Continues from the stored checkpoint when asked (default) and one exists. Returns the model's creation time.
   * A checkpoint of a different architecture or process cannot be continued: the error says what differs.
   */
  private resumeFromCheckpoint(trainer: Trainer): string {
    if (!this.options.resume || !this.store.hasCheckpoint(this.name)) {
      // A run from step 0: drop what an earlier run logged (one that died before its first checkpoint, or the
      // run this one starts over).
      this.store.truncateLog(this.name, 0);
      return new Date().toISOString();
    }
    const ckpt = this.store.loadCheckpoint(this.name, { training: true });
    const stored = ckpt.spec;
    const differs = (what: string, a: unknown, b: unknown): void => {
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        throw new Error(`Cannot resume model "${this.name}": its checkpoint (step ${stored.step}) has a different ${what} (${JSON.stringify(a)} vs ${JSON.stringify(b)}); use a new model name or set resume to false to start over`);
      }
    };
    differs('UNet architecture', stored.unetConfig, this.config);
    const storedPipeline = checkPipeline(stored.pipeline);
    differs('schedule', storedPipeline.schedule, this.pipeline.schedule);
    differs('timestep sampler', storedPipeline.timesteps, this.pipeline.timesteps);
    try {
      trainer.restore(ckpt);
    } catch (err) {
      throw new Error(`Cannot resume model "${this.name}" from its checkpoint at step ${stored.step}: ${(err as Error).message}`);
    }
    this.store.truncateLog(this.name, trainer.step);
    this.source = stored.source;
    return stored.createdAt;
  }

  /** A progress record with the run's step of max, pace and ETA. */
  private progress(p: TrainProgress): TrainProgress {
    const out: TrainProgress = { ...p, maxSteps: this.options.maxSteps, phase: this.phase };
    const pace = this.clock.stepsPerSec();
    if (pace !== undefined) out.stepsPerSec = pace;
    const eta = this.clock.eta(p.step, this.options.maxSteps);
    if (eta !== undefined) out.etaSeconds = eta;
    return out;
  }

  private async sendPreview(trainer: Trainer): Promise<void> {
    const n = this.options.sampleCount;
    if (n <= 0) return;
    this.enter('preview');
    this.previewStep = trainer.step;
    if (this.preview) {
      this.onEvent({ type: 'sample', name: this.name, step: trainer.step, png: await this.preview(trainer.ema, trainer.parts.diffusion, n) });
    } else {
      const { png, frames } = await drawPreview(trainer.ema, this.name, this.pipeline, this.config, trainer.step, n, this.options.seed);
      this.onEvent({ type: 'sample', name: this.name, step: trainer.step, png, frames });
    }
    this.enter('training');
  }
}
