/**
 * Automatic microbatch size. Backprop keeps every intermediate activation of the forward pass on the autograd
 * tape until the backward pass, so memory grows with the images per pass, not with the batch: a step splits
 * its batch into microbatches that fit and sums their gradients (the reference's `--microbatch`).
 *
 * The tape size per image is estimated from the architecture: the float32 feature maps a ResBlock and an
 * AttentionBlock keep per pixel and channel (GroupNorm statistics and normalised values, SiLU, conv outputs,
 * scale-shift, skip), plus each attention head's positions² weights. The constants were measured on the wasm
 * backend (tf.memory() at the end of the forward pass inside tf.grads); `mnist` comes to ~250 MB per image.
 */
import type { UNetConfig } from '../unet/config';
import { buildLayout, type Layer } from '../unet/layout';

/** Bytes the wasm heap can give the tape: 4 GB minus weights, gradients, Adam and EMA copies, and headroom. */
export const TAPE_BUDGET_BYTES = 1.5 * 2 ** 30;

/** Kept float32 maps per pixel per channel, per layer kind (measured, rounded up). */
const KEPT = { resIn: 10, resOut: 16, attn: 24, attnWeights: 6, conv: 2, up: 6 } as const;

/** Estimated autograd-tape bytes for one image of this UNet. */
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

/** Images per forward/backward pass: the most that fit the tape budget, at least 1, at most the batch. */
export function autoMicrobatch(config: UNetConfig, batchSize: number, budgetBytes = TAPE_BUDGET_BYTES): number {
  const perImage = tapeBytesPerImage(config);
  return Math.max(1, Math.min(batchSize, Math.floor(budgetBytes / perImage)));
}
