/**
 * schedules.json: every schedule entry's float64 tables against getNamedBetaSchedule + computeTables (1e-9
 * relative), and the reference's SpacedDiffusion-over-all-steps betas against respaceBetas.
 */
import { FileReport, F64, flat, isRefArray, readJson } from './harness';
import { computeTables, getNamedBetaSchedule, respaceBetas, type BetaScheduleName, type ScheduleTables } from '../../engine/schedule';

export const file = 'schedules.json';

const camel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export async function check(refDir: string): Promise<FileReport> {
  const report = new FileReport(file);
  const data = readJson(refDir, file);
  for (const entry of data.schedules as Array<Record<string, unknown>>) {
    const name = entry.name as BetaScheduleName;
    const T = entry.num_timesteps as number;
    const label = `${name} T=${T}`;
    const tables = computeTables(getNamedBetaSchedule(name, T));
    report.expect(`${label} numTimesteps`, tables.numTimesteps === T, `got ${tables.numTimesteps}`);
    let compared = 0;
    for (const [key, value] of Object.entries(entry)) {
      if (!isRefArray(value)) continue;
      const ours = tables[camel(key) as keyof ScheduleTables];
      if (!(ours instanceof Float64Array)) continue; // not a table we compute
      report.compare(`${label} ${key}`, ours, flat(value), F64);
      compared++;
    }
    report.expect(`${label} has tables`, compared > 0, 'no table of the entry matched one we compute');
    if (typeof entry.spaced_wrapper_betas_max_abs_diff === 'number' && isRefArray(entry.betas)) {
      // create_gaussian_diffusion re-derives betas through a SpacedDiffusion over all steps; ours must agree
      // with the raw betas to the same float noise.
      const all = Array.from({ length: T }, (_, i) => i);
      const { betas, timestepMap } = respaceBetas(tables.alphasCumprod, all);
      report.compare(`${label} spaced-wrapper betas`, betas, flat(entry.betas), F64);
      report.compare(`${label} spaced-wrapper timestep map`, timestepMap, all, { abs: 0, rel: 0 });
    }
  }
  return report;
}
