/**
 * The wire messages between the Node-RED nodes (through the client) and the shared engine process: plain JSON
 * objects, PNG Buffers and Float32Arrays only (tensors never leave the engine). The pipeline's vocabulary and the
 * request bodies are engine/spec's; this file holds what only the wire needs: requests, replies, events, results.
 */
import type {
  ErrorCode, EvaluateRequest, NoiseRequest, PipelineSpec, SampleRequest, ScheduleSpec, TrainControl, TrainOptions,
} from '../spec';
import type { TrainProgress } from '../train/metrics';
import type { JobStatus, TrainEvent } from '../run/job';
import type { NoiseResult, ScheduleChart } from '../run/noise';
import type { SampleResult as SampledImages } from '../sample/result';
import type { EvaluateResult as Likelihood } from '../sample/bpd';
import type { QualityReport } from '../quality';
import type { SampleQuality } from '../run/quality';

export type { TrainProgress, JobStatus, TrainEvent, NoiseResult, ScheduleChart, QualityReport, SampleQuality };

/** A sampling request's answer: the images, and their quality figures when asked (`quality`). */
export type SampleResult = SampledImages & { quality?: QualityReport };
/** An evaluation's answer: bits/dim, and the quality of fresh samples when asked (`quality`). */
export type EvaluateResult = Likelihood & { quality?: SampleQuality };

export interface SampleProgress {
  step: number;
  total: number;
  batch: number;
  batches: number;
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
  | { op: 'cancelSample'; requestId: number }
  | { op: 'noise'; request: NoiseRequest }
  | { op: 'schedule'; spec: ScheduleSpec }
  | { op: 'evaluate'; request: EvaluateRequest }
  | { op: 'modelSpec'; name: string }
  | { op: 'shutdown' };

/** Replies and events the engine process sends back. */
export type EngineReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; code: ErrorCode } }
  | { id: number; progress: SampleProgress }
  | { broadcast: TrainEvent };
