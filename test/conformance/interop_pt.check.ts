/**
 * unet_small.pt / unet_small_legacy.pt (the README's "Interop" section): the reference state dict saved by
 * torch.save in the zip and legacy formats. Each must hold exactly the tensors of unet_small.safetensors (same
 * names, order, shapes, bits), and a UNet loaded from it must reproduce unet_small.json's `output`, exactly as
 * the one loaded from the safetensors file does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../engine/tf';
import { parseSafetensors, SafeTensor } from '../../engine/safetensors';
import { readTorchStateDict } from '../../engine/interop';
import { fromReferenceConfig, ReferenceUNetConfig } from '../../engine/unet/config';
import { UNet } from '../../engine/unet/model';
import { FileReport, flat, hasFile, nchwToNhwc, nhwcToNchw, readJson, RefArray } from './harness';

export const file = 'unet_small.pt';

interface UNetRef {
  config: ReferenceUNetConfig;
  weights_file: string;
  inputs: { x: RefArray; timesteps: RefArray };
  output: RefArray;
}

function bits(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export async function check(refDir: string): Promise<FileReport> {
  const report = new FileReport(file);
  const ref = readJson<UNetRef>(refDir, 'unet_small.json');
  const x = ref.inputs.x;
  const config = fromReferenceConfig(ref.config, ref.config.image_size ?? x.shape[2]);
  const expected = parseSafetensors(readFileSync(join(refDir, ref.weights_file)));
  const [n, c, h, w] = x.shape;
  const forward = (dict: Map<string, SafeTensor>): Float64Array => {
    const model = UNet.fromStateDict(config, dict);
    try {
      const out = tf.tidy(() => {
        const xt = tf.tensor4d(Float32Array.from(nchwToNhwc(flat(x), x.shape)), [n, h, w, c]);
        return model.apply(xt, tf.tensor1d(Float32Array.from(flat(ref.inputs.timesteps))));
      });
      const values = nhwcToNchw(out.dataSync(), ref.output.shape);
      out.dispose();
      return values;
    } finally {
      model.dispose();
    }
  };
  const fromSafetensors = forward(expected);
  for (const name of ['unet_small.pt', 'unet_small_legacy.pt']) {
    if (!hasFile(refDir, name)) continue;
    const dict = readTorchStateDict(readFileSync(join(refDir, name)));
    report.expect(`${name}: names in order`, [...dict.keys()].join() === [...expected.keys()].join(), `${dict.size} vs ${expected.size} tensors`);
    const differing = [...expected].filter(([k, t]) => {
      const got = dict.get(k);
      return !got || got.dtype !== t.dtype || got.shape.join() !== t.shape.join() || !bits(got.data).equals(bits(t.data));
    });
    report.expect(`${name}: tensors bit for bit`, differing.length === 0, differing.slice(0, 5).map(([k]) => k).join(', '));
    const out = forward(dict);
    report.compare(`${name}: output`, out, flat(ref.output), { abs: 1e-4, rel: 0 });
    report.compare(`${name}: output equals the safetensors model's`, out, fromSafetensors, { abs: 0, rel: 0 });
  }
  return report;
}
