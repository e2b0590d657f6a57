/**
 * Python values as JavaScript, for reading and writing pickles (see pickle.ts, pickle-writer.ts):
 *   None → null, bool → boolean, int → number (bigint beyond ±2^53), float → number, str → string,
 *   bytes → Uint8Array, list → array, tuple → PyTuple, dict → Map (insertion order, keys of any type),
 *   collections.OrderedDict → PyOrderedDict (a Map), a reference to an allowed global → PyGlobal.
 * `X` is whatever extension objects the allowed globals build (torch.ts: tensors as SafeTensor).
 *
 * JavaScript has one number type, so an integral Python float (e.g. `weight_decay = 0.0`) reads as the number 0
 * and would be written back as the int 0; wrap a number in PyFloat to write it as a float.
 */

/** A Python tuple (a list is a plain array). */
export class PyTuple<X = never> {
  constructor(readonly items: NoInfer<PyValue<X>>[]) {}
  get length(): number {
    return this.items.length;
  }
}

/** A Python dict: a Map keeps insertion order, as dicts do, and keys need not be strings. */
export type PyDict<X = never> = Map<PyValue<X>, PyValue<X>>;

/**
 * collections.OrderedDict (a torch state_dict is one). `attributes` is its instance `__dict__`, which a pickle
 * sets with BUILD: a module's `state_dict()` carries `_metadata` (per-module versions) there.
 */
export class PyOrderedDict<X = never> extends Map<PyValue<X>, PyValue<X>> {
  readonly attributes = new Map<string, PyValue<X>>();
}

/** A reference to a Python global `module.name` (only allowed ones are ever created), e.g. `torch.FloatStorage`. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A number to be written as a Python float even when it is integral (reading never produces one). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyValue<X = never> =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue<X>[]
  | PyTuple<X>
  | PyDict<X>
  | PyGlobal
  | PyFloat
  | X;

/** A short description of a value's Python type, for error messages. */
export function pyTypeName(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyOrderedDict) return 'OrderedDict';
  if (v instanceof Map) return 'dict';
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (v instanceof PyFloat) return 'float';
  return 'object';
}

/** Whether a value is a Python int (number or bigint). */
export function isPyInt(v: unknown): v is number | bigint {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}
