/**
 * Turns the measurements of the claims runs into docs/paper-claims.md's tables and figures:
 *
 *   node --import tsx scripts/paper-claims/report.ts [--doc docs/paper-claims.md] [--figures docs/paper-claims]
 *
 * Reads $CLAIMS_RUNS/results/measurements.jsonl (scripts/paper-claims/evaluate.ts), the per-step logs of the
 * reference runs (ref-<name>/run/progress.csv) and times.jsonl; writes SVG charts into the figures folder and
 * replaces the text between `<!-- table:NAME -->` and `<!-- /table:NAME -->` in the doc with the generated tables
 * (a table with no data here at all is left as it is).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { arg, meanSe, readRecords } from './lib';
import { COLORS, lineChart, type Series } from './svg';
import { MEASUREMENTS, gridFile } from './evaluate';
import { RUNS_DIR } from './runs';
import { decodeImage, splitGrid } from '../../engine/image';
import { backgroundFigures } from '../../engine/quality';

interface Figures { fid: number; confidentShare: number; largestClassShare: number; borderMean: number; classAccuracy?: { overall: number } }
interface FidRecord { key: string; n256?: { n: number; samples: Figures; floor: Figures }; n128?: { n: number; samples: Figures; floor: Figures }; n64: { fid: { mean: number; se: number }; floor: { mean: number; se: number }; confident: { mean: number; se: number } }; seconds: number }
interface BpdRecord { key: string; bitsPerDim: number; standardError: number; perImage: number[]; count: number; steps: number; terms?: number[]; timesteps?: number[]; seconds: number }

const root = path.join(__dirname, '..', '..');
const docFile = path.resolve(arg('doc') ?? path.join(root, 'docs', 'paper-claims.md'));
const figDir = path.resolve(arg('figures') ?? path.join(root, 'docs', 'paper-claims'));

const records = readRecords<Record<string, unknown> & { key: string }>(MEASUREMENTS);
const byKey = new Map(records.map((r) => [r.key, r]));
const fidOf = (model: string, steps: number | 'full', method = 'ancestral'): FidRecord | undefined => byKey.get(`fid:${model}:${steps}:${method}`) as FidRecord | undefined;
const bpdOf = (model: string, steps: number | 'full' = 'full'): BpdRecord | undefined => byKey.get(`bpd:${model}:${steps}`) as BpdRecord | undefined;

const f1 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(1));
const f3 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));
const pct = (v: number | undefined): string => (v === undefined ? '–' : `${(100 * v).toFixed(0)}%`);
const pm = (m: { mean: number; se: number } | undefined, d = 1): string => (m ? `${m.mean.toFixed(d)} ± ${m.se.toFixed(d)}` : '–');
const fidCell = (r: FidRecord | undefined): string => (r ? `${r.n256 ? f1(r.n256.samples.fid) : '(n=128)'} · ${pm(r.n64.fid)}` : '–');
const bpdCell = (r: BpdRecord | undefined): string => (r ? `${f3(r.bitsPerDim)} ± ${f3(r.standardError)}` : '–');

/** a − b per image (the same images and noise), as mean ± standard error. */
function paired(a: BpdRecord | undefined, b: BpdRecord | undefined): string {
  if (!a || !b || a.perImage.length !== b.perImage.length) return '–';
  const d = meanSe(a.perImage.map((v, i) => v - b.perImage[i]));
  return `${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(3)} ± ${d.se.toFixed(3)}`;
}

const STEPS: Array<number | 'full'> = [25, 50, 100, 'full'];
const stepLabel = (s: number | 'full'): string => (s === 'full' ? '1000 (full T)' : String(s));

function tableA(): string {
  const rows = STEPS.map((s) => `| ${stepLabel(s)} | ${fidCell(fidOf('cosine', s))} | ${fidCell(fidOf('cosine', s, 'ddim'))} | ${fidCell(fidOf('fixed', s))} | ${fidCell(fidOf('fixed-small', s))} | ${fidCell(fidOf('fixed', s, 'ddim'))} | ${bpdCell(bpdOf('cosine', s))} | ${bpdCell(bpdOf('fixed', s))} |`);
  const floor = fidOf('cosine', 100) ?? fidOf('cosine', 25);
  return [
    '| sampling steps | learned σ, ancestral | learned σ, DDIM | fixed σ² = β_t, ancestral | fixed σ² = β̃_t, ancestral | fixed σ, DDIM | bits/dim learned σ | bits/dim fixed σ (β_t) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    `| real-image floor | ${floor?.n256 ? `${f1(floor.n256.floor.fid)} · ${pm(floor.n64.floor)}` : '–'} | | | | | | |`,
  ].join('\n');
}

