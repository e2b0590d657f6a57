/**
 * The reference's checkpoint files (improved_diffusion/train_util.py `TrainLoop.save`): every save_interval steps
 * rank 0 writes into the run folder
 *   model<step>.pt          the raw parameters (torch.save of a state_dict)
 *   ema_<rate>_<step>.pt    the EMA parameters, one file per `--ema_rate`
 *   opt<step>.pt            `AdamW.state_dict()` (engine/interop/torch-adam.ts)
 * with <step> zero-padded to 6 digits and every state_dict in `model.named_parameters()` order (= state_dict order;
 * UNetModel has no buffers). `--resume_checkpoint <dir>/model<step>.pt` resumes a run: the step comes from the
 * name (parse_resume_step_from_filename), the EMA and optimizer files from beside it under the same step.
 *
 * Step counting: the loop saves after the update of its step k under the name k, so `opt<k>.pt` of a fresh run
 * holds `step` = k + 1 updates (checked: the demo run's opt002500.pt says 2501). The exports here name a
 * checkpoint by our step count S (= updates done = its Adam step): resumed from it, the reference's next update
 * is its step S, and every file it writes afterwards follows its own convention again.
 *
 * The published checkpoints of the reference's README are named `<dataset>_<params>_<steps>K[_bs<n>].pt`
 * (`cifar10_uncond_50M_500K.pt`): thousands of steps.
 */
import type { AdamState } from '../optim/adam';
import type { SafeTensor } from '../safetensors';
import type { ParamSpec } from '../unet/layout';
import { adamStateToTorch, type AdamHyperparameters } from './torch-adam';
import { writeTorchCheckpoint, writeTorchStateDict } from './torch-write';

export type CheckpointRole = 'model' | 'ema' | 'opt';

export interface CheckpointName {
  /** What the file is by its name: a train_util file, a published checkpoint, or neither. */
  role: CheckpointRole | 'published' | 'unknown';
  /** The step its name gives (null when it gives none). */
  step: number | null;
  /** The EMA rate of an `ema_<rate>_<step>.pt`, as written. */
  rate?: string;
}

/** What a checkpoint's file name says (the base name is used; folders are ignored). */
export function parseCheckpointName(fileName: string): CheckpointName {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  let m = /^model(\d+)\.pt$/.exec(base);
  if (m) return { role: 'model', step: Number(m[1]) };
  m = /^ema_(\d+(?:\.\d+)?(?:e-?\d+)?)_(\d+)\.pt$/.exec(base);
  if (m) return { role: 'ema', step: Number(m[2]), rate: m[1] };
  m = /^opt(\d+)\.pt$/.exec(base);
  if (m) return { role: 'opt', step: Number(m[1]) };
  m = /_(\d+)K(?:_bs\d+)?\.pt$/.exec(base);
  if (m) return { role: 'published', step: Number(m[1]) * 1000 };
  return { role: 'unknown', step: null };
}

/** An EMA rate as Python's str(float) writes it in `ema_{rate}_…` (0.9999 → "0.9999", 1 → "1.0"). */
export function emaRateText(rate: number): string {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`EMA rate must be in [0, 1], got ${rate}`);
  return Number.isInteger(rate) ? rate.toFixed(1) : String(rate);
}

/** The names train_util.save gives the three files of `step` (the EMA one for `rate`). */
export function referenceCheckpointNames(step: number, rate: number | string): Record<CheckpointRole, string> {
  if (!Number.isInteger(step) || step < 0) throw new Error(`checkpoint step must be a whole number ≥ 0, got ${step}`);
  const s = String(step).padStart(6, '0');
  const r = typeof rate === 'string' ? rate : emaRateText(rate);
  return { model: `model${s}.pt`, ema: `ema_${r}_${s}.pt`, opt: `opt${s}.pt` };
}

export interface TorchTripleInput {
  /** Raw parameters and EMA parameters in the reference's names and layouts (model folder weights/ema). */
  weights: ReadonlyMap<string, SafeTensor>;
  ema: ReadonlyMap<string, SafeTensor>;
  /** Adam's state in our layout, parameters in `params` order; absent: a fresh optimizer (empty state). */
  adam?: AdamState;
  /** The model's parameters, in state_dict order (engine/unet/layout buildLayout). */
  params: readonly ParamSpec[];
  /** The step the files are named by (train_util's resume step). */
  step: number;
  emaRate: number | string;
  /** The optimizer's param group (lr, betas, eps, weight decay); default the reference's AdamW. */
  hyperparameters?: Partial<AdamHyperparameters>;
}

export interface TorchFile {
  name: string;
  bytes: Uint8Array;
}

/** One state_dict in `params` order, checked: every name present with its PyTorch shape. */
function orderedStateDict(dict: ReadonlyMap<string, SafeTensor>, params: readonly ParamSpec[], what: string): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const s of params) {
    const t = dict.get(s.name);
    if (!t) throw new Error(`${what} has no parameter ${s.name}`);
    if (t.shape.join() !== s.torchShape.join()) throw new Error(`${what}: ${s.name} has shape [${t.shape}], the reference's is [${s.torchShape}]`);
    out.set(s.name, t);
  }
  if (dict.size !== params.length) throw new Error(`${what} has ${dict.size} tensors, the model ${params.length} parameters`);
  return out;
}

/**
 * `model<step>.pt`, `ema_<rate>_<step>.pt` and `opt<step>.pt` as train_util.save writes them (archive folder = the
 * file's stem, as torch.save names it), so the reference continues the run with `--resume_checkpoint
 * model<step>.pt`.
 */
export function torchCheckpointTriple(input: TorchTripleInput): TorchFile[] {
  const names = referenceCheckpointNames(input.step, input.emaRate);
  const stem = (name: string): string => name.replace(/\.pt$/, '');
  const adam: AdamState = input.adam ?? { step: 0, expAvg: [], expAvgSq: [] };
  if (input.adam === undefined) {
    adam.expAvg = input.params.map((s) => new Float32Array(s.shape.reduce((a, b) => a * b, 1)));
    adam.expAvgSq = adam.expAvg.map((a) => a.slice());
  }
  return [
    { name: names.model, bytes: writeTorchStateDict(orderedStateDict(input.weights, input.params, 'the weights'), { archiveName: stem(names.model) }) },
    { name: names.ema, bytes: writeTorchStateDict(orderedStateDict(input.ema, input.params, 'the EMA weights'), { archiveName: stem(names.ema) }) },
    { name: names.opt, bytes: writeTorchCheckpoint(adamStateToTorch(adam, input.params, input.hyperparameters), { archiveName: stem(names.opt) }) },
  ];
}
