/**
 * ImportanceSampler node: how training picks timesteps, as msg.iddpm.timesteps: `importance` (paper eq. 18,
 * p_t ∝ √E[L_t²] over the last `history` losses per t, mixed with `uniformProb` of uniform; the reference's
 * LossSecondMomentResampler) or `uniform`.
 */
import type { TimestepsSpec } from '../../engine/spec';
import { registerComponent, setting } from '../shared/component';
import type { NodeDef, NodeMessage, Red } from '../shared/red';
import catalog from './locales/en-US/iddpm-importance-sampler.json';

const TYPE = 'iddpm-importance-sampler';

export function buildTimesteps(config: NodeDef, msg: NodeMessage | undefined): TimestepsSpec {
  const kind = setting(TYPE, 'kind', config, msg, 'timesteps');
  if (kind === 'uniform') return { kind };
  return { kind, history: setting(TYPE, 'history', config, msg), uniformProb: setting(TYPE, 'uniformProb', config, msg) };
}

export default function (RED: Red): void {
  registerComponent(RED, {
    type: TYPE,
    part: 'timesteps',
    catalog,
    build: buildTimesteps,
    summary: (s, t) => (s.kind === 'uniform' ? t('status.uniform') : t('status.importance', { history: s.history, uniformProb: s.uniformProb })),
  });
}
