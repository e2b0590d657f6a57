/**
 * The module tree of improved-diffusion's `UNetModel.__init__`, replayed from a config: which blocks exist, their
 * channel counts, and every parameter with its reference (PyTorch) name and shape, in state_dict order.
 * The forward pass (model.ts) walks the same tree, so names, shapes and execution cannot drift apart.
 */
import { UNetConfig, levelSizes } from './config';

/** Parameter families; each has its own PyTorch layout and ours (see statedict.ts). */
export type ParamKind = 'conv' | 'linear' | 'conv1d' | 'norm' | 'embedding';

export interface ParamSpec {
  /** The reference state_dict key, e.g. `input_blocks.1.0.in_layers.2.weight`. */
  name: string;
  kind: ParamKind;
  role: 'weight' | 'bias';
  /** PyTorch shape: conv OIHW, linear [out, in], conv1d [O, I, 1], norm [C], embedding [classes, dim]. */
  torchShape: number[];
  /** Our shape: conv HWIO, linear and conv1d [in, out]; the rest as PyTorch. */
  shape: number[];
  /** Inputs per output unit, for PyTorch's default uniform(±1/√fanIn) initialisation. */
  fanIn: number;
  /** The reference wraps this layer in zero_module(). */
  zeroInit: boolean;
}

export interface ConvLayer { kind: 'conv'; prefix: string; inCh: number; outCh: number; stride: 1 | 2 }
export interface ResBlockLayer { kind: 'res'; prefix: string; inCh: number; outCh: number; index: number }
export interface AttentionLayer { kind: 'attn'; prefix: string; channels: number; heads: number }
export interface UpsampleLayer { kind: 'up'; prefix: string; channels: number }
export type Layer = ConvLayer | ResBlockLayer | AttentionLayer | UpsampleLayer;

export interface UNetLayout {
  timeEmbedDim: number;
  /** input_blocks: each entry is one TimestepEmbedSequential; its output is pushed on the skip stack. */
  inputBlocks: Layer[][];
  middleBlock: Layer[];
  /** output_blocks: each takes concat([h, skip]) first. */
  outputBlocks: Layer[][];
  params: ParamSpec[];
  /** ResBlocks in forward order (their index selects the dropout seed). */
  resBlockCount: number;
}

function convParams(prefix: string, inCh: number, outCh: number, k: number, zeroInit = false): ParamSpec[] {
  const fanIn = inCh * k * k;
  return [
    { name: `${prefix}.weight`, kind: 'conv', role: 'weight', torchShape: [outCh, inCh, k, k], shape: [k, k, inCh, outCh], fanIn, zeroInit },
    { name: `${prefix}.bias`, kind: 'conv', role: 'bias', torchShape: [outCh], shape: [outCh], fanIn, zeroInit },
  ];
}

function linearParams(prefix: string, kind: 'linear' | 'conv1d', inCh: number, outCh: number, zeroInit = false): ParamSpec[] {
  const torchShape = kind === 'linear' ? [outCh, inCh] : [outCh, inCh, 1];
  return [
    { name: `${prefix}.weight`, kind, role: 'weight', torchShape, shape: [inCh, outCh], fanIn: inCh, zeroInit },
    { name: `${prefix}.bias`, kind, role: 'bias', torchShape: [outCh], shape: [outCh], fanIn: inCh, zeroInit },
  ];
}

function normParams(prefix: string, ch: number): ParamSpec[] {
  return (['weight', 'bias'] as const).map((role) => ({ name: `${prefix}.${role}`, kind: 'norm' as const, role, torchShape: [ch], shape: [ch], fanIn: 0, zeroInit: false }));
}

