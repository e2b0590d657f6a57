/**
 * The conformance harness: every `*.check.ts` file in this folder exports `check(refDir)`, which reads one
 * reference file of `IDDPM_REFERENCE_DIR` case by case and records each comparison here. Nothing may assume
 * the shapes, lengths or settings of a particular reference set: read them from the files.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** IDDPM_REFERENCE_DIR, else the repo's own copy of the public reference set (test/reference). */
export function referenceDir(): string {
  return resolve(process.env.IDDPM_REFERENCE_DIR || join(__dirname, '..', 'reference'));
}

/** The reference files in `dir` (every *.json and *.pt the checks may read); an error when the set is missing. */
export function requireReferenceSet(dir: string): void {
  if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.json'))) {
    throw new Error(`No reference set in ${dir}: set IDDPM_REFERENCE_DIR to a folder of reference files, or restore test/reference`);
  }
}

/** A reference array as written by the generator: `{ dtype, shape, data }`, data nested row-major. */
export interface RefArray {
  dtype: string;
  shape: number[];
  data: unknown;
}

export function isRefArray(v: unknown): v is RefArray {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v;
}

/** Flattens a reference array to a Float64Array in row-major order. */
export function flat(a: RefArray): Float64Array {
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else out.push(Number(v));
  };
  walk(a.data);
  return Float64Array.from(out);
}

/** NCHW (or any [N, C, ...spatial]) row-major data to NHWC (channels last). */
export function nchwToNhwc(data: ArrayLike<number>, shape: number[]): Float64Array {
  const [n, c] = shape;
  const spatial = shape.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float64Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let s = 0; s < spatial; s++) out[(b * spatial + s) * c + ch] = data[(b * c + ch) * spatial + s];
  return out;
}

/** NHWC back to NCHW, for comparing our outputs with reference arrays. */
export function nhwcToNchw(data: ArrayLike<number>, shapeNchw: number[]): Float64Array {
  const [n, c] = shapeNchw;
  const spatial = shapeNchw.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float64Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let s = 0; s < spatial; s++) out[(b * c + ch) * spatial + s] = data[(b * spatial + s) * c + ch];
  return out;
}

export function readJson<T = any>(refDir: string, file: string): T {
  return JSON.parse(readFileSync(join(refDir, file), 'utf8')) as T;
}

export function hasFile(refDir: string, file: string): boolean {
  return existsSync(join(refDir, file));
}

export interface Tolerance {
  /** Absolute tolerance per element. */
  abs: number;
  /** Relative tolerance per element; an element passes if within abs OR within rel. */
  rel: number;
}

/** The issue's default for float32 tensor results: 2e-5 absolute or 1e-4 relative, whichever is looser. */
export const F32: Tolerance = { abs: 2e-5, rel: 1e-4 };
/** Float64 tables: 1e-9 relative (with a tiny absolute floor for exact zeros). */
export const F64: Tolerance = { abs: 1e-300, rel: 1e-9 };

/** Collects the comparisons of one reference file. */
export class FileReport {
  cases = 0;
  failed = 0;
  maxAbs = 0;
  maxRel = 0;
  readonly failures: string[] = [];
  constructor(readonly file: string) {}

  /**
   * Compares one case (an array or a scalar) element by element. Returns whether it passed.
   * `rel` is |a − e| / |e| (0 where both are 0).
   */
  compare(name: string, actual: ArrayLike<number> | number, expected: ArrayLike<number> | number, tol: Tolerance): boolean {
    const a = typeof actual === 'number' ? [actual] : actual;
    const e = typeof expected === 'number' ? [expected] : expected;
    this.cases++;
    if (a.length !== e.length) {
      this.fail(`${name}: length ${a.length}, expected ${e.length}`);
      return false;
    }
    let ok = true;
    let worst = '';
    for (let i = 0; i < e.length; i++) {
      const x = a[i];
      const y = e[i];
      if (Number.isNaN(y) ? Number.isNaN(x) : x === y) continue;
      const abs = Math.abs(x - y);
      const rel = y === 0 ? (x === 0 ? 0 : Infinity) : abs / Math.abs(y);
      if (Number.isFinite(abs)) this.maxAbs = Math.max(this.maxAbs, abs);
      if (Number.isFinite(rel)) this.maxRel = Math.max(this.maxRel, rel);
      if (!(abs <= tol.abs || rel <= tol.rel)) {
        if (ok) worst = `${name}[${i}]: got ${x}, expected ${y} (abs ${abs.toExponential(2)}, rel ${rel.toExponential(2)})`;
        ok = false;
      }
    }
    if (!ok) this.fail(worst);
    return ok;
  }

  /** Records a case that must hold (e.g. an error was raised). */
  expect(name: string, condition: boolean, detail = ''): boolean {
    this.cases++;
    if (!condition) this.fail(`${name}${detail ? `: ${detail}` : ''}`);
    return condition;
  }

  private fail(message: string): void {
    this.failed++;
    if (this.failures.length < 20) this.failures.push(message);
  }
}

export type ConformanceCheck = (refDir: string) => Promise<FileReport> | FileReport;

export interface CheckModule {
  /** The reference file it reads (a set without it is reported as such; the checks of the others still run). */
  file: string;
  check: ConformanceCheck;
}

/**
 * Runs one check; a check that throws (a reference field it cannot handle, a bug) is that file's failure, so
 * the other files are still checked and reported.
 */
export async function runCheck(mod: CheckModule, dir: string): Promise<FileReport> {
  try {
    return await mod.check(dir);
  } catch (err) {
    const report = new FileReport(mod.file);
    report.expect('the check ran to the end', false, (err as Error)?.stack ?? String(err));
    return report;
  }
}

/** Every `*.check.ts` (or built `.check.js`) module in this folder, in name order. */
export function loadChecks(): CheckModule[] {
  return readdirSync(__dirname)
    .filter((f) => /\.check\.(ts|js)$/.test(f))
    .sort()
    .map((f) => require(join(__dirname, f)) as CheckModule);
}
