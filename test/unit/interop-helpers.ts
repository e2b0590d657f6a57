/**
 * Helpers for the .pt interop tests: where the reference files are, a tiny pickle assembler for hand-made (and
 * malicious) pickles, zip building, and a zip local-header walk to check torch's 64-byte data alignment.
 */
import { zipSync } from 'fflate';

/** The reference data: IDDPM_REFERENCE_DIR, else the repo's copy (test/reference). */
export { referenceDir } from '../conformance/harness';

/** Pickle opcodes by pickletools name, for assembling pickles by hand. */
export const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, POP: 0x30, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89, BININT1: 0x4b, BININT: 0x4a, LONG1: 0x8a,
  BINFLOAT: 0x47, BINUNICODE: 0x58, SHORT_BINUNICODE: 0x8c, EMPTY_LIST: 0x5d, APPEND: 0x61, APPENDS: 0x65, EMPTY_TUPLE: 0x29,
  TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, EMPTY_DICT: 0x7d, SETITEM: 0x73, SETITEMS: 0x75, BINGET: 0x68,
  BINPUT: 0x71, LONG_BINPUT: 0x72, MEMOIZE: 0x94, GLOBAL: 0x63, STACK_GLOBAL: 0x93, REDUCE: 0x52, BUILD: 0x62, NEWOBJ: 0x81,
  BINPERSID: 0x51, INST: 0x69, FRAME: 0x95,
} as const;

/** Assembles a pickle from opcodes, byte values, strings (BINUNICODE), `global(...)` and raw byte arrays. */
export class PickleAssembler {
  private readonly parts: number[] = [];
  op(...codes: number[]): this {
    this.parts.push(...codes);
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.parts.push(OP.BINUNICODE, ...u32(b.length), ...b);
    return this;
  }
  int(v: number): this {
    if (v >= 0 && v < 256) this.parts.push(OP.BININT1, v);
    else this.parts.push(OP.BININT, ...u32(v >>> 0));
    return this;
  }
  global(module: string, name: string): this {
    this.parts.push(OP.GLOBAL, ...Buffer.from(`${module}\n${name}\n`));
    return this;
  }
  raw(bytes: ArrayLike<number>): this {
    this.parts.push(...Array.from(bytes));
    return this;
  }
  /** PROTO 2 … STOP. */
  bytes(): Uint8Array {
    return Uint8Array.from([OP.PROTO, 2, ...this.parts, OP.STOP]);
  }
}

export function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

export function u64(v: bigint): number[] {
  const out: number[] = [];
  for (let i = 0n; i < 8n; i++) out.push(Number((v >> (8n * i)) & 0xffn));
  return out;
}

/** A torch-style zip: `<top>/data.pkl`, `<top>/data/<key>` and `<top>/version`, stored. */
export function torchZip(dataPkl: Uint8Array, storages: Record<string, Uint8Array> = {}, top = 'archive'): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = { [`${top}/data.pkl`]: [dataPkl, { level: 0 }] };
  for (const [k, v] of Object.entries(storages)) files[`${top}/data/${k}`] = [v, { level: 0 }];
  files[`${top}/version`] = [Buffer.from('3\n'), { level: 0 }];
  return zipSync(files);
}

/** A legacy-format file: magic, protocol 1001, sys_info, the object pickle, the key list, then the storages. */
export function legacyFile(objectPickle: Uint8Array, storages: Array<{ key: string; count: bigint; data: Uint8Array }>): Uint8Array {
  const magic = Uint8Array.from([OP.PROTO, 2, OP.LONG1, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, OP.STOP]);
  const protocol = new PickleAssembler().op(0x4d, 0xe9, 0x03).bytes(); // BININT2 1001
  const sysInfo = new PickleAssembler().op(OP.EMPTY_DICT, OP.MARK).str('protocol_version').op(0x4d, 0xe9, 0x03).str('little_endian').op(OP.NEWTRUE).op(OP.SETITEMS).bytes();
  const keys = new PickleAssembler().op(OP.EMPTY_LIST, OP.MARK);
  for (const s of storages) keys.str(s.key);
  const parts = [magic, protocol, sysInfo, objectPickle, keys.op(OP.APPENDS).bytes()];
  for (const s of storages) parts.push(Uint8Array.from(u64(s.count)), s.data);
  return Buffer.concat(parts);
}

/** Each zip entry's name and data offset, walking the local headers from the start (stored entries). */
export function zipDataOffsets(zip: Uint8Array): Array<{ name: string; offset: number }> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const out: Array<{ name: string; offset: number }> = [];
  let at = 0;
  while (view.getUint32(at, true) === 0x04034b50) {
    const size = view.getUint32(at + 18, true);
    const nameLen = view.getUint16(at + 26, true);
    const extraLen = view.getUint16(at + 28, true);
    const name = Buffer.from(zip.subarray(at + 30, at + 30 + nameLen)).toString('utf8');
    const offset = at + 30 + nameLen + extraLen;
    out.push({ name, offset });
    at = offset + size;
  }
  return out;
}

/** Raw bytes of a typed array (for bit-exact comparisons). */
export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
