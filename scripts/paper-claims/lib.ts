/**
 * What the paper-claims and demo-quality scripts share: loading a model (a reference `.pt` state_dict with its
 * pipeline, or a stored model folder), sample-quality figures of one generated set at several sample sizes
 * (engine/quality: the first n of the same images, so the n = 64 figures are exactly those of a 64-image run),
 * bits/dim (engine/sample/bpd), and resumable result files (one JSON record a line, keyed, appended).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTorchStateDict } from '../../engine/interop';
import { UNet } from '../../engine/unet/model';
import { unetConfigFor } from '../../engine/unet/presets';
import { checkPipeline, type CompletePipeline, type SamplingMethod } from '../../engine/spec';
import { generateInWorkers } from '../../engine/parallel';
import { evaluationClasses, sampleQuality, type QualityDataset, type QualityFigures } from '../../engine/quality';
import type { SamplingModel } from '../../engine/sample/generate';
import { evaluateBpd } from '../../engine/sample/bpd';
import { createDataset } from '../../engine/data';
import { ModelStore } from '../../engine/train';
import { ModelCache } from '../../engine/host/models';

/** A reference checkpoint (torch state_dict with the reference's names) as a model our sampler runs. */
export function loadReferenceModel(file: string, pipeline: CompletePipeline): SamplingModel & { unet: UNet } {
  const p = checkPipeline(pipeline);
  const config = unetConfigFor(p.unet);
  const unet = UNet.fromStateDict(config, readTorchStateDict(fs.readFileSync(file)));
  return { unet, pipeline: p, imageSize: config.imageSize, channels: config.inChannels, numClasses: config.numClasses };
}

/** A model folder of a ModelStore (EMA weights unless `ema` is false). */
export function loadStoredModel(modelsDir: string, name: string, ema = true): SamplingModel {
  return new ModelCache(new ModelStore(modelsDir)).load(name, ema);
}

/** The figures of the samples and of the real-image floor at one sample size. */
export interface SizedFigures {
  n: number;
  samples: QualityFigures;
  floor: QualityFigures;
}

export interface SampleSetFigures {
  steps: string;
  method: SamplingMethod;
  seed: number;
  count: number;
  seconds: number;
  sizes: SizedFigures[];
  /** The images, NHWC in [−1, 1], for a grid. */
  images: { shape: number[]; data: Float32Array };
}

export interface SampleSetOptions {
  dataset: QualityDataset;
  /** Sample sizes to measure; the largest is generated, the others are its first n images. */
  sizes: number[];
  steps?: number | string;
  method?: SamplingMethod;
  seed?: number;
  batchSize?: number;
  eta?: number;
}

/** Generates max(sizes) samples (class i % numClasses when class-conditional) and measures the first n of each size. */
export async function sampleSetFigures(model: SamplingModel, o: SampleSetOptions): Promise<SampleSetFigures> {
  const count = Math.max(...o.sizes);
  const classes = evaluationClasses(model.numClasses, count);
  const seed = o.seed ?? 0;
  const method = o.method ?? 'ancestral';
  const started = Date.now();
  const result = await generateInWorkers(model, { count, classes, seed, method, steps: o.steps, batchSize: o.batchSize ?? 16, eta: o.eta ?? 0 });
  const seconds = (Date.now() - started) / 1000;
  const per = model.imageSize * model.imageSize * model.channels;
  const data = result.images.data as Float32Array;
  const sizes = [...o.sizes].sort((a, b) => a - b).map((n) => {
    const report = sampleQuality({ shape: [n, model.imageSize, model.imageSize, model.channels], data: data.subarray(0, n * per) }, { dataset: o.dataset, labels: classes?.slice(0, n) });
    return { n, samples: report.samples, floor: report.floor! };
  });
  return { steps: String(o.steps ?? 'full'), method, seed, count, seconds, sizes, images: { shape: [...result.images.shape], data } };
}

/** Bits/dim on the first `count` test images (mean and standard error), for the full T or a respacing. */
export async function bitsPerDim(model: SamplingModel, o: { count: number; steps?: number | string; seed?: number; batchSize?: number }): Promise<{ bpd: number; se: number; count: number; steps: number; seconds: number }> {
  const dataset = await createDataset({ kind: 'mnist', split: 'test' }, { imageSize: model.imageSize, channels: model.channels as 1 | 3 });
  const r = await evaluateBpd(model, dataset, { count: o.count, steps: o.steps, seed: o.seed ?? 0, batchSize: o.batchSize ?? 16 });
  return { bpd: r.bitsPerDim, se: r.standardError, count: r.count, steps: r.steps, seconds: r.seconds };
}

/** The figures of a set without the images, for a result file. */
export function withoutImages<T extends { images?: unknown }>(r: T): Omit<T, 'images'> {
  const { images: _images, ...rest } = r;
  return rest;
}

/** Records of a JSON-lines result file (none if it does not exist). */
export function readRecords<T = Record<string, unknown>>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

/** Appends one record to a JSON-lines result file (its folder made if needed). */
export function appendRecord(file: string, record: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, JSON.stringify(record) + '\n');
}

/** The value of `--name` on the command line, or undefined. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

/** `--name a,b,c` as numbers (or the fallback). */
export function listArg(name: string, fallback: number[]): number[] {
  const raw = arg(name);
  if (raw === undefined) return fallback;
  const out = raw.split(',').map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--${name} must be whole numbers separated by commas, got ${raw}`);
  return out;
}

/** The mean and standard error of a list of values (se 0 for one value). */
export function meanSe(values: number[]): { mean: number; se: number; n: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, se: 0, n };
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, se: Math.sqrt(ss / (n - 1) / n), n };
}

export const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
