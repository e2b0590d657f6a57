/**
 * A pickler for the values of pyvalue.ts at protocol 2 (what torch.save uses by default), emitting the same
 * opcodes CPython's pickle.py does for them: BININT1/BININT2/BININT/LONG1 ints, BINFLOAT, BINUNICODE,
 * EMPTY_LIST + APPENDS, EMPTY_DICT + SETITEMS (batches of 1000), TUPLE1–3 / MARK…TUPLE, GLOBAL + REDUCE, and
 * BINPUT/BINGET memoization (strings by value, containers by identity, so shared objects stay shared).
 * Two write-only nodes let a caller express torch objects: PyReduce (`callable(*args)`) and PyPersistentId.
 */
import { PyFloat, PyGlobal, PyOrderedDict, PyTuple, PyValue, pyTypeName } from './pyvalue';

/** Written as `callable(*args)`: GLOBAL, the argument tuple, REDUCE (e.g. torch._utils._rebuild_tensor_v2). */
export class PyReduce {
  constructor(readonly callable: PyGlobal, readonly args: PyTuple<WritableExtension>) {}
}

/** Written as the id followed by BINPERSID (torch: a storage's `('storage', type, key, location, numel)`). */
export class PyPersistentId {
  constructor(readonly id: PyValue<WritableExtension>) {}
}

export type WritableExtension = PyReduce | PyPersistentId;
export type WritableValue = PyValue<WritableExtension>;

export interface PickleOptions<X> {
  /** Turns an extension object (anything that is not a Python value) into PyReduce / PyPersistentId. */
  convert?: (value: X) => WritableExtension;
}

/** Containers nested deeper than this are refused (no real checkpoint comes close). */
const MAX_DEPTH = 1000;
const BATCH = 1000;

