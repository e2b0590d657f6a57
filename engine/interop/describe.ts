/**
 * What the reference builds for one of our pipelines, described without building it: the UNet's state_dict
 * (names, order and PyTorch shapes, from engine/unet/layout.ts, which allocates nothing), its parameter count, and
 * the diffusion process as the reference's SpacedDiffusion holds it (enum names, T, the betas as used).
 * Pure float64 arithmetic on engine/schedule; no tf.
 */
import type { CompletePipeline } from '../spec';
import { computeTables, getNamedBetaSchedule, respaceBetas, spaceTimesteps } from '../schedule';
import type { UNetConfig } from '../unet/config';
import { buildLayout } from '../unet/layout';
import { unetConfigOf } from './flags';
import {
  REFERENCE_VAR_TYPE, ReferenceLossType, ReferenceMeanType, ReferenceVarType, referenceLossType,
} from './mapping';

export interface StateDictEntry {
  name: string;
  shape: number[];
}

/** The reference UNetModel's state_dict entries for `config`, in registration order, PyTorch shapes. */
export function referenceStateDict(config: UNetConfig): StateDictEntry[] {
  return buildLayout(config).params.map((p) => ({ name: p.name, shape: [...p.torchShape] }));
}

/** Number of parameters in state_dict entries. */
export function parameterCount(entries: readonly StateDictEntry[]): number {
  return entries.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
}

/** The reference process as `SpacedDiffusion` holds it. */
export interface ReferenceProcess {
  numTimesteps: number;
  originalNumSteps: number;
  modelMeanType: ReferenceMeanType;
  modelVarType: ReferenceVarType;
  lossType: ReferenceLossType;
  rescaleTimesteps: boolean;
  /** β of the process as used: re-derived from ᾱ over the kept steps (all T when not respaced). */
  betas: Float64Array;
  /** Original timestep of each step. */
  timestepMap: number[];
}

/**
 * The process the reference runs for `pipeline`, respaced by `respacing` (the flag's text, e.g. "250" or
 * "ddim50"; null for all steps). create_gaussian_diffusion always wraps the betas in a SpacedDiffusion, which
 * re-derives them as 1 − ᾱ_t/ᾱ_prev even over all T steps, so that is done here too (it moves a beta by ~1e-16).
 * Throws when the reference has no loss equal to the pipeline's.
 */
export function referenceProcess(pipeline: CompletePipeline, respacing: string | null = null): ReferenceProcess {
  const { kind, steps, cosineS, maxBeta } = pipeline.schedule;
  const loss = referenceLossType(pipeline.loss, pipeline.unet.modelVarType, steps);
  if (loss.reason !== undefined) throw new Error(loss.reason);
  const base = getNamedBetaSchedule(kind, steps, { cosineS, maxBeta });
  const kept = respacing === null || respacing === '' ? Array.from({ length: steps }, (_, t) => t) : spaceTimesteps(steps, respacing);
  const { betas, timestepMap } = respaceBetas(computeTables(base).alphasCumprod, kept);
  return {
    numTimesteps: betas.length,
    originalNumSteps: steps,
    modelMeanType: pipeline.noiser.modelMeanType === 'start_x' ? 'START_X' : 'EPSILON',
    modelVarType: REFERENCE_VAR_TYPE[pipeline.unet.modelVarType],
    lossType: loss.value,
    rescaleTimesteps: pipeline.noiser.rescaleTimesteps ?? true,
    betas,
    timestepMap,
  };
}

/** A pipeline's UNet config and its reference description in one call. */
export function referenceModel(pipeline: CompletePipeline): { config: UNetConfig; stateDict: StateDictEntry[]; numParameters: number } {
  const config = unetConfigOf(pipeline.unet);
  const stateDict = referenceStateDict(config);
  return { config, stateDict, numParameters: parameterCount(stateDict) };
}