/** The parameters of one layer, in the order the reference registers them. */
function layerParams(layer: Layer, embDim: number, useScaleShiftNorm: boolean): ParamSpec[] {
  const p = layer.prefix;
  switch (layer.kind) {
    case 'conv':
      return convParams(p, layer.inCh, layer.outCh, 3);
    case 'up':
      return convParams(`${p}.conv`, layer.channels, layer.channels, 3);
    case 'attn':
      return [
        ...normParams(`${p}.norm`, layer.channels),
        ...linearParams(`${p}.qkv`, 'conv1d', layer.channels, 3 * layer.channels),
        ...linearParams(`${p}.proj_out`, 'conv1d', layer.channels, layer.channels, true),
      ];
    case 'res':
      return [
        ...normParams(`${p}.in_layers.0`, layer.inCh),
        ...convParams(`${p}.in_layers.2`, layer.inCh, layer.outCh, 3),
        ...linearParams(`${p}.emb_layers.1`, 'linear', embDim, (useScaleShiftNorm ? 2 : 1) * layer.outCh),
        ...normParams(`${p}.out_layers.0`, layer.outCh),
        ...convParams(`${p}.out_layers.3`, layer.outCh, layer.outCh, 3, true),
        ...(layer.inCh === layer.outCh ? [] : convParams(`${p}.skip_connection`, layer.inCh, layer.outCh, 1)),
      ];
  }
}

/** Replays `UNetModel.__init__` (channel bookkeeping, skip stack, ds tracking) for a validated config. */
export function buildLayout(c: UNetConfig): UNetLayout {
  const mc = c.modelChannels;
  const embDim = 4 * mc;
  const sizes = levelSizes(c);
  const attends = (level: number): boolean => c.attentionResolutions.includes(sizes[level]);
  let resIndex = 0;
  const res = (prefix: string, inCh: number, outCh: number): ResBlockLayer => ({ kind: 'res', prefix, inCh, outCh, index: resIndex++ });
  const attn = (prefix: string, channels: number): AttentionLayer => ({ kind: 'attn', prefix, channels, heads: c.numHeads });

  const inputBlocks: Layer[][] = [[{ kind: 'conv', prefix: 'input_blocks.0.0', inCh: c.inChannels, outCh: mc, stride: 1 }]];
  const skipChannels = [mc];
  let ch = mc;
  c.channelMult.forEach((mult, level) => {
    for (let i = 0; i < c.numResBlocks; i++) {
      const b = `input_blocks.${inputBlocks.length}`;
      const block: Layer[] = [res(`${b}.0`, ch, mult * mc)];
      ch = mult * mc;
      if (attends(level)) block.push(attn(`${b}.1`, ch));
      inputBlocks.push(block);
      skipChannels.push(ch);
    }
    if (level !== c.channelMult.length - 1) {
      inputBlocks.push([{ kind: 'conv', prefix: `input_blocks.${inputBlocks.length}.0.op`, inCh: ch, outCh: ch, stride: 2 }]);
      skipChannels.push(ch);
    }
  });

  const middleBlock: Layer[] = [res('middle_block.0', ch, ch), attn('middle_block.1', ch), res('middle_block.2', ch, ch)];

  const outputBlocks: Layer[][] = [];
  for (let level = c.channelMult.length - 1; level >= 0; level--) {
    const mult = c.channelMult[level];
    for (let i = 0; i <= c.numResBlocks; i++) {
      const b = `output_blocks.${outputBlocks.length}`;
      const block: Layer[] = [res(`${b}.0`, ch + (skipChannels.pop() as number), mult * mc)];
      ch = mult * mc;
      if (attends(level)) block.push(attn(`${b}.${block.length}`, ch));
      if (level > 0 && i === c.numResBlocks) block.push({ kind: 'up', prefix: `${b}.${block.length}`, channels: ch });
      outputBlocks.push(block);
    }
  }

  const params: ParamSpec[] = [
    ...linearParams('time_embed.0', 'linear', mc, embDim),
    ...linearParams('time_embed.2', 'linear', embDim, embDim),
  ];
  if (c.numClasses !== null) {
    params.push({ name: 'label_emb.weight', kind: 'embedding', role: 'weight', torchShape: [c.numClasses, embDim], shape: [c.numClasses, embDim], fanIn: 0, zeroInit: false });
  }
  for (const layer of [...inputBlocks.flat(), ...middleBlock, ...outputBlocks.flat()]) params.push(...layerParams(layer, embDim, c.useScaleShiftNorm));
  params.push(...normParams('out.0', ch), ...convParams('out.2', mc, c.outChannels, 3, true));
  return { timeEmbedDim: embDim, inputBlocks, middleBlock, outputBlocks, params, resBlockCount: resIndex };
}

/** Number of scalar parameters of the UNet a config builds (the reference's sum of p.numel()), without building it. */
export function parameterCount(c: UNetConfig): number {
  return buildLayout(c).params.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
