/**
 * The diffusion process a model is sampled or evaluated with: the pipeline it was trained with, optionally
 * respaced to fewer steps (respace.py's SpacedDiffusion). A respaced process is a GaussianDiffusion built from
 * the respaced betas β', so a learned variance interpolates between β' and β̃' — what makes 50–100 steps work.
 */
import { createDiffusion, GaussianDiffusion } from '../diffusion';
import type { CompletePipeline, LossSpec } from '../host/protocol';

/** The parts of a pipeline spec that define the process (the loss only matters for training). */
export type PipelineForSampling = Pick<CompletePipeline, 'schedule' | 'noiser' | 'unet'> & { loss?: LossSpec };

/**
 * Normalises a steps setting against T: undefined (or T itself) means the full process; a whole number N
 * (or "N") means N evenly spread steps (one section); `ddimN` and `a,b,c` section counts are respacings.
 * Returns the respacing string for `createDiffusion`, or undefined for the full process.
 */
export function respacingFor(steps: number | string | undefined | null, numTimesteps: number): string | undefined {
  if (steps === undefined || steps === null || (typeof steps === 'string' && steps.trim() === '')) return undefined;
  const text = typeof steps === 'number' ? String(steps) : steps.trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < 2 || n > numTimesteps) throw new Error(`Sampling steps ${n} is out of range: this model has T = ${numTimesteps}, so use 2 … ${numTimesteps} steps`);
    return n === numTimesteps ? undefined : text;
  }
  if (typeof steps !== 'string' || !/^(ddim\d+|\d+(\s*,\s*\d+)+)$/.test(text)) {
    throw new Error(`Sampling steps ${JSON.stringify(steps)} not understood: give a number of steps, "ddimN" (e.g. "ddim50") or section counts like "10,15,20"`);
  }
  return text.replace(/\s+/g, '');
}

/** The process for sampling or evaluating `pipeline` with `steps` (see respacingFor); errors name the setting. */
export function samplingDiffusion(pipeline: PipelineForSampling, steps?: number | string | null): GaussianDiffusion {
  const T = pipeline.schedule.steps;
  const respacing = respacingFor(steps, T);
  try {
    return createDiffusion({
      schedule: { name: pipeline.schedule.kind, steps: T, cosineS: pipeline.schedule.cosineS, maxBeta: pipeline.schedule.maxBeta },
      respacing,
      modelMeanType: pipeline.noiser.modelMeanType,
      modelVarType: pipeline.unet.modelVarType,
      lossType: pipeline.loss?.kind,
      hybridLambda: pipeline.loss?.lambda,
      rescaleTimesteps: pipeline.noiser.rescaleTimesteps,
    });
  } catch (err) {
    if (respacing === undefined) throw err;
    throw new Error(`Sampling steps "${respacing}" do not fit this model (T = ${T}): ${(err as Error).message}`);
  }
}
