/**
 * The demo's goal figures (issue 15): 64 samples at 100 respaced ancestral steps, seed 0, class i % 10, judged by
 * the shipped MNIST classifier (engine/quality) beside the real-image floor at the same n:
 *   ≥ 80% confident (max softmax ≥ 0.9), FID ≤ 2× the floor's FID, no class above a quarter of the samples,
 *   black backgrounds (border mean ≤ −0.9, and ≥ 95% of the samples with a border mean below 0; real: −1, 100%).
 * The n = 256 figures (the same seed; the first 64 of them are the 64 above) are printed beside them: FID at
 * n = 64 is dominated by its small-n bias.
 *
 *   npm run demo-quality -- --model demo [--models-dir models]        a model folder (its EMA weights)
 *   npm run demo-quality -- --pt run/ema_0.9995_008000.pt             a reference checkpoint of the demo recipe
 *   npm run demo-quality -- --keep /work/demo-ref/keep --results curve.jsonl [--curve notes.md] [--watch PIDFILE]
 *       every ema_*.pt in the folder not yet in the results, the newest first; --watch keeps polling (once a minute)
 *       for new ones while the process in PIDFILE runs; --curve appends a Markdown row per checkpoint.
 * Options: --sizes 64,256 --steps 100 --method ancestral|ddim --seed 0 --grids DIR (a PNG grid of the 64 per checkpoint); with --keep,
 *   --from STEP and --every K (only checkpoints of step ≥ STEP and a multiple of K).
 * Exit code 1 with --model/--pt when a goal is missed (so a script can gate on it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../engine/backend';
import { closePool } from '../../engine/parallel';
import { gridPng } from '../../engine/sample/result';
import type { SamplingModel } from '../../engine/sample/generate';
import { SAMPLING_METHODS, type SamplingMethod } from '../../engine/spec';
import { DEMO_REFERENCE_PIPELINE } from './demo';
import { appendRecord, arg, listArg, loadReferenceModel, loadStoredModel, now, readRecords, sampleSetFigures, type SizedFigures } from '../paper-claims/lib';

/** The goal thresholds of issue 15. */
export const DEMO_GOALS = { confident: 0.8, fidOverFloor: 2, largestClass: 0.25, borderMean: -0.9, darkShare: 0.95 };

export interface GoalCheck {
  confident: boolean;
  fid: boolean;
  classes: boolean;
  background: boolean;
  all: boolean;
}

/** Which goals the n = 64 figures meet. */
export function checkGoals(f: SizedFigures): GoalCheck {
  const s = f.samples;
  const g = {
    confident: s.confidentShare >= DEMO_GOALS.confident,
    fid: s.fid <= DEMO_GOALS.fidOverFloor * f.floor.fid,
    classes: s.largestClassShare <= DEMO_GOALS.largestClass,
    background: s.borderMean <= DEMO_GOALS.borderMean && s.darkBackgroundShare >= DEMO_GOALS.darkShare,
  };
  return { ...g, all: Object.values(g).every(Boolean) };
}

export interface DemoRecord {
  source: string;
  step: number | null;
  measuredAt: string;
  steps: string;
  method: SamplingMethod;
  seed: number;
  seconds: number;
  sizes: SizedFigures[];
  goals: GoalCheck;
}

const pct = (v: number): string => `${(100 * v).toFixed(0)}%`;

/** One line per size: confident, FID vs floor, largest class, border, class accuracy. */
function describe(r: DemoRecord): string {
  const lines = r.sizes.map((f) => {
    const s = f.samples;
    return `  n=${f.n}: confident ${pct(s.confidentShare)} (floor ${pct(f.floor.confidentShare)}), FID ${s.fid.toFixed(1)} (floor ${f.floor.fid.toFixed(1)}, ×${(s.fid / f.floor.fid).toFixed(2)}), `
      + `largest class ${pct(s.largestClassShare)}, border ${s.borderMean.toFixed(3)} (dark ${pct(s.darkBackgroundShare)}), class accuracy ${s.classAccuracy ? pct(s.classAccuracy.overall) : '-'}`;
  });
  const g = r.goals;
  const mark = (b: boolean): string => (b ? 'yes' : 'NO');
  lines.push(`  goals at n=64: confident ≥ 80% ${mark(g.confident)}; FID ≤ 2× floor ${mark(g.fid)}; no class > 25% ${mark(g.classes)}; black background ${mark(g.background)}`);
  return `${r.source}${r.step !== null ? ` (step ${r.step})` : ''}, ${r.steps} ${r.method} steps, seed ${r.seed}, ${r.seconds.toFixed(0)} s\n${lines.join('\n')}`;
}

/** The Markdown row of a record for the curve table. */
export function curveRow(r: DemoRecord): string {
  const at = (n: number): SizedFigures | undefined => r.sizes.find((f) => f.n === n);
  const cell = (f: SizedFigures | undefined): string => (f ? `${pct(f.samples.confidentShare)} | ${f.samples.fid.toFixed(1)} / ${f.floor.fid.toFixed(1)}` : '- | -');
  const f64 = at(64) ?? r.sizes[0];
  return `| ${r.measuredAt} | ${r.step ?? '-'} | ${cell(at(64))} | ${cell(at(256))} | ${pct(f64.samples.largestClassShare)} | ${f64.samples.borderMean.toFixed(2)} | ${f64.samples.classAccuracy ? pct(f64.samples.classAccuracy.overall) : '-'} | ${r.goals.all ? 'all met' : Object.entries(r.goals).filter(([k, v]) => k !== 'all' && !v).map(([k]) => k).join(', ') + ' missed'} |`;
}

