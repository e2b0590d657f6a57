/**
 * The bounds of every setting, in one place: the editor's dialogs, the nodes' msg overrides and the engine's
 * checks all read them from here, so a value one layer accepts is a value every layer accepts.
 */
export const LIMITS = {
  /** T, diffusion steps of a schedule. A linear schedule needs ≥ 20 (its last β is 0.02·1000/T ≤ 1). */
  diffusionSteps: { min: 2, max: 100_000, linearMin: 20 },
  /** Seeds are unsigned 32-bit (engine/rng's generators take them so). */
  seed: { min: 0, max: 2 ** 32 - 1 },
  /** DDIM's η: 0 is deterministic, 1 is DDPM-like; above 1 σ² would exceed 1 − ᾱ_{t−1}. */
  eta: { min: 0, max: 1 },
  lambda: { min: 0, max: 1000 },
  importanceHistory: { min: 2, max: 1000 },
  /** Images per sampling request, and per sampling batch. */
  sampleCount: { min: 1, max: 256 },
  /** Columns of a sampled grid (0 = near-square). */
  gridColumns: { min: 0, max: 256 },
  /** Samples per sample-quality measurement (FID needs a covariance: at least 2). */
  qualityCount: { min: 2, max: 256 },
  /** Dataset images per bits/dim evaluation. */
  evaluateCount: { min: 1, max: 10_000 },
  batchSize: { min: 1, max: 1024 },
  /** Side of an image, in pixels, and channels. */
  imageSide: { min: 1, max: 512 },
  imageChannels: { min: 1, max: 4 },
  /** Images in one message (a Noiser strip, an in-message dataset). */
  imagesPerMessage: 1024,
  /** t values in one Noiser strip. */
  noiseTimes: 64,
  classes: { min: 2, max: 10_000 },
  datasetLimit: { min: 1, max: 10_000_000 },
  /** Training step counts (max steps, log/sample/checkpoint intervals). */
  trainSteps: { min: 0, max: 1_000_000_000 },
  previewImages: { min: 1, max: 64 },
  folderPath: 1024,
  /** Characters of a reference flag set (`--image_size 64 --num_channels 128 …`). */
  flagsText: 4096,
  /** Bytes of a checkpoint file the engine imports (the largest published one, ImageNet-64 cond., is ~1.1 GB). */
  importFileBytes: 4 * 1024 ** 3,
  /** UNet architecture settings of a custom model. */
  unet: {
    imageSize: { min: 8, max: 512 },
    modelChannels: { min: 8, max: 512 },
    channelMult: { min: 1, max: 16, maxLen: 6 },
    numResBlocks: { min: 1, max: 8 },
    attentionResolutions: { min: 1, max: 512, maxLen: 6 },
    numHeads: { min: 1, max: 32 },
    dropout: { min: 0, max: 0.9 },
    /**
     * Largest model the engine builds (parameters): the `cifar` preset is 52.5 M; training keeps weights, EMA,
     * Adam's two moments and the gradient (20 bytes a parameter) in a 4 GB wasm heap.
     */
    maxParameters: 100_000_000,
  },
} as const;

/** Model names: where a model is stored, so nothing path-like. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A model name that is safe as a folder name: the pattern, and no `..` anywhere. */
export function isModelName(v: unknown): v is string {
  return typeof v === 'string' && MODEL_NAME_PATTERN.test(v) && !v.includes('..');
}
