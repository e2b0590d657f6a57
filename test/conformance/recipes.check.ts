/**
 * recipes.json: for every flag set of the reference's scripts, what `pipelineFromFlags` makes of it against what
 * the reference's script_util built from the same flags: the argparser's `args`, UNetModel's kwargs, the
 * state_dict (names, order, shapes) and parameter count of OUR UNet layout, the diffusion's enum types (the
 * loss as the objective it computes), T, rescale_timesteps, the betas of the process as used and its timestep
 * map; then `flagsFromPipeline` of that pipeline, parsed again, must give the same normalised `args`. Nothing here
 * assumes which flags a case sets.
 *
 * The betas' sha256 is compared where our float64 schedule can be the reference's bit for bit: schedules of
 * plain IEEE arithmetic (linear). The cosine schedule goes through cos(), and Python's math.cos (the C
 * library's) and V8's Math.cos differ in the last bit for a few percent of the arguments (β = 1 − ᾱ₂/ᾱ₁ then
 * differs by ~1e-16), so a hash of the cosine betas cannot match; their head and tail are compared at F64.
 */
import { createHash } from 'node:crypto';
import { FileReport, F64, readJson } from './harness';
import { parseReferenceArgs, type ReferenceArgs } from '../../engine/interop/args';
import { flagsFromPipeline, normaliseArgs, pipelineFromFlags } from '../../engine/interop/flags';
import { referenceModel, referenceProcess } from '../../engine/interop/describe';
import { lossFromReference, objectiveOf, sameObjective, type ReferenceLossType } from '../../engine/interop/mapping';
import { toReferenceConfig } from '../../engine/unet/config';

export const file = 'recipes.json';

const EXACT = { abs: 0, rel: 0 };

interface RecipeCase {
  name: string;
  flags: string;
  args: ReferenceArgs;
  unet_kwargs: Record<string, unknown>;
  state_dict: Array<{ name: string; shape: number[] }>;
  num_parameters: number;
  diffusion: {
    num_timesteps: number;
    original_num_steps: number;
    model_mean_type: string;
    model_var_type: string;
    loss_type: string;
    rescale_timesteps: boolean;
    betas_sha256: string;
    betas_head: number[];
    betas_tail: number[];
    timestep_map?: number[];
  };
}

