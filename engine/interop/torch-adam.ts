/**
 * Adam state ↔ torch's `AdamW.state_dict()`, the reference's `opt<step>.pt` (improved_diffusion/train_util.py
 * saves `self.opt.state_dict()` and resumes with `self.opt.load_state_dict`). torch 1.13 writes
 *   {'state': {i: {'step': tensor(<float>), 'exp_avg': T_i, 'exp_avg_sq': T_i}},
 *    'param_groups': [{'lr', 'betas': (β1, β2), 'eps', 'weight_decay', 'amsgrad': False, 'foreach': None,
 *                      'maximize': False, 'capturable': False, 'params': [0, …, n−1]}]}
 * with i the position in `model.parameters()` (= state_dict order, the UNet has no buffers) and T_i in the
 * parameter's PyTorch layout. torch < 1.12 stored `step` as a Python int; both are read. With `use_fp16` the
 * reference optimises one flattened master parameter (`make_master_params`): then there is a single entry whose
 * moments are every parameter's (PyTorch layout) concatenated; that is read too, and written on request.
 * Moments are converted between the PyTorch layout and ours with engine/unet/statedict.ts.
 *
 * The reference builds `AdamW(params, lr, weight_decay)` with torch's defaults betas (0.9, 0.999), eps 1e-8, and
 * weight_decay 0 by default; with weight_decay 0 AdamW is exactly Adam, which is what engine/optim/adam.ts runs.
 */
import type { AdamState } from '../optim/adam';
import type { SafeTensor } from '../safetensors';
import type { ParamSpec } from '../unet/layout';
import { fromTorchLayout, toTorchLayout } from '../unet/statedict';
import { PyFloat, PyTuple, isPyInt, pyTypeName } from './pyvalue';
import { TorchValue, isSafeTensor } from './torch-tensors';

export interface AdamHyperparameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW's defaults with the reference's lr (1e-4) and weight_decay (0). */
export const REFERENCE_ADAMW: Readonly<AdamHyperparameters> = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** An optimizer state read from torch: our AdamState (moments in our layout) plus the group's hyperparameters. */
export interface TorchAdamState extends AdamState {
  hyperparameters: AdamHyperparameters;
  /** The state was one flattened fp16-master parameter. */
  flatMaster: boolean;
}

function fail(message: string): never {
  throw new Error(`Invalid AdamW state dict: ${message}`);
}

function field(dict: TorchValue, key: string, where: string): TorchValue {
  if (!(dict instanceof Map)) fail(`${where} must be a dict, got ${pyTypeName(dict)}`);
  if (!dict.has(key)) fail(`${where} has no '${key}' (keys: ${[...dict.keys()].map(String).join(', ')})`);
  return dict.get(key) as TorchValue;
}

function num(v: TorchValue, where: string): number {
  if (v instanceof PyFloat) return v.value;
  if (typeof v !== 'number') fail(`${where} must be a number, got ${pyTypeName(v)}`);
  return v as number;
}

function floats(t: TorchValue, where: string): Float32Array {
  if (!isSafeTensor(t)) fail(`${where} must be a tensor, got ${pyTypeName(t)}`);
  const tensor = t as SafeTensor;
  if (!['F32', 'F64', 'F16', 'BF16'].includes(tensor.dtype)) fail(`${where} has dtype ${tensor.dtype}, expected a float type`);
  return tensor.data instanceof Float32Array ? tensor.data : Float32Array.from(tensor.data as Float64Array);
}

/** `step` as torch ≥ 1.12 (a one-element tensor) or older torch (a number) stores it. */
function stepOf(v: TorchValue, where: string): number {
  const s = isSafeTensor(v) && v.data.length === 1 ? Number(v.data[0]) : v;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) fail(`${where} must be a non-negative whole number, got ${isSafeTensor(v) ? `a tensor of shape [${v.shape}]` : String(v)}`);
  return s as number;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Reads torch's AdamW / Adam `state_dict()` (as readTorchCheckpoint returns it) for the model whose parameters are
 * `params` (in state_dict order), with moments converted to our layout. Refuses what our Adam cannot continue:
 * several param groups, amsgrad, maximize, parameters at different step counts, shapes that do not match.
 */
