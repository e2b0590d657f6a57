/**
 * improved-diffusion's `UNetModel` on TensorFlow.js, NHWC. Parameters are tf.Variables keyed by the reference's
 * state_dict names (layouts in statedict.ts); `apply` is a pure function of them, so it can run inside
 * tf.grad / optimizer.minimize.
 */
import { tf } from '../tf';
import type { SafeTensor } from '../safetensors';
import { UNetConfig, validateUNetConfig } from './config';
import { buildLayout, Layer, ParamSpec, UNetLayout, parameterCount } from './layout';
import { attentionBlock, conv3x3, linear, normalization, ParamLookup, resBlock, ResBlockContext, silu, timestepEmbedding, upsample } from './layers';
import { importStateDict, toTorchLayout } from './statedict';
import { initialValues, seededUniform } from './init';

export interface ApplyOptions {
  /** Training mode: dropout is applied when the config's dropout > 0. */
  training?: boolean;
  /** Seed of the dropout masks (random when absent); each ResBlock derives its own from it. */
  dropoutSeed?: number;
  /**
   * Debugging: receives the intermediates named as in the reference's activations file (`timestep_embedding`,
   * `emb`, `down.i`, `middle`, `up.i`). The tensors are kept; the receiver disposes them.
   */
  tap?: (name: string, value: tf.Tensor) => void;
}

export interface CreateOptions {
  /** Zero-initialise the layers the reference wraps in zero_module() (default true). */
  zeroInit?: boolean;
}

export class UNet {
  readonly layout: UNetLayout;
  private readonly vars: Map<string, tf.Variable>;

  private constructor(readonly config: UNetConfig, values: Map<string, Float32Array>) {
    this.layout = buildLayout(config);
    // tidy frees each initial tensor; the variable holds its own copy.
    this.vars = new Map(this.layout.params.map((s) => [s.name, tf.tidy(() => tf.variable(tf.tensor(values.get(s.name) as Float32Array, s.shape), true))]));
  }

  /** A freshly initialised UNet (PyTorch's default initialisation, zero_module layers zero), deterministic in seed. */
  static create(config: UNetConfig, seed = 0, opts: CreateOptions = {}): UNet {
    validateUNetConfig(config);
    const rand = seededUniform(seed);
    const values = new Map(buildLayout(config).params.map((s) => [s.name, initialValues(s, rand, opts.zeroInit ?? true)]));
    return new UNet(config, values);
  }

  /** A UNet with the weights of a reference-format state dict (PyTorch names and layouts). */
  static fromStateDict(config: UNetConfig, dict: Map<string, SafeTensor>): UNet {
    validateUNetConfig(config);
    return new UNet(config, importStateDict(buildLayout(config).params, dict));
  }

  /** Replaces every parameter from a reference-format state dict; throws (changing nothing) if it does not fit. */
  loadStateDict(dict: Map<string, SafeTensor>): void {
    const values = importStateDict(this.layout.params, dict);
    for (const s of this.layout.params) {
      tf.tidy(() => (this.vars.get(s.name) as tf.Variable).assign(tf.tensor(values.get(s.name) as Float32Array, s.shape)));
    }
  }

  /** The parameters in the reference's layout and state_dict order (F32), ready for writeSafetensors. */
  stateDict(): Map<string, SafeTensor> {
    return new Map(this.layout.params.map((s) => [s.name, { dtype: 'F32' as const, shape: [...s.torchShape], data: toTorchLayout(s, this.vars.get(s.name)!.dataSync() as Float32Array) }]));
  }

  /** Parameter specs in state_dict order. */
  get parameters(): readonly ParamSpec[] {
    return this.layout.params;
  }

