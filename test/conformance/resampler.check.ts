/**
 * resampler.json: replays every update_with_all_losses call into LossSecondMomentResampler and compares the
 * weights, warm-up flag and counts after each, the final history, and the uniform sampler's weights. The
 * recorded sample indices come from numpy's RNG; for those we check the loss weights 1/(T·p[index]).
 */
import { FileReport, F64, flat, isRefArray, readJson } from './harness';
import { LossSecondMomentResampler, UniformSampler, importanceWeights } from '../../engine/timesteps';

export const file = 'resampler.json';

const EXACT = { abs: 0, rel: 0 };
/** One float32 ulp: the recorded weights are float32-rounded values of a float64 computation (numpy's sum order). */
const F32_ULP = { abs: 0, rel: 2 ** -23 };

export async function check(refDir: string): Promise<FileReport> {
  const report = new FileReport(file);
  const data = readJson(refDir, file);
  const T = data.num_timesteps as number;
  const sampler = new LossSecondMomentResampler(T, { historyPerTerm: data.history_per_term, uniformProb: data.uniform_prob });
  if (isRefArray(data.initial_weights)) report.compare('initial weights', sampler.weights(), flat(data.initial_weights), F64);
  let firstWarm = -1;
  (data.calls as Array<Record<string, any>>).forEach((call, i) => {
    sampler.updateWithAllLosses(call.ts, call.losses);
    if (firstWarm < 0 && sampler.warmedUp()) firstWarm = i;
    report.compare(`call ${i} weights_after`, sampler.weights(), flat(call.weights_after), F64);
    report.expect(`call ${i} warmed_up_after`, sampler.warmedUp() === call.warmed_up_after, `got ${sampler.warmedUp()}`);
    if (call.loss_counts_after) report.compare(`call ${i} loss_counts_after`, sampler.lossCountsSnapshot(), call.loss_counts_after, EXACT);
  });
  if (typeof data.first_warmed_up_call_index === 'number') {
    report.expect('first warmed-up call', firstWarm === data.first_warmed_up_call_index, `got ${firstWarm}`);
  }
  if (isRefArray(data.final_loss_history)) {
    report.compare('final_loss_history', sampler.getState().lossHistory.flat(), flat(data.final_loss_history), F64);
  }
  const s = data.sample_after_last_call;
  if (s && isRefArray(s.indices) && isRefArray(s.weights)) {
    report.compare('sample weights 1/(T·p[index])', importanceWeights(sampler.weights(), flat(s.indices)), flat(s.weights), F32_ULP);
  }
  if (isRefArray(data.uniform_sampler_weights)) {
    report.compare('uniform sampler weights', new UniformSampler(T).weights(), flat(data.uniform_sampler_weights), F64);
  }
  return report;
}
