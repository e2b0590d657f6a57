/**
 * A restricted unpickler: reads Python pickles (protocols 2–5, the opcodes torch.save emits; see CPython's
 * Lib/pickletools.py for the opcode reference) into the values of pyvalue.ts. Nothing from the data is ever
 * executed or imported: GLOBAL / STACK_GLOBAL resolve only names in the caller's allow-list (anything else, such
 * as `posix.system` or `builtins.eval`, is refused at the opcode, before it could be called), and REDUCE / NEWOBJ
 * call only the TypeScript implementations registered for those names. Opcodes that exist to run or import code
 * (INST, OBJ, EXT*, …) are refused.
 *
 * Bounds: the machine is iterative (no recursion), each opcode creates at most one value, memo indices may not
 * exceed the pickle's length, integers are at most 64 bytes long and every length is checked against the bytes
 * that remain, so the work and memory are linear in the input.
 */
import { PyDict, PyGlobal, PyOrderedDict, PyTuple, PyValue, pyTypeName } from './pyvalue';

/** What an allowed global may do; a global with neither is only a value (e.g. a storage type). */
export interface AllowedGlobal<X> {
  /** REDUCE (`callable(*args)`), given the argument tuple's items. */
  call?: (args: PyValue<X>[]) => PyValue<X>;
  /** NEWOBJ (`cls.__new__(cls, *args)`), given the argument tuple's items. */
  construct?: (args: PyValue<X>[]) => PyValue<X>;
}

export interface UnpickleOptions<X> {
  /** The allow-list, keyed by `module.name`. Without it no global is allowed. */
  globals?: ReadonlyMap<string, AllowedGlobal<X>>;
  /** Resolves BINPERSID ids (torch: storages). Without it a persistent id is refused. */
  persistentLoad?: (pid: PyValue<X>) => PyValue<X>;
  /** Where the pickle starts in `bytes` (default 0). */
  offset?: number;
  /** Named in error messages (e.g. `data.pkl`). */
  label?: string;
  /** How a refusal describes the allow-list (default: every allowed name). */
  allowedDescription?: string;
}

export class PickleError extends Error {}

/** Marks the start of a MARK group on the stack. */
const MARK = Symbol('MARK');
type Item<X> = PyValue<X> | typeof MARK;

/** Opcode names (pickletools'), for error messages. */
const OPCODES: Record<number, string> = {
  0x80: 'PROTO', 0x95: 'FRAME', 0x2e: 'STOP', 0x28: 'MARK', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x4e: 'NONE',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4d: 'BININT2', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x47: 'BINFLOAT', 0x55: 'SHORT_BINSTRING', 0x54: 'BINSTRING', 0x8c: 'SHORT_BINUNICODE', 0x58: 'BINUNICODE',
  0x8d: 'BINUNICODE8', 0x43: 'SHORT_BINBYTES', 0x42: 'BINBYTES', 0x8e: 'BINBYTES8', 0x96: 'BYTEARRAY8',
  0x5d: 'EMPTY_LIST', 0x6c: 'LIST', 0x61: 'APPEND', 0x65: 'APPENDS', 0x29: 'EMPTY_TUPLE', 0x74: 'TUPLE', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x7d: 'EMPTY_DICT', 0x64: 'DICT', 0x75: 'SETITEMS', 0x73: 'SETITEM', 0x68: 'BINGET',
  0x6a: 'LONG_BINGET', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x94: 'MEMOIZE', 0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL',
  0x52: 'REDUCE', 0x81: 'NEWOBJ', 0x62: 'BUILD', 0x51: 'BINPERSID',
};
/** Opcodes refused on purpose (they import or run code, or torch never writes them), named in the error. */
const REFUSED: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x92: 'NEWOBJ_EX', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x50: 'PERSID',
  0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x67: 'GET', 0x70: 'PUT',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};
/** Longest integer (LONG1/LONG4) accepted, in bytes. */
const MAX_INT_BYTES = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Two's-complement little-endian bytes → number when it is a safe integer, else bigint. */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) n -= 1n << BigInt(8 * bytes.length);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/**
 * Unpickles one pickle from `bytes` (starting at `options.offset`). Returns the value and the offset just past
 * its STOP opcode (a legacy torch file holds several pickles back to back).
 */
