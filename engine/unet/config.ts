/**
 * The UNet's architecture settings (improved-diffusion `UNetModel.__init__` arguments, in our vocabulary) with
 * validation and conversion from/to the reference's own config.
 *
 * One difference in meaning: our `attentionResolutions` are FEATURE-MAP SIZES (16 means "at 16×16"), as in the
 * reference's training scripts (`--attention_resolutions 16,8`); the reference `UNetModel` itself takes
 * downsample factors ds = imageSize / size, which `fromReferenceConfig` / `toReferenceConfig` convert with
 * engine/spec's attentionFactorsOf / attentionSizesOf.
 */
import { UNET_CONFIG_KEYS, attentionFactorsFromSizes, attentionSizesFromFactors, type UNetConfig } from '../spec';

export type { UNetConfig };

/** The reference `UNetModel(**config)` arguments as written in unet_small.json (plus its `image_size`). */
export interface ReferenceUNetConfig {
  in_channels: number;
  model_channels: number;
  out_channels: number;
  num_res_blocks: number;
  /** Downsample factors ds (1, 2, 4, …), not pixel sizes. */
  attention_resolutions: number[];
  dropout: number;
  channel_mult: number[];
  conv_resample?: boolean;
  dims?: number;
  num_classes: number | null;
  use_checkpoint?: boolean;
  num_heads: number;
  num_heads_upsample?: number;
  use_scale_shift_norm: boolean;
  image_size?: number;
}

/** GroupNorm32: the reference normalises every feature map with 32 groups. */
export const GROUPS = 32;