/** A growable byte buffer. */
class ByteSink {
  private buf = new Uint8Array(1024);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  byte(...bs: number[]): void {
    const at = this.room(bs.length);
    this.buf.set(bs, at);
  }
  bytes(b: Uint8Array): void {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  u32(v: number): void {
    const at = this.room(4); // before taking the buffer: room() may replace it
    new DataView(this.buf.buffer).setUint32(at, v, true);
  }
  f64be(v: number): void {
    const at = this.room(8);
    new DataView(this.buf.buffer).setFloat64(at, v, false);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A Python int as the minimal two's-complement little-endian bytes (pickle's encode_long). */
export function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let n = v;
  for (;;) {
    out.push(Number(n & 0xffn));
    n >>= 8n;
    const signBit = (out[out.length - 1] & 0x80) !== 0;
    if ((n === 0n && !signBit) || (n === -1n && signBit)) break;
  }
  return Uint8Array.from(out);
}

/** Pickles a value at protocol 2 (PROTO 2 … STOP). */
export function pickle<X = never>(value: PyValue<X>, options: PickleOptions<X> = {}): Uint8Array {
  const out = new ByteSink();
  const enc = new TextEncoder();
  const memoStrings = new Map<string, number>();
  const memoGlobals = new Map<string, number>();
  const memoById = new Map<object, number>();
  const inProgress = new Set<object>();
  const converted = new Map<object, WritableExtension>();
  let memoCount = 0;

  const put = (): number => {
    const i = memoCount++;
    if (i < 256) out.byte(0x71, i); // BINPUT
    else { out.byte(0x72); out.u32(i); } // LONG_BINPUT
    return i;
  };
  const getMemo = (i: number): void => {
    if (i < 256) out.byte(0x68, i); // BINGET
    else { out.byte(0x6a); out.u32(i); } // LONG_BINGET
  };
  const memoized = (key: object): boolean => {
    const i = memoById.get(key);
    if (i === undefined) return false;
    getMemo(i);
    return true;
  };

  const writeInt = (v: number | bigint): void => {
    if (typeof v === 'number' && v >= 0 && v <= 0xff) out.byte(0x4b, v); // BININT1
    else if (typeof v === 'number' && v >= 0 && v <= 0xffff) out.byte(0x4d, v & 0xff, v >> 8); // BININT2
    else if (typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff) { out.byte(0x4a); out.u32(v >>> 0); } // BININT
    else {
      const b = encodeLong(BigInt(v));
      if (b.length > 255) throw new Error(`pickle: integer ${v} is too large`);
      out.byte(0x8a, b.length); // LONG1
      out.bytes(b);
    }
  };
  const writeString = (s: string): void => {
    const i = memoStrings.get(s);
    if (i !== undefined) return getMemo(i);
    const b = enc.encode(s);
    out.byte(0x58); // BINUNICODE
    out.u32(b.length);
    out.bytes(b);
    memoStrings.set(s, put());
  };
  const writeGlobal = (g: PyGlobal): void => {
    const i = memoGlobals.get(g.qualifiedName);
    if (i !== undefined) return getMemo(i);
    if (/[\n\0]/.test(g.qualifiedName)) throw new Error(`pickle: invalid global name ${JSON.stringify(g.qualifiedName)}`);
    out.byte(0x63); // GLOBAL
    out.bytes(enc.encode(`${g.module}\n${g.name}\n`));
    memoGlobals.set(g.qualifiedName, put());
  };
  const enter = (v: object, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Error(`pickle: values nested deeper than ${MAX_DEPTH} levels`);
    if (inProgress.has(v)) throw new Error(`pickle: a ${pyTypeName(v)} contains itself through a tuple, which cannot be pickled`);
    inProgress.add(v);
  };
  /** Items in batches of BATCH groups of `groupSize` values: MARK … `many`, or a lone group then `one`. */
  const writeBatches = (items: readonly WritableValue[], groupSize: number, depth: number, many: number, one: number): void => {
    for (let start = 0; start < items.length; start += groupSize * BATCH) {
      const batch = items.slice(start, start + groupSize * BATCH);
      if (batch.length > groupSize) out.byte(0x28); // MARK
      for (const it of batch) write(it, depth + 1);
      out.byte(batch.length > groupSize ? many : one);
    }
  };

  const write = (v: PyValue<X> | WritableValue, depth: number): void => {
    if (v === null) return out.byte(0x4e); // NONE
    if (v === true) return out.byte(0x88);
    if (v === false) return out.byte(0x89);
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) return writeInt(v);
      out.byte(0x47); // BINFLOAT
      return out.f64be(v);
    }
    if (typeof v === 'bigint') return writeInt(v);
    if (typeof v === 'string') return writeString(v);
    if (v instanceof PyFloat) { out.byte(0x47); return out.f64be(v.value); }
    if (v instanceof PyGlobal) return writeGlobal(v);
    if (v instanceof Uint8Array) throw new Error('pickle: bytes values cannot be written at protocol 2');
    if (typeof v !== 'object') throw new Error(`pickle: cannot write a ${typeof v}`);
    if (memoized(v)) return;
    enter(v, depth);
    if (Array.isArray(v)) {
      out.byte(0x5d); // EMPTY_LIST
      memoById.set(v, put());
      writeBatches(v as WritableValue[], 1, depth, 0x65, 0x61); // APPENDS / APPEND
    } else if (v instanceof Map) {
      const ordered = v instanceof PyOrderedDict;
      if (ordered) {
        writeGlobal(new PyGlobal('collections', 'OrderedDict'));
        out.byte(0x29, 0x52); // EMPTY_TUPLE, REDUCE
      } else out.byte(0x7d); // EMPTY_DICT
      memoById.set(v, put());
      const flat: WritableValue[] = [];
      for (const [key, val] of v) flat.push(key as WritableValue, val as WritableValue);
      writeBatches(flat, 2, depth, 0x75, 0x73); // SETITEMS / SETITEM
      if (ordered && v.attributes.size > 0) {
        write(new Map<WritableValue, WritableValue>(v.attributes as Map<string, WritableValue>), depth + 1);
        out.byte(0x62); // BUILD
      }
    } else if (v instanceof PyTuple) {
      const items = v.items as WritableValue[];
      if (items.length === 0) out.byte(0x29); // EMPTY_TUPLE
      else {
        if (items.length > 3) out.byte(0x28); // MARK
        for (const it of items) write(it, depth + 1);
        out.byte(items.length > 3 ? 0x74 : 0x84 + items.length); // TUPLE / TUPLE1..3
        memoById.set(v, put());
      }
    } else if (v instanceof PyReduce) {
      writeGlobal(v.callable);
      write(v.args, depth + 1);
      out.byte(0x52); // REDUCE
      memoById.set(v, put());
    } else if (v instanceof PyPersistentId) {
      write(v.id, depth + 1);
      out.byte(0x51); // BINPERSID
    } else {
      if (!options.convert) throw new Error('pickle: cannot write an object that is not a Python value');
      let ext = converted.get(v);
      if (!ext) converted.set(v, (ext = options.convert(v as X)));
      inProgress.delete(v);
      write(ext, depth + 1);
      const i = memoById.get(ext);
      if (i !== undefined) memoById.set(v, i);
      return;
    }
    inProgress.delete(v);
  };

  out.byte(0x80, 2); // PROTO 2
  write(value, 0);
  out.byte(0x2e); // STOP
  return out.result();
}
