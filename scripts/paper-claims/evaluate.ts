/**
 * Measures the models of docs/paper-claims.md: sample quality (FID with its floor, confident share, …) and bits/dim,
 * one job at a time, each result appended to $CLAIMS_RUNS/results/measurements.jsonl under its key (a rerun skips
 * the jobs already there, so it resumes where it stopped; a job two claims share runs once).
 *
 *   node --import tsx scripts/paper-claims/evaluate.ts --claim a|b|c|d|replicate|all [--only fid|bpd|terms] [--model NAME] [--method ancestral|ddim] [--no-full] [--dry]
 *
 * --no-full leaves out the samplings over the full T = 1000 steps (10× the cost of 100 steps) for a later run.
 *
 * Models: the EMA of each comparison run at its last step (runs.ts), the raw weights of claim c's L_vlb runs.
 * Sample quality: 256 samples (seed 0; class i % 10 for the class-conditional models; 128 over the full T), measured
 * at n = 256 and on its disjoint quarters of 64 (four independent sample sets: every image draws from its own generator), which
 * give FID at n = 64 as a mean ± standard error. Bits/dim: the bound on the first 16 MNIST test images with the
 * noise of seed 0 (the same images and noise for every model, so differences between models are paired).
 * Run it niced (`nice -n 15`, IDDPM_WORKERS=2) on a shared machine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../engine/backend';
import { closePool } from '../../engine/parallel';
import { sampleQuality } from '../../engine/quality';
import { calcBpdLoop, evaluateBpd } from '../../engine/sample/bpd';
import { samplingDiffusion } from '../../engine/sample/process';
import { Rng } from '../../engine/rng';
import { tf } from '../../engine/tf';
import { createDataset } from '../../engine/data';
import { gridPng } from '../../engine/sample/result';
import type { CompletePipeline, ModelVarType, SamplingMethod } from '../../engine/spec';
import type { SamplingModel } from '../../engine/sample/generate';
import { appendRecord, arg, loadReferenceModel, meanSe, readRecords, sampleSetFigures, withoutImages } from './lib';
import { REFERENCE_RUNS, RUNS_DIR, type ReferenceRunName } from './runs';

/** A model of a claim: where its weights are and how it is sampled. */
interface ModelRef {
  id: string;
  /** A reference state_dict (.pt) with the pipeline it was trained with. */
  pt: string;
  pipeline: CompletePipeline;
  /** Sample with another fixed variance than trained with (fixed σ models: β̃_t instead of β_t). */
  varType?: ModelVarType;
}

/** A reference run's weights at `step`: its EMA (the comparison runs) or the raw model (claim c's L_vlb runs, as measured). */
function refRun(name: ReferenceRunName, step: number, ema = true): string {
  const file = ema ? `ema_${REFERENCE_RUNS[name].recipe.ema_rate}_${String(step).padStart(6, '0')}.pt` : `model${String(step).padStart(6, '0')}.pt`;
  return path.join(RUNS_DIR, `ref-${name}`, 'run', file);
}

/** Run `name` at its last step, as model `id` (default the run's name), optionally sampled with another variance. */
const compared = (name: ReferenceRunName, o: { id?: string; varType?: ModelVarType; ema?: boolean } = {}): ModelRef => ({
  id: o.id ?? name, pt: refRun(name, REFERENCE_RUNS[name].steps, o.ema ?? true), pipeline: REFERENCE_RUNS[name].pipeline, varType: o.varType,
});

export const MODELS: Record<string, ModelRef> = {
  cosine: compared('cosine'),
  'cosine-2': compared('cosine-2'),
  fixed: compared('fixed'),
  'fixed-small': compared('fixed', { id: 'fixed-small', varType: 'fixed_small' }),
  linear: compared('linear'),
  'lambda-0': compared('lambda-0'),
  'lambda-0.01': compared('lambda-0.01'),
  'hybrid-importance': compared('hybrid-importance'),
  'kl-uniform': compared('kl-uniform', { ema: false }),
  'kl-importance': compared('kl-importance', { ema: false }),
};

