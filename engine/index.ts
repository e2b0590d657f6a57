/**
 * Public entry of the engine library: usable without Node-RED.
 * `initBackend()` first; then schedules, the diffusion process, timestep samplers, the UNet, training and sampling.
 */
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
export { evaluateBpd } from './sample/bpd';
export * as image from './image';
export * as data from './data';
export { EngineClient, sharedEngine, type EngineOptions } from './host/client';
export * as protocol from './host/protocol';
export { EngineError, type PipelineSpec, type CompletePipeline, type SampleRequest, type SampleResult, type TrainOptions } from './host/protocol';
