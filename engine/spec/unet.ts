/**
 * The UNet's architecture vocabulary (improved-diffusion `UNetModel.__init__` arguments, in our words) and the
 * named presets. Validation that needs the whole architecture (group counts, heads, levels) is engine/unet's.
 *
 * Attention resolutions come in two forms, named apart everywhere:
 * - **sizes**: feature-map sizes in pixels (16 = "at 16×16"), as the reference's training flags write them
 *   (`--attention_resolutions 16,8`) and as our `UNetConfig.attentionResolutions` stores them;
 * - **factors**: downsample factors ds = imageSize / size (1, 2, 4, …), as `UNetModel(attention_resolutions=…)`
 *   and a reference-style unetConfig take them.
 * `attentionFactorsFromSizes` / `attentionSizesFromFactors` are the one conversion.
 */

export interface UNetConfig {
  imageSize: number;
  inChannels: number;
  modelChannels: number;
  outChannels: number;
  numResBlocks: number;
  /** Feature-map SIZES (pixels per side) at which AttentionBlocks follow the ResBlocks, e.g. [16, 8]. */
  attentionResolutions: number[];
  channelMult: number[];
  numHeads: number;
  dropout: number;
  numClasses: number | null;
  useScaleShiftNorm: boolean;
  /** The model also outputs the variance interpolation v: outChannels = 2·inChannels when true. */
  learnSigma: boolean;
}

export const UNET_CONFIG_KEYS: readonly (keyof UNetConfig)[] = [
  'imageSize', 'inChannels', 'modelChannels', 'outChannels', 'numResBlocks', 'attentionResolutions',
  'channelMult', 'numHeads', 'dropout', 'numClasses', 'useScaleShiftNorm', 'learnSigma',
];

/**
 * Attention sizes (pixels) → the reference UNetModel's downsample factors, in the order given, as
 * script_util.create_model computes them (`image_size // int(res)`).
 */
export function attentionFactorsFromSizes(imageSize: number, sizes: readonly number[]): number[] {
  return sizes.map((size) => Math.floor(imageSize / size));
}

/** The inverse: sizes imageSize / ds of downsample factors ds. */
export function attentionSizesFromFactors(imageSize: number, factors: readonly number[]): number[] {
  return factors.map((ds) => imageSize / ds);
}

const common = { learnSigma: true, useScaleShiftNorm: true, numClasses: null, dropout: 0 } as const;

/**
 * Named architectures. All learn the variance (IDDPM's learned_range, so outChannels = 2·inChannels) and use
 * scale-shift norm, as the paper's runs do; all are unconditional unless numClasses is overridden.
 */
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

/** A copy of a preset's config (arrays copied too). */
export function presetConfig(name: PresetName): UNetConfig {
  const p: UNetConfig = PRESETS[name];
  return { ...p, channelMult: [...p.channelMult], attentionResolutions: [...p.attentionResolutions] };
}

/** What the UNet node's preset setting takes: a named architecture, or `custom` (the settings give it all). */
export const UNET_PRESETS: readonly (PresetName | 'custom')[] = [...PRESET_NAMES, 'custom'];
export type UNetPresetName = PresetName | 'custom';