type Job =
  | { kind: 'fid'; model: string; steps: number | 'full'; method: SamplingMethod }
  | { kind: 'bpd'; model: string; steps: number | 'full' }
  | { kind: 'terms'; model: string };

const STEPS = [100, 50, 25] as const;
const fid = (model: string, steps: number | 'full', method: SamplingMethod = 'ancestral'): Job => ({ kind: 'fid', model, steps, method });
const bpd = (model: string, steps: number | 'full' = 'full'): Job => ({ kind: 'bpd', model, steps });

/** The jobs of each claim, most telling first (a job two claims share is measured once). */
export const CLAIM_JOBS: Record<string, Job[]> = {
  a: [
    ...STEPS.map((s) => fid('cosine', s)), ...STEPS.map((s) => fid('fixed', s)), bpd('cosine'), bpd('fixed'),
    ...STEPS.map((s) => bpd('cosine', s)), ...STEPS.map((s) => bpd('fixed', s)),
    ...STEPS.map((s) => fid('cosine', s, 'ddim')), ...STEPS.map((s) => fid('fixed-small', s)), ...STEPS.map((s) => fid('fixed', s, 'ddim')),
    bpd('fixed-small'), fid('cosine', 'full'), fid('fixed', 'full'),
  ],
  b: [fid('cosine', 100), fid('linear', 100), bpd('cosine'), bpd('linear'), fid('linear', 50), fid('linear', 25)],
  c: [fid('hybrid-importance', 100), bpd('hybrid-importance'), { kind: 'terms', model: 'kl-uniform' }, { kind: 'terms', model: 'kl-importance' }],
  d: ['cosine', 'lambda-0', 'lambda-0.01'].flatMap((m) => [fid(m, 100), bpd(m)]),
  replicate: [fid('cosine-2', 100), bpd('cosine-2')],
};

const SAMPLES = 256;
/** Over the full T (10× the cost of 100 steps) 128 samples: two sets of 64, and no n = 256 figure. */
const SAMPLES_FULL = 128;
const QUARTER = 64;
const BPD_IMAGES = 16;
/** Images of the per-timestep tables (claim c): the bound's terms for every t. */
const TERMS_IMAGES = 16;

/** Every measurement, one JSON record a line, keyed by jobKey. */
export const MEASUREMENTS = path.join(RUNS_DIR, 'results', 'measurements.jsonl');

/** The grid of a sample set's first 64 images (for a class-conditional model, 10 columns: class i % 10 for sample i). */
export const gridFile = (key: string): string => path.join(RUNS_DIR, 'results', 'grids', `${key.replace(/:/g, '_')}.png`);

export const jobKey = (j: Job): string => (j.kind === 'fid' ? `fid:${j.model}:${j.steps}:${j.method}` : j.kind === 'bpd' ? `bpd:${j.model}:${j.steps}` : `terms:${j.model}`);

function load(ref: ModelRef): SamplingModel {
  if (!fs.existsSync(ref.pt)) throw new Error(`${ref.id}: no checkpoint at ${ref.pt} yet`);
  const pipeline = ref.varType ? { ...ref.pipeline, unet: { ...ref.pipeline.unet, modelVarType: ref.varType } } : ref.pipeline;
  return loadReferenceModel(ref.pt, pipeline);
}

function available(ref: ModelRef): boolean {
  return fs.existsSync(ref.pt);
}

