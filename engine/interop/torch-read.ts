/**
 * Reads PyTorch checkpoints (`torch.save` output, e.g. improved-diffusion's `model*.pt`, `ema_*.pt`, `opt*.pt`)
 * without Python and without executing anything from the file (torch/serialization.py documents both formats):
 *
 * - zip (torch ≥ 1.6): `<top>/data.pkl` (the pickled object), `<top>/data/<key>` (raw little-endian storages),
 *   `<top>/version`; `<top>` is whatever folder the entries share (torch uses the file's stem).
 * - legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): back-to-back pickles of the magic number
 *   0x1950a86a20f9469cfc6c, the protocol version 1001 and sys_info, then the object, then the list of storage
 *   keys, then per key an int64 little-endian element count followed by the raw data.
 *
 * Zip reading uses fflate (small, dependency-free, maintained, synchronous on a buffer, reads zip64); its filter
 * lists each entry's name, sizes and method before anything is extracted, so every size is checked first, and
 * only stored (uncompressed) entries are accepted, as torch writes them (no deflate means no zip bomb). fflate does
 * not verify CRC-32s: a flipped bit inside tensor data goes unnoticed, as it would in safetensors, which has no
 * checksum at all; structural damage (truncation, bad sizes, a broken pickle) is always an error.
 */
import { unzipSync, UnzipFileInfo } from 'fflate';
import type { SafeTensor } from '../safetensors';
import { PickleError, unpickle } from './pickle';
import { PyValue, pyTypeName } from './pyvalue';
import { ELEMENT_BYTES, TensorBuilder, TorchCheckpointError, TorchStorage, TorchValue, checkTree, fail, isSafeTensor } from './torch-tensors';

/** torch's legacy MAGIC_NUMBER and PROTOCOL_VERSION. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

export type TorchCheckpointFormat = 'zip' | 'legacy';

/** Which torch.save format the bytes look like, from their first bytes (nothing is parsed). */
export function detectTorchFormat(buf: Uint8Array): TorchCheckpointFormat | undefined {
  if (buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04) return 'zip';
  if (buf.length >= 2 && buf[0] === 0x80 && buf[1] >= 2 && buf[1] <= 5) return 'legacy';
  return undefined;
}

/** Runs a pickle step, turning its errors into checkpoint errors. */
function guarded<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof TorchCheckpointError) throw err;
    if (err instanceof PickleError) fail(`${what}: ${err.message}`);
    throw err;
  }
}

function unpickleWith(builder: TensorBuilder, bytes: Uint8Array, label: string, offset: number, bytesFor: (key: string, nbytes: number) => Uint8Array | undefined) {
  return guarded(label, () => unpickle<SafeTensor | TorchStorage>(bytes, {
    offset,
    globals: builder.globals(),
    allowedDescription: TensorBuilder.allowedDescription,
    persistentLoad: (pid) => builder.persistentLoad(pid, bytesFor),
  }));
}

/** The zip format. */
function readZip(buf: Uint8Array): TorchValue {
  const entries: UnzipFileInfo[] = [];
  const maxEntries = Math.floor(buf.length / 46); // a central-directory record takes at least 46 bytes
  const list = (filter: (f: UnzipFileInfo) => boolean): Record<string, Uint8Array> => {
    try {
      return unzipSync(buf, { filter });
    } catch (err) {
      if (err instanceof TorchCheckpointError) throw err;
      return fail(`not a readable zip archive (${(err as Error).message}); the file may be truncated or corrupt`);
    }
  };
  list((f) => {
    if (entries.length >= maxEntries) fail('the zip directory lists more entries than the file can hold');
    entries.push(f);
    return false;
  });
  if (entries.length === 0) fail('the zip archive is empty');
  const slash = entries[0].name.indexOf('/');
  if (slash <= 0) fail(`zip entry "${entries[0].name}" is not inside a folder, as torch writes them`);
  const top = entries[0].name.slice(0, slash + 1);
  const wanted = new Map<string, UnzipFileInfo>();
  for (const e of entries) {
    if (!e.name.startsWith(top)) continue;
    const rel = e.name.slice(top.length);
    if (!(rel === 'data.pkl' || rel === 'version' || rel === '.data/version' || rel === 'byteorder' || /^data\/[^/]+$/.test(rel))) continue;
    if (wanted.has(e.name)) fail(`zip entry ${e.name} appears twice`);
    if (e.compression !== 0) fail(`zip entry ${e.name} is compressed (method ${e.compression}); torch writes checkpoints uncompressed`);
    if (e.size !== e.originalSize) fail(`zip entry ${e.name} is stored with ${e.size} bytes but says ${e.originalSize}`);
    if (e.size > buf.length) fail(`zip entry ${e.name} claims ${e.size} bytes, more than the ${buf.length}-byte file`);
    wanted.set(e.name, e);
  }
  const pklName = `${top}data.pkl`;
  if (!wanted.has(pklName)) fail(`${pklName} is missing (is this a TorchScript archive or another zip file?)`);
  if (!wanted.has(`${top}version`) && !wanted.has(`${top}.data/version`)) fail(`${top}version is missing`);
  const files = list((f) => wanted.has(f.name));
  for (const [name, e] of wanted) {
    const got = files[name]?.length ?? 0;
    if (got !== e.originalSize) fail(`zip entry ${name} is truncated: ${got} of ${e.originalSize} bytes present`);
  }
  const text = (name: string): string | undefined => (files[name] ? new TextDecoder().decode(files[name]).trim() : undefined);
  const version = text(`${top}version`) ?? text(`${top}.data/version`);
  if (!/^\d+$/.test(version ?? '')) fail(`${top}version holds ${JSON.stringify(version)}, not a format version number`);
  const byteorder = text(`${top}byteorder`);
  if (byteorder !== undefined && byteorder !== 'little') fail(`the tensors are stored ${byteorder}-endian; only little-endian is supported`);

  const builder = new TensorBuilder(buf.length);
  const { value, end } = unpickleWith(builder, files[pklName], 'data.pkl', 0, (key) => {
    const bytes = files[`${top}data/${key}`];
    if (!bytes) fail(`storage ${key} is used but ${top}data/${key} is not in the archive`);
    return bytes;
  });
  if (end !== files[pklName].length) fail(`data.pkl has ${files[pklName].length - end} bytes after its end`);
  builder.materialize();
  return checkTree(value);
}

