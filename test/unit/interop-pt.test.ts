/**
 * PyTorch checkpoints: the reference's unet_small.pt (zip) and unet_small_legacy.pt read bit for bit like
 * unet_small.safetensors; what we write reads back identically, is laid out as torch lays it out, and keeps
 * storages shared; strided views are gathered; a torch 1.13 AdamW state (test/interop-fixtures, written by
 * make_adamw_fixture.py) reads into our layout and round-trips; a .pt given to the safetensors parser says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, SafeTensor } from '../../engine/safetensors';
import {
  adamStateToTorch, isSafeTensor, pickle, PyFloat, PyGlobal, PyOrderedDict, PyPersistentId, PyReduce, PyTuple, readAdamState,
  readTorchCheckpoint, readTorchStateDict, TorchValue, unpickle, writeTorchCheckpoint, writeTorchStateDict,
} from '../../engine/interop';
import type { ParamSpec } from '../../engine/unet/layout';
import { bytesOf, referenceDir, torchZip, zipDataOffsets } from './interop-helpers';

const ref = (file: string): Buffer => readFileSync(join(referenceDir(), file));
const expected = parseSafetensors(ref('unet_small.safetensors'));

function assertSameTensors(actual: Map<string, SafeTensor>, want: Map<string, SafeTensor>, what: string): void {
  assert.deepEqual([...actual.keys()], [...want.keys()], `${what}: names and order`);
  for (const [name, t] of want) {
    const a = actual.get(name)!;
    assert.equal(a.dtype, t.dtype, `${what}: ${name} dtype`);
    assert.deepEqual(a.shape, t.shape, `${what}: ${name} shape`);
    assert.ok(bytesOf(a.data).equals(bytesOf(t.data)), `${what}: ${name} values differ`);
  }
}

for (const file of ['unet_small.pt', 'unet_small_legacy.pt']) {
  test(`${file} holds exactly the tensors of unet_small.safetensors`, () => {
    const dict = readTorchStateDict(ref(file));
    assert.equal(dict.size, expected.size);
    assertSameTensors(dict, expected, file);
    assert.ok(readTorchCheckpoint(ref(file)) instanceof PyOrderedDict, 'torch.save(state_dict) is an OrderedDict');
    // A view into a larger buffer (byteOffset ≠ 0) reads the same.
    assertSameTensors(readTorchStateDict(Buffer.concat([Buffer.alloc(5), ref(file)]).subarray(5)), expected, `${file} at an offset`);
  });
}

test('a state dict written as .pt reads back bit for bit, deterministically, 64-byte aligned like torch', () => {
  const out = writeTorchStateDict(expected, { archiveName: 'model000100' });
  assertSameTensors(readTorchStateDict(out), expected, 'round trip');
  assert.ok(Buffer.from(out).equals(Buffer.from(writeTorchStateDict(expected, { archiveName: 'model000100' }))), 'same input, same bytes');
  const offsets = zipDataOffsets(out);
  assert.equal(offsets.length, expected.size + 2, 'data.pkl, one storage per tensor, version');
  assert.deepEqual([offsets[0].name, offsets[offsets.length - 1].name], ['model000100/data.pkl', 'model000100/version']);
  for (const { name, offset } of offsets) assert.equal(offset % 64, 0, `${name} data at ${offset}`);
  // The reference file is aligned the same way (torch's writer pads with an extra field).
  for (const { name, offset } of zipDataOffsets(ref('unet_small.pt'))) assert.equal(offset % 64, 0, `reference ${name}`);
});

test('a Python value tree round-trips: int keys, tuples, floats, big ints, None, bools, every dtype, shared storage', () => {
  const shared = Float32Array.of(1.5, -2, 3.25);
  const tree = new Map<TorchValue, TorchValue>([
    ['ints', [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, 2n ** 70n, -(2n ** 64n)]],
    [7, new PyTuple<SafeTensor>([0.1, new PyFloat(2), -0, Infinity, null, true, false, 'ünïcode ✓'])],
    ['empty', new PyTuple<SafeTensor>([])],
    ['a', { dtype: 'F32', shape: [3], data: shared }],
    ['b', { dtype: 'F32', shape: [3], data: shared }],
    ['f64', { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -1e300) }],
    ['f16', { dtype: 'F16', shape: [2, 2], data: Float32Array.of(1, 0.5, -2, 65504) }],
    ['bf16', { dtype: 'BF16', shape: [2], data: Float32Array.of(1, -3.5) }],
    ['i64', { dtype: 'I64', shape: [2], data: BigInt64Array.of(-1n, 2n ** 40n) }],
    ['i32', { dtype: 'I32', shape: [1], data: Int32Array.of(-7) }],
    ['u8', { dtype: 'U8', shape: [2], data: Uint8Array.of(0, 255) }],
    ['bool', { dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) }],
    ['scalar', { dtype: 'F32', shape: [], data: Float32Array.of(3) }],
    ['empty_tensor', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const ordered = new PyOrderedDict<SafeTensor>([['x', 1]]);
  ordered.attributes.set('_metadata', new PyOrderedDict<SafeTensor>([['', new Map([['version', 1]])]]));
  tree.set('ordered', ordered);
  const out = writeTorchCheckpoint(tree);
  const tensorCount = [...tree.values()].filter(isSafeTensor).length;
  assert.equal(zipDataOffsets(out).length, 2 + tensorCount - 1, 'a and b share one storage');
  const back = readTorchCheckpoint(out) as Map<TorchValue, TorchValue>;
  assert.ok(back instanceof Map && !(back instanceof PyOrderedDict));
  assert.deepEqual([...back.keys()], [...tree.keys()]);
  assert.deepEqual(back.get('ints'), tree.get('ints'));
  const tuple = back.get(7) as PyTuple<SafeTensor>;
  assert.ok(tuple instanceof PyTuple);
  assert.deepEqual(tuple.items, [0.1, 2, -0, Infinity, null, true, false, 'ünïcode ✓']);
  assert.ok(Object.is(tuple.items[2], -0));
  assert.equal((back.get('empty') as PyTuple<SafeTensor>).length, 0);
  assert.deepEqual(back.get('ordered'), ordered);
  assert.ok(back.get('ordered') instanceof PyOrderedDict && (back.get('ordered') as PyOrderedDict<SafeTensor>).attributes.get('_metadata') instanceof PyOrderedDict);
  for (const key of ['a', 'b', 'f64', 'i64', 'i32', 'u8', 'bool', 'scalar', 'empty_tensor']) {
    const [t, w] = [back.get(key) as SafeTensor, tree.get(key) as SafeTensor];
    assert.deepEqual([t.dtype, t.shape, bytesOf(t.data)], [w.dtype, w.shape, bytesOf(w.data)], key);
  }
  // Half types come back decoded to float32; these values are exact in both.
  assert.deepEqual([...(back.get('f16') as SafeTensor).data], [1, 0.5, -2, 65504]);
  assert.deepEqual([...(back.get('bf16') as SafeTensor).data], [1, -3.5]);
  assert.equal((back.get('bf16') as SafeTensor).dtype, 'BF16');
});

test('large trees pickle and unpickle unchanged (buffer growth, LONG_BINPUT/LONG_BINGET memo, batches of 1000)', () => {
  const strings = Array.from({ length: 3000 }, (_, i) => `key ${i}`);
  const tree: TorchValue = [
    strings,
    strings.map((s, i) => new PyTuple<SafeTensor>([s, i * 1.5, i * 65537])), // each string again: memo hits past index 255
    new Map<TorchValue, TorchValue>(strings.map((s, i) => [i, s])),
  ];
  const bytes = pickle(tree);
  const back = unpickle(bytes).value as TorchValue[];
  assert.deepEqual(back, tree);
  assert.ok(bytes.includes(0x72) && bytes.includes(0x6a), 'LONG_BINPUT and LONG_BINGET used');
});

test('bfloat16 is written with round-to-nearest-even', () => {
  // 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1).
  const data = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, NaN);
  const back = readTorchCheckpoint(writeTorchCheckpoint(new Map([['t', { dtype: 'BF16', shape: [4], data } as SafeTensor]]))) as Map<string, SafeTensor>;
  const got = back.get('t')!.data;
  assert.deepEqual([got[0], got[1], got[2]], [1, 1 + 2 ** -6, 1]);
  assert.ok(Number.isNaN(got[3]));
});

test('a transposed (non-contiguous) view and a view at an offset are gathered', () => {
  // storage 0..6; t = storage[1:].view(2, 3).t() → shape (3, 2), stride (1, 3), offset 1.
  const storage = Float32Array.of(0, 1, 2, 3, 4, 5, 6);
  const pid = new PyPersistentId(new PyTuple(['storage', new PyGlobal('torch', 'FloatStorage'), '0', 'cpu', 7]));
  const rebuild = (offset: number, size: number[], stride: number[]): PyReduce => new PyReduce(new PyGlobal('torch._utils', '_rebuild_tensor_v2'),
    new PyTuple<PyReduce | PyPersistentId>([pid, offset, new PyTuple(size), new PyTuple(stride), false, new PyReduce(new PyGlobal('collections', 'OrderedDict'), new PyTuple([]))]));
  // As train_util.save writes model/EMA checkpoints: nn.Parameters, _rebuild_parameter(tensor, requires_grad, hooks).
  const parameter = (name: string, extra: number): PyReduce => new PyReduce(new PyGlobal('torch._utils', name),
    new PyTuple<PyReduce>([rebuild(0, [2], [1]), true, new PyReduce(new PyGlobal('collections', 'OrderedDict'), new PyTuple([])), ...new Array<PyReduce>(extra).fill(new PyReduce(new PyGlobal('collections', 'OrderedDict'), new PyTuple([])))]));
  const pkl = pickle(new Map([['t', rebuild(1, [3, 2], [1, 3])], ['row', rebuild(4, [3], [1])], ['col', rebuild(2, [2, 1], [3, 7])],
    ['param', parameter('_rebuild_parameter', 0)], ['param2', parameter('_rebuild_parameter_with_state', 1)]]));
  const value = readTorchCheckpoint(torchZip(pkl, { 0: new Uint8Array(storage.buffer) })) as Map<string, SafeTensor>;
  assert.deepEqual(value.get('t')!.shape, [3, 2]);
  assert.deepEqual([...value.get('t')!.data], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual([...value.get('row')!.data], [4, 5, 6]);
  assert.deepEqual([...value.get('col')!.data], [2, 5]);
  assert.deepEqual([...value.get('param')!.data], [0, 1]);
  assert.deepEqual([...value.get('param2')!.data], [0, 1]);
  assert.notEqual(value.get('t')!.data.buffer, value.get('row')!.data.buffer, 'each tensor owns its data');
});

/** The fixture model's parameters as ParamSpecs (see make_adamw_fixture.py), in our layouts. */
const FIXTURE_SPECS: ParamSpec[] = [
  { name: '0.weight', kind: 'conv', role: 'weight', torchShape: [4, 3, 3, 3], shape: [3, 3, 3, 4], fanIn: 27, zeroInit: false },
  { name: '0.bias', kind: 'conv', role: 'bias', torchShape: [4], shape: [4], fanIn: 27, zeroInit: false },
  { name: '1.weight', kind: 'linear', role: 'weight', torchShape: [5, 4], shape: [4, 5], fanIn: 4, zeroInit: false },
  { name: '1.bias', kind: 'linear', role: 'bias', torchShape: [5], shape: [5], fanIn: 4, zeroInit: false },
  { name: '2.weight', kind: 'conv1d', role: 'weight', torchShape: [6, 5, 1], shape: [5, 6], fanIn: 5, zeroInit: false },
  { name: '2.bias', kind: 'conv1d', role: 'bias', torchShape: [6], shape: [6], fanIn: 5, zeroInit: false },
  { name: '3.weight', kind: 'norm', role: 'weight', torchShape: [6], shape: [6], fanIn: 0, zeroInit: false },
  { name: '3.bias', kind: 'norm', role: 'bias', torchShape: [6], shape: [6], fanIn: 0, zeroInit: false },
];
const fixture = readFileSync(join(__dirname, 'interop-fixtures', 'adamw_torch1.13.pt'));

