/** The diffusion process: forward process, posterior, reverse step, losses and bits/dim. */
export * from './gaussianDiffusion';
export * from './losses';
export * from './stopGradient';
export * from './create';
