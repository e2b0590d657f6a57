/**
 * The model folder (design.md, "The shared engine"): `<modelsDir>/<name>/` holds
 *   model.json            the ModelSpec of the latest checkpoint (everything sampling needs besides the weights)
 *   latest                the name of the current checkpoint directory (e.g. `ckpt-00001200`)
 *   ckpt-<step>/          model.json, weights.safetensors, ema.safetensors (the reference's model/ema files,
 *                         PyTorch names and layouts), optimizer.safetensors (Adam moments), state.json
 *                         (step, random generators, timestep- and data-sampler state)
 *   log.jsonl             one TrainProgress per line
 *   evaluation.json       the last bits/dim evaluation (StoredEvaluation), when one was made
 * docs/model-folder.md describes every field and file. An imported reference checkpoint (saveImported) has
 * weights and EMA, and the optimizer when its opt<step>.pt came along, but no state.json: the reference saves
 * no sampler or data-order state, so a run continued from it starts those fresh, as the reference's own resume does.
 *
 * A checkpoint is written into `ckpt-<step>.tmp/` (every file fsynced), renamed to `ckpt-<step>/`, and only then
 * does `latest` move to it (atomic rename). A process killed at any point leaves `latest` naming a complete
 * checkpoint: the previous one until the pointer moves, the new one after. Older checkpoints and leftovers of an
 * interrupted save are removed by the next save. All methods are synchronous, so within the engine process a
 * load never interleaves with a save.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badRequest, isModelName, reasonOf, shown, type ModelSpec } from '../spec';
import { parseSafetensors, parseSafetensorsWithMetadata, writeSafetensors, type SafeTensor } from '../safetensors';
import type { AdamState } from '../optim/adam';
import type { ParamSpec } from '../unet/layout';
import { fsyncDir, writeFileAtomic, writeFileDurable } from './atomic';
import { isInside } from '../files';

export type TensorDict = Map<string, SafeTensor>;

/** Adam's state: the moments keyed `exp_avg.<param>` / `exp_avg_sq.<param>` (engine layout) and the step count. */
export interface OptimizerRecord {
  step: number;
  moments: TensorDict;
}

/** Everything besides tensors that a resumed run needs to continue exactly. */
export interface TrainState {
  step: number;
  /** States of the run's random generators (engine/rng `RngState`), by purpose. */
  rng: Record<string, number[]>;
  /** engine/timesteps sampler `getState()`. */
  timestepSampler: unknown;
  /** engine/data BatchSampler `getState()`. */
  dataSampler: unknown;
}

export interface Checkpoint {
  spec: ModelSpec;
  step: number;
  /** The checkpoint directory. */
  path: string;
  weights: TensorDict;
  ema: TensorDict;
  /** Present when loaded with `{ training: true }`. */
  optimizer?: OptimizerRecord;
  state?: TrainState;
}

/** What an imported checkpoint has: no run state (engine/run/import-reference.ts). */
export interface ImportedCheckpointInput {
  spec: ModelSpec;
  weights: TensorDict;
  ema: TensorDict;
  optimizer?: OptimizerRecord;
}

/** Adam's state (moments in our layout, `params` order) as the record optimizer.safetensors holds. */
export function optimizerRecordFrom(state: AdamState, params: readonly ParamSpec[]): OptimizerRecord {
  const moments: TensorDict = new Map();
  const entry = (data: Float32Array, i: number): SafeTensor => ({ dtype: 'F32', shape: [...params[i].shape], data });
  state.expAvg.forEach((m, i) => moments.set(`exp_avg.${params[i].name}`, entry(m, i)));
  state.expAvgSq.forEach((v, i) => moments.set(`exp_avg_sq.${params[i].name}`, entry(v, i)));
  return { step: state.step, moments };
}

/** The record's moments back in `params` order (for an export to the reference's opt<step>.pt). */
export function adamStateFrom(record: OptimizerRecord, params: readonly ParamSpec[]): AdamState {
  const moment = (kind: string, s: ParamSpec): Float32Array => {
    const m = record.moments.get(`${kind}.${s.name}`);
    if (!m || !(m.data instanceof Float32Array)) throw new Error(`the optimizer state has no float32 "${kind}.${s.name}"`);
    return m.data;
  };
  return { step: record.step, expAvg: params.map((s) => moment('exp_avg', s)), expAvgSq: params.map((s) => moment('exp_avg_sq', s)) };
}

