/**
 * UNet node: the model, as msg.iddpm.unet: its name (where it is stored and how the Sampler finds it), the
 * architecture (a preset, or custom: the reference UNetModel's model_channels, channel_mult, num_res_blocks,
 * attention_resolutions, num_heads, dropout), the model variance type (learned_range is the paper's) and
 * class conditioning.
 */
import type { UNetSpec } from '../../engine/spec';
import { registerComponent, setting } from '../shared/component';
import type { NodeDef, NodeMessage, Red } from '../shared/red';
import catalog from './locales/en-US/iddpm-unet.json';

const TYPE = 'iddpm-unet';

/** The custom architecture, in engine/unet UNetConfig's keys. */
function customConfig(config: NodeDef): Record<string, unknown> {
  return {
    imageSize: setting(TYPE, 'imageSize', config),
    inChannels: Number(setting(TYPE, 'inChannels', config)),
    modelChannels: setting(TYPE, 'modelChannels', config),
    channelMult: setting(TYPE, 'channelMult', config),
    numResBlocks: setting(TYPE, 'numResBlocks', config),
    attentionResolutions: setting(TYPE, 'attentionResolutions', config),
    numHeads: setting(TYPE, 'numHeads', config),
    dropout: setting(TYPE, 'dropout', config),
  };
}

export function buildUNet(config: NodeDef, msg: NodeMessage | undefined): UNetSpec {
  const preset = setting(TYPE, 'preset', config, msg);
  const classConditional = setting(TYPE, 'classConditional', config);
  const spec: UNetSpec = {
    model: setting(TYPE, 'model', config, msg),
    preset,
    modelVarType: setting(TYPE, 'modelVarType', config, msg),
    numClasses: classConditional ? setting(TYPE, 'numClasses', config) : null,
  };
  if (preset === 'custom') spec.config = customConfig(config);
  return spec;
}

export default function (RED: Red): void {
  registerComponent(RED, {
    type: TYPE,
    part: 'unet',
    catalog,
    build: buildUNet,
    summary: (s, t) =>
      t(s.numClasses ? 'status.summaryClasses' : 'status.summary', { model: s.model, preset: s.preset, var: s.modelVarType, classes: s.numClasses }),
  });
}