async function runJob(job: Job, model: SamplingModel): Promise<Record<string, unknown>> {
  const started = Date.now();
  if (job.kind === 'fid') {
    const count = job.steps === 'full' ? SAMPLES_FULL : SAMPLES;
    const set = await sampleSetFigures(model, { dataset: 'mnist', sizes: [count], steps: job.steps === 'full' ? undefined : job.steps, method: job.method, seed: 0 });
    const per = model.imageSize * model.imageSize * model.channels;
    const classes = model.numClasses === null ? undefined : Array.from({ length: count }, (_, i) => i % model.numClasses!);
    const quarters = Array.from({ length: count / QUARTER }, (_, k) => {
      const data = set.images.data.subarray(k * QUARTER * per, (k + 1) * QUARTER * per);
      const r = sampleQuality({ shape: [QUARTER, model.imageSize, model.imageSize, model.channels], data }, { dataset: 'mnist', labels: classes?.slice(k * QUARTER, (k + 1) * QUARTER) });
      return { samples: r.samples, floor: r.floor! };
    });
    fs.mkdirSync(path.dirname(gridFile(jobKey(job))), { recursive: true });
    const first = { shape: [QUARTER, model.imageSize, model.imageSize, model.channels] as [number, number, number, number], data: set.images.data.subarray(0, QUARTER * per) };
    fs.writeFileSync(gridFile(jobKey(job)), await gridPng(first, model.numClasses ?? 8));
    return {
      ...(count === SAMPLES ? { n256: withoutImages(set).sizes[0] } : { n128: withoutImages(set).sizes[0] }),
      n64: {
        fid: meanSe(quarters.map((q) => q.samples.fid)), floor: meanSe(quarters.map((q) => q.floor.fid)),
        confident: meanSe(quarters.map((q) => q.samples.confidentShare)), quarters,
      },
      sampleSeconds: set.seconds,
      seconds: (Date.now() - started) / 1000,
    };
  }
  const dataset = await createDataset({ kind: 'mnist', split: 'test' }, { imageSize: model.imageSize, channels: model.channels as 1 | 3 });
  if (job.kind === 'terms') return { ...(await vlbTermTable(model, dataset)), seconds: (Date.now() - started) / 1000 };
  const steps = job.steps !== 'full' ? job.steps : undefined;
  const r = await evaluateBpd(model, dataset, { count: BPD_IMAGES, steps, seed: 0, batchSize: 16 });
  return { ...r, seconds: (Date.now() - started) / 1000 };
}

/**
 * Claim c for a fixed model: the bound's term L_t(x) for every t of TERMS_IMAGES test images (calc_bpd_loop, the
 * noise of seed 0 as evaluateBpd draws it), and from it the exact spread of the one-example L_vlb estimate the
 * training loss uses, X = L_t(x)/p_t with x a test image and t ~ p:
 *   E[X] = Σ_t E_x[L_t],  E[X²] = Σ_t E_x[L_t²]/p_t,
 * uniform p_t = 1/T: E[X²] = T·Σ_t E_x[L_t²]; importance p_t ∝ √E_x[L_t²] (mixed with 0.001 of uniform, as the
 * LossSecondMomentResampler): E[X²] = Σ_t E_x[L_t²]/p_t. The std of a batch mean is √Var[X]/√B.
 */
async function vlbTermTable(model: SamplingModel, dataset: Awaited<ReturnType<typeof createDataset>>): Promise<Record<string, unknown>> {
  const diffusion = samplingDiffusion(model.pipeline);
  const T = diffusion.numTimesteps;
  const n = TERMS_IMAGES;
  const root = new Rng(0);
  const batch = dataset.getBatch(Array.from({ length: n }, (_, i) => i));
  const x0 = tf.tensor4d(batch.x, [n, model.imageSize, model.imageSize, model.channels]);
  try {
    const r = await calcBpdLoop(diffusion, model.unet, x0, {
      rngs: Array.from({ length: n }, (_, i) => root.fork(`image:${i}`)),
      labels: model.numClasses !== null ? batch.y ?? undefined : undefined,
    });
    const mean = new Float64Array(T);
    const second = new Float64Array(T);
    for (let i = 0; i < n; i++) for (let t = 0; t < T; t++) {
      const v = r.vb[i * T + t];
      mean[t] += v / n;
      second[t] += (v * v) / n;
    }
    const expected = mean.reduce((a, b) => a + b, 0);
    const uniform = T * second.reduce((a, b) => a + b, 0) - expected ** 2;
    const root2 = Array.from(second, Math.sqrt);
    const total = root2.reduce((a, b) => a + b, 0);
    const p = root2.map((w) => (w / total) * 0.999 + 0.001 / T);
    const importance = second.reduce((a, s, t) => a + s / p[t], 0) - expected ** 2;
    return {
      count: n, steps: T, vbBpd: expected, terms: Array.from(mean), second: Array.from(second), timesteps: [...diffusion.timestepMap],
      stdPerExample: { uniform: Math.sqrt(uniform), importance: Math.sqrt(importance) },
      stdBatch32: { uniform: Math.sqrt(uniform / 32), importance: Math.sqrt(importance / 32) },
    };
  } finally {
    x0.dispose();
    diffusion.dispose();
  }
}