export interface CheckpointInput {
  spec: ModelSpec;
  weights: TensorDict;
  ema: TensorDict;
  optimizer: OptimizerRecord;
  state: TrainState;
}

/** Test seam: called after each stage of a save (`file:<name>`, `renamed`, `committed`). */
export type SaveStageHook = (stage: string) => void;

const FILES = { spec: 'model.json', weights: 'weights.safetensors', ema: 'ema.safetensors', optimizer: 'optimizer.safetensors', state: 'state.json' } as const;
const LATEST = 'latest';
const LOG = 'log.jsonl';
const EVALUATION = 'evaluation.json';
/** How much of the end of log.jsonl lastLogEntry reads (a progress line is well under 1 KB). */
const LOG_TAIL_BYTES = 16 * 1024;

/** The last evaluation of a model (the Sampler's evaluate mode), kept beside its checkpoints. */
export interface StoredEvaluation {
  bitsPerDim: number;
  count: number;
  dataset: { kind: string; split: string };
  /** Respacing of the bound, when not the full T. */
  steps?: string;
  /** The checkpoint step that was evaluated. */
  step: number;
  at: string;
}
const CKPT_DIR = /^ckpt-(\d+)(-\d+)?(\.tmp)?$/;
/** What writeFileAtomic names its temporary files. */
const ATOMIC_TMP = /^\.[^/]+\.\d+\.tmp$/;


