/**
 * The reference's settings ↔ our pipeline vocabulary, one part at a time, both ways. Each `…For…` function
 * towards the reference returns the setting, or a `reason` why the reference cannot express ours.
 *
 * Variance (gaussian_diffusion.ModelVarType, from create_gaussian_diffusion):
 *   learn_sigma → LEARNED_RANGE = learned_range; else sigma_small → FIXED_SMALL = fixed_small, else FIXED_LARGE =
 *   fixed_large. Our `learned` (log σ² directly) is the reference's LEARNED, which no flag selects.
 *
 * Loss (gaussian_diffusion.LossType; `training_losses`): use_kl → RESCALED_KL (vb·T) whatever
 * rescale_learned_sigmas says (create_gaussian_diffusion never builds plain KL); else rescale_learned_sigmas →
 * RESCALED_MSE = mse + vb·T/1000, else MSE = mse + vb, where vb exists only for a learned variance. Ours
 * (engine/diffusion/gaussianDiffusion.ts): `rescaled-kl` = vb·T, `kl` = vb, `hybrid` = mse + vb·λ·T (vb only for a
 * learned variance), `simple` = mse. So RESCALED_KL = rescaled-kl; RESCALED_MSE = hybrid with λ = 0.001;
 * MSE = hybrid with λ = 1/T when the variance is learned, simple when it is fixed; KL = kl (no flag).
 * Inexpressible in the reference: `simple` with a learned variance (the variance would get no training
 * signal) and `hybrid` with a learned variance and any other λ (which the launcher still trains, with its
 * HybridDiffusion: engine/interop/launcher.ts).
 */
import { learnsSigma, type LossSpec, type ModelVarType, type ScheduleSpec, type TimestepsSpec } from '../spec';

export type ReferenceMeanType = 'EPSILON' | 'START_X';
export type ReferenceVarType = 'LEARNED' | 'FIXED_SMALL' | 'FIXED_LARGE' | 'LEARNED_RANGE';
export type ReferenceLossType = 'MSE' | 'RESCALED_MSE' | 'KL' | 'RESCALED_KL';

/** A setting the reference can take, or why it cannot. */
export type Expressed<T> = { value: T; reason?: undefined } | { value?: undefined; reason: string };

/** λ of the hybrid loss that RESCALED_MSE amounts to (vb·T/1000 = vb·λ·T). */
export const RESCALED_MSE_LAMBDA = 0.001;
/** The cosine schedule's constants, fixed in the reference's get_named_beta_schedule. */
export const REFERENCE_COSINE = { cosineS: 0.008, maxBeta: 0.999 } as const;
/** LossSecondMomentResampler's defaults (resample.py), which create_named_schedule_sampler uses. */
export const REFERENCE_LOSS_SECOND_MOMENT = { history: 10, uniformProb: 0.001 } as const;

export const REFERENCE_VAR_TYPE: Record<ModelVarType, ReferenceVarType> = {
  learned_range: 'LEARNED_RANGE', learned: 'LEARNED', fixed_small: 'FIXED_SMALL', fixed_large: 'FIXED_LARGE',
};

export function varTypeFromFlags(learnSigma: boolean, sigmaSmall: boolean): ModelVarType {
  return learnSigma ? 'learned_range' : sigmaSmall ? 'fixed_small' : 'fixed_large';
}

export function flagsForVarType(t: ModelVarType): Expressed<{ learn_sigma: boolean; sigma_small: boolean }> {
  switch (t) {
    case 'learned_range': return { value: { learn_sigma: true, sigma_small: false } };
    case 'fixed_small': return { value: { learn_sigma: false, sigma_small: true } };
    case 'fixed_large': return { value: { learn_sigma: false, sigma_small: false } };
    default: return { reason: `model variance "${t}" is the reference's ModelVarType.LEARNED, which no flag of image_train.py selects (learn_sigma gives LEARNED_RANGE)` };
  }
}

/** The reference's LossType as create_gaussian_diffusion picks it from the flags. */
export function lossTypeFromFlags(useKl: boolean, rescaleLearnedSigmas: boolean): ReferenceLossType {
  return useKl ? 'RESCALED_KL' : rescaleLearnedSigmas ? 'RESCALED_MSE' : 'MSE';
}

/** Our loss equal to a reference LossType for a process of T steps with variance type `varType`. */
export function lossFromReference(lossType: ReferenceLossType, varType: ModelVarType, T: number): LossSpec {
  switch (lossType) {
    case 'RESCALED_KL': return { kind: 'rescaled-kl', lambda: RESCALED_MSE_LAMBDA };
    case 'KL': return { kind: 'kl', lambda: RESCALED_MSE_LAMBDA };
    case 'RESCALED_MSE': return { kind: 'hybrid', lambda: RESCALED_MSE_LAMBDA };
    case 'MSE': return learnsSigma(varType) ? { kind: 'hybrid', lambda: 1 / T } : { kind: 'simple', lambda: RESCALED_MSE_LAMBDA };
  }
}

/** The reference LossType equal to our loss (see the table above), for a process of T steps. */
export function referenceLossType(loss: LossSpec, varType: ModelVarType, T: number): Expressed<ReferenceLossType> {
  const learned = learnsSigma(varType);
  switch (loss.kind) {
    case 'rescaled-kl': return { value: 'RESCALED_KL' };
    case 'kl': return { value: 'KL' };
    case 'simple':
      return learned
        ? { reason: 'loss "simple" with a learned variance trains the variance with nothing; every reference objective trains it (MSE/RESCALED_MSE add the vb term)' }
        : { value: 'MSE' };
    case 'hybrid':
      if (!learned || loss.lambda === RESCALED_MSE_LAMBDA) return { value: 'RESCALED_MSE' };
      if (Math.abs(loss.lambda * T - 1) < 1e-12) return { value: 'MSE' };
      return { reason: `hybrid λ = ${loss.lambda}: the reference weighs the vb term by T/1000 (RESCALED_MSE, λ = 0.001) or 1 (MSE, λ = 1/T = ${1 / T}) only` };
    default:
      return { reason: `unknown loss kind ${JSON.stringify((loss as LossSpec).kind)}` };
  }
}