async function main(): Promise<void> {
  const claim = arg('claim') ?? 'all';
  const only = arg('only');
  const noFull = process.argv.includes('--no-full');
  const onlyModel = arg('model');
  const onlyMethod = arg('method');
  const claims = claim === 'all' ? Object.keys(CLAIM_JOBS) : claim.split(',');
  for (const c of claims) if (!CLAIM_JOBS[c]) throw new Error(`--claim must be a, b, c, d, replicate or all, got ${c}`);
  if (!process.argv.includes('--dry')) await initBackend('wasm');
  const file = MEASUREMENTS;
  const done = new Set(readRecords<{ key: string }>(file).map((r) => r.key));
  for (const c of claims) {
    for (const job of CLAIM_JOBS[c]) {
      const key = jobKey(job);
      if (done.has(key) || (only && job.kind !== only)) continue;
      if (noFull && job.kind === 'fid' && job.steps === 'full') continue;
      if (onlyModel && job.model !== onlyModel) continue;
      if (onlyMethod && (job.kind !== 'fid' || job.method !== onlyMethod)) continue;
      const ref = MODELS[job.model];
      if (!available(ref)) {
        console.log(`${c} ${key}: waiting for ${ref.id}'s checkpoint`);
        continue;
      }
      if (process.argv.includes('--dry')) {
        console.log(`${c} ${key}: to run`);
        continue;
      }
      const model = load(ref);
      try {
        const result = await runJob(job, model);
        appendRecord(file, { key, job, measuredAt: new Date().toISOString(), ...result });
        done.add(key);
        console.log(`${new Date().toISOString()} ${c} ${key}: ${summary(result)}`);
      } catch (err) {
        // One failed measurement does not stop the others; it stays to do on the next run.
        console.error(`${new Date().toISOString()} ${c} ${key} failed: ${(err as Error).stack ?? err}`);
        process.exitCode = 1;
      } finally {
        (model.unet as { dispose?: () => void }).dispose?.();
      }
    }
  }
}

function summary(r: Record<string, unknown>): string {
  const n256 = (r.n256 ?? r.n128) as { samples: { fid: number; confidentShare: number }; floor: { fid: number } } | undefined;
  if (n256) {
    const q = r.n64 as { fid: { mean: number; se: number }; floor: { mean: number } };
    return `FID n=${r.n256 ? 256 : 128} ${n256.samples.fid.toFixed(1)} (floor ${n256.floor.fid.toFixed(1)}), n=64 ${q.fid.mean.toFixed(1)} ± ${q.fid.se.toFixed(1)} (floor ${q.floor.mean.toFixed(1)}), confident ${(100 * n256.samples.confidentShare).toFixed(0)}%, ${Number(r.seconds).toFixed(0)} s`;
  }
  if (r.stdPerExample) return `L_vlb ${Number(r.vbBpd).toFixed(3)}, std of a batch-32 estimate: uniform ${JSON.stringify(r.stdBatch32)}, ${Number(r.seconds).toFixed(0)} s`;
  return `${Number(r.bitsPerDim).toFixed(3)} ± ${Number(r.standardError).toFixed(3)} bits/dim (${r.count} images, ${r.steps} steps), ${Number(r.seconds).toFixed(0)} s`;
}

if (require.main === module) {
  main()
    .catch((err) => {
      console.error(err instanceof Error ? err.stack ?? err.message : err);
      process.exitCode = 1;
    })
    .finally(() => closePool());
}
