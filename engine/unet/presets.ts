/**
 * Named UNet architectures. All learn the variance (IDDPM's learned_range, so outChannels = 2·inChannels) and use
 * scale-shift norm, as the paper's runs do; all are unconditional unless numClasses is overridden.
 */
import { CONFIG_KEYS, UNetConfig, validateUNetConfig } from './config';

const common = { learnSigma: true, useScaleShiftNorm: true, numClasses: null, dropout: 0 } as const;

export const PRESETS = {
  /** For tests and quick demos: 32×32 grey, 32 channels, one ResBlock per level, attention at 8×8. */
  tiny: { ...common, imageSize: 32, inChannels: 1, outChannels: 2, modelChannels: 32, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [8], numHeads: 4 },
  /** MNIST / Fashion-MNIST padded to 32×32. */
  mnist: { ...common, imageSize: 32, inChannels: 1, outChannels: 2, modelChannels: 64, channelMult: [1, 2, 2], numResBlocks: 2, attentionResolutions: [16, 8], numHeads: 4 },
  /** The paper's CIFAR-10 model (Nichol & Dhariwal 2021, section 2 / appendix A). */
  cifar: { ...common, imageSize: 32, inChannels: 3, outChannels: 6, modelChannels: 128, channelMult: [1, 2, 2, 2], numResBlocks: 3, attentionResolutions: [16, 8], numHeads: 4, dropout: 0.3 },
} satisfies Record<string, UNetConfig>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** A preset name, or overrides on a preset (`preset` defaults to `tiny`). */
export type UNetSpec = PresetName | string | (Partial<UNetConfig> & { preset?: string });

function preset(name: string): UNetConfig {
  if (!Object.prototype.hasOwnProperty.call(PRESETS, name)) {
    throw new Error(`Unknown UNet preset "${name}": use one of ${PRESET_NAMES.join(', ')}`);
  }
  const p: UNetConfig = PRESETS[name as PresetName];
  return { ...p, channelMult: [...p.channelMult], attentionResolutions: [...p.attentionResolutions] };
}

/**
 * A complete, validated config from a preset name or `{ preset?, ...overrides }`. When the overrides change
 * inChannels or learnSigma without giving outChannels, outChannels follows them. Unknown keys are refused
 * (a typo would otherwise silently build a different model).
 */
export function resolveUNetConfig(spec: UNetSpec): UNetConfig {
  if (typeof spec === 'string') return validateUNetConfig(preset(spec));
  if (typeof spec !== 'object' || spec === null) throw new Error('UNet spec must be a preset name or an object');
  const { preset: name = 'tiny', ...overrides } = spec;
  for (const k of Object.keys(overrides)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) {
      throw new Error(`Unknown UNet setting "${k}": the settings are preset, ${CONFIG_KEYS.join(', ')}`);
    }
  }
  const base = preset(name);
  const merged: UNetConfig = { ...base, ...overrides };
  if (overrides.outChannels === undefined) merged.outChannels = merged.inChannels * (merged.learnSigma ? 2 : 1);
  return validateUNetConfig(merged);
}
