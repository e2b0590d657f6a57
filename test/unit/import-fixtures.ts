/**
 * Fixtures of the import/export tests: the reference's unet_small files with the pipeline they belong to, and
 * reference-style checkpoint triples (model/ema/opt .pt written as train_util.save writes them) of seeded random
 * values for any pipeline, so bit-for-bit comparisons have something non-trivial to compare.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../engine/rng';
import type { AdamState } from '../../engine/optim/adam';
import type { SafeTensor } from '../../engine/safetensors';
import type { CompletePipeline } from '../../engine/spec';
import { unetConfigFor } from '../../engine/unet/presets';
import { buildLayout, type ParamSpec } from '../../engine/unet/layout';
import { adamStateToTorch, writeTorchCheckpoint, writeTorchStateDict } from '../../engine/interop';
import { referenceDir } from './interop-helpers';

export const ref = (file: string): Buffer => readFileSync(join(referenceDir(), file));

/** The pipeline whose UNet is unet_small.json's config (16 px RGB, attention factor 2 = 8 px, learned σ). */
export const SMALL_PIPELINE: CompletePipeline = {
  schedule: { kind: 'cosine', steps: 100 },
  noiser: { modelMeanType: 'epsilon' },
  unet: {
    model: 'small', preset: 'custom', modelVarType: 'learned_range', numClasses: null,
    config: { imageSize: 16, inChannels: 3, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [8], numHeads: 2, dropout: 0, useScaleShiftNorm: true },
  },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'uniform' },
};

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function paramsOf(pipeline: CompletePipeline): ParamSpec[] {
  return buildLayout(unetConfigFor(pipeline.unet)).params;
}

/** A state_dict of seeded random values in the reference's shapes and order. */
export function randomStateDict(params: readonly ParamSpec[], seed: number): Map<string, SafeTensor> {
  const rng = new Rng(seed);
  return new Map(params.map((s) => [s.name, { dtype: 'F32', shape: [...s.torchShape], data: Float32Array.from(rng.normalArray(s.torchShape.reduce((a, b) => a * b, 1))) }]));
}

/** Adam moments (our layout) of seeded random values, v ≥ 0. */
export function randomAdam(params: readonly ParamSpec[], step: number, seed: number): AdamState {
  const rng = new Rng(seed);
  const size = (s: ParamSpec): number => s.shape.reduce((a, b) => a * b, 1);
  return {
    step,
    expAvg: params.map((s) => Float32Array.from(rng.normalArray(size(s)))),
    expAvgSq: params.map((s) => Float32Array.from(rng.normalArray(size(s)), Math.abs)),
  };
}

export interface Triple {
  dir: string;
  model: string;
  ema: string;
  opt: string;
  weights: Map<string, SafeTensor>;
  emaWeights: Map<string, SafeTensor>;
  adam: AdamState;
}

/** model<step>.pt, ema_<rate>_<step>.pt and opt<step>.pt in `dir`, as the reference's train_util.save writes them. */
export function writeTriple(dir: string, pipeline: CompletePipeline, nameStep: number, adamStep = nameStep + 1, rate = '0.9999'): Triple {
  const params = paramsOf(pipeline);
  const s = String(nameStep).padStart(6, '0');
  const weights = randomStateDict(params, nameStep + 1);
  const emaWeights = randomStateDict(params, nameStep + 2);
  const adam = randomAdam(params, adamStep, nameStep + 3);
  const files = { model: `model${s}.pt`, ema: `ema_${rate}_${s}.pt`, opt: `opt${s}.pt` };
  fs.writeFileSync(path.join(dir, files.model), writeTorchStateDict(weights, { archiveName: `model${s}` }));
  fs.writeFileSync(path.join(dir, files.ema), writeTorchStateDict(emaWeights, { archiveName: `ema_${rate}_${s}` }));
  fs.writeFileSync(path.join(dir, files.opt), writeTorchCheckpoint(adamStateToTorch(adam, params, { lr: 3e-4 })));
  return { dir, ...files, weights, emaWeights, adam };
}

/** Raw bytes of a typed array. */
export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Same names in the same order, shapes and bytes. */
export function sameTensors(a: ReadonlyMap<string, SafeTensor>, b: ReadonlyMap<string, SafeTensor>): string | null {
  const ka = [...a.keys()];
  const kb = [...b.keys()];
  if (ka.join('\n') !== kb.join('\n')) return `names differ: ${ka.length} vs ${kb.length}`;
  for (const [k, t] of a) {
    const u = b.get(k)!;
    if (t.shape.join() !== u.shape.join()) return `${k}: shape [${t.shape}] vs [${u.shape}]`;
    if (!bytesOf(t.data).equals(bytesOf(u.data))) return `${k}: values differ`;
  }
  return null;
}