/** The legacy format. */
function readLegacy(buf: Uint8Array): TorchValue {
  const plain = (label: string, offset: number): { value: PyValue; end: number } => guarded(label, () => unpickle(buf, { offset }));
  if (buf.length > 257 + 5 && new TextDecoder().decode(buf.subarray(257, 262)) === 'ustar') {
    fail('this is a tar-format checkpoint (torch ≤ 0.3), which is not supported');
  }
  const magic = plain('magic number', 0);
  if (magic.value !== LEGACY_MAGIC) fail(`a legacy checkpoint starts with torch's magic number, this pickle holds ${pyTypeName(magic.value)} ${String(magic.value).slice(0, 40)}`);
  const protocol = plain('protocol version', magic.end);
  if (protocol.value !== LEGACY_PROTOCOL) fail(`legacy protocol version ${String(protocol.value)} is not supported (expected ${LEGACY_PROTOCOL})`);
  const sysInfo = plain('sys_info', protocol.end);
  if (!(sysInfo.value instanceof Map)) fail(`sys_info must be a dict, got ${pyTypeName(sysInfo.value)}`);
  if ((sysInfo.value as Map<PyValue, PyValue>).get('little_endian') === false) fail('the checkpoint was written on a big-endian machine; only little-endian is supported');

  const builder = new TensorBuilder(buf.length);
  const main = unpickleWith(builder, buf, 'object', sysInfo.end, () => undefined);
  const keys = plain('storage keys', main.end);
  if (!Array.isArray(keys.value)) fail(`the storage key list must be a list, got ${pyTypeName(keys.value)}`);
  let pos = keys.end;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const key of keys.value as PyValue[]) {
    if (typeof key !== 'string') fail(`a storage key must be a string, got ${pyTypeName(key)}`);
    const storage = builder.storages.get(key as string);
    if (!storage) fail(`storage ${key} is listed in the file but no tensor uses it`);
    const s = storage as TorchStorage;
    if (s.bytes) fail(`storage ${key} is listed twice`);
    if (pos + 8 > buf.length) fail(`the file ends before storage ${key} (truncated?)`);
    const count = view.getBigUint64(pos, true);
    if (count !== BigInt(s.numel)) fail(`storage ${key} holds ${count} elements, the pickle declared ${s.numel}`);
    const nbytes = s.numel * ELEMENT_BYTES[s.dtype];
    if (pos + 8 + nbytes > buf.length) fail(`storage ${key} needs ${nbytes} bytes, only ${buf.length - pos - 8} remain (truncated?)`);
    s.bytes = buf.subarray(pos + 8, pos + 8 + nbytes);
    pos += 8 + nbytes;
  }
  builder.materialize();
  return checkTree(main.value);
}

/**
 * Reads a torch.save checkpoint (zip or legacy format) into Python-like values (see pyvalue.ts) with every tensor
 * as a contiguous SafeTensor (F16/BF16 decoded to float32; views gathered; parameters as plain tensors).
 * Refuses, with an `Invalid PyTorch checkpoint: …` error, anything that is not plain data: unknown globals
 * (code), whole pickled modules, sizes that exceed the bytes present, views outside their storage.
 */
export function readTorchCheckpoint(buf: Uint8Array): TorchValue {
  if (!(buf instanceof Uint8Array)) fail('expected a Buffer or Uint8Array');
  const format = detectTorchFormat(buf);
  if (format === 'zip') return readZip(buf);
  if (format === 'legacy') return readLegacy(buf);
  return fail('neither the zip format (starts with "PK\\x03\\x04") nor the legacy format (a pickle, starts with 0x80)');
}

/**
 * Reads a checkpoint that is a flat `{name: tensor}` dict or OrderedDict (`torch.save(model.state_dict())`, the
 * reference's `model*.pt` / `ema_*.pt`), in its order. Anything else is an error naming what was found.
 */
export function readTorchStateDict(buf: Uint8Array): Map<string, SafeTensor> {
  const value = readTorchCheckpoint(buf);
  if (!(value instanceof Map)) fail(`expected a state dict (a dict of tensors), found a ${pyTypeName(value)}`);
  const out = new Map<string, SafeTensor>();
  const nonTensor: string[] = [];
  for (const [k, v] of value as Map<TorchValue, TorchValue>) {
    if (typeof k !== 'string') fail(`state dict keys must be strings, found ${pyTypeName(k)} ${String(k)}`);
    if (isSafeTensor(v)) out.set(k as string, v);
    else nonTensor.push(`${k} (${pyTypeName(v)})`);
  }
  if (nonTensor.length) {
    const keys = [...(value as Map<TorchValue, TorchValue>).keys()].slice(0, 8).map(String).join(', ');
    fail(`expected a flat state dict of tensors, but ${nonTensor.slice(0, 5).join(', ')}${nonTensor.length > 5 ? ', …' : ''} ${nonTensor.length === 1 ? 'is' : 'are'} not a tensor (top-level keys: ${keys}); a training checkpoint may hold the state dict under one of them`);
  }
  return out;
}
