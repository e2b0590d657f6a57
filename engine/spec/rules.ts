/**
 * Rules: small checks that turn an untrusted value (a node setting as the editor stores it, a msg property, an
 * HTTP query parameter, a library caller's argument) into a coerced value or an Issue — a message key
 * (engine/spec/messages.ts) with its parameters, which the engine words in English and the editor and nodes
 * translate through their catalogs. A rule never throws.
 */
import { isModelName } from './limits';
import { parseRespacing, type Respacing } from './respacing';

export interface Issue {
  key: string;
  params?: Record<string, string | number>;
}
export type Checked<T> = { ok: true; value: T } | { ok: false; issue: Issue };
export type Rule<T = unknown> = (v: unknown) => Checked<T>;

export const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
export const fail = (key: string, params?: Record<string, string | number>): Checked<never> => ({ ok: false, issue: { key, params } });

/** A typed array check that works across realms (a Function node's Float32Array is not this realm's). */
export function isTypedArrayOf(v: unknown, name: 'Float32Array' | 'Uint8Array'): boolean {
  return ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === `[object ${name}]`;
}

/** Bytes: a Buffer or any Uint8Array, from any realm. */
export function isBytes(v: unknown): v is Uint8Array {
  return isTypedArrayOf(v, 'Uint8Array');
}

/** A short, safe rendering of an offending value for a message. */
export function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (isBytes(v)) return `${v.length} bytes`;
  if (ArrayBuffer.isView(v)) return `a ${Object.prototype.toString.call(v).slice(8, -1)}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export const isBlank = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

/** A plain decimal number as text ("0.001", "1e-4"): what the editor stores; not "0x10", "Infinity" or "NaN". */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A number, or a string holding exactly one decimal number; anything else is NaN. */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && DECIMAL.test(v.trim())) return Number(v);
  return NaN;
}

/** Makes a rule accept a blank value as `fallback` (an unset optional setting). */
export function optional<T, F>(rule: Rule<T>, fallback: F): Rule<T | F> {
  return (v) => (isBlank(v) ? ok(fallback) : rule(v));
}

/** A whole number in [min, max]. */
export function integer(min: number, max: number): Rule<number> {
  return (v) => {
    if (isBlank(v)) return fail('required');
    const n = toNumber(v);
    if (!Number.isFinite(n)) return fail('notNumber', { got: shown(v) });
    if (!Number.isInteger(n)) return fail('notInteger', { got: shown(v) });
    if (n < min || n > max) return fail('range', { min, max, got: n });
    return ok(n);
  };
}

/** A finite number in [min, max], or (min, max] with `above`. */
export function number(min: number, max: number, above = false): Rule<number> {
  return (v) => {
    if (isBlank(v)) return fail('required');
    const n = toNumber(v);
    if (!Number.isFinite(n)) return fail('notNumber', { got: shown(v) });
    if (above ? n <= min || n > max : n < min || n > max) return fail(above ? 'rangeAbove' : 'range', { min, max, got: n });
    return ok(n);
  };
}

/** One of `values`, exactly. */
export function choice<T extends string>(values: readonly T[]): Rule<T> {
  return (v) => ((values as readonly unknown[]).includes(v) ? ok(v as T) : fail('choice', { choices: values.join(', '), got: shown(v) }));
}

/** true/false, also as the strings the editor and query strings carry. */
export const bool: Rule<boolean> = (v) => {
  if (v === true || v === 'true') return ok(true);
  if (v === false || v === 'false' || isBlank(v)) return ok(false);
  return fail('bool', { got: shown(v) });
};

/** Whole numbers in [min, max], as an array or comma-separated text ("1,2,2,2"), at most maxLen of them. */
export function intList(min: number, max: number, maxLen: number, allowEmpty = false): Rule<number[]> {
  return (v) => {
    const items = Array.isArray(v) ? v : typeof v === 'string' ? (v.trim() === '' ? [] : v.split(',')) : null;
    const bad = fail(allowEmpty ? 'intListOrEmpty' : 'intList', { min, max, maxLen, got: shown(v) });
    if (!items || items.length > maxLen || (!allowEmpty && items.length === 0)) return bad;
    const out: number[] = [];
    for (const item of items) {
      const n = toNumber(typeof item === 'string' ? item.trim() : item);
      if (!Number.isInteger(n) || n < min || n > max) return bad;
      out.push(n);
    }
    return ok(out);
  };
}

/** One whole number or a list of them (the Noiser's msg.t). */
export function intOrList(min: number, max: number, maxLen: number): Rule<number | number[]> {
  const one = integer(min, max);
  const many = intList(min, max, maxLen);
  return (v) => (Array.isArray(v) || (typeof v === 'string' && v.includes(',')) ? many(v) : one(v));
}

/** A model name: where it is stored, so nothing path-like (no '/', '..', spaces). */
export const modelName: Rule<string> = (v) => {
  if (isBlank(v)) return fail('required');
  return isModelName(v) ? ok(v) : fail('modelName', { got: shown(v) });
};

/** Sampling steps: a count (50), "ddimN", or per-section counts "10,15,20" (the reference's respacing strings). */
export const respacing: Rule<Respacing | undefined> = (v) => {
  if (isBlank(v)) return ok(undefined);
  const parsed = parseRespacing(v);
  return parsed ? ok(parsed) : fail('respacing', { got: shown(v) });
};

/** Free text such as a folder path: a string of at most maxLen characters. */
export function text(maxLen: number): Rule<string> {
  return (v) => (typeof v === 'string' && v.length <= maxLen ? ok(v.trim()) : fail('text', { max: maxLen, got: shown(v) }));
}

/** A plain object (not an array, not null). */
export const object: Rule<Record<string, unknown>> = (v) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) ? ok(v as Record<string, unknown>) : fail('notObject', { got: shown(v) });
