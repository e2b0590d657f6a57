/**
 * Writes PyTorch checkpoints in torch's zip format, loadable by `torch.load` (torch ≥ 1.6; checked against
 * torch 1.13), laid out as torch.save lays them out (torch/serialization.py `_save`, caffe2/serialize/
 * inline_container.cc): `<archive>/data.pkl` pickled at protocol 2 with tensors as
 * `torch._utils._rebuild_tensor_v2(<persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)>, 0, size,
 * stride, False, OrderedDict())`, one `<archive>/data/<key>` entry of raw little-endian bytes per storage, and
 * `<archive>/version` = "3". Entries are stored (uncompressed) and each entry's data starts on a 64-byte boundary,
 * padded with an extra field as torch's writer does, so readers can map tensors in place.
 *
 * The zip is written by fflate's zipSync (level 0), whose layout is the plain sequence of local header (30 bytes +
 * name + extra fields) and data, so the padding for the alignment can be computed up front; fflate does not write
 * zip64, so an archive must stay under 4 GiB.
 */
import { zipSync, Zippable } from 'fflate';
import { floatToHalf, SafeDtype, SafeTensor } from '../safetensors';
import { pickle, PyPersistentId, PyReduce, WritableExtension } from './pickle-writer';
import { PyGlobal, PyOrderedDict, PyTuple } from './pyvalue';
import { ELEMENT_BYTES, STORAGE_DTYPES, TorchValue } from './torch-tensors';

export interface WriteTorchOptions {
  /** The folder inside the zip (torch uses the file name's stem; any name loads). Default `archive`. */
  archiveName?: string;
}

/** torch's kFieldAlignment. */
const ALIGNMENT = 64;
/** The extra-field id torch's writer pads with ("FB"). */
const PADDING_FIELD = 0x4246;
const ZIP_LIMIT = 0xffffffff;
/** A fixed modification time, so the same checkpoint gives the same bytes. */
const MTIME = new Date(1980, 0, 1, 0, 0, 0);

const STORAGE_TYPE_OF: Record<SafeDtype, string> = Object.fromEntries(
  Object.entries(STORAGE_DTYPES).map(([name, dtype]) => [dtype, name]),
) as Record<SafeDtype, string>;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → bfloat16 bits, round to nearest even (torch's conversion); NaN stays NaN. */
export function floatToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The bytes torch stores for a tensor: its typed array as is, or float32 data encoded as F16 / BF16. */
function tensorBytes(name: string, t: SafeTensor): Uint8Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`writeTorchCheckpoint: tensor ${name} has an invalid shape [${t.shape}]`);
  if (count !== t.data.length) throw new Error(`writeTorchCheckpoint: tensor ${name} has ${t.data.length} values for shape [${t.shape}]`);
  const d = t.data;
  const matches: Record<SafeDtype, boolean> = {
    F32: d instanceof Float32Array, F64: d instanceof Float64Array, I64: d instanceof BigInt64Array, I32: d instanceof Int32Array,
    I16: d instanceof Int16Array, I8: d instanceof Int8Array, U8: d instanceof Uint8Array, BOOL: d instanceof Uint8Array,
    F16: d instanceof Float32Array, BF16: d instanceof Float32Array,
  };
  if (!matches[t.dtype]) throw new Error(`writeTorchCheckpoint: tensor ${name} says ${t.dtype} but holds a ${d.constructor.name}`);
  if (t.dtype === 'F16') return new Uint8Array(Uint16Array.from(d as Float32Array, floatToHalf).buffer);
  if (t.dtype === 'BF16') return new Uint8Array(Uint16Array.from(d as Float32Array, floatToBfloat16).buffer);
  if (t.dtype === 'BOOL' && (d as Uint8Array).some((v) => v > 1)) throw new Error(`writeTorchCheckpoint: BOOL tensor ${name} holds values other than 0 and 1`);
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function contiguousStride(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  return stride;
}

/**
 * Writes a Python-like value tree (pyvalue.ts: dicts — Map, with int or string keys —, PyOrderedDict, lists,
 * PyTuple, numbers, PyFloat, bigint, booleans, null, strings, PyGlobal) whose tensors are SafeTensors, as a
 * torch zip checkpoint. Tensors that share one typed array share one storage, as in torch. An integral JS
 * number is written as a Python int; wrap it in PyFloat to get a float.
 */
export function writeTorchCheckpoint(value: TorchValue, options: WriteTorchOptions = {}): Uint8Array {
  const archive = options.archiveName ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(archive)) throw new Error(`writeTorchCheckpoint: archive name ${JSON.stringify(archive)} must be a plain file name`);
  const storages: Array<{ key: string; bytes: Uint8Array }> = [];
  /** One storage per typed array (and dtype): tensors sharing data share a storage. */
  const storageKeys = new Map<SafeTensor['data'], Map<SafeDtype, string>>();
  const rebuild = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
  const noHooks = (): PyReduce => new PyReduce(new PyGlobal('collections', 'OrderedDict'), new PyTuple([]));
  const convert = (t: SafeTensor): WritableExtension => {
    if (typeof t !== 'object' || !t || !('dtype' in t) || !(t.dtype in ELEMENT_BYTES)) throw new Error('writeTorchCheckpoint: found an object that is neither a Python value nor a tensor');
    const byDtype = storageKeys.get(t.data) ?? new Map<SafeDtype, string>();
    storageKeys.set(t.data, byDtype);
    let key = byDtype.get(t.dtype);
    if (key === undefined) {
      key = String(storages.length);
      storages.push({ key, bytes: tensorBytes(`number ${key} (${t.dtype} [${t.shape}])`, t) });
      byDtype.set(t.dtype, key);
    }
    const numel = t.data.length;
    const pid = new PyPersistentId(new PyTuple<WritableExtension>(['storage', new PyGlobal('torch', STORAGE_TYPE_OF[t.dtype]), key, 'cpu', numel]));
    return new PyReduce(rebuild, new PyTuple<WritableExtension>([pid, 0, new PyTuple<WritableExtension>(t.shape), new PyTuple<WritableExtension>(contiguousStride(t.shape)), false, noHooks()]));
  };
  const pkl = pickle<SafeTensor>(value, { convert });

  const entries: Array<[string, Uint8Array]> = [[`${archive}/data.pkl`, pkl]];
  for (const s of storages) entries.push([`${archive}/data/${s.key}`, s.bytes]);
  entries.push([`${archive}/version`, new TextEncoder().encode('3\n')]);
  const files: Zippable = {};
  let cursor = 0;
  for (const [name, data] of entries) {
    const headerEnd = cursor + 30 + Buffer.byteLength(name) + 4;
    const pad = (ALIGNMENT - (headerEnd % ALIGNMENT)) % ALIGNMENT;
    files[name] = [data, { level: 0, mtime: MTIME, extra: { [PADDING_FIELD]: new Uint8Array(pad).fill(0x5a) } }];
    cursor = headerEnd + pad + data.length;
    if (cursor > ZIP_LIMIT) throw new Error('writeTorchCheckpoint: the checkpoint exceeds 4 GiB, which needs zip64 (not supported)');
  }
  return zipSync(files);
}

/** `torch.save(model.state_dict())`: an OrderedDict of tensors in the map's order (the reference's model/EMA layout). */
export function writeTorchStateDict(dict: ReadonlyMap<string, SafeTensor>, options: WriteTorchOptions = {}): Uint8Array {
  const ordered = new PyOrderedDict<SafeTensor>();
  for (const [k, v] of dict) ordered.set(k, v);
  return writeTorchCheckpoint(ordered, options);
}
