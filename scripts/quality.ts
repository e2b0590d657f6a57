/**
 * `npm run quality -- --model demo [--models-dir models] [--count 64] [--steps 100] [--method ancestral]
 *  [--seed 0] [--dataset mnist] [--batch 16] [--confidence 0.9] [--raw] [--json] [--json-out file.json]`
 *
 * Loads a stored model (its EMA weights; --raw for the raw weights) as the engine loads it for sampling,
 * generates `count` samples with the engine's sampler on the worker threads (class i % numClasses for a
 * class-conditional model), and prints the sample-quality figures of engine/quality beside the real-image floor
 * (the same figures for as many real test images). --json prints the report as JSON instead; --json-out also
 * writes it to a file. The dataset defaults to the one the model was trained on (mnist or fashion-mnist).
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend } from '../engine/backend';
import { ModelStore } from '../engine/train';
import { ModelCache } from '../engine/host/models';
import { closePool, generateInWorkers } from '../engine/parallel';
import { SAMPLING_METHODS as SAMPLE_METHODS, type SamplingMethod as SampleMethod } from '../engine/spec';
import { QUALITY_DATASETS, checkQualityDataset, evaluateSampleQuality, readClassifierCard, type EvaluateQualityResult, type QualityFigures } from '../engine/quality';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

function intArg(name: string, fallback: number, min: number): number {
  const raw = arg(name);
  const v = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${raw}`);
  return v;
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const num = (v: number, digits = 2): string => v.toFixed(digits);

function row(label: string, samples: string, floor: string): string {
  return `  ${label.padEnd(30)}${samples.padStart(12)}${floor.padStart(14)}`;
}

function histogram(f: QualityFigures): string {
  return f.histogram.map((c, k) => `${k}:${c}`).join(' ');
}

/** The report as the table the README shows. */
export function formatReport(r: EvaluateQualityResult, title: string): string {
  const s = r.samples;
  const f = r.floor;
  const lines = [
    title,
    `  ${r.sampling.count} samples, ${r.sampling.steps} ${r.sampling.method} steps, seed ${r.sampling.seed}, ${num(r.sampling.seconds, 1)} s`,
    `  FID reference: ${r.reference}; floor: ${f?.source ?? 'not measured'}`,
    row('figure', 'samples', 'real floor'),
    row(`confident (max p ≥ ${r.confidence})`, pct(s.confidentShare), f ? pct(f.confidentShare) : '-'),
    row('mean max p', num(s.meanConfidence, 3), f ? num(f.meanConfidence, 3) : '-'),
    row('largest class share', pct(s.largestClassShare), f ? pct(f.largestClassShare) : '-'),
    row('FID (128 classifier features)', num(s.fid), f ? num(f.fid) : '-'),
    row('FID / floor FID', f ? num(s.fid / f.fid) : '-', f ? '1.00' : '-'),
    row('border mean (real: -1)', num(s.borderMean, 3), f ? num(f.borderMean, 3) : '-'),
    row('dark background share', pct(s.darkBackgroundShare), f ? pct(f.darkBackgroundShare) : '-'),
    row('border noise (std, real: 0)', num(s.borderNoise, 3), f ? num(f.borderNoise, 3) : '-'),
  ];
  if (s.classAccuracy) {
    lines.push(row('class accuracy (overall)', pct(s.classAccuracy.overall), f?.classAccuracy ? pct(f.classAccuracy.overall) : '-'));
    s.classAccuracy.perClass.forEach((a, k) => {
      if (a !== null) lines.push(row(`  class ${k}`, pct(a), f?.classAccuracy?.perClass[k] != null ? pct(f.classAccuracy.perClass[k]!) : '-'));
    });
  }
  lines.push(`  histogram samples  ${histogram(s)}`);
  if (f) lines.push(`  histogram floor    ${histogram(f)}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const name = arg('model') ?? 'demo';
  const modelsDir = resolve(arg('models-dir') ?? join(__dirname, '..', 'models'));
  const count = intArg('count', 64, 2);
  const steps = arg('steps') ?? '100';
  const method = (arg('method') ?? 'ancestral') as SampleMethod;
  if (!SAMPLE_METHODS.includes(method)) throw new Error(`--method must be one of ${SAMPLE_METHODS.join(', ')}`);
  const seed = intArg('seed', 0, 0);
  const batchSize = intArg('batch', 16, 1);
  const confidence = arg('confidence') === undefined ? undefined : Number(arg('confidence'));
  const json = process.argv.includes('--json');
  const jsonOut = arg('json-out');

  const backend = await initBackend('wasm');
  const store = new ModelStore(modelsDir);
  const spec = store.readSpec(name);
  const trainedOn: string | undefined = spec.train?.dataset.kind;
  const dataset = checkQualityDataset(arg('dataset') ?? ((QUALITY_DATASETS as readonly string[]).includes(trainedOn ?? '') ? trainedOn : 'mnist'));
  const model = new ModelCache(store).load(name, !process.argv.includes('--raw'));
  const card = readClassifierCard(dataset);
  if (!json) console.error(`sampling ${count} images from "${name}" on ${backend.name} ...`);
  const result = await evaluateSampleQuality(model, {
    dataset, count, steps: /^\d+$/.test(steps) ? Number(steps) : steps, method, seed, batchSize, confidence, generator: generateInWorkers,
  });
  const { images: _images, ...report } = result;
  const full = { model: name, step: spec.step, modelsDir, backend: backend.name, classifier: { dataset, testAccuracy: card.testAccuracy }, ...report };
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(full, null, 2) + '\n');
  if (json) console.log(JSON.stringify(full, null, 2));
  else {
    console.log(formatReport(result, `sample quality of "${name}" (step ${spec.step}), ${dataset} classifier (test accuracy ${pct(card.testAccuracy)})`));
  }
}

if (require.main === module) {
  main()
    .catch((err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    })
    .finally(() => closePool());
}