export const CONFIG_KEYS = UNET_CONFIG_KEYS;

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function requirePositiveInt(name: string, v: unknown): void {
  if (!isPositiveInt(v)) throw new Error(`UNet config: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
}

function requireIntList(name: string, v: unknown, allowEmpty: boolean): void {
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0) || !v.every(isPositiveInt)) {
    throw new Error(`UNet config: ${name} must be a${allowEmpty ? 'n' : ' non-empty'} array of positive integers, got ${JSON.stringify(v)}`);
  }
}

/** THE conversion of attention settings between sizes and downsample factors lives in engine/spec. */
export { attentionFactorsFromSizes, attentionSizesFromFactors };

/** Feature-map size at each level: imageSize / 2^level. */
export function levelSizes(c: Pick<UNetConfig, 'imageSize' | 'channelMult'>): number[] {
  return c.channelMult.map((_, level) => c.imageSize / 2 ** level);
}

/**
 * Throws an Error a person can act on when the config cannot build the reference UNet; returns it unchanged
 * otherwise.
 */
export function validateUNetConfig(c: UNetConfig): UNetConfig {
  if (typeof c !== 'object' || c === null) throw new Error('UNet config must be an object');
  for (const k of ['imageSize', 'inChannels', 'modelChannels', 'outChannels', 'numResBlocks', 'numHeads'] as const) {
    requirePositiveInt(k, c[k]);
  }
  requireIntList('channelMult', c.channelMult, false);
  requireIntList('attentionResolutions', c.attentionResolutions, true);
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) {
    throw new Error(`UNet config: dropout must be a number in [0, 1), got ${JSON.stringify(c.dropout)}`);
  }
  if (c.numClasses !== null && !isPositiveInt(c.numClasses)) {
    throw new Error(`UNet config: numClasses must be null (unconditional) or a positive integer, got ${JSON.stringify(c.numClasses)}`);
  }
  for (const k of ['useScaleShiftNorm', 'learnSigma'] as const) {
    if (typeof c[k] !== 'boolean') throw new Error(`UNet config: ${k} must be true or false, got ${JSON.stringify(c[k])}`);
  }
  const expectedOut = c.inChannels * (c.learnSigma ? 2 : 1);
  if (c.outChannels !== expectedOut) {
    throw new Error(`UNet config: outChannels must be ${expectedOut} (inChannels ${c.inChannels}${c.learnSigma ? ' × 2 for the learned variance' : ', learnSigma false'}), got ${c.outChannels}`);
  }
  if (c.modelChannels % GROUPS !== 0) {
    throw new Error(`UNet config: modelChannels (${c.modelChannels}) must be a multiple of ${GROUPS}: every GroupNorm has ${GROUPS} groups`);
  }
  const levels = c.channelMult.length;
  const factor = 2 ** (levels - 1);
  if (c.imageSize % factor !== 0) {
    throw new Error(`UNet config: imageSize ${c.imageSize} must be divisible by ${factor} (${levels} levels halve it ${levels - 1} times)`);
  }
  const sizes = levelSizes(c);
  for (const r of c.attentionResolutions) {
    if (!sizes.includes(r)) {
      throw new Error(`UNet config: attention resolution ${r} is not a feature-map size of this UNet (${sizes.join(', ')}); attentionResolutions are sizes in pixels, not downsample factors`);
    }
  }
  const attnChannels = c.channelMult
    .filter((_, level) => c.attentionResolutions.includes(sizes[level]))
    .concat(c.channelMult[levels - 1]) // the middle block always has attention
    .map((m) => m * c.modelChannels);
  for (const ch of attnChannels) {
    if (ch % c.numHeads !== 0) throw new Error(`UNet config: ${ch} attention channels do not split into ${c.numHeads} heads`);
  }
  return c;
}

/**
 * The reference config → ours. Downsample factors ds become sizes imageSize / ds; a ds the network never reaches
 * has no effect in the reference and is dropped. Settings we do not implement are refused, not ignored.
 */
export function fromReferenceConfig(ref: ReferenceUNetConfig, imageSize = ref.image_size): UNetConfig {
  if (!isPositiveInt(imageSize)) throw new Error('Reference UNet config: image_size is needed to convert attention_resolutions (downsample factors) to sizes');
  if (ref.dims !== undefined && ref.dims !== 2) throw new Error(`Reference UNet config: dims ${ref.dims} is not supported (2-D only)`);
  if (ref.conv_resample === false) throw new Error('Reference UNet config: conv_resample false (average-pool downsampling) is not supported');
  if (ref.num_heads_upsample !== undefined && ref.num_heads_upsample !== -1 && ref.num_heads_upsample !== ref.num_heads) {
    throw new Error('Reference UNet config: num_heads_upsample different from num_heads is not supported');
  }
  const learnSigma = ref.out_channels === 2 * ref.in_channels;
  if (!learnSigma && ref.out_channels !== ref.in_channels) {
    throw new Error(`Reference UNet config: out_channels ${ref.out_channels} is neither in_channels nor 2 × in_channels`);
  }
  return validateUNetConfig({
    imageSize,
    inChannels: ref.in_channels,
    modelChannels: ref.model_channels,
    outChannels: ref.out_channels,
    numResBlocks: ref.num_res_blocks,
    // A factor the network never reaches has no effect in the reference: it is dropped.
    attentionResolutions: attentionSizesFromFactors(imageSize, ref.attention_resolutions.filter((ds) => ref.channel_mult.some((_, level) => 2 ** level === ds))),
    channelMult: [...ref.channel_mult],
    numHeads: ref.num_heads,
    dropout: ref.dropout,
    numClasses: ref.num_classes ?? null,
    useScaleShiftNorm: ref.use_scale_shift_norm,
    learnSigma,
  });
}

/** Ours → the reference `UNetModel` arguments (sizes back to downsample factors). */
export function toReferenceConfig(c: UNetConfig): ReferenceUNetConfig {
  validateUNetConfig(c);
  return {
    attention_resolutions: attentionFactorsFromSizes(c.imageSize, c.attentionResolutions).sort((a, b) => a - b),
    channel_mult: [...c.channelMult],
    conv_resample: true,
    dims: 2,
    dropout: c.dropout,
    in_channels: c.inChannels,
    model_channels: c.modelChannels,
    num_classes: c.numClasses,
    num_heads: c.numHeads,
    num_heads_upsample: -1,
    num_res_blocks: c.numResBlocks,
    out_channels: c.outChannels,
    use_checkpoint: false,
    use_scale_shift_norm: c.useScaleShiftNorm,
    image_size: c.imageSize,
  };
}
