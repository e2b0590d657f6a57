/**
 * engine/unet/flops.ts against the work the UNet really dispatches: every convolution and matmul kernel of a
 * forward pass and of a training pass (tf.profile's kernel list), each counted from its own shapes — so a layer
 * the layout-based count forgets, or counts at the wrong size, shows up as a difference.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../engine/tf';
import { initBackend } from '../../engine/backend';
import { resolveUNetConfig } from '../../engine/unet/presets';
import { UNet } from '../../engine/unet/model';
import { unetFlops } from '../../engine/unet/flops';

before(async () => {
  await initBackend('wasm');
});

const size = (s: number[]): number => s.reduce((p, d) => p * d, 1);

/** 2 × multiply-adds of one kernel call, from its input and output shapes (0 for kernels that are not products). */
function kernelFlops(name: string, inputs: number[][], output: number[]): number {
  switch (name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const [kh, kw, ci] = inputs[1];
      return 2 * kh * kw * ci * size(output);
    }
    case 'Conv2DBackpropInput': {
      // inputs (dy, filter) → dx: every dy entry meets kh·kw·ci filter taps.
      const [kh, kw, ci] = inputs[1];
      return 2 * kh * kw * ci * size(inputs[0]);
    }
    case 'Conv2DBackpropFilter': {
      // inputs (x, dy) → dW [kh, kw, ci, co]: every dy entry meets kh·kw·ci inputs.
      const [kh, kw, ci] = output;
      return 2 * kh * kw * ci * size(inputs[1]);
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      // out [..., M, N]; a holds batchA·M·K entries whichever way it is transposed.
      const [a] = inputs;
      const m = output[output.length - 2];
      const k = size(a) / (size(a.slice(0, -2)) * m);
      return 2 * size(output) * k;
    }
    default:
      return 0;
  }
}

async function profiledFlops(f: () => void): Promise<{ total: number; byKernel: Map<string, number> }> {
  const info = await tf.profile(f);
  const byKernel = new Map<string, number>();
  let total = 0;
  for (const k of info.kernels) {
    const flops = kernelFlops(k.name, k.inputShapes as number[][], k.outputShapes[0] as number[]);
    if (!flops) continue;
    total += flops;
    byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + flops);
  }
  return { total, byKernel };
}

for (const preset of ['tiny', 'mnist'] as const) {
  test(`${preset}: forward and training FLOPs per image equal those of the kernels dispatched`, async () => {
    const config = resolveUNetConfig(preset);
    const unet = UNet.create(config, 0, { zeroInit: false });
    const n = 2;
    const x = tf.randomNormal([n, config.imageSize, config.imageSize, config.inChannels]) as tf.Tensor4D;
    const t = tf.tensor1d([3, 700]);
    const counted = unetFlops(config);

    const fwd = await profiledFlops(() => tf.tidy(() => void unet.apply(x, t).dataSync()));
    assert.equal(counted.forward, fwd.total / n);

    const params = unet.trainableVariables();
    const train = await profiledFlops(() => tf.tidy(() => {
      const { value } = tf.variableGrads(() => unet.apply(x, t).square().mean() as tf.Scalar, params);
      value.dataSync();
    }));
    // tfjs's fused conv and matmul gradients also compute the input gradients of the first convolution and of
    // the first time-embedding layer, which a step does not need (x_t and the sinusoidal embedding have no
    // gradient) and the count leaves out.
    const unneeded = 2 * 9 * config.inChannels * config.modelChannels * config.imageSize ** 2 + 2 * config.modelChannels * 4 * config.modelChannels;
    assert.equal(counted.trainingStep, train.total / n - unneeded);
    assert.ok(counted.trainingStep > 2.9 * counted.forward && counted.trainingStep < 3 * counted.forward);
    tf.dispose([x, t]);
    unet.dispose();
  });
}

test('tiny: the counts by hand for two layers of known size', () => {
  // The whole count is checked above against the kernels; here its scale against arithmetic done by hand:
  // tiny's forward is ~0.5 GFLOP per image, 37.7 MFLOP of it the 32→32 ResBlock at 32×32 (two 3×3 convs).
  const f = unetFlops(resolveUNetConfig('tiny'));
  assert.ok(f.forward > 4.5e8 && f.forward < 5.5e8, `tiny forward ${f.forward}`);
  const mnist = unetFlops(resolveUNetConfig('mnist'));
  assert.ok(mnist.forward > 3 * f.forward, `mnist forward ${mnist.forward}`);
});
