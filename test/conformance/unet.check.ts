/**
 * unet_small.json: the reference UNetModel's parameter names/shapes and its forward pass. The config, inputs
 * and weights all come from the files (attention_resolutions there are downsample factors; converted).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../engine/tf';
import { FileReport, Tolerance, flat, nchwToNhwc, nhwcToNchw, readJson, RefArray } from './harness';
import { parseSafetensors } from '../../engine/safetensors';
import { fromReferenceConfig, ReferenceUNetConfig } from '../../engine/unet/config';
import { UNet } from '../../engine/unet/model';

export const file = 'unet_small.json';

/** The bar for the UNet output: 1e-4 absolute, no relative slack. */
const UNET_TOL: Tolerance = { abs: 1e-4, rel: 0 };

interface UNetRef {
  config: ReferenceUNetConfig;
  weights_file: string;
  activations_file?: string;
  state_dict_keys: Array<{ name: string; shape: number[] }>;
  num_parameters: number;
  inputs: { x: RefArray; timesteps: RefArray; y?: RefArray | null };
  output: RefArray;
}

/** A tensor in the reference's NCHW layout ([N, C, ...]) brought to NCHW-ordered numbers from our NHWC tensor. */
function toNchw(t: tf.Tensor, nchwShape: number[]): Float64Array {
  const data = t.dataSync();
  return nchwShape.length === 4 ? nhwcToNchw(data, nchwShape) : Float64Array.from(data);
}

export async function check(refDir: string): Promise<FileReport> {
  const report = new FileReport(file);
  const ref = readJson<UNetRef>(refDir, file);
  const x = ref.inputs.x;
  const config = fromReferenceConfig(ref.config, ref.config.image_size ?? x.shape[2]);
  const dict = parseSafetensors(readFileSync(join(refDir, ref.weights_file)));
  const model = UNet.fromStateDict(config, dict);
  try {
    const ours = model.parameters;
    report.expect('state_dict names in order', ours.map((s) => s.name).join() === ref.state_dict_keys.map((k) => k.name).join(),
      `${ours.length} names vs ${ref.state_dict_keys.length}`);
    report.expect('state_dict shapes', ours.every((s, i) => s.torchShape.join() === ref.state_dict_keys[i]?.shape.join()));
    report.compare('num_parameters', model.parameterCount(), ref.num_parameters, { abs: 0, rel: 0 });

    const [n, c, h, w] = x.shape;
    const activations = new Map<string, tf.Tensor>();
    const xt = tf.tensor4d(Float32Array.from(nchwToNhwc(flat(x), x.shape)), [n, h, w, c]);
    const tt = tf.tensor1d(Float32Array.from(flat(ref.inputs.timesteps)));
    const yt = ref.inputs.y ? tf.tensor1d(Int32Array.from(flat(ref.inputs.y)), 'int32') : undefined;
    const out = model.apply(xt, tt, yt, { tap: (name, v) => activations.set(name, v) });
    report.compare('output', toNchw(out, ref.output.shape), flat(ref.output), UNET_TOL);

    if (ref.activations_file) {
      const acts = parseSafetensors(readFileSync(join(refDir, ref.activations_file)));
      for (const [name, value] of activations) {
        const expected = acts.get(name);
        if (expected) report.compare(`activation ${name}`, toNchw(value, expected.shape), expected.data as Float32Array, UNET_TOL);
      }
    }
    tf.dispose([xt, tt, out, ...(yt ? [yt] : []), ...activations.values()]);
  } finally {
    model.dispose();
  }
  return report;
}
