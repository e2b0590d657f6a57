/**
 * Resolving a UNet architecture from a preset name (engine/spec PRESETS) or a preset with overrides.
 */
import { LIMITS, PRESETS, PRESET_NAMES, badRequest, learnsSigma, presetConfig, type PresetName, type UNetSpec } from '../spec';
import { parameterCount } from './layout';
import { CONFIG_KEYS, UNetConfig, validateUNetConfig } from './config';

export { PRESETS, PRESET_NAMES, type PresetName };

/** A preset name, or overrides on a preset (`preset` defaults to `tiny`). */
export type UNetConfigInput = PresetName | string | (Partial<UNetConfig> & { preset?: string });

function preset(name: string): UNetConfig {
  if (!Object.prototype.hasOwnProperty.call(PRESETS, name)) {
    throw new Error(`Unknown UNet preset "${name}": use one of ${PRESET_NAMES.join(', ')}`);
  }
  return presetConfig(name as PresetName);
}

/**
 * A complete, validated config from a preset name or `{ preset?, ...overrides }`. When the overrides change
 * inChannels or learnSigma without giving outChannels, outChannels follows them. Unknown keys are refused
 * (a typo would otherwise silently build a different model).
 */
export function resolveUNetConfig(spec: UNetConfigInput): UNetConfig {
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

/** The UNet architecture of a UNet node's spec: preset + overrides, 2C outputs for a learned variance, classes. */
export function unetConfigFor(spec: UNetSpec): UNetConfig {
  const base = spec.preset === 'custom' ? {} : { preset: spec.preset };
  try {
    return resolveUNetConfig({ ...base, ...(spec.config ?? {}), learnSigma: learnsSigma(spec.modelVarType), numClasses: spec.numClasses ?? null });
  } catch (err) {
    // The architecture is the user's: a config that cannot build a UNet is their mistake to fix.
    throw badRequest((err as Error).message);
  }
}

/**
 * Refuses, before anything is built, a UNet the engine cannot train: more than LIMITS.unet.maxParameters
 * parameters (a reference model that large can still be imported and sampled).
 */
export function checkTrainableSize(config: UNetConfig): void {
  const n = parameterCount(config);
  if (n > LIMITS.unet.maxParameters) {
    throw badRequest(`This UNet would have ${(n / 1e6).toFixed(1)} M parameters, more than the engine trains (${LIMITS.unet.maxParameters / 1e6} M): use fewer channels, levels or blocks`);
  }
}