  variable(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`UNet has no parameter "${name}"`);
    return v;
  }

  /** Every parameter, in state_dict order. */
  trainableVariables(): tf.Variable[] {
    return [...this.vars.values()];
  }

  /** Number of scalar parameters (equals the reference's sum of p.numel()). */
  parameterCount(): number {
    return parameterCount(this.config);
  }

  /**
   * UNetModel.forward: x [N, H, W, C] NHWC, timesteps [N] as floats (already rescaled by the caller), y [N] int32
   * labels for a class-conditional model. Returns [N, H, W, outChannels].
   */
  apply(x: tf.Tensor4D, timesteps: tf.Tensor1D, y?: tf.Tensor1D, opts: ApplyOptions = {}): tf.Tensor4D {
    this.checkInputs(x, timesteps, y);
    const c = this.config;
    const p: ParamLookup = (name) => this.vars.get(name) as tf.Tensor;
    const tap = opts.tap ? (name: string, v: tf.Tensor) => opts.tap!(name, tf.keep(v.clone())) : undefined;
    return tf.tidy(() => {
      const tEmb = timestepEmbedding(timesteps, c.modelChannels);
      tap?.('timestep_embedding', tEmb);
      let emb = linear(silu(linear(tEmb, p, 'time_embed.0')), p, 'time_embed.2');
      if (c.numClasses !== null && y) emb = emb.add(tf.matMul(tf.oneHot(y.toInt(), c.numClasses), p('label_emb.weight')));
      tap?.('emb', emb);
      const training = opts.training === true && c.dropout > 0;
      const ctx: ResBlockContext = {
        embSilu: silu(emb),
        useScaleShiftNorm: c.useScaleShiftNorm,
        dropout: training ? c.dropout : 0,
        dropoutSeed: opts.dropoutSeed ?? Math.floor(Math.random() * 2 ** 31),
      };
      const run = (h: tf.Tensor4D, block: Layer[]): tf.Tensor4D => block.reduce((acc, layer) => this.layer(acc, layer, p, ctx), h);
      const stack: tf.Tensor4D[] = [];
      let h = x;
      this.layout.inputBlocks.forEach((block, i) => {
        h = run(h, block);
        stack.push(h);
        tap?.(`down.${i}`, h);
      });
      h = run(h, this.layout.middleBlock);
      tap?.('middle', h);
      this.layout.outputBlocks.forEach((block, i) => {
        h = run(tf.concat([h, stack.pop() as tf.Tensor4D], 3), block);
        tap?.(`up.${i}`, h);
      });
      return conv3x3(normalization(h, p, 'out.0', { silu: true }), p, 'out.2');
    });
  }

  private layer(h: tf.Tensor4D, layer: Layer, p: ParamLookup, ctx: ResBlockContext): tf.Tensor4D {
    switch (layer.kind) {
      case 'conv': return conv3x3(h, p, layer.prefix, layer.stride);
      case 'res': return resBlock(h, p, layer, ctx);
      case 'attn': return attentionBlock(h, p, layer);
      case 'up': return upsample(h, p, layer.prefix);
    }
  }

  private checkInputs(x: tf.Tensor4D, timesteps: tf.Tensor1D, y?: tf.Tensor1D): void {
    if (this.vars.size === 0) throw new Error('This UNet was disposed');
    const c = this.config;
    const [n, h, w, ch] = x.shape;
    if (x.rank !== 4 || ch !== c.inChannels) throw new Error(`UNet input must be NHWC [N, H, W, ${c.inChannels}], got [${x.shape}]`);
    const factor = 2 ** (c.channelMult.length - 1);
    if (h % factor !== 0 || w % factor !== 0) throw new Error(`UNet input size ${h}×${w} must be divisible by ${factor}`);
    if (timesteps.rank !== 1 || timesteps.shape[0] !== n) throw new Error(`UNet timesteps must have shape [${n}], got [${timesteps.shape}]`);
    if (c.numClasses !== null && !y) throw new Error('This UNet is class-conditional: pass labels y');
    if (c.numClasses === null && y) throw new Error('This UNet is unconditional (numClasses null): labels y are not accepted');
    if (y && (y.rank !== 1 || y.shape[0] !== n)) throw new Error(`UNet labels must have shape [${n}], got [${y.shape}]`);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