export const CURVE_HEADER = '| measured (UTC) | step | confident n=64 | FID / floor n=64 | confident n=256 | FID / floor n=256 | largest class (64) | border mean (64) | class accuracy (64) | goals (64) |\n|---|---|---|---|---|---|---|---|---|---|';

/** How a model is measured: sample-set sizes, steps (a respacing), method, seed, and where grids go. */
interface MeasureOptions { sizes: number[]; steps: string; method: SamplingMethod; seed: number; grids?: string }

/** Measures one model. */
async function measure(model: SamplingModel, source: string, step: number | null, o: MeasureOptions): Promise<DemoRecord> {
  const set = await sampleSetFigures(model, { dataset: 'mnist', sizes: o.sizes, steps: /^\d+$/.test(o.steps) ? Number(o.steps) : o.steps, method: o.method, seed: o.seed });
  const smallest = set.sizes[0];
  if (o.grids) {
    fs.mkdirSync(o.grids, { recursive: true });
    const per = model.imageSize * model.imageSize * model.channels;
    const first = { shape: [smallest.n, model.imageSize, model.imageSize, model.channels] as [number, number, number, number], data: set.images.data.subarray(0, smallest.n * per) };
    fs.writeFileSync(path.join(o.grids, `${path.basename(source).replace(/\.pt$/, '')}-${o.steps}${o.method === 'ancestral' ? '' : o.method}steps-seed${o.seed}.png`), await gridPng(first, 10));
  }
  return { source, step, measuredAt: now(), steps: set.steps, method: set.method, seed: set.seed, seconds: set.seconds, sizes: set.sizes, goals: checkGoals(smallest) };
}

/** The step of a checkpoint file name (…_008000.pt). */
export function stepOf(file: string): number | null {
  const m = /(\d+)\.pt$/.exec(path.basename(file));
  return m ? Number(m[1]) : null;
}

function alive(pidFile: string): boolean {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function keepLoop(dir: string, o: MeasureOptions): Promise<void> {
  const results = arg('results');
  if (!results) throw new Error('--keep needs --results FILE.jsonl (the measured checkpoints, so a restart skips them)');
  const curve = arg('curve');
  const watch = arg('watch');
  const from = Number(arg('from') ?? 0);
  const every = Number(arg('every') ?? 1);
  const wanted = (f: string): boolean => /^ema_.*\.pt$/.test(f) && (stepOf(f) ?? 0) >= from && (stepOf(f) ?? 0) % every === 0;
  for (;;) {
    const running = watch ? alive(watch) : false;
    const done = new Set(readRecords<DemoRecord>(results).map((r) => path.basename(r.source)));
    const todo = fs.readdirSync(dir).filter((f) => wanted(f) && !done.has(f)).sort((a, b) => (stepOf(b) ?? 0) - (stepOf(a) ?? 0));
    // Newest first (it tells when to stop a run); the older ones fill in when the measurements catch up.
    for (const file of todo.slice(0, 1)) {
      const full = path.join(dir, file);
      // A file still being copied changes size: wait until it holds still.
      const size = fs.statSync(full).size;
      await new Promise((r) => setTimeout(r, 3000));
      if (fs.statSync(full).size !== size) continue;
      const model = loadReferenceModel(full, DEMO_REFERENCE_PIPELINE);
      try {
        const record = await measure(model, full, stepOf(file), o);
        appendRecord(results, record);
        console.log(describe(record));
        if (curve) {
          if (!fs.existsSync(curve) || !fs.readFileSync(curve, 'utf8').includes(CURVE_HEADER.split('\n')[0])) fs.appendFileSync(curve, `\n${CURVE_HEADER}\n`);
          fs.appendFileSync(curve, curveRow(record) + '\n');
        }
      } finally {
        model.unet.dispose();
      }
    }
    if (todo.length > 0) continue;
    if (!watch || !running) return;
    await new Promise((r) => setTimeout(r, 60_000));
  }
}

async function main(): Promise<void> {
  const method = arg('method') ?? 'ancestral';
  if (!(SAMPLING_METHODS as readonly string[]).includes(method)) throw new Error(`--method is one of ${SAMPLING_METHODS.join(', ')}, not ${method}`);
  const o: MeasureOptions = { sizes: listArg('sizes', [64, 256]), steps: arg('steps') ?? '100', method: method as SamplingMethod, seed: Number(arg('seed') ?? 0), grids: arg('grids') };
  if (!o.sizes.includes(64)) throw new Error('--sizes must include 64 (the goals are judged at n = 64)');
  await initBackend('wasm');
  const keep = arg('keep');
  if (keep) return keepLoop(keep, o);
  const pt = arg('pt');
  const name = arg('model');
  if (!pt && !name) throw new Error('give --model NAME, --pt FILE or --keep DIR');
  const model = pt ? loadReferenceModel(pt, DEMO_REFERENCE_PIPELINE) : loadStoredModel(path.resolve(arg('models-dir') ?? path.join(__dirname, '..', '..', 'models')), name!);
  const record = await measure(model, pt ?? `model ${name}`, pt ? stepOf(pt) : null, o);
  console.log(describe(record));
  const out = arg('results');
  if (out) appendRecord(out, record);
  if (!record.goals.all) process.exitCode = 1;
}

if (require.main === module) {
  main()
    .catch((err) => {
      console.error(err instanceof Error ? err.stack ?? err.message : err);
      process.exitCode = 2;
    })
    .finally(() => closePool());
}
