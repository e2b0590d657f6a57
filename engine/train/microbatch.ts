/**
 * Automatic microbatch size. Backprop keeps every intermediate activation of the forward pass on the autograd
 * tape until the backward pass, so memory grows with the images per pass, not with the batch: a step splits
 * its batch into microbatches that fit and sums their gradients (the reference's `--microbatch`).
 *
 * The peak memory per image is estimated from the architecture: per pixel and channel, the float32 maps a
 * ResBlock, AttentionBlock, conv and upsample keep on the tape plus those the backward pass holds at its peak,
 * and each attention head's positions² weights. The constants were fitted on the wasm backend to tf.profile's
 * peakBytes of a forward+backward pass and kept a little above it: measured with the fused GroupNorm kernels,
 * tiny 53 / 48 MB and mnist 248 / 217 MB per image at 4 / 8 images, estimated 57 and 267 — so a worker's
 * half of a batch of 16 (8 mnist images, 1.74 GB) runs as one pass instead of two of 4 (9% faster).
 */
import type { UNetConfig } from '../spec';
import { buildLayout, type Layer } from '../unet/layout';

/** Bytes a pass may use at its peak: the 4 GB wasm heap minus weights, gradients, Adam and EMA, and headroom. */
export const TAPE_BUDGET_BYTES = 2.25 * 2 ** 30;

/** Float32 maps per pixel per channel at the peak of a pass, per layer kind (fitted, rounded up). */
const KEPT = { resIn: 22, resOut: 34, attn: 52, attnWeights: 13, conv: 4, up: 13 } as const;

/** Estimated peak bytes of a forward+backward pass, per image of this UNet. */
export function tapeBytesPerImage(config: UNetConfig): number {
  const layout = buildLayout(config);
  let floats = 0;
  let size = config.imageSize;
  const count = (layer: Layer): void => {
    const px = size * size;
    switch (layer.kind) {
      case 'conv':
        if (layer.stride === 2) size /= 2;
        floats += KEPT.conv * size * size * layer.outCh;
        break;
      case 'res':
        floats += px * (KEPT.resIn * layer.inCh + KEPT.resOut * layer.outCh);
        break;
      case 'attn':
        floats += px * KEPT.attn * layer.channels + KEPT.attnWeights * layer.heads * px * px;
        break;
      case 'up':
        size *= 2;
        floats += KEPT.up * size * size * layer.channels;
        break;
    }
  };
  for (const block of [...layout.inputBlocks, layout.middleBlock, ...layout.outputBlocks]) block.forEach(count);
  return floats * 4;
}

/**
 * Images per forward/backward pass: the fewest passes whose microbatches fit the budget, split evenly (16 images
 * with room for 7 become 6+6+4, not 7+7+2); at least 1 image, at most the batch.
 */
export function autoMicrobatch(config: UNetConfig, batchSize: number, budgetBytes = TAPE_BUDGET_BYTES): number {
  const fit = Math.max(1, Math.floor(budgetBytes / tapeBytesPerImage(config)));
  const passes = Math.ceil(batchSize / fit);
  return Math.ceil(batchSize / passes);
}

/** Images per pass for `size` images of a run: the microbatch setting (0 = automatic), at most the size. */
export function microbatchFor(config: UNetConfig, setting: number, size: number): number {
  return setting > 0 ? Math.min(setting, size) : autoMicrobatch(config, size);
}
