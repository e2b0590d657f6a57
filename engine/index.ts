/**
 * Public entry of the engine library: usable without Node-RED.
 * `initBackend()` first; then schedules, the diffusion process, timestep samplers, the UNet, training and sampling.
 * docs/architecture.md describes the layers.
 */
export * as spec from './spec';
export { EngineError, type PipelineSpec, type CompletePipeline, type SampleRequest, type TrainOptions, type ModelSpec } from './spec';
export * from './backend';
export { tf } from './tf';
export { Rng } from './rng';
export * from './schedule';
export * from './diffusion';
export * from './timesteps';
export { UNet } from './unet/model';
export { PRESETS, PRESET_NAMES, resolveUNetConfig } from './unet/presets';
export type { UNetConfig } from './unet/config';
export * from './train';
export { generate, type GenerateOptions, type GenerateResult, type SamplingModel } from './sample/generate';
export { evaluateBpd, calcBpdLoop, standardErrorOf, type EvaluateResult, type BpdTerms } from './sample/bpd';
export type { SampleResult } from './sample/result';
export { TrainingJob, type TrainingJobInit, type JobStatus, type TrainEvent } from './run/job';
export { importReferenceCheckpoint, type ImportReferenceOptions, type ImportReferenceResult } from './run/import-reference';
export { exportRecipe, readRecipeArchitecture, type ExportRecipeOptions, type ExportRecipeResult } from './run/export-recipe';
export * as interop from './interop';
export * as image from './image';
export * as data from './data';
export { EngineClient, sharedEngine, type EngineOptions } from './host/client';
export * as protocol from './host/protocol';
