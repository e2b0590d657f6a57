/**
 * The UNet: architecture bookkeeping against the reference (names, shapes, parameter counts counted
 * independently), config validation, gradients, the class-conditional path, dropout, and safetensors I/O
 * (byte-exact round trip of the reference weights file, malformed files refused).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../engine/tf';
import { initBackend } from '../../engine/backend';
import { referenceDir } from '../conformance/harness';
import { parseSafetensors, parseSafetensorsWithMetadata, writeSafetensors, SafeTensor } from '../../engine/safetensors';
import { fromReferenceConfig, toReferenceConfig, ReferenceUNetConfig, UNetConfig, validateUNetConfig } from '../../engine/unet/config';
import { PRESET_NAMES, resolveUNetConfig } from '../../engine/unet/presets';
import { UNet } from '../../engine/unet/model';
import { buildLayout } from '../../engine/unet/layout';

const refDir = referenceDir();
const ref = JSON.parse(readFileSync(join(refDir, 'unet_small.json'), 'utf8')) as {
  config: ReferenceUNetConfig;
  state_dict_keys: Array<{ name: string; shape: number[] }>;
  num_parameters: number;
};
const weightsFile = readFileSync(join(refDir, 'unet_small.safetensors'));

before(async () => {
  await initBackend('wasm');
});

/**
 * An independent parameter count: UNetModel.__init__'s loops over the REFERENCE config (ds factors), with
 * Conv = O·I·k² + O, Linear = I·O + O, GroupNorm = 2C, and no names or shapes from our layout code.
 */
function referenceParameterCount(r: ReferenceUNetConfig): number {
  const mc = r.model_channels;
  const emb = 4 * mc;
  const conv = (i: number, o: number, k: number): number => o * i * k * k + o;
  const lin = (i: number, o: number): number => i * o + o;
  const gn = (c: number): number => 2 * c;
  const res = (i: number, o: number): number =>
    gn(i) + conv(i, o, 3) + lin(emb, (r.use_scale_shift_norm ? 2 : 1) * o) + gn(o) + conv(o, o, 3) + (i === o ? 0 : conv(i, o, 1));
  const attn = (c: number): number => gn(c) + lin(c, 3 * c) + lin(c, c);
  let n = lin(mc, emb) + lin(emb, emb) + (r.num_classes ? r.num_classes * emb : 0) + conv(r.in_channels, mc, 3);
  const chans = [mc];
  let ch = mc;
  let ds = 1;
  r.channel_mult.forEach((mult, level) => {
    for (let i = 0; i < r.num_res_blocks; i++) {
      n += res(ch, mult * mc) + (r.attention_resolutions.includes(ds) ? attn(mult * mc) : 0);
      ch = mult * mc;
      chans.push(ch);
    }
    if (level !== r.channel_mult.length - 1) {
      n += conv(ch, ch, 3);
      chans.push(ch);
      ds *= 2;
    }
  });
  n += 2 * res(ch, ch) + attn(ch);
  [...r.channel_mult.entries()].reverse().forEach(([level, mult]) => {
    for (let i = 0; i <= r.num_res_blocks; i++) {
      n += res(ch + (chans.pop() as number), mult * mc) + (r.attention_resolutions.includes(ds) ? attn(mult * mc) : 0);
      ch = mult * mc;
      if (level > 0 && i === r.num_res_blocks) {
        n += conv(ch, ch, 3);
        ds /= 2;
      }
    }
  });
  return n + gn(ch) + conv(mc, r.out_channels, 3);
}

test('unet_small: names and shapes equal the reference state_dict, in order; parameter count matches', () => {
  const config = fromReferenceConfig(ref.config);
  assert.deepEqual(config.attentionResolutions, [config.imageSize / 2]);
  const model = UNet.create(config, 0);
  try {
    assert.deepEqual(model.parameters.map((s) => [s.name, s.torchShape]), ref.state_dict_keys.map((k) => [k.name, k.shape]));
    assert.equal(model.parameterCount(), ref.num_parameters);
    assert.equal(referenceParameterCount(ref.config), ref.num_parameters);
    const back = toReferenceConfig(config);
    for (const k of ['attention_resolutions', 'channel_mult', 'in_channels', 'model_channels', 'out_channels', 'num_res_blocks', 'num_heads', 'use_scale_shift_norm', 'num_classes', 'dropout'] as const) {
      assert.deepEqual(back[k], ref.config[k], k);
    }
  } finally {
    model.dispose();
  }
});

