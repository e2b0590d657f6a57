/**
 * Floating-point operations of the UNet per image, counted from its layout: 2 per multiply-add of every
 * convolution, linear / 1×1 layer and attention product (q·kᵀ and weights·v) — the work that dominates; the
 * elementwise ops (GroupNorm, SiLU, softmax, biases, adds) are left out, as FLOP counts usually do.
 *
 * A training step's backward pass computes, for each of those products, the gradient of each operand that needs
 * one, each as many multiply-adds as the forward product: both for the attention products and for a layer's
 * input and weight, except the input of the first convolution and of the first time-embedding layer, which need
 * no gradient. So a step is about 3× the forward pass.
 */
import type { UNetConfig } from './config';
import { buildLayout, type Layer } from './layout';

export interface UNetFlops {
  /** One forward pass, per image. */
  forward: number;
  /** Forward + backward of a training step, per image. */
  trainingStep: number;
}

/** FLOPs per image of a UNet at its configured image size. */
export function unetFlops(config: UNetConfig): UNetFlops {
  const layout = buildLayout(config);
  const emb = layout.timeEmbedDim;
  const mc = config.modelChannels;
  let size = config.imageSize;
  // Products whose two operands both get a gradient (weights and activations, or two activations).
  let both = 0;
  const conv = (k: number, inCh: number, outCh: number, px: number): number => 2 * k * k * inCh * outCh * px;
  const count = (layer: Layer): void => {
    const px = size * size;
    switch (layer.kind) {
      case 'conv':
        if (layer.stride === 2) size /= 2;
        both += conv(3, layer.inCh, layer.outCh, size * size);
        break;
      case 'res':
        both += conv(3, layer.inCh, layer.outCh, px) + conv(3, layer.outCh, layer.outCh, px);
        if (layer.inCh !== layer.outCh) both += conv(1, layer.inCh, layer.outCh, px);
        both += 2 * emb * (config.useScaleShiftNorm ? 2 : 1) * layer.outCh;
        break;
      case 'attn': {
        const c = layer.channels;
        both += 2 * c * 3 * c * px + 2 * 2 * px * px * c + 2 * c * c * px;
        break;
      }
      case 'up':
        size *= 2;
        both += conv(3, layer.channels, layer.channels, size * size);
        break;
    }
  };
  const [first, ...rest] = layout.inputBlocks.flat();
  if (first.kind !== 'conv') throw new Error('unetFlops: the first layer must be a convolution');
  const firstConv = conv(3, first.inCh, first.outCh, size * size);
  for (const layer of [...rest, ...layout.middleBlock, ...layout.outputBlocks.flat()]) count(layer);
  both += 2 * emb * emb + conv(3, mc, config.outChannels, size * size);
  const timeEmbed0 = 2 * mc * emb;
  const forward = both + firstConv + timeEmbed0;
  // Backward: the weight gradient of the first conv and time_embed.0 only, both gradients of everything else.
  return { forward, trainingStep: forward + firstConv + timeEmbed0 + 2 * both };
}
