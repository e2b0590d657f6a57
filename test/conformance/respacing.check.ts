/**
 * respacing.json: for every case, spaceTimesteps (exact), the respaced process built by createDiffusion
 * (timestep map exact, betas and ᾱ at 1e-9 relative), the timesteps its model sees, and every error case throws.
 */
import { FileReport, F32, F64, flat, readJson } from './harness';
import { spaceTimesteps, type BetaScheduleName } from '../../engine/schedule';
import { createDiffusion } from '../../engine/diffusion';
import { tf } from '../../engine/tf';

export const file = 'respacing.json';

const EXACT = { abs: 0, rel: 0 };

export async function check(refDir: string): Promise<FileReport> {
  const report = new FileReport(file);
  const data = readJson(refDir, file);
  for (const c of data.cases as Array<Record<string, any>>) {
    const T = c.num_timesteps as number;
    const label = `T=${T} "${c.section_counts}"`;
    const steps = spaceTimesteps(T, c.section_counts);
    report.compare(`${label} space_timesteps`, steps, c.space_timesteps_sorted, EXACT);
    report.expect(`${label} count`, steps.length === c.count, `got ${steps.length}, expected ${c.count}`);
    const diffusion = createDiffusion({
      schedule: { name: (c.base_schedule ?? 'cosine') as BetaScheduleName, steps: T },
      respacing: c.section_counts,
      modelVarType: 'learned_range',
    });
    report.compare(`${label} timestep_map`, diffusion.timestepMap, c.timestep_map, EXACT);
    report.compare(`${label} betas`, diffusion.tables.betas, flat(c.betas), F64);
    report.compare(`${label} alphas_cumprod`, diffusion.tables.alphasCumprod, flat(c.alphas_cumprod), F64);
    report.expect(`${label} original_num_steps`, diffusion.originalNumSteps === c.original_num_steps);
    // _WrappedModel: the model sees float32(timestep_map[k]) · (1000 / original T) in float32.
    const seen = tf.tidy(() => diffusion.scaleTimesteps(tf.range(0, diffusion.numTimesteps, 1, 'int32') as tf.Tensor1D).dataSync());
    const scale = Math.fround(1000.0 / c.original_num_steps);
    report.compare(`${label} model timesteps`, seen, (c.timestep_map as number[]).map((m) => Math.fround(m * scale)), F32);
    diffusion.dispose();
  }
  for (const e of (data.error_cases ?? []) as Array<Record<string, any>>) {
    let message = '';
    try {
      spaceTimesteps(e.num_timesteps, e.section_counts);
    } catch (err) {
      message = (err as Error).message;
    }
    report.expect(`error case T=${e.num_timesteps} "${e.section_counts}" throws (${e.error}: ${e.message})`, message.length > 0, 'no error');
  }
  return report;
}