/** Adam's moments after the fixture's three steps, in float64, at PyTorch flat index k of parameter p. */
function fixtureMoments(p: number, k: number): { m: number; v: number } {
  let m = 0;
  let v = 0;
  for (let step = 0; step < 3; step++) {
    const g = Math.fround(Math.sin(0.37 * (k + 1) + p) * (step + 1));
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
  }
  return { m, v };
}

test('torch 1.13 AdamW state_dict reads into our Adam state, moments in our layout', () => {
  const state = readAdamState(readTorchCheckpoint(fixture), FIXTURE_SPECS);
  assert.equal(state.step, 3);
  assert.deepEqual(state.hyperparameters, { lr: 2e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
  assert.equal(state.flatMaster, false);
  const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(b) + 1e-12, `${what}: ${a} vs ${b}`);
  // Conv weight: ours HWIO [y][x][i][o] is torch OIHW [o][i][y][x].
  for (let o = 0; o < 4; o++) for (let i = 0; i < 3; i++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) {
    const want = fixtureMoments(0, ((o * 3 + i) * 3 + y) * 3 + x);
    const at = ((y * 3 + x) * 3 + i) * 4 + o;
    close(state.expAvg[0][at], want.m, `conv m[${o},${i},${y},${x}]`);
    close(state.expAvgSq[0][at], want.v, `conv v[${o},${i},${y},${x}]`);
  }
  // Linear [out, in] → ours [in, out]; Conv1d [O, I, 1] → ours [I, O].
  for (let o = 0; o < 5; o++) for (let i = 0; i < 4; i++) close(state.expAvg[2][i * 5 + o], fixtureMoments(2, o * 4 + i).m, `linear m[${o},${i}]`);
  for (let o = 0; o < 6; o++) for (let i = 0; i < 5; i++) close(state.expAvgSq[4][i * 6 + o], fixtureMoments(4, o * 5 + i).v, `conv1d v[${o},${i}]`);
  for (const p of [1, 3, 5, 6, 7]) state.expAvg[p].forEach((m, k) => close(m, fixtureMoments(p, k).m, `param ${p} m[${k}]`));
});

test('our Adam state written as AdamW.state_dict() reproduces the torch file value for value', () => {
  const original = readTorchCheckpoint(fixture) as Map<TorchValue, TorchValue>;
  const state = readAdamState(original, FIXTURE_SPECS);
  const written = readTorchCheckpoint(writeTorchCheckpoint(adamStateToTorch(state, FIXTURE_SPECS, state.hyperparameters))) as Map<TorchValue, TorchValue>;
  const group = (v: Map<TorchValue, TorchValue>) => (v.get('param_groups') as Array<Map<TorchValue, TorchValue>>)[0];
  assert.deepEqual([...group(written).keys()], [...group(original).keys()], 'param group keys in torch 1.13 order');
  assert.deepEqual(group(written), group(original));
  const perParam = (v: Map<TorchValue, TorchValue>) => v.get('state') as Map<number, Map<string, SafeTensor>>;
  assert.deepEqual([...perParam(written).keys()], [0, 1, 2, 3, 4, 5, 6, 7]);
  for (const [i, entry] of perParam(original)) {
    for (const key of ['step', 'exp_avg', 'exp_avg_sq']) {
      const [a, b] = [perParam(written).get(i)!.get(key)!, entry.get(key)!];
      assert.deepEqual([a.dtype, a.shape], [b.dtype, b.shape], `state[${i}].${key}`);
      assert.ok(bytesOf(a.data).equals(bytesOf(b.data)), `state[${i}].${key} values`);
    }
  }
});

test('the fp16 flat-master layout and a fresh optimizer round-trip; mismatches are refused', () => {
  const state = readAdamState(readTorchCheckpoint(fixture), FIXTURE_SPECS);
  const flat = adamStateToTorch(state, FIXTURE_SPECS, {}, { flatMaster: true });
  const back = readAdamState(readTorchCheckpoint(writeTorchCheckpoint(flat)), FIXTURE_SPECS);
  assert.equal(back.flatMaster, true);
  assert.equal(back.step, 3);
  back.expAvg.forEach((m, i) => assert.ok(bytesOf(m).equals(bytesOf(state.expAvg[i])), `flat m[${i}]`));
  back.expAvgSq.forEach((v, i) => assert.ok(bytesOf(v).equals(bytesOf(state.expAvgSq[i])), `flat v[${i}]`));
  assert.deepEqual(back.hyperparameters, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });

  const fresh = readAdamState(adamStateToTorch({ ...state, step: 0 }, FIXTURE_SPECS), FIXTURE_SPECS);
  assert.equal(fresh.step, 0);
  assert.ok(fresh.expAvg.every((m, i) => m.length === state.expAvg[i].length && m.every((x) => x === 0)));

  assert.throws(() => readAdamState(readTorchCheckpoint(fixture), FIXTURE_SPECS.slice(1)), /8 parameters, the model 7/);
  const swapped = [FIXTURE_SPECS[2], ...FIXTURE_SPECS.slice(1, 2), FIXTURE_SPECS[0], ...FIXTURE_SPECS.slice(3)];
  assert.throws(() => readAdamState(readTorchCheckpoint(fixture), swapped), /state\[0\]\.exp_avg \(1\.weight\) has shape \[4,3,3,3\], expected \[5,4\]/);
  const amsgrad = readTorchCheckpoint(fixture) as Map<TorchValue, TorchValue>;
  (amsgrad.get('param_groups') as Array<Map<TorchValue, TorchValue>>)[0].set('amsgrad', true);
  assert.throws(() => readAdamState(amsgrad, FIXTURE_SPECS), /amsgrad=True is not supported/);
  assert.throws(() => readTorchStateDict(fixture), /expected a flat state dict of tensors, but state \(dict\), param_groups \(list\) are not a tensor/);
});

test('a .pt file given to the safetensors parser is named as a PyTorch checkpoint', () => {
  assert.throws(() => parseSafetensors(ref('unet_small.pt')), /is a PyTorch checkpoint \(\.pt, zip format\), not safetensors: import it with readTorchStateDict/);
  assert.throws(() => parseSafetensors(ref('unet_small_legacy.pt')), /is a PyTorch checkpoint \(\.pt, legacy pickle format\), not safetensors/);
  assert.throws(() => parseSafetensors(Buffer.from('0123456789abcdef')), /header length \d+ exceeds/);
});