export function readAdamState(value: TorchValue, params: readonly ParamSpec[]): TorchAdamState {
  const groups = field(value, 'param_groups', 'the optimizer state');
  if (!Array.isArray(groups) || groups.length !== 1) fail(`expected one param group, found ${Array.isArray(groups) ? groups.length : pyTypeName(groups)}`);
  const group = (groups as TorchValue[])[0];
  const ids = field(group, 'params', 'param_groups[0]');
  if (!Array.isArray(ids) || !ids.every(isPyInt)) fail('param_groups[0].params must be a list of ints');
  const idList = ids as number[];
  for (const flag of ['amsgrad', 'maximize'] as const) {
    if (group instanceof Map && group.get(flag) === true) fail(`${flag}=True is not supported (our Adam implements plain Adam)`);
  }
  const betas = field(group, 'betas', 'param_groups[0]');
  if (!(betas instanceof PyTuple) || betas.length !== 2) fail(`betas must be a pair, got ${pyTypeName(betas)}`);
  const hyperparameters: AdamHyperparameters = {
    lr: num(field(group, 'lr', 'param_groups[0]'), 'lr'),
    beta1: num((betas as PyTuple<SafeTensor>).items[0], 'betas[0]'),
    beta2: num((betas as PyTuple<SafeTensor>).items[1], 'betas[1]'),
    eps: num(field(group, 'eps', 'param_groups[0]'), 'eps'),
    weightDecay: num(field(group, 'weight_decay', 'param_groups[0]'), 'weight_decay'),
  };
  const total = params.reduce((a, s) => a + size(s.torchShape), 0);
  const flatMaster = idList.length === 1 && params.length > 1;
  if (!flatMaster && idList.length !== params.length) fail(`the optimizer has ${idList.length} parameters, the model ${params.length}`);

  const state = field(value, 'state', 'the optimizer state');
  if (!(state instanceof Map)) fail(`'state' must be a dict, got ${pyTypeName(state)}`);
  const entries = state as Map<TorchValue, TorchValue>;
  if (entries.size === 0) {
    // A fresh optimizer (torch keeps no state before the first step).
    const zeros = params.map((s) => new Float32Array(size(s.shape)));
    return { step: 0, expAvg: zeros, expAvgSq: zeros.map((z) => z.slice()), hyperparameters, flatMaster };
  }
  const steps = new Set<number>();
  const moments = idList.map((id, i) => {
    const entry = entries.get(id);
    const name = flatMaster ? 'the flattened master parameter' : params[i].name;
    if (entry === undefined) fail(`no state for parameter ${id} (${name}), though others have one`);
    steps.add(stepOf(field(entry as TorchValue, 'step', `state[${id}]`), `state[${id}].step`));
    const read = (key: string): Float32Array => {
      const t = field(entry as TorchValue, key, `state[${id}]`);
      const data = floats(t, `state[${id}].${key}`);
      const expected = flatMaster ? [total] : params[i].torchShape;
      const shape = (t as SafeTensor).shape;
      if (flatMaster ? data.length !== total : shape.join() !== expected.join()) fail(`state[${id}].${key} (${name}) has shape [${shape}], expected [${expected}]`);
      return data;
    };
    return { expAvg: read('exp_avg'), expAvgSq: read('exp_avg_sq') };
  });
  if (steps.size !== 1) fail(`the parameters are at different steps (${[...steps].join(', ')}); our Adam keeps one step count`);
  const toOurs = (pick: 'expAvg' | 'expAvgSq'): Float32Array[] => {
    if (!flatMaster) return moments.map((m, i) => fromTorchLayout(params[i], m[pick]));
    let offset = 0;
    return params.map((s) => fromTorchLayout(s, moments[0][pick].slice(offset, (offset += size(s.torchShape)))));
  };
  return { step: [...steps][0], expAvg: toOurs('expAvg'), expAvgSq: toOurs('expAvgSq'), hyperparameters, flatMaster };
}

export interface AdamExportOptions {
  /** Write the reference's use_fp16 layout: one flattened master parameter (default false). */
  flatMaster?: boolean;
}

/**
 * Our Adam state (moments in our layout, parameters in state_dict order) as torch 1.13's `AdamW.state_dict()`,
 * ready for writeTorchCheckpoint: the reference resumes from it with `--resume_checkpoint` (it loads
 * `opt<step>.pt` next to `model<step>.pt`). Hyperparameters default to REFERENCE_ADAMW. At step 0 the state is
 * empty, as a fresh torch optimizer's.
 */
export function adamStateToTorch(state: AdamState, params: readonly ParamSpec[], hyperparameters: Partial<AdamHyperparameters> = {}, options: AdamExportOptions = {}): TorchValue {
  const h = { ...REFERENCE_ADAMW, ...hyperparameters };
  if (state.expAvg.length !== params.length || state.expAvgSq.length !== params.length) {
    throw new Error(`adamStateToTorch: ${state.expAvg.length} moments for ${params.length} parameters`);
  }
  if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`adamStateToTorch: step must be a non-negative integer, got ${state.step}`);
  const torchLayout = (arrays: Float32Array[]): Float32Array[] => arrays.map((a, i) => {
    if (a.length !== size(params[i].shape)) throw new Error(`adamStateToTorch: ${params[i].name} has ${a.length} moment values, expected ${size(params[i].shape)}`);
    return toTorchLayout(params[i], a);
  });
  const m = torchLayout(state.expAvg);
  const v = torchLayout(state.expAvgSq);
  const flat = options.flatMaster ?? false;
  const tensor = (data: Float32Array, shape: number[]): SafeTensor => ({ dtype: 'F32', shape, data });
  const concat = (arrays: Float32Array[]): Float32Array => {
    const out = new Float32Array(arrays.reduce((a, x) => a + x.length, 0));
    let offset = 0;
    for (const a of arrays) { out.set(a, offset); offset += a.length; }
    return out;
  };
  const perParam = new Map<TorchValue, TorchValue>();
  if (state.step > 0) {
    const entry = (mi: Float32Array, vi: Float32Array, shape: number[]): TorchValue => new Map<TorchValue, TorchValue>([
      ['step', tensor(Float32Array.of(state.step), [])],
      ['exp_avg', tensor(mi, shape)],
      ['exp_avg_sq', tensor(vi, shape)],
    ]);
    if (flat) perParam.set(0, entry(concat(m), concat(v), [m.reduce((a, x) => a + x.length, 0)]));
    else params.forEach((s, i) => perParam.set(i, entry(m[i], v[i], [...s.torchShape])));
  }
  const group = new Map<TorchValue, TorchValue>([
    ['lr', new PyFloat(h.lr)],
    ['betas', new PyTuple<SafeTensor>([new PyFloat(h.beta1), new PyFloat(h.beta2)])],
    ['eps', new PyFloat(h.eps)],
    ['weight_decay', new PyFloat(h.weightDecay)],
    ['amsgrad', false],
    ['foreach', null],
    ['maximize', false],
    ['capturable', false],
    ['params', flat ? [0] : params.map((_, i) => i)],
  ]);
  return new Map<TorchValue, TorchValue>([['state', perParam], ['param_groups', [group]]]);
}
