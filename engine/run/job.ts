/**
 * A training job as the engine host runs it: builds the run from the pipeline and options, resumes from the
 * model's checkpoint, and loops over steps, yielding to the event loop between them (so the engine keeps
 * answering sampling and status requests). It sends progress, preview samples and checkpoints as TrainEvents,
 * stops or pauses at step boundaries, and writes a final checkpoint when it stops or finishes. A failed run (a
 * non-finite loss among others) writes nothing: the last checkpoint stays the last good state.
 */
import { backendInfo, initBackend } from '../backend';
import { createDataset } from '../data';
import type { GaussianDiffusion } from '../diffusion';
import { checkPipeline, type CheckedTrainOptions, type CompletePipeline, type JobState, type UNetConfig } from '../spec';
import { generateInWorkers } from '../parallel/sample';
import { gridPng } from '../sample/result';
import type { UNet } from '../unet/model';
import {
  MetricsWindow, ModelStore, Trainer, imageShapeOf, modelSpecOf, resolveTrainRequest, trainingDiffusion, unetConfigFor,
  type TrainProgress,
} from '../train';
import { acquirePool, releasePool, workerCount, type WorkerPool } from '../parallel/pool';
import { ParallelGradients } from '../parallel/train';
import { nextTurn } from '../turn';

export interface JobStatus {
  name: string;
  state: JobState;
  step: number;
  maxSteps: number;
  lastLoss?: number;
  imagesPerSec?: number;
  error?: string;
}

/** What a job reports while it runs (the engine broadcasts them; the Trainer node sends them on). */
export type TrainEvent =
  | { type: 'progress'; name: string; payload: TrainProgress }
  | { type: 'sample'; name: string; step: number; png: Buffer }
  | { type: 'checkpoint'; name: string; step: number; path: string }
  | { type: 'done'; name: string; status: JobStatus }
  | { type: 'error'; name: string; message: string; status: JobStatus };

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
}

/** Steps of the respaced process used for previews: enough for a recognisable sample, quick to run. */
const PREVIEW_STEPS = 25;

export class TrainingJob {
  readonly name: string;
  private readonly pipeline: CompletePipeline;
  private readonly options: CheckedTrainOptions;
  private readonly config: UNetConfig;
  private readonly store: ModelStore;
  private readonly onEvent: (ev: TrainEvent) => void;
  private readonly preview?: PreviewFn;
  private state: JobState = 'starting';
  private error?: string;
  private lastLoss?: number;
  private imagesPerSec?: number;
  private stepCount = 0;
  private stopRequested = false;
  private wake?: () => void;
  private running?: Promise<void>;

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
    return this.running ?? Promise.resolve();
  }

  pause(): void {
    if (this.state === 'running') this.state = 'paused';
  }

  resume(): void {
    if (this.state === 'paused') this.state = 'running';
    this.wake?.();
  }

  status(): JobStatus {
    const s: JobStatus = { name: this.name, state: this.state, step: this.stepCount, maxSteps: this.options.maxSteps };
    if (this.lastLoss !== undefined) s.lastLoss = this.lastLoss;
    if (this.imagesPerSec !== undefined) s.imagesPerSec = this.imagesPerSec;
    if (this.error !== undefined) s.error = this.error;
    return s;
  }

  private async run(): Promise<void> {
    let trainer: Trainer | undefined;
    let pool: WorkerPool | undefined;
    try {
      const backend = (backendInfo() ?? (await initBackend())).name;
      const dataset = await createDataset(this.options.dataset, imageShapeOf(this.config));
      trainer = new Trainer({ pipeline: this.pipeline, config: this.config, options: this.options, diffusion: trainingDiffusion(this.pipeline), dataset });
      const threads = workerCount(backend);
      if (threads > 1) {
        // Data-parallel steps on the worker threads; the trainer keeps the weights, Adam, EMA and all state.
        pool = acquirePool(threads);
        trainer.useGradientSource(await ParallelGradients.start(pool, trainer));
      }
      const createdAt = this.resumeFromCheckpoint(trainer);
      this.stepCount = trainer.step;
      let savedStep = trainer.step;
      if (!this.stopRequested) this.state = 'running';
      const metrics = new MetricsWindow(trainer.parts.diffusion.numTimesteps);
      const { maxSteps, logEvery, sampleEvery, checkpointEvery } = this.options;
      const save = (): void => {
        const spec = modelSpecOf(this.name, this.pipeline, this.config, this.options, trainer!.step, createdAt);
        const path = this.store.saveCheckpoint(this.name, { spec, ...trainer!.stateDicts(), optimizer: trainer!.optimizerRecord(), state: trainer!.trainState() });
        savedStep = trainer!.step;
        this.onEvent({ type: 'checkpoint', name: this.name, step: trainer!.step, path });
      };
      const report = (): void => {
        const progress = metrics.flush(this.name, trainer!.step, backend, trainer!.importanceSummary());
        this.lastLoss = progress.loss;
        this.imagesPerSec = progress.imagesPerSec;
        this.store.appendLog(this.name, progress);
        this.onEvent({ type: 'progress', name: this.name, payload: progress });
      };
      while (!this.stopRequested && (maxSteps === 0 || trainer.step < maxSteps)) {
        if (this.state === 'paused') {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        const r = await trainer.nextStep();
        this.stepCount = r.step;
        metrics.add(r.t, r.weights, r.losses, r.gradNorm);
        if (logEvery > 0 && r.step % logEvery === 0) report();
        if (sampleEvery > 0 && r.step % sampleEvery === 0) await this.sendPreview(trainer);
        if (checkpointEvery > 0 && r.step % checkpointEvery === 0) save();
        await nextTurn();
      }
      if (logEvery > 0 && metrics.stepCount > 0) report();
      if (trainer.step > savedStep) save();
      this.state = this.stopRequested ? 'stopped' : 'done';
      this.onEvent({ type: 'done', name: this.name, status: this.status() });
    } catch (err) {
      this.state = 'failed';
      this.error = (err as Error)?.message ?? String(err);
      this.onEvent({ type: 'error', name: this.name, message: this.error, status: this.status() });
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
    if (!this.options.resume || !this.store.hasCheckpoint(this.name)) return new Date().toISOString();
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
    return stored.createdAt;
  }

  private async sendPreview(trainer: Trainer): Promise<void> {
    const n = this.options.sampleCount;
    if (n <= 0) return;
    const png = this.preview
      ? await this.preview(trainer.ema, trainer.parts.diffusion, n)
      : await this.defaultPreview(trainer, n);
    this.onEvent({ type: 'sample', name: this.name, step: trainer.step, png });
  }

  /**
   * A fixed-seed respaced ancestral sample of the EMA model, so previews of successive steps are comparable; on
   * the worker threads when there are some (each image draws its own noise: the same images as in one thread).
   */
  private async defaultPreview(trainer: Trainer, n: number): Promise<Buffer> {
    const T = this.pipeline.schedule.steps;
    const result = await generateInWorkers(
      { unet: trainer.ema, pipeline: this.pipeline, imageSize: this.config.imageSize, channels: this.config.inChannels, numClasses: this.config.numClasses },
      { count: n, batchSize: n, steps: Math.min(PREVIEW_STEPS, T), seed: this.options.seed },
    );
    return gridPng(result.images);
  }
}