export function checkpointDirName(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}`;
}

export class ModelStore {
  constructor(readonly modelsDir: string) {
    if (typeof modelsDir !== 'string' || modelsDir === '') throw new Error('ModelStore needs a models directory');
  }

  /**
   * The folder of model `name`; refuses names that are not model names (engine/spec isModelName: no path
   * traversal) and a folder that is a link to somewhere outside the models folder (nothing is read or written
   * through it).
   */
  modelDir(name: string): string {
    if (!isModelName(name)) {
      throw badRequest(`Invalid model name ${shown(name)}: ${reasonOf({ key: 'modelName', params: { got: shown(name) } })}`);
    }
    const dir = path.join(this.modelsDir, name);
    if (fs.existsSync(dir) && !isInside(fs.realpathSync(dir), fs.realpathSync(this.modelsDir))) {
      throw badRequest(`Model folder "${name}" leads outside the models folder (a link?): it is not used`);
    }
    return dir;
  }

  /** Names of the models that have a loadable checkpoint, sorted. */
  list(): string[] {
    if (!fs.existsSync(this.modelsDir)) return [];
    return fs.readdirSync(this.modelsDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && isModelName(e.name) && this.hasCheckpoint(e.name))
      .map((e) => e.name)
      .sort();
  }

  hasCheckpoint(name: string): boolean {
    return this.latestDir(name) !== undefined;
  }

  /** The spec of the current checkpoint. */
  readSpec(name: string): ModelSpec {
    const dir = this.requireLatest(name);
    return readJson<ModelSpec>(path.join(dir, FILES.spec));
  }

  /**
   * The current checkpoint: spec and weights (and with `training`, the optimizer and run state, when the
   * checkpoint has them: a sampling export does not).
   */
  loadCheckpoint(name: string, opts: { training?: boolean } = {}): Checkpoint {
    const dir = this.requireLatest(name);
    const spec = readJson<ModelSpec>(path.join(dir, FILES.spec));
    const read = (file: string): Buffer => fs.readFileSync(path.join(dir, file));
    const ema = parseSafetensors(read(FILES.ema));
    // A sampling export (exportForSampling) has only the EMA weights.
    const weights = fs.existsSync(path.join(dir, FILES.weights)) ? parseSafetensors(read(FILES.weights)) : ema;
    const ckpt: Checkpoint = { spec, step: spec.step, path: dir, weights, ema };
    if (opts.training && fs.existsSync(path.join(dir, FILES.optimizer))) {
      const { tensors, metadata } = parseSafetensorsWithMetadata(read(FILES.optimizer));
      ckpt.optimizer = { step: Number(metadata.step), moments: tensors };
      // An imported checkpoint has the optimizer but no run state.
      if (fs.existsSync(path.join(dir, FILES.state))) {
        ckpt.state = readJson<TrainState>(path.join(dir, FILES.state));
        if (ckpt.state.step !== spec.step) throw new Error(`Checkpoint ${dir} is inconsistent: state.json is at step ${ckpt.state.step}, model.json at ${spec.step}`);
      }
    }
    return ckpt;
  }

  /**
   * Writes a checkpoint and makes it the current one (see the file comment for why a crash at any point leaves
   * a loadable checkpoint). Returns the checkpoint directory.
   */
  saveCheckpoint(name: string, input: CheckpointInput, onStage?: SaveStageHook): string {
    const step = input.spec.step;
    if (input.state.step !== step) throw new Error(`saveCheckpoint: state is at step ${input.state.step}, spec at ${step}`);
    return this.commitCheckpoint(name, input.spec, [
      [FILES.weights, () => writeSafetensors(input.weights)],
      [FILES.ema, () => writeSafetensors(input.ema)],
      [FILES.optimizer, () => writeSafetensors(input.optimizer.moments, { step: String(input.optimizer.step), layout: 'engine (NHWC/HWIO)' })],
      [FILES.state, () => JSON.stringify(input.state)],
    ], onStage);
  }

  /**
   * Writes an imported checkpoint (weights, EMA and, when given, the optimizer; no run state) as the current one
   * of `name`, with the same crash safety as saveCheckpoint.
   */
  saveImported(name: string, input: ImportedCheckpointInput): string {
    const files: Array<[string, () => Uint8Array | string]> = [
      [FILES.weights, () => writeSafetensors(input.weights)],
      [FILES.ema, () => writeSafetensors(input.ema)],
    ];
    const opt = input.optimizer;
    if (opt) files.push([FILES.optimizer, () => writeSafetensors(opt.moments, { step: String(opt.step), layout: 'engine (NHWC/HWIO)' })]);
    return this.commitCheckpoint(name, input.spec, files);
  }

  /**
   * Copies the current checkpoint of `name` into `dest` in its smallest form for sampling: model.json and the
   * EMA weights in half precision (the shipped demo model). Loading it gives the EMA weights for both weight
   * sets; training it further starts a fresh optimizer from those weights.
   */
  exportForSampling(name: string, dest: ModelStore): string {
    const ckpt = this.loadCheckpoint(name);
    const half = new Map([...ckpt.ema].map(([k, t]) => [k, { ...t, dtype: 'F16' as const }]));
    return dest.commitCheckpoint(name, ckpt.spec, [[FILES.ema, () => writeSafetensors(half, { format: 'pt', precision: 'float16' })]]);
  }

  /** Writes a checkpoint's files into `ckpt-<step>.tmp/`, fsyncs, renames it and moves `latest` to it. */
  private commitCheckpoint(name: string, spec: ModelSpec, files: Array<[string, () => Uint8Array | string]>, onStage?: SaveStageHook): string {
    const modelDir = this.modelDir(name);
    fs.mkdirSync(modelDir, { recursive: true });
    // A run started over (resume off) reaches steps the current checkpoint already has: the new one takes a
    // suffixed name, so the current one stays intact until the pointer moves.
    let finalName = checkpointDirName(spec.step);
    if (this.latestName(name) === finalName) finalName = `${finalName}-${Date.now()}`;
    const finalDir = path.join(modelDir, finalName);
    const tmpDir = `${finalDir}.tmp`;
    fs.rmSync(tmpDir, { recursive: true, force: true });
    fs.mkdirSync(tmpDir);
    for (const [file, data] of [...files, [FILES.spec, () => JSON.stringify(spec, null, 2)] as [string, () => string]]) {
      writeFileDurable(path.join(tmpDir, file), data());
      onStage?.(`file:${file}`);
    }
    fsyncDir(tmpDir);
    // A complete directory of the same name may be left by a save killed before the pointer moved: not current.
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.renameSync(tmpDir, finalDir);
    fsyncDir(modelDir);
    onStage?.('renamed');
    writeFileAtomic(path.join(modelDir, LATEST), finalName);
    onStage?.('committed');
    writeFileAtomic(path.join(modelDir, FILES.spec), JSON.stringify(spec, null, 2));
    this.removeStale(modelDir, finalName);
    return finalDir;
  }

  /** Appends one JSON line to the model's training log (never through a link). */
  appendLog(name: string, record: object): void {
    const dir = this.modelDir(name);
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(path.join(dir, LOG), fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
    try {
      fs.writeSync(fd, JSON.stringify(record) + '\n');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The training log, oldest first (a torn last line from a crash is skipped). */
  readLog(name: string): Array<Record<string, unknown>> {
    const file = path.join(this.modelDir(name), LOG);
    if (!fs.existsSync(file)) return [];
    const out: Array<Record<string, unknown>> = [];
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut short by a crash.
      }
    }
    return out;
  }

  /** The training log's last entry (read from the end of the file), or undefined when there is none. */
  lastLogEntry(name: string): Record<string, unknown> | undefined {
    const file = path.join(this.modelDir(name), LOG);
    if (!fs.existsSync(file)) return undefined;
    const size = fs.statSync(file).size;
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, buf, 0, length, size - length);
    } finally {
      fs.closeSync(fd);
    }
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim());
    // The first line may be cut by the window and the last by a crash: the last one that parses wins.
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        return JSON.parse(lines[i]) as Record<string, unknown>;
      } catch {
        // cut short
      }
    }
    return undefined;
  }

  /** Keeps the result of an evaluation of the current checkpoint (replacing the previous one). */
  saveEvaluation(name: string, evaluation: StoredEvaluation): void {
    writeFileAtomic(path.join(this.modelDir(name), EVALUATION), JSON.stringify(evaluation, null, 2));
  }

  /** The last stored evaluation, or undefined. */
  readEvaluation(name: string): StoredEvaluation | undefined {
    const file = path.join(this.modelDir(name), EVALUATION);
    if (!fs.existsSync(file)) return undefined;
    try {
      return readJson<StoredEvaluation>(file);
    } catch {
      return undefined;
    }
  }

  /**
   * Drops log entries after `step`: a resumed run redoes those steps and logs them again, and a run that starts
   * afresh (step 0) drops what a run that died before its first checkpoint had logged.
   */
  truncateLog(name: string, step: number): void {
    const entries = this.readLog(name);
    const kept = entries.filter((e) => typeof e.step !== 'number' || e.step <= step);
    if (kept.length === entries.length) return;
    writeFileAtomic(path.join(this.modelDir(name), LOG), kept.map((e) => JSON.stringify(e) + '\n').join(''));
  }

  /** Deletes a model folder entirely. */
  remove(name: string): void {
    fs.rmSync(this.modelDir(name), { recursive: true, force: true });
  }

  private latestName(name: string): string | undefined {
    const file = path.join(this.modelDir(name), LATEST);
    if (!fs.existsSync(file)) return undefined;
    const value = fs.readFileSync(file, 'utf8').trim();
    return CKPT_DIR.test(value) && !value.endsWith('.tmp') ? value : undefined;
  }

  private latestDir(name: string): string | undefined {
    const latest = this.latestName(name);
    if (!latest) return undefined;
    const dir = path.join(this.modelDir(name), latest);
    return fs.existsSync(path.join(dir, FILES.spec)) ? dir : undefined;
  }

  private requireLatest(name: string): string {
    const dir = this.latestDir(name);
    if (!dir) throw new Error(`Model "${name}" has no checkpoint in ${this.modelsDir}`);
    return dir;
  }

  /**
   * Removes every checkpoint directory (finished or not) other than the current one, and the temporary files of
   * atomic writes a killed process left (`.latest.<pid>.tmp`, …).
   */
  private removeStale(modelDir: string, current: string): void {
    for (const entry of fs.readdirSync(modelDir)) {
      if ((entry !== current && CKPT_DIR.test(entry)) || ATOMIC_TMP.test(entry)) fs.rmSync(path.join(modelDir, entry), { recursive: true, force: true });
    }
  }
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
