/**
 * The safetensors format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }` (space-padded),
 * then the raw little-endian tensor bytes; offsets are relative to the end of the header and must tile the
 * data exactly. Parsing never trusts the file: every violation is an Error saying what is wrong.
 */

export type SafeDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
export type SafeData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  /** F16 and BF16 are decoded to Float32Array; the others use their own typed array. */
  data: SafeData;
}

const BYTES: Record<SafeDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
/** A header larger than this is refused (the reference library's own limit). */
const MAX_HEADER = 100_000_000;

function fail(message: string): never {
  throw new Error(`Invalid safetensors file: ${message}`);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Float → IEEE half with round-to-nearest-even (what numpy's astype(float16) does). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

/** The bytes written for one tensor: its own array, or float32 data encoded as F16 when it says F16. */
function encodeData(name: string, t: SafeTensor): Uint8Array {
  const native = dtypeOfArray(t.data);
  if (t.dtype === 'F16' && native === 'F32') {
    const h = Uint16Array.from(t.data as Float32Array, floatToHalf);
    return new Uint8Array(h.buffer);
  }
  if (t.dtype !== native && !(t.dtype === 'BOOL' && native === 'U8')) throw new Error(`writeSafetensors: tensor "${name}" says ${t.dtype} but holds ${native} data`);
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Copies the bytes (they may be unaligned in the file) and views them as the dtype's array. */
export function decodeTensorBytes(dtype: SafeDtype, bytes: Uint8Array): SafeData {
  const copy = new Uint8Array(bytes).buffer; // a copy: Buffer#slice would be a view of the whole file
  switch (dtype) {
    case 'F64': return new Float64Array(copy);
    case 'F32': return new Float32Array(copy);
    case 'I64': return new BigInt64Array(copy);
    case 'I32': return new Int32Array(copy);
    case 'I16': return new Int16Array(copy);
    case 'I8': return new Int8Array(copy);
    case 'U8': case 'BOOL': return new Uint8Array(copy);
    case 'F16': return Float32Array.from(new Uint16Array(copy), halfToFloat);
    case 'BF16': {
      const bits = new Uint32Array(bytes.length / 2);
      new Uint16Array(copy).forEach((v, i) => { bits[i] = v << 16; });
      return new Float32Array(bits.buffer);
    }
  }
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor "${name}": shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape as number[];
}

/** Reads a safetensors buffer into tensors keyed by name (in header order), plus its `__metadata__`. */
export function parseSafetensorsWithMetadata(buf: Uint8Array): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  if (!(buf instanceof Uint8Array)) fail('expected a Buffer or Uint8Array');
  if (buf.length < 8) fail(`${buf.length} bytes is too short for the 8-byte header length`);
  const n = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, buf.length - 8))) {
    const torchFormat = buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04 ? 'zip' : buf[0] === 0x80 && buf[1] >= 2 && buf[1] <= 5 ? 'legacy pickle' : '';
    if (torchFormat) fail(`this is a PyTorch checkpoint (.pt, ${torchFormat} format), not safetensors: import it with readTorchStateDict from engine/interop`);
    fail(`header length ${n} exceeds the ${buf.length - 8} bytes after it (or the ${MAX_HEADER}-byte limit)`);
  }
  const headerEnd = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, headerEnd)));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header must be a JSON object');
  const dataLen = buf.length - headerEnd;
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; dtype: SafeDtype; shape: number[]; begin: number; end: number }> = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ must be an object');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null) fail(`tensor "${name}": entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) fail(`tensor "${name}": unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(BYTES).join(', ')})`);
    const dims = checkShape(name, shape);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor "${name}": data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) fail(`tensor "${name}": data_offsets [${begin}, ${end}] lie outside the ${dataLen} data bytes`);
    const size = dims.reduce((a, b) => a * b, 1) * BYTES[dtype as SafeDtype];
    if (end - begin !== size) fail(`tensor "${name}": ${end - begin} bytes for ${dtype} ${JSON.stringify(dims)}, which needs ${size}`);
    entries.push({ name, dtype: dtype as SafeDtype, shape: dims, begin, end });
  }
  let cursor = 0;
  for (const e of [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (e.begin !== cursor) fail(`tensor "${e.name}" starts at byte ${e.begin}, expected ${cursor} (tensors must tile the data without gaps or overlaps)`);
    cursor = e.end;
  }
  if (cursor !== dataLen) fail(`${dataLen - cursor} data bytes after the last tensor`);
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeTensorBytes(e.dtype, buf.subarray(headerEnd + e.begin, headerEnd + e.end)) });
  }
  return { tensors, metadata };
}

/** Reads a safetensors buffer: tensors keyed by name, in header order. */
export function parseSafetensors(buf: Uint8Array): Map<string, SafeTensor> {
  return parseSafetensorsWithMetadata(buf).tensors;
}

function dtypeOfArray(data: SafeData): SafeDtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  return 'U8';
}

/**
 * Writes tensors (in iteration order) as safetensors: compact JSON header with `__metadata__` first, padded with
 * spaces to a multiple of 8, then the data. Each array is written in its own dtype, except float32 data declared
 * F16, which is encoded to half precision (smaller files for shipped models); any other mismatch is an error.
 */
export function writeSafetensors(tensors: Map<string, SafeTensor> | Record<string, SafeTensor>, metadata?: Record<string, string>): Buffer {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const bytes: Uint8Array[] = [];
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new Error('writeSafetensors: "__metadata__" is reserved and cannot name a tensor');
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`writeSafetensors: tensor "${name}" has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
    const b = encodeData(name, t);
    bytes.push(b);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + b.byteLength] };
    offset += b.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const out = Buffer.alloc(8 + padded + offset);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  let at = 8 + padded;
  for (const b of bytes) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}
