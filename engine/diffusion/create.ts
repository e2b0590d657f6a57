/**
 * `createDiffusion`: builds a process from a plain, JSON-able spec (what the Schedule, UNet and HybridLoss nodes
 * put into `msg.iddpm`), like the reference's `create_gaussian_diffusion`. With `respacing` the process is the
 * SpacedDiffusion over the kept steps (the model still sees the original timesteps).
 */
import { computeTables } from '../schedule/tables';
import { getNamedBetaSchedule, type BetaScheduleName } from '../schedule/betas';
import { respaceBetas, spaceTimesteps } from '../schedule/respace';
import type { Respacing } from '../spec';
import { GaussianDiffusion, type LossType, type ModelMeanType, type ModelVarType } from './gaussianDiffusion';

export interface DiffusionSpec {
  schedule: { name: BetaScheduleName; steps: number; cosineS?: number; maxBeta?: number };
  /** A parsed respacing, "ddimN", "10,15,20", a step count, or an array of section counts; absent/empty = all steps. */
  respacing?: Respacing | string | number | number[];
  /** Default 'epsilon'. */
  modelMeanType?: ModelMeanType;
  /** Default 'learned_range' (IDDPM). */
  modelVarType?: ModelVarType;
  /** Default 'hybrid'. */
  lossType?: LossType;
  hybridLambda?: number;
  rescaleTimesteps?: boolean;
}

/**
 * Unlike the reference, a process without respacing keeps the raw betas instead of re-deriving them through a
 * SpacedDiffusion over all steps (that only adds ~1e-16 of float noise).
 */
export function createDiffusion(spec: DiffusionSpec): GaussianDiffusion {
  if (!spec || typeof spec.schedule !== 'object' || spec.schedule === null) throw new Error('createDiffusion needs a schedule: { name, steps }');
  const { name, steps, cosineS, maxBeta } = spec.schedule;
  const base = getNamedBetaSchedule(name, steps, { cosineS, maxBeta });
  const common = {
    modelMeanType: spec.modelMeanType ?? 'epsilon',
    modelVarType: spec.modelVarType ?? 'learned_range',
    lossType: spec.lossType ?? 'hybrid',
    hybridLambda: spec.hybridLambda,
    rescaleTimesteps: spec.rescaleTimesteps,
  } as const;
  const r = spec.respacing;
  if (r === undefined || r === null || (typeof r === 'string' && r.trim() === '')) return new GaussianDiffusion({ betas: base, ...common });
  const use = spaceTimesteps(steps, r);
  const { betas, timestepMap } = respaceBetas(computeTables(base).alphasCumprod, use);
  return new GaussianDiffusion({ betas, timestepMap, originalNumSteps: steps, ...common });
}
