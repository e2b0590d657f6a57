/**
 * HybridLoss node: the training objective as msg.iddpm.loss: L_hybrid = L_simple + λ·L_vlb (paper eq. 16,
 * λ = 0.001), or L_simple, the KL bound L_vlb, or the rescaled KL. `simple` trains no variance, so the engine
 * fixes it; the node only records the kind.
 */
import type { LossSpec } from '../../engine/spec';
import { registerComponent, setting } from '../shared/component';
import type { NodeDef, NodeMessage, Red } from '../shared/red';
import catalog from './locales/en-US/iddpm-hybrid-loss.json';

const TYPE = 'iddpm-hybrid-loss';

export function buildLoss(config: NodeDef, msg: NodeMessage | undefined): LossSpec {
  return { kind: setting(TYPE, 'kind', config, msg, 'loss'), lambda: setting(TYPE, 'lambda', config, msg) };
}

export default function (RED: Red): void {
  registerComponent(RED, {
    type: TYPE,
    part: 'loss',
    catalog,
    build: buildLoss,
    summary: (s, t) => (s.kind === 'hybrid' ? t('status.hybrid', { lambda: s.lambda }) : t(`status.${s.kind}`)),
  });
}
