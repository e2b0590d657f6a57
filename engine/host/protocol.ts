/**
 * The wire messages between the Node-RED nodes (through the client) and the shared engine process: plain JSON
 * objects, PNG Buffers and Float32Arrays only (tensors never leave the engine). The pipeline's vocabulary and the
 * request bodies are engine/spec's; this file holds what only the wire needs: requests, replies, events, results.
 */
import type {
  ErrorCode, EvaluateRequest, ImportReferenceRequest, NoiseRequest, PipelineSpec, SampleRequest, SampleState, ScheduleSpec,
  TrainControl,
  TrainOptions,
} from '../spec';
import type { TimestepCurves, TrainProgress } from '../train/metrics';
import type { ModelSummary } from '../train/summary';
import type { JobStatus, TrainEvent } from '../run/job';
import type { NoiseResult, ScheduleChart } from '../run/noise';
import type { SampleResult as SampledImages } from '../sample/result';
import type { EvaluateResult as Likelihood } from '../sample/bpd';
import type { ImportReferenceResult } from '../run/import-reference';
import type { QualityReport } from '../quality';
import type { SampleQuality } from '../run/quality';

export type {
  TrainProgress, TimestepCurves, JobStatus, TrainEvent, NoiseResult, ScheduleChart, ModelSummary, ImportReferenceResult,
  QualityReport, SampleQuality,
};

/** A sampling request's answer: the images, and their quality figures when asked (`quality`). */
export type SampleResult = SampledImages & { quality?: QualityReport };
/** An evaluation's answer: bits/dim, and the quality of fresh samples when asked (`quality`). */
export type EvaluateResult = Likelihood & { quality?: SampleQuality };

/**
 * How an engine is set up (Node-RED settings iddpmModelsDir, iddpmBackend, iddpmDataDirs, iddpmMaxRequestCost,
 * iddpmRequestTimeout; engine/spec ENGINE_DEFAULTS for what is left out).
 */
export interface EngineSettings {
  /** Where models are stored (`<userDir>/iddpm/models` in Node-RED). */
  modelsDir: string;
  /** Backend request: auto (default), tensorflow, wasm, cpu. */
  backend?: string;
  /** The folders training data may be read from (a `folder` dataset); none = no folder datasets. */
  dataDirs?: string[];
  /** The only folders importReference reads from (`<userDir>/iddpm/import` in Node-RED; default beside modelsDir). */
  importDirs?: readonly string[];
  /** Sampling requests waiting at most (more are refused with QUEUE_FULL). */
  maxQueue?: number;
  /** Largest cost of one sampling or evaluation request, image-steps × million parameters (TOO_LARGE beyond). */
  maxRequestCost?: number;
  /** Seconds one sampling or evaluation request may run (then TIMEOUT). */
  requestTimeoutSeconds?: number;
}

export interface SampleProgress {
  step: number;
  total: number;
  batch: number;
  batches: number;
}

/** A sampling request in the engine's queue (the running one first), for the editor's Sampling list. */
export interface SampleQueueEntry {
  /** The id `cancelSample` takes. */
  id: number;
  state: SampleState;
  model: string;
  count: number;
  /** The respacing as text, absent for the full T. */
  steps?: string;
  method: string;
  /** Made again from a PNG's provenance. */
  regenerate?: boolean;
  /** Step k of K in batch b (0-based) of B, once it runs. */
  progress?: SampleProgress;
  /** ms since the epoch. */
  queuedAt: number;
  startedAt?: number;
}

/** One line of a model's training log, for charts of its history. */
export interface TrainLogPoint {
  step: number;
  loss: number;
  mse?: number;
  vb?: number;
  lossQuartiles?: Array<number | null>;
  imagesPerSec?: number;
}

export interface EngineInfo {
  backend: string;
  pid: number;
  modelsDir: string;
  models: string[];
  jobs: JobStatus[];
}

/** Requests the client sends; `id` pairs each reply with its request. */
export type EngineRequest =
  | { op: 'info' }
  | { op: 'train'; name: string; pipeline: PipelineSpec; options: TrainOptions }
  | { op: 'control'; name: string; action: TrainControl }
  | { op: 'status'; name: string }
  | { op: 'sample'; request: SampleRequest }
  /** Draws the images of a PNG made by the engine again, from its provenance. */
  | { op: 'regenerate'; png: Uint8Array }
  | { op: 'cancelSample'; requestId: number }
  | { op: 'sampleQueue' }
  | { op: 'models' }
  /** A model's training log, at most `points` lines (evenly thinned, the last kept). */
  | { op: 'trainLog'; name: string; points?: number }
  | { op: 'noise'; request: NoiseRequest }
  | { op: 'schedule'; spec: ScheduleSpec }
  | { op: 'evaluate'; request: EvaluateRequest }
  | { op: 'modelSpec'; name: string }
  | { op: 'importReference'; request: ImportReferenceRequest }
  | { op: 'shutdown' };

/** Replies and events the engine process sends back. */
export type EngineReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; code: ErrorCode } }
  | { id: number; progress: SampleProgress }
  | { broadcast: TrainEvent }
  /** The sampling queue changed (a request came, started, moved on, ended). */
  | { queue: SampleQueueEntry[] };
