/**
 * The diffusion process a model is sampled or evaluated with: the pipeline it was trained with, optionally
 * respaced to fewer steps (respace.py's SpacedDiffusion). A respaced process is a GaussianDiffusion built from
 * the respaced betas β', so a learned variance interpolates between β' and β̃' — what makes 50–100 steps work.
 */
import { createDiffusion, GaussianDiffusion } from '../diffusion';
import { EngineError, InvalidValue, parseRespacing, respacingSteps, respacingText, type CompletePipeline, type LossSpec, type Respacing } from '../spec';

/** The parts of a pipeline spec that define the process (the loss only matters for training). */
export type PipelineForSampling = Pick<CompletePipeline, 'schedule' | 'noiser' | 'unet'> & { loss?: LossSpec };

/**
 * A respacing against T: undefined (or N = T evenly spread steps) means the full process; more steps than T
 * are refused. Accepts a parsed respacing or its text/number (library callers).
 */
export function respacingFor(steps: Respacing | number | string | undefined | null, numTimesteps: number): Respacing | undefined {
  if (steps === undefined || steps === null || (typeof steps === 'string' && steps.trim() === '')) return undefined;
  const r = typeof steps === 'object' ? steps : parseRespacing(steps);
  if (!r) throw new InvalidValue('steps', { key: 'respacing', params: { got: JSON.stringify(steps) } });
  const n = respacingSteps(r);
  if (r.kind === 'sections' && r.counts.length === 1) {
    if (n > numTimesteps || n < 2) throw new InvalidValue('steps', { key: 'stepsOverT', params: { max: numTimesteps, got: n } });
    if (n === numTimesteps) return undefined;
  }
  return r;
}

/** The process for sampling or evaluating `pipeline` with `steps` (see respacingFor); errors name the setting. */
export function samplingDiffusion(pipeline: PipelineForSampling, steps?: Respacing | number | string | null): GaussianDiffusion {
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
    if (respacing === undefined || !(err instanceof EngineError)) throw err;
    throw new EngineError(`Sampling steps "${respacingText(respacing)}" do not fit this model (T = ${T}): ${err.message}`, err.code);
  }
}