function sha256(values: Float64Array): string {
  return createHash('sha256').update(Buffer.from(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
}

/** Keys whose values differ between two namespaces, with both values. */
function argDifferences(actual: ReferenceArgs, expected: ReferenceArgs): string[] {
  const keys = [...new Set([...Object.keys(actual), ...Object.keys(expected)])].sort();
  return keys.filter((k) => actual[k] !== expected[k]).map((k) => `${k}: ${JSON.stringify(actual[k])} vs ${JSON.stringify(expected[k])}`);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function checkCase(report: FileReport, c: RecipeCase): void {
  const label = c.name;
  let recipe: ReturnType<typeof pipelineFromFlags>;
  try {
    recipe = pipelineFromFlags(c.flags, { model: 'conformance' });
  } catch (err) {
    report.expect(`${label}: pipelineFromFlags`, false, (err as Error).message);
    return;
  }
  const argDiff = argDifferences(recipe.args, c.args);
  report.expect(`${label}: args`, argDiff.length === 0, argDiff.join('; '));

  // The UNet: our config back in the reference's kwargs, and our layout's state_dict.
  const { config, stateDict, numParameters } = referenceModel(recipe.pipeline);
  const kwargs: Record<string, unknown> = { ...toReferenceConfig(config), use_checkpoint: recipe.train.use_checkpoint };
  for (const [key, expected] of Object.entries(c.unet_kwargs)) {
    const actual = kwargs[key];
    // Equal meanings: attention factors in any order; num_heads_upsample -1 is num_heads.
    const normal = (v: unknown): unknown => {
      if (key === 'attention_resolutions' && Array.isArray(v)) return [...v].sort((a, b) => a - b);
      if (key === 'num_heads_upsample' && v === c.unet_kwargs.num_heads) return -1;
      return v;
    };
    report.expect(`${label}: unet_kwargs.${key}`, sameJson(normal(actual), normal(expected)), `got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
  report.expect(`${label}: state_dict length`, stateDict.length === c.state_dict.length, `${stateDict.length} vs ${c.state_dict.length}`);
  const firstBad = c.state_dict.findIndex((e, i) => !stateDict[i] || stateDict[i].name !== e.name || !sameJson(stateDict[i].shape, e.shape));
  report.expect(`${label}: state_dict names, order and shapes`, firstBad < 0,
    firstBad < 0 ? '' : `entry ${firstBad}: ${JSON.stringify(stateDict[firstBad])} vs ${JSON.stringify(c.state_dict[firstBad])}`);
  report.compare(`${label}: num_parameters`, numParameters, c.num_parameters, EXACT);

  // The diffusion process as used (respaced when the flags respace).
  const d = c.diffusion;
  const process = referenceProcess(recipe.pipeline, recipe.samplingRespacing);
  report.compare(`${label}: num_timesteps`, process.numTimesteps, d.num_timesteps, EXACT);
  report.compare(`${label}: original_num_steps`, process.originalNumSteps, d.original_num_steps, EXACT);
  for (const [what, actual, expected] of [
    ['model_mean_type', process.modelMeanType, d.model_mean_type],
    ['model_var_type', process.modelVarType, d.model_var_type],
    ['rescale_timesteps', process.rescaleTimesteps, d.rescale_timesteps],
  ] as const) {
    report.expect(`${label}: ${what}`, actual === expected, `got ${String(actual)}, expected ${String(expected)}`);
  }
  // The loss: the same objective as the reference's LossType (the enum name alone can differ for equal
  // objectives, e.g. MSE and RESCALED_MSE at T = 1000 with a learned variance).
  const T = recipe.pipeline.schedule.steps;
  const varType = recipe.pipeline.unet.modelVarType;
  const theirs = lossFromReference(d.loss_type as ReferenceLossType, varType, T);
  report.expect(`${label}: loss_type ${d.loss_type}`, ['MSE', 'RESCALED_MSE', 'KL', 'RESCALED_KL'].includes(d.loss_type) &&
    sameObjective(recipe.pipeline.loss, theirs, varType, T),
    `ours ${JSON.stringify(recipe.pipeline.loss)} (${process.lossType}) computes ${JSON.stringify(objectiveOf(recipe.pipeline.loss, varType, T))}, ${d.loss_type} computes ${JSON.stringify(objectiveOf(theirs, varType, T))}`);
  const n = process.betas.length;
  report.compare(`${label}: betas head`, process.betas.subarray(0, d.betas_head.length), d.betas_head, F64);
  report.compare(`${label}: betas tail`, process.betas.subarray(n - d.betas_tail.length), d.betas_tail, F64);
  if (recipe.pipeline.schedule.kind === 'linear') {
    report.expect(`${label}: betas sha256`, sha256(process.betas) === d.betas_sha256, `got ${sha256(process.betas)}, expected ${d.betas_sha256}`);
  }
  const identity = Array.from({ length: process.numTimesteps }, (_, i) => i);
  report.compare(`${label}: timestep_map`, process.timestepMap, d.timestep_map ?? identity, EXACT);

  // Back to flags: parsed again they must give the same namespace (normalised) and the same pipeline.
  const back = flagsFromPipeline(recipe.pipeline, { train: recipe.train, samplingRespacing: recipe.samplingRespacing });
  if (!back.flags) {
    report.expect(`${label}: flagsFromPipeline`, false, back.reason);
    return;
  }
  const reparsed = parseReferenceArgs(`${back.flags.imageTrain} ${back.flags.sample}`);
  const roundTrip = argDifferences(normaliseArgs(reparsed), normaliseArgs(c.args));
  report.expect(`${label}: flagsFromPipeline → args`, roundTrip.length === 0, roundTrip.join('; '));
  report.expect(`${label}: flagsFromPipeline → args (returned)`, argDifferences(back.flags.args, reparsed).length === 0);
  const again = pipelineFromFlags(`${back.flags.imageTrain} ${back.flags.sample}`, { model: 'conformance' });
  report.expect(`${label}: flags → pipeline → flags → pipeline`, sameJson(again.pipeline, recipe.pipeline),
    `${JSON.stringify(again.pipeline)} vs ${JSON.stringify(recipe.pipeline)}`);
}

export function check(refDir: string): FileReport {
  const report = new FileReport(file);
  const data = readJson<{ cases: RecipeCase[] }>(refDir, file);
  for (const c of data.cases) checkCase(report, c);
  return report;
}