export function unpickle<X = never>(bytes: Uint8Array, options: UnpickleOptions<X> = {}): { value: PyValue<X>; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const label = options.label ? `${options.label}: ` : '';
  let pos = options.offset ?? 0;
  let opPos = pos;
  let opName = '';
  const fail = (message: string): never => {
    throw new PickleError(`${label}${message} (${opName ? `opcode ${opName} ` : ''}at byte ${opPos})`);
  };
  /** Claims the next n bytes (n may be a 64-bit length), returning where they start. */
  const need = (n: number | bigint): number => {
    if (typeof n === 'bigint' ? n > BigInt(bytes.length - pos) : n > bytes.length - pos) fail(`needs ${n} more bytes, only ${bytes.length - pos} remain (truncated pickle?)`);
    const start = pos;
    pos += Number(n);
    return start;
  };
  const take = (n: number | bigint): Uint8Array => {
    const start = need(n);
    return bytes.subarray(start, pos);
  };
  const u8 = (): number => view.getUint8(need(1));
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): bigint => view.getBigUint64(need(8), true);
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('unterminated line (truncated pickle?)');
    const s = text(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };

  const stack: Item<X>[] = [];
  /** Positions of the open MARKs in `stack`. */
  const marks: number[] = [];
  const memo = new Map<number, PyValue<X>>();
  const globals = options.globals ?? new Map<string, AllowedGlobal<X>>();

  /** The top value; a MARK is not a value, so reaching one is an underflow. */
  const top = (): PyValue<X> => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1] + 1)) fail('stack underflow');
    return stack[stack.length - 1] as PyValue<X>;
  };
  const pop = (): PyValue<X> => {
    top();
    return stack.pop() as PyValue<X>;
  };
  /** The values pushed since the last MARK, removing them and the MARK. */
  const popMark = (): PyValue<X>[] => {
    const m = marks.pop();
    if (m === undefined) return fail('no MARK to pop to');
    const items = stack.splice(m + 1) as PyValue<X>[];
    stack.pop();
    return items;
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const qualified = `${module}.${name}`;
    if (!globals.has(qualified)) {
      const allowed = options.allowedDescription ?? ([...globals.keys()].join(', ') || 'no globals');
      fail(`refusing Python global ${qualified}: only ${allowed} may appear here; nothing from the file is executed`);
    }
    return new PyGlobal(module, name);
  };
  const implOf = (callable: PyValue<X>, what: 'call' | 'construct'): ((args: PyValue<X>[]) => PyValue<X>) => {
    const impl = callable instanceof PyGlobal ? globals.get(callable.qualifiedName)?.[what] : undefined;
    if (!impl) fail(`${pyTypeName(callable)} cannot be ${what === 'call' ? 'called' : 'instantiated'} here`);
    return impl as (args: PyValue<X>[]) => PyValue<X>;
  };
  const argsOf = (args: PyValue<X>): PyValue<X>[] => {
    if (!(args instanceof PyTuple)) fail(`arguments must be a tuple, got ${pyTypeName(args)}`);
    return (args as PyTuple<X>).items;
  };
  const dictOf = (v: PyValue<X>): PyDict<X> => {
    if (!(v instanceof Map)) fail(`can only set items on a dict, not on ${pyTypeName(v)}`);
    return v as PyDict<X>;
  };
  const listOf = (v: PyValue<X>): PyValue<X>[] => {
    if (!Array.isArray(v)) fail(`can only append to a list, not to ${pyTypeName(v)}`);
    return v as PyValue<X>[];
  };
  const memoIndex = (i: number): number => {
    if (i > bytes.length) fail(`memo index ${i} is larger than the pickle itself`);
    return i;
  };
  const get = (i: number): void => {
    if (!memo.has(i)) fail(`memo entry ${i} was never stored`);
    stack.push(memo.get(i) as PyValue<X>);
  };
  const build = (inst: PyValue<X>, state: PyValue<X>): void => {
    if (!(inst instanceof PyOrderedDict)) fail(`BUILD (setting attributes) is only allowed on an OrderedDict, not on ${pyTypeName(inst)}`);
    const parts = state instanceof PyTuple ? state.items : [state];
    for (const part of parts) {
      if (part === null) continue;
      for (const [k, v] of dictOf(part)) {
        if (typeof k !== 'string') fail(`attribute names must be strings, got ${pyTypeName(k)}`);
        (inst as PyOrderedDict<X>).attributes.set(k as string, v);
      }
    }
  };

  for (;;) {
    opPos = pos;
    opName = '';
    if (pos >= bytes.length) fail('the pickle ends before its STOP opcode (truncated?)');
    const op = u8();
    opName = OPCODES[op] ?? REFUSED[op] ?? '';
    switch (op) {
      case 0x80: { const proto = u8(); if (proto < 2 || proto > 5) fail(`pickle protocol ${proto} is not supported (2–5)`); break; } // PROTO
      case 0x95: if (u64() > BigInt(bytes.length - pos)) fail('frame is longer than the data'); break; // FRAME (advisory)
      case 0x2e: { // STOP
        if (marks.length) fail('MARK without matching end');
        if (stack.length !== 1) fail(`${stack.length} values on the stack at STOP, expected 1`);
        return { value: stack[0] as PyValue<X>, end: pos };
      }
      case 0x28: marks.push(stack.length); stack.push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: case 0x8b: { // LONG1, LONG4
        const n = op === 0x8a ? u8() : view.getInt32(need(4), true);
        if (n < 0 || n > MAX_INT_BYTES) fail(`integer of ${n} bytes is not supported (at most ${MAX_INT_BYTES})`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x55: stack.push(text(take(u8()))); break; // SHORT_BINSTRING (Python 2 str; torch decodes UTF-8)
      case 0x54: stack.push(text(take(view.getInt32(need(4), true) >>> 0))); break; // BINSTRING
      case 0x8c: stack.push(text(take(u8()))); break; // SHORT_BINUNICODE
      case 0x58: stack.push(text(take(u32()))); break; // BINUNICODE
      case 0x8d: stack.push(text(take(u64()))); break; // BINUNICODE8
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x8e: case 0x96: stack.push(take(u64()).slice()); break; // BINBYTES8, BYTEARRAY8
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const item = pop(); listOf(top()).push(item); break; } // APPEND
      case 0x65: { const items = popMark(); const list = listOf(top()); for (const it of items) list.push(it); break; } // APPENDS
      case 0x29: stack.push(new PyTuple<X>([])); break; // EMPTY_TUPLE
      case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: case 0x86: case 0x87: { // TUPLE1..3
        const n = op - 0x84;
        const items: PyValue<X>[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(new PyTuple(items));
        break;
      }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: case 0x75: { // DICT, SETITEMS
        const items = popMark();
        if (items.length % 2) fail('odd number of items for a dict');
        const dict = op === 0x64 ? new Map<PyValue<X>, PyValue<X>>() : dictOf(top());
        for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
        if (op === 0x64) stack.push(dict);
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); dictOf(top()).set(k, v); break; } // SETITEM
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET
      case 0x71: memo.set(memoIndex(u8()), top()); break; // BINPUT
      case 0x72: memo.set(memoIndex(u32()), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { const module = line(); stack.push(resolveGlobal(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('module and name must be strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { const args = argsOf(pop()); const f = implOf(pop(), 'call'); stack.push(f(args)); break; } // REDUCE
      case 0x81: { const args = argsOf(pop()); const f = implOf(pop(), 'construct'); stack.push(f(args)); break; } // NEWOBJ
      case 0x62: { const state = pop(); build(top(), state); break; } // BUILD
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('persistent ids are not allowed here');
        stack.push((options.persistentLoad as (pid: PyValue<X>) => PyValue<X>)(pid));
        break;
      }
      default:
        if (REFUSED[op]) fail('this opcode is not allowed in a checkpoint');
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} (corrupt pickle?)`);
    }
  }
}
