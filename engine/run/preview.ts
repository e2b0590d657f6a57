/**
 * A training job's preview: a fixed-seed respaced ancestral sample of the EMA model (ENGINE_DEFAULTS.previewSteps
 * steps), so previews of successive steps are comparable, with x_t and x̂₀ of its first images kept a few times on
 * the way (the reverse process as it runs), every PNG with its provenance (kind `preview`).
 */
import { ENGINE_DEFAULTS, parseRespacing, type CompletePipeline, type UNetConfig } from '../spec';
import { generate } from '../sample/generate';
import { gridPng } from '../sample/result';
import { sampleProvenance } from '../sample/provenance';
import type { UNet } from '../unet/model';

/** A frame of the preview's reverse process: x_t and x̂₀ of its first images at timestep t, as PNG strips. */
export interface PreviewFrame {
  t: number;
  xt: Buffer;
  predXstart: Buffer;
}

export interface Preview {
  png: Buffer;
  frames: PreviewFrame[];
}

/** Images whose x_t and x̂₀ the frames show (one row). */
const FRAME_IMAGES = 4;

export async function drawPreview(
  ema: UNet, name: string, pipeline: CompletePipeline, config: UNetConfig, step: number, count: number, seed: number,
): Promise<Preview> {
  const T = pipeline.schedule.steps;
  const steps = Math.min(ENGINE_DEFAULTS.previewSteps, T);
  const framesEvery = Math.max(1, Math.floor(steps / ENGINE_DEFAULTS.previewFrames));
  const result = await generate(
    { unet: ema, pipeline, imageSize: config.imageSize, channels: config.inChannels, numClasses: config.numClasses },
    { count, batchSize: count, steps, seed, framesEvery },
  );
  const provenance = sampleProvenance({
    kind: 'preview', spec: { name, step, pipeline }, steps: parseRespacing(steps), method: 'ancestral', eta: 0, clipDenoised: true,
    ema: true, count, classes: result.classes, seed, trainStep: step,
  });
  const png = await gridPng(result.images, undefined, { ...provenance, output: 'grid' });
  const k = Math.min(FRAME_IMAGES, count);
  const first = (raw: { shape: [number, number, number, number]; data: Float32Array }): typeof raw => {
    const per = raw.shape[1] * raw.shape[2] * raw.shape[3];
    return { shape: [k, raw.shape[1], raw.shape[2], raw.shape[3]], data: raw.data.subarray(0, k * per) };
  };
  const images = Array.from({ length: k }, (_, i) => i);
  const frames = await Promise.all((result.frames ?? []).map(async (f) => ({
    t: f.t,
    xt: await gridPng(first(f.xt), k, { ...provenance, images, frame: { t: f.t, of: 'xt' } }),
    predXstart: await gridPng(first(f.predXstart), k, { ...provenance, images, frame: { t: f.t, of: 'predXstart' } }),
  })));
  return { png, frames };
}
