/** Noise schedules: named beta schedules, the derived float64 tables, and respacing. */
export * from './betas';
export * from './tables';
export * from './respace';