/** Our parameter count without allocating the weights. */
function countOf(config: UNetConfig): number {
  return buildLayout(config).params.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

test('presets: parameter counts equal the independent count; class-conditional adds the label table', () => {
  for (const name of PRESET_NAMES) {
    for (const numClasses of [null, 10]) {
      const config = resolveUNetConfig({ preset: name, numClasses });
      assert.equal(countOf(config), referenceParameterCount(toReferenceConfig(config)), `${name}, numClasses ${numClasses}`);
    }
  }
  const tiny = UNet.create(resolveUNetConfig('tiny'), 0);
  assert.equal(tiny.parameterCount(), countOf(tiny.config));
  assert.equal(tiny.trainableVariables().length, tiny.parameters.length);
  tiny.dispose();
});

test('every preset maps [1, H, W, C] to [1, H, W, 2C] with finite values', () => {
  for (const name of PRESET_NAMES) {
    const config = resolveUNetConfig(name);
    const model = UNet.create(config, 1);
    const before = tf.memory().numTensors;
    const x = tf.randomNormal([1, config.imageSize, config.imageSize, config.inChannels], 0, 1, 'float32', 3) as tf.Tensor4D;
    const t = tf.tensor1d([250]);
    const out = model.apply(x, t);
    assert.deepEqual(out.shape, [1, config.imageSize, config.imageSize, 2 * config.inChannels], name);
    assert.ok((out.dataSync() as Float32Array).every(Number.isFinite), name);
    tf.dispose([x, t, out]);
    assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
    model.dispose();
  }
});

test('bad configs fail with errors naming the problem', () => {
  const tiny = resolveUNetConfig('tiny');
  const cases: Array<[Partial<UNetConfig> & { preset?: string }, RegExp]> = [
    [{ modelChannels: 48 }, /multiple of 32/],
    [{ modelChannels: 0 }, /modelChannels must be a positive integer/],
    [{ imageSize: 34 }, /imageSize 34 must be divisible by 4/],
    [{ attentionResolutions: [12] }, /attention resolution 12 is not a feature-map size.*32, 16, 8/],
    [{ numHeads: 3 }, /do not split into 3 heads/],
    [{ dropout: 1 }, /dropout must be a number in \[0, 1\)/],
    [{ channelMult: [] }, /channelMult must be a non-empty array/],
    [{ numClasses: 2.5 }, /numClasses must be null/],
    [{ outChannels: 3 }, /outChannels must be 2/],
    [{ preset: 'huge' }, /Unknown UNet preset "huge": use one of tiny, mnist, cifar/],
    [{ modelChanels: 64 } as Partial<UNetConfig>, /Unknown UNet setting "modelChanels"/],
  ];
  for (const [spec, message] of cases) assert.throws(() => resolveUNetConfig(spec), message, JSON.stringify(spec));
  assert.throws(() => resolveUNetConfig('huge'), /use one of tiny, mnist, cifar/);
  assert.throws(() => validateUNetConfig({ ...tiny, learnSigma: false }), /outChannels must be 1/);
  assert.deepEqual(resolveUNetConfig({ preset: 'mnist', learnSigma: false }).outChannels, 1);
  assert.throws(() => fromReferenceConfig({ ...ref.config, image_size: undefined }), /image_size is needed/);
  const model = UNet.create(tiny, 0);
  assert.throws(() => model.apply(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D, tf.zeros([1]) as tf.Tensor1D), /NHWC \[N, H, W, 1\]/);
  assert.throws(() => model.apply(tf.zeros([2, 32, 32, 1]) as tf.Tensor4D, tf.zeros([1]) as tf.Tensor1D), /timesteps must have shape \[2\]/);
  model.dispose();
});

/** A small config that keeps every kind of layer (skip convs, attention in and out, up/downsampling). */
const small: UNetConfig = { ...resolveUNetConfig('tiny'), imageSize: 16, channelMult: [1, 2], attentionResolutions: [8], numHeads: 2 };

test('gradients reach every parameter and agree with a finite difference', () => {
  const model = UNet.create(small, 5, { zeroInit: false });
  const x = tf.randomNormal([2, 16, 16, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
  const t = tf.tensor1d([10, 900]);
  const r = tf.randomNormal([2, 16, 16, 2], 0, 1, 'float32', 2);
  const loss = (): tf.Scalar => model.apply(x, t).mul(r).sum();
  const { value, grads } = tf.variableGrads(loss, model.trainableVariables());
  for (const s of model.parameters) {
    const g = grads[model.variable(s.name).name];
    assert.deepEqual(g.shape, s.shape, s.name);
    const norm = g.norm().dataSync()[0];
    assert.ok(Number.isFinite(norm) && norm > 0, `${s.name}: gradient norm ${norm}`);
  }
  // Directional derivative along the gradient of one weight of each kind: (f(θ+εd) − f(θ−εd)) / 2ε ≈ ⟨g, d⟩.
  for (const name of ['input_blocks.1.0.in_layers.2.weight', 'input_blocks.3.1.qkv.weight', 'middle_block.0.emb_layers.1.weight', 'out.2.bias']) {
    const v = model.variable(name);
    const original = v.clone();
    const g = grads[v.name];
    const d = g.div(g.norm());
    const eps = 1e-2;
    v.assign(original.add(d.mul(eps)));
    const plus = tf.tidy(() => loss().dataSync()[0]);
    v.assign(original.sub(d.mul(eps)));
    const minus = tf.tidy(() => loss().dataSync()[0]);
    v.assign(original);
    const numeric = (plus - minus) / (2 * eps);
    const analytic = g.norm().dataSync()[0];
    assert.ok(Math.abs(numeric - analytic) <= 0.02 * analytic, `${name}: finite difference ${numeric}, gradient ${analytic}`);
    tf.dispose([original, d]);
  }
  tf.dispose([value, x, t, r, ...Object.values(grads)]);
  model.dispose();
});

test('class-conditional: emb gains exactly label_emb[y], and the label changes the output', () => {
  const model = UNet.create({ ...small, numClasses: 10 }, 2, { zeroInit: false });
  const x = tf.randomNormal([2, 16, 16, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
  const t = tf.tensor1d([300, 300]);
  const run = (labels: number[]): { out: Float32Array; emb: Float32Array } => {
    let emb: tf.Tensor | undefined;
    const y = tf.tensor1d(labels, 'int32');
    const out = model.apply(x, t, y, { tap: (n, v) => (n === 'emb' ? (emb = v) : v.dispose()) });
    const res = { out: out.dataSync() as Float32Array, emb: emb!.dataSync() as Float32Array };
    tf.dispose([y, out, emb!]);
    return res;
  };
  const a = run([3, 7]);
  const b = run([7, 3]);
  const table = model.variable('label_emb.weight').arraySync() as number[][];
  const dim = table[0].length;
  for (let j = 0; j < dim; j++) {
    // Row 0 had label 3 then 7: the difference of the two embeddings is label_emb[3] − label_emb[7].
    assert.ok(Math.abs(a.emb[j] - b.emb[j] - (table[3][j] - table[7][j])) < 1e-5, `emb[${j}]`);
  }
  const half = a.out.length / 2;
  let diff = 0;
  for (let i = 0; i < half; i++) diff = Math.max(diff, Math.abs(a.out[i] - b.out[i]));
  assert.ok(diff > 1e-4, `output ignores the label (max diff ${diff})`);
  assert.throws(() => model.apply(x, t), /class-conditional: pass labels y/);
  tf.dispose([x, t]);
  model.dispose();
});

test('dropout: only in training, deterministic in dropoutSeed', () => {
  const model = UNet.create({ ...small, dropout: 0.3 }, 3, { zeroInit: false });
  const x = tf.randomNormal([1, 16, 16, 1], 0, 1, 'float32', 6) as tf.Tensor4D;
  const t = tf.tensor1d([42]);
  const run = (opts: { training?: boolean; dropoutSeed?: number }): Float32Array => tf.tidy(() => model.apply(x, t, undefined, opts).dataSync() as Float32Array);
  const evalOut = run({});
  assert.deepEqual(run({ training: false, dropoutSeed: 1 }), evalOut);
  const train1 = run({ training: true, dropoutSeed: 1 });
  assert.deepEqual(run({ training: true, dropoutSeed: 1 }), train1);
  assert.notDeepEqual(run({ training: true, dropoutSeed: 2 }), train1);
  assert.notDeepEqual(train1, evalOut);
  tf.dispose([x, t]);
  model.dispose();
});

test('safetensors: the reference weights survive import → export byte for byte; export → import keeps outputs', () => {
  const { tensors, metadata } = parseSafetensorsWithMetadata(weightsFile);
  assert.deepEqual([...tensors.keys()], ref.state_dict_keys.map((k) => k.name));
  const config = fromReferenceConfig(ref.config);
  const model = UNet.fromStateDict(config, tensors);
  const exported = writeSafetensors(model.stateDict(), metadata);
  assert.ok(exported.equals(weightsFile), 'exported file differs from the reference file');

  const other = UNet.create(config, 99);
  const x = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
  const t = tf.tensor1d([500]);
  const before = tf.tidy(() => other.apply(x, t).dataSync());
  other.loadStateDict(parseSafetensors(writeSafetensors(model.stateDict())));
  const after = tf.tidy(() => other.apply(x, t).dataSync());
  const expected = tf.tidy(() => model.apply(x, t).dataSync());
  assert.deepEqual(after, expected);
  assert.notDeepEqual(before, expected);
  for (const s of model.parameters) {
    assert.deepEqual(other.variable(s.name).dataSync(), model.variable(s.name).dataSync(), s.name);
  }
  tf.dispose([x, t]);
  model.dispose();
  other.dispose();
});

test('loadStateDict names the missing, unknown or misshapen key and changes nothing', () => {
  const config = fromReferenceConfig(ref.config);
  const model = UNet.create(config, 1);
  const snapshot = model.variable('out.2.bias').dataSync().slice();
  const dict = (): Map<string, SafeTensor> => parseSafetensors(weightsFile);
  const missing = dict();
  missing.delete('middle_block.1.qkv.weight');
  assert.throws(() => model.loadStateDict(missing), /missing 1 parameter\(s\): middle_block\.1\.qkv\.weight/);
  const unknown = dict();
  unknown.set('label_emb.weight', { dtype: 'F32', shape: [10, 128], data: new Float32Array(1280) });
  assert.throws(() => model.loadStateDict(unknown), /unknown parameter\(s\) for this UNet config: label_emb\.weight/);
  const misshapen = dict();
  misshapen.set('out.2.weight', { dtype: 'F32', shape: [6, 32, 1, 9], data: new Float32Array(6 * 32 * 9) });
  assert.throws(() => model.loadStateDict(misshapen), /out\.2\.weight has shape \[6,32,1,9\], expected \[6,32,3,3\]/);
  assert.deepEqual(model.variable('out.2.bias').dataSync(), snapshot);
  model.dispose();
});

test('safetensors: malformed files are refused with an Error, never a crash', () => {
  const header = (obj: unknown, data = 0): Buffer => {
    const json = Buffer.from(JSON.stringify(obj));
    const b = Buffer.alloc(8 + json.length + data);
    b.writeBigUInt64LE(BigInt(json.length));
    json.copy(b, 8);
    return b;
  };
  const cases: Array<[Uint8Array, RegExp]> = [
    [Buffer.alloc(3), /too short/],
    [Buffer.from([255, 255, 255, 255, 255, 255, 255, 255, 0]), /exceeds/],
    [Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a"')]), /not valid UTF-8 JSON/],
    [header([1, 2]), /must be a JSON object/],
    [header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), /outside the 4 data bytes/],
    [header({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12/],
    [header({ a: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, 1), /unsupported dtype "Q7"/],
    [header({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), /non-negative integers/],
    [header({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4), /gaps or overlaps/],
    [header({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8), /4 data bytes after the last tensor/],
    [header({ __metadata__: { a: 1 } }), /__metadata__\.a must be a string/],
  ];
  for (const [buf, message] of cases) assert.throws(() => parseSafetensors(buf), message);
  // Random corruption of the real file: each attempt either parses or throws an Error saying so.
  const headerEnd = 8 + Number(weightsFile.readBigUInt64LE(0));
  let seed = 12345;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(weightsFile.subarray(0, headerEnd + 64 + rand(64)));
    for (let k = 0; k < 1 + rand(4); k++) b[rand(Math.min(b.length, 400))] = rand(256);
    try {
      parseSafetensors(b);
    } catch (err) {
      assert.ok(err instanceof Error && err.message.startsWith('Invalid safetensors file:'), String(err));
    }
  }
  const written = writeSafetensors({ n: { dtype: 'I64', shape: [2], data: BigInt64Array.from([1n, -2n]) }, f: { dtype: 'F64', shape: [1, 1], data: Float64Array.from([0.1]) } }, { k: 'v' });
  assert.equal(written.readBigUInt64LE(0) % 8n, 0n);
  const back = parseSafetensorsWithMetadata(written);
  assert.deepEqual(back.metadata, { k: 'v' });
  assert.deepEqual([...(back.tensors.get('n')!.data as BigInt64Array)], [1n, -2n]);
  assert.deepEqual(back.tensors.get('f'), { dtype: 'F64', shape: [1, 1], data: Float64Array.from([0.1]) });
});

test('create: deterministic in the seed, PyTorch default bounds, zero_module layers zero', () => {
  const a = UNet.create(small, 11);
  const b = UNet.create(small, 11);
  const c = UNet.create(small, 12);
  const w = (m: UNet, n: string): Float32Array => m.variable(n).dataSync() as Float32Array;
  assert.deepEqual(w(a, 'input_blocks.1.0.in_layers.2.weight'), w(b, 'input_blocks.1.0.in_layers.2.weight'));
  assert.notDeepEqual(w(a, 'input_blocks.1.0.in_layers.2.weight'), w(c, 'input_blocks.1.0.in_layers.2.weight'));
  for (const s of a.parameters) {
    const v = w(a, s.name);
    const maxAbs = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    if (s.zeroInit) assert.equal(maxAbs, 0, s.name);
    else if (s.kind === 'norm') assert.ok(v.every((x) => x === (s.role === 'weight' ? 1 : 0)), s.name);
    else {
      const bound = 1 / Math.sqrt(s.fanIn);
      assert.ok(maxAbs <= bound && maxAbs > 0.5 * bound, `${s.name}: max |w| ${maxAbs}, bound ${bound}`);
    }
  }
  const zeroed = ['out.2.weight', 'input_blocks.3.1.proj_out.weight', 'middle_block.2.out_layers.3.bias'];
  assert.deepEqual(a.parameters.filter((s) => zeroed.includes(s.name)).map((s) => s.zeroInit), [true, true, true]);
  [a, b, c].forEach((m) => m.dispose());
});

test('without scale-shift norm the embedding is added before the second GroupNorm (emb_layers has out channels)', () => {
  const config = { ...small, useScaleShiftNorm: false };
  const model = UNet.create(config, 4, { zeroInit: false });
  assert.deepEqual(model.variable('input_blocks.1.0.emb_layers.1.weight').shape, [128, 32]);
  assert.equal(model.parameterCount(), referenceParameterCount(toReferenceConfig(config)));
  const x = tf.randomNormal([2, 16, 16, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
  const out = tf.tidy(() => model.apply(x, tf.tensor1d([0, 999])).dataSync() as Float32Array);
  assert.equal(out.length, 2 * 16 * 16 * 2);
  assert.ok(out.every(Number.isFinite));
  // Different timesteps must change the output through the embedding path.
  const same = tf.tidy(() => model.apply(x, tf.tensor1d([0, 0])).dataSync() as Float32Array);
  assert.deepEqual(same.subarray(0, 512), out.subarray(0, 512));
  assert.notDeepEqual(same.subarray(512), out.subarray(512));
  x.dispose();
  model.dispose();
});
