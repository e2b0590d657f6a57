/** Timestep samplers: uniform and loss-second-moment importance sampling. */
export * from './samplers';