/**
 * What a loss computes, in one canonical form: the per-example loss is mseWeight·mse + vbWeight·vb. Two
 * settings with the same objective train identically: e.g. MSE and RESCALED_MSE at T = 1000, or any of them with a
 * fixed variance (no vb term).
 */
export function objectiveOf(loss: LossSpec, varType: ModelVarType, T: number): { mseWeight: number; vbWeight: number } {
  const learned = learnsSigma(varType);
  switch (loss.kind) {
    case 'kl': return { mseWeight: 0, vbWeight: 1 };
    case 'rescaled-kl': return { mseWeight: 0, vbWeight: T };
    case 'simple': return { mseWeight: 1, vbWeight: 0 };
    case 'hybrid': return { mseWeight: 1, vbWeight: learned ? loss.lambda * T : 0 };
    default: throw new Error(`unknown loss kind ${JSON.stringify((loss as LossSpec).kind)}`);
  }
}

/** Whether two losses compute the same objective (vb weights equal to 1e-12 relative). */
export function sameObjective(a: LossSpec, b: LossSpec, varType: ModelVarType, T: number): boolean {
  const x = objectiveOf(a, varType, T);
  const y = objectiveOf(b, varType, T);
  return x.mseWeight === y.mseWeight && Math.abs(x.vbWeight - y.vbWeight) <= 1e-12 * Math.max(1, Math.abs(y.vbWeight));
}

/** use_kl / rescale_learned_sigmas for a LossType; plain KL has no flags. */
export function flagsForLossType(t: ReferenceLossType): Expressed<{ use_kl: boolean; rescale_learned_sigmas: boolean }> {
  switch (t) {
    case 'RESCALED_KL': return { value: { use_kl: true, rescale_learned_sigmas: true } };
    case 'RESCALED_MSE': return { value: { use_kl: false, rescale_learned_sigmas: true } };
    case 'MSE': return { value: { use_kl: false, rescale_learned_sigmas: false } };
    case 'KL': return { reason: 'loss "kl" (vb unscaled) is LossType.KL, which create_gaussian_diffusion never builds (use_kl gives RESCALED_KL = our rescaled-kl)' };
  }
}

/** `--schedule_sampler` → our timestep sampler (create_named_schedule_sampler). */
export function timestepsFromSampler(name: string): TimestepsSpec {
  if (name === 'uniform') return { kind: 'uniform' };
  if (name === 'loss-second-moment') return { kind: 'importance', ...REFERENCE_LOSS_SECOND_MOMENT };
  throw new Error(`--schedule_sampler ${JSON.stringify(name)}: the reference knows "uniform" and "loss-second-moment" only`);
}

/** The named sampler, with its settings (a launcher can pass others than the defaults; the flag cannot). */
export interface SamplerChoice {
  name: 'uniform' | 'loss-second-moment';
  history: number;
  uniformProb: number;
  /** create_named_schedule_sampler builds exactly this sampler. */
  byName: boolean;
}

export function samplerForTimesteps(t: TimestepsSpec): SamplerChoice {
  if (t.kind === 'uniform') return { name: 'uniform', ...REFERENCE_LOSS_SECOND_MOMENT, byName: true };
  const history = t.history ?? REFERENCE_LOSS_SECOND_MOMENT.history;
  const uniformProb = t.uniformProb ?? REFERENCE_LOSS_SECOND_MOMENT.uniformProb;
  const byName = history === REFERENCE_LOSS_SECOND_MOMENT.history && uniformProb === REFERENCE_LOSS_SECOND_MOMENT.uniformProb;
  return { name: 'loss-second-moment', history, uniformProb, byName };
}

/** `--noise_schedule` / `--diffusion_steps` → our schedule (cosine with the reference's fixed constants). */
export function scheduleFromFlags(noiseSchedule: string, steps: number): ScheduleSpec {
  if (noiseSchedule === 'linear') return { kind: 'linear', steps };
  if (noiseSchedule === 'cosine') return { kind: 'cosine', steps, ...REFERENCE_COSINE };
  throw new Error(`--noise_schedule ${JSON.stringify(noiseSchedule)}: the reference knows "linear" and "cosine" only`);
}

/** Whether get_named_beta_schedule builds our schedule (the cosine constants are fixed there). */
export function namedScheduleFor(s: ScheduleSpec): Expressed<{ noise_schedule: string; diffusion_steps: number }> {
  if (s.kind === 'cosine') {
    const cosineS = s.cosineS ?? REFERENCE_COSINE.cosineS;
    const maxBeta = s.maxBeta ?? REFERENCE_COSINE.maxBeta;
    if (cosineS !== REFERENCE_COSINE.cosineS || maxBeta !== REFERENCE_COSINE.maxBeta) {
      return { reason: `cosine schedule with s = ${cosineS}, max β = ${maxBeta}: the reference's named cosine schedule fixes s = 0.008, max β = 0.999` };
    }
  }
  return { value: { noise_schedule: s.kind, diffusion_steps: s.steps } };
}
