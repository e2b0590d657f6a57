/**
 * Messages between the engine's main thread and its worker threads. Weights and gradients travel through
 * SharedArrayBuffers (one copy in, one copy out of each wasm heap, nothing cloned on the way); batches, losses
 * and images are small and are cloned or transferred.
 */
import type { CompletePipeline, UNetConfig } from '../spec';
import type { StepBatch, Shard } from '../train/trainer';
import type { PipelineForSampling } from '../sample/process';
import type { GenerateOptions } from '../sample/generate';
import type { EvaluateOptions } from '../sample/bpd';

/** A UNet's parameters, concatenated in state_dict order (engine layout), shared between threads. */
export interface SharedWeights {
  /** Identifies these weights' model in the worker's cache (sampling). */
  key: string;
  /** This snapshot of the weights: a worker that already loaded it does not load it again. */
  snapshot: number;
  config: UNetConfig;
  buffer: SharedArrayBuffer;
}

export type WorkerRequest =
  /** Builds a training replica: its UNet (weights arrive with each step), its process and loss. */
  | { op: 'trainInit'; job: string; config: UNetConfig; pipeline: CompletePipeline; seed: number; batchSize: number; weights: SharedArrayBuffer; grads: SharedArrayBuffer }
  /** Loads the step's weights, computes the shard's gradient into the replica's gradient buffer. */
  | { op: 'trainShard'; job: string; batch: StepBatch; shard: Shard }
  | { op: 'trainFree'; job: string }
  /** Runs the reverse process for images [first, first + count) of a request (options already resolved). */
  | { op: 'sample'; model: SharedWeights; pipeline: PipelineForSampling; options: GenerateOptions & { seed: number }; first: number; count: number; classes?: number[]; cancel: SharedArrayBuffer }
  /** The UNet's output for a batch (evaluation mode). */
  | { op: 'forward'; model: SharedWeights; x: Float32Array; shape: [number, number, number, number]; t: Float32Array }
  /** calcBpdLoop over images [first, first + count) of an evaluation (their pixels and labels sent along). */
  | { op: 'bpd'; model: SharedWeights; pipeline: PipelineForSampling; options: EvaluateOptions & { batchSize: number }; first: number; count: number; x: Float32Array; labels?: number[]; cancel: SharedArrayBuffer }
  /** Times a large matmul on this thread's wasm backend (the bench's measure of the SIMD peak): GFLOP/s. */
  | { op: 'matmulPeak'; size: number; runs: number };

/** What a trainShard request answers (its gradients are in the replica's gradient buffer). */
export interface ShardReply {
  objective: number;
  losses: { loss: Float32Array; mse: Float32Array; vb: Float32Array };
  seen: { mse: boolean; vb: boolean };
  /** Per parameter: whether the shard's objective reaches it (else its slot in the buffer is stale). */
  hasGrad: boolean[];
}

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; name: string } }
  | { id: number; event: unknown };
