/** The improved-diffusion UNet: config and presets, the model, and its reference-format (PyTorch) weights. */
export { validateUNetConfig, fromReferenceConfig, toReferenceConfig, levelSizes } from './config';
export type { UNetConfig, ReferenceUNetConfig } from './config';
export { PRESETS, PRESET_NAMES, resolveUNetConfig } from './presets';
export type { PresetName, UNetConfigInput } from './presets';
export { UNet } from './model';
export type { ApplyOptions, CreateOptions } from './model';
export { buildLayout, parameterCount } from './layout';
export type { ParamSpec, ParamKind } from './layout';