/** Border noise (engine/quality backgroundFigures) of the first 64 samples of a measured set, from its grid. */
async function gridNoise(model: string, steps: number | 'full', method: string): Promise<number | undefined> {
  const file = gridFile(`fid:${model}:${steps}:${method}`);
  if (!fs.existsSync(file)) return undefined;
  const tiles = splitGrid(await decodeImage(fs.readFileSync(file), { channels: 1 }), 64, 32, 32, { columns: 10 });
  return backgroundFigures(tiles.data, 64).borderNoise;
}

/** Claim a's border noise: what each sampler leaves in the background of 64 samples (real digits: 0). */
async function tableNoise(): Promise<string> {
  const columns: Array<[string, string]> = [['cosine', 'ancestral'], ['cosine', 'ddim'], ['fixed', 'ancestral'], ['fixed-small', 'ancestral'], ['fixed', 'ddim']];
  const rows = await Promise.all(STEPS.map(async (s) => {
    const cells = await Promise.all(columns.map(([m, method]) => gridNoise(m, s, method)));
    return `| ${stepLabel(s)} | ${cells.map((v) => f3(v)).join(' | ')} |`;
  }));
  return ['| sampling steps | learned σ, ancestral | learned σ, DDIM | fixed σ² = β_t, ancestral | fixed σ² = β̃_t, ancestral | fixed σ, DDIM |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

/** Models side by side at 100 steps and in bits/dim, with the paired bits/dim difference of the last to the first. */
function comparison(what: string, rows: Array<[label: string, model: string]>, difference: string): string {
  const row = ([name, model]: [string, string]): string => {
    const f = fidOf(model, 100);
    return `| ${name} | ${fidCell(f)} | ${pct(f?.n256?.samples.confidentShare)} | ${bpdCell(bpdOf(model))} |`;
  };
  return [
    `| ${what} | FID at 100 steps (n=256 · n=64) | confident (n=256) | bits/dim (full T) |`,
    '|---|---|---|---|',
    ...rows.map(row),
    `| ${difference}, paired | | | ${paired(bpdOf(rows[rows.length - 1][1]), bpdOf(rows[0][1]))} |`,
  ].join('\n');
}

const tableB = (): string => comparison('schedule', [['cosine (baseline)', 'cosine'], ['linear', 'linear']], 'linear − cosine');

/** Two runs of the baseline: how far one setting's runs land apart. */
const tableReplicate = (): string => comparison('run', [['cosine', 'cosine'], ['cosine-2 (the same setting again)', 'cosine-2']], 'cosine-2 − cosine');

/** L_hybrid with uniform t (the baseline) and with importance-sampled t, everything else equal. */
const tableImportance = (): string => comparison('t sampled', [['uniform (baseline)', 'cosine'], ['importance', 'hybrid-importance']], 'importance − uniform');

function tableD(): string {
  const lambdas = ['0', '0.001', '0.01'];
  const rows = lambdas.map((l) => {
    const m = l === '0.001' ? 'cosine' : `lambda-${l}`;
    const f = fidOf(m, 100);
    return `| ${l} | ${fidCell(f)} | ${pct(f?.n256?.samples.confidentShare)} | ${bpdCell(bpdOf(m))} | ${l === '0.001' ? '0' : paired(bpdOf(m), bpdOf('cosine'))} |`;
  });
  return ['| λ | FID at 100 steps (n=256 · n=64) | confident (n=256) | bits/dim (full T) | bits/dim − λ=0.001 (paired) |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The per-step loss of a reference run (progress.csv with log_interval 1, older parts of a resumed run first). */
function stepLosses(run: string): Array<{ step: number; loss: number }> {
  const dir = path.join(RUNS_DIR, `ref-${run}`, 'run');
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('progress.csv')).sort((a, b) => (a === 'progress.csv' ? 1 : b === 'progress.csv' ? -1 : a.localeCompare(b)));
  const out = new Map<number, number>();
  for (const f of files) {
    const [head, ...lines] = fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n');
    const cols = head.split(',');
    const si = cols.indexOf('step');
    const li = cols.indexOf('loss');
    for (const l of lines) {
      const v = l.split(',');
      if (v[li] !== '' && v[si] !== '') out.set(Number(v[si]), Number(v[li]));
    }
  }
  return [...out.entries()].sort((a, b) => a[0] - b[0]).map(([step, loss]) => ({ step, loss }));
}

/** Std of the per-step L_vlb estimate in [from, to). */
function windowStats(losses: Array<{ step: number; loss: number }>, from: number, to: number): { n: number; mean: number; std: number; stdLog: number } {
  const v = losses.filter((l) => l.step >= from && l.step < to).map((l) => l.loss);
  const n = v.length;
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const logs = v.map((x) => Math.log10(x));
  const ml = logs.reduce((a, b) => a + b, 0) / n;
  return { n, mean, std, stdLog: Math.sqrt(logs.reduce((a, b) => a + (b - ml) ** 2, 0) / (n - 1)) };
}

export const C_WINDOWS: Array<[number, number, string]> = [[200, 600, 'before warm-up (steps 200–599)'], [1000, 1500, 'after warm-up (steps 1000–1499)']];

/** Claim c's tables, or undefined when neither its runs' logs nor its measurements are here (the doc keeps its text). */
function tableC(): string | undefined {
  const runs = ['kl-uniform', 'kl-importance'];
  if (runs.every((run) => stepLosses(run).length === 0 && !byKey.has(`terms:${run}`))) return undefined;
  const rows = runs.flatMap((run) => {
    const losses = stepLosses(run);
    if (losses.length === 0) return [`| ${run} | – | – | – | – |`];
    return C_WINDOWS.map(([a, b, label]) => {
      const s = windowStats(losses, a, b);
      return `| ${run} | ${label} | ${s.n} | ${s.mean.toFixed(3)} | ${s.std.toFixed(3)} | ${s.stdLog.toFixed(3)} |`;
    });
  });
  const measured = ['| run | window | steps | mean L_vlb estimate (bits/dim) | std over steps | std of log₁₀ |', '|---|---|---|---|---|---|', ...rows].join('\n');
  const exact = runs.map((run) => {
    const r = byKey.get(`terms:${run}`) as { vbBpd: number; stdBatch32: { uniform: number; importance: number } } | undefined;
    return r ? `| ${run} | ${r.vbBpd.toFixed(3)} | ${r.stdBatch32.uniform.toFixed(3)} | ${r.stdBatch32.importance.toFixed(3)} | ${(r.stdBatch32.uniform / r.stdBatch32.importance).toFixed(1)}× |` : `| ${run} | – | – | – | – |`;
  });
  return `${measured}\n\nThe same spread computed exactly for each trained model (its L_t(x) for every t of 16 test images):\n\n`
    + ['| model | L_vlb − prior (bits/dim) | std of a batch-32 estimate, uniform t | … importance-sampled t | ratio |', '|---|---|---|---|---|', ...exact].join('\n');
}

function tableTimes(): string {
  const times = readRecords<{ run: string; kind: string; step: number; seconds: number; fromStep?: number }>(path.join(RUNS_DIR, 'times.jsonl'));
  const runs = new Map<string, { seconds: number; step: number; parts: number }>();
  for (const t of times) {
    const r = runs.get(t.run) ?? { seconds: 0, step: 0, parts: 0 };
    runs.set(t.run, { seconds: r.seconds + t.seconds, step: Math.max(r.step, t.step), parts: r.parts + 1 });
  }
  const train = [...runs.entries()].map(([run, r]) => `| train ${run} | ${r.step} steps | ${(r.seconds / 3600).toFixed(2)} h wall${r.parts > 1 ? ` (${r.parts} sittings)` : ''} |`);
  const evals = records.map((r) => `| ${r.key} | ${r.key.startsWith('fid') ? (r.key.includes(':full:') ? '128 samples' : '256 samples') : `${(r as unknown as BpdRecord).count} images`} | ${(Number(r.seconds) / 60).toFixed(1)} min wall |`);
  return ['| what | size | time |', '|---|---|---|', ...train, ...evals].join('\n');
}

function figures(): void {
  fs.mkdirSync(figDir, { recursive: true });
  const xs = (s: number | 'full'): number => (s === 'full' ? 1000 : s);
  const fidSeries = (label: string, model: string, method: string, color: string, dashed = false): Series => ({
    label, color, dashed,
    points: STEPS.flatMap((s) => { const r = fidOf(model, s, method); return r ? [{ x: xs(s), y: r.n64.fid.mean, err: r.n64.fid.se }] : []; }),
  });
  const a = [
    fidSeries('learned σ, ancestral', 'cosine', 'ancestral', COLORS[0]),
    fidSeries('learned σ, DDIM', 'cosine', 'ddim', COLORS[0], true),
    fidSeries('fixed σ²=β_t, ancestral', 'fixed', 'ancestral', COLORS[1]),
    fidSeries('fixed σ²=β̃_t, ancestral', 'fixed-small', 'ancestral', COLORS[3]),
    fidSeries('fixed σ, DDIM', 'fixed', 'ddim', COLORS[1], true),
  ].filter((s) => s.points.length > 0);
  const floor = fidOf('cosine', 100);
  if (floor) a.push({ label: 'real-image floor (n=64)', color: '#777', dashed: true, markers: false, width: 1, points: [{ x: 25, y: floor.n64.floor.mean }, { x: 1000, y: floor.n64.floor.mean }] });
  if (a.length) fs.writeFileSync(path.join(figDir, 'a-fid-vs-steps.svg'), lineChart({ title: 'FID (n = 64, mean ± se of 4 sets) vs sampling steps', xLabel: 'sampling steps (respaced; 1000 = full T)', yLabel: 'FID (MNIST classifier features)', series: a, xLog: true, yLog: true, xTicks: [25, 50, 100, 1000] }));
  const bpdSeries = (label: string, model: string, color: string): Series => ({
    label, color, points: STEPS.flatMap((s) => { const r = bpdOf(model, s); return r ? [{ x: xs(s), y: r.bitsPerDim, err: r.standardError }] : []; }),
  });
  const ab = [bpdSeries('learned σ (L_hybrid)', 'cosine', COLORS[0]), bpdSeries('fixed σ²=β_t (L_simple)', 'fixed', COLORS[1])].filter((s) => s.points.length > 0);
  if (ab.length) fs.writeFileSync(path.join(figDir, 'a-bpd-vs-steps.svg'), lineChart({ title: 'bits/dim of the respaced process (16 test images)', xLabel: 'steps of the process (1000 = full T)', yLabel: 'bits/dim', series: ab, xLog: true, yLog: true, xTicks: [25, 50, 100, 1000] }));

  const c = ['kl-uniform', 'kl-importance'].map((run, i) => ({ run, losses: stepLosses(run), color: COLORS[i] })).filter((r) => r.losses.length > 0);
  if (c.length) {
    fs.writeFileSync(path.join(figDir, 'c-vlb-per-step.svg'), lineChart({
      title: 'L_vlb estimate of each training batch (L_vlb objective, batch 32)', xLabel: 'training step', yLabel: 'T·E[w·L_t] over the batch (bits/dim)', yLog: true, width: 760,
      series: c.map((r) => ({ label: r.run === 'kl-uniform' ? 'uniform t' : 'importance-sampled t', color: r.color, markers: false, width: 1, points: r.losses.filter((l) => l.step > 0).map((l) => ({ x: l.step, y: l.loss })) })),
    }));
  }
  const terms = ['kl-uniform', 'kl-importance'].map((m, i) => ({ m, r: byKey.get(`terms:${m}`) as BpdRecord | undefined, color: COLORS[i] })).filter((t) => t.r?.terms);
  if (terms.length) {
    fs.writeFileSync(path.join(figDir, 'c-loss-by-t.svg'), lineChart({
      title: 'L_t by t of the trained models (16 test images)', xLabel: 't', yLabel: 'L_t (bits/dim)', yLog: true, width: 760,
      series: terms.map((t) => ({ label: t.m === 'kl-uniform' ? 'trained with uniform t' : 'trained with importance-sampled t', color: t.color, markers: false, width: 1.5, points: t.r!.terms!.map((y, k) => ({ x: t.r!.timesteps![k], y })) })),
    }));
  }
}

function fill(doc: string, name: string, text: string | undefined): string {
  if (text === undefined) return doc;
  const re = new RegExp(`(<!-- table:${name} -->)[\\s\\S]*?(<!-- /table:${name} -->)`);
  return re.test(doc) ? doc.replace(re, (_, open: string, close: string) => `${open}\n${text}\n${close}`) : doc;
}

async function main(): Promise<void> {
  figures();
  if (!fs.existsSync(docFile)) throw new Error(`no doc at ${docFile}`);
  let doc = fs.readFileSync(docFile, 'utf8');
  for (const [name, text] of Object.entries({ a: tableA(), noise: await tableNoise(), b: tableB(), c: tableC(), d: tableD(), importance: tableImportance(), replicate: tableReplicate(), times: tableTimes() })) doc = fill(doc, name, text);
  fs.writeFileSync(docFile, doc);
  console.log(`wrote ${docFile} and the figures in ${figDir}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
});
