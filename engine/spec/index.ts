/** The pipeline's vocabulary: kinds, defaults, limits, types, respacing and the validators (browser-safe). */
export * from './kinds';
export * from './errors';
export * from './limits';
export * from './defaults';
export * from './types';
export * from './unet';
export * from './respacing';
export * from './rules';
export * from './messages';
export * from './fields';
export * from './validate';
export * from './provenance';
export * from './interop';
