/**
 * The one set of rules for every IDDPM node setting and msg override. The runtime checks node settings and
 * message properties with it, and the editor loads the very same compiled file (served by the iddpm-shared node
 * set at `iddpm/rules.js`) for its validate functions, so a value the dialog accepts is one the runtime accepts.
 *
 * A rule never throws: it returns the coerced value or an Issue, a catalog key (`validation.<key>` in
 * iddpm-shared.json) with its parameters, which the caller translates. This file must stay browser-safe: its only
 * import is the dependency-free protocol module.
 */
import { MODEL_NAME_PATTERN } from '../../engine/host/protocol';

export interface Issue {
  key: string;
  params?: Record<string, string | number>;
}
export type Checked<T> = { ok: true; value: T } | { ok: false; issue: Issue };
export type Rule<T = unknown> = (v: unknown) => Checked<T>;

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = (key: string, params?: Record<string, string | number>): Checked<never> => ({ ok: false, issue: { key, params } });

/** A short, safe rendering of an offending value for a message. */
export function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof Buffer !== 'undefined' && Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  return `a ${typeof v}`;
}

export const isBlank = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

/** A plain decimal number as text ("0.001", "1e-4"): what the editor stores; not "0x10", "Infinity" or "NaN". */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A number, or a string holding exactly one decimal number; anything else is NaN. */
function toNumber(v: unknown): number {
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

export function choice<T extends string>(values: readonly T[]): Rule<T> {
  return (v) => ((values as readonly unknown[]).includes(v) ? ok(v as T) : fail('choice', { choices: values.join(', '), got: shown(v) }));
}

/** true/false, also as the strings the editor may store. */
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

/** A model name: where it is stored, so nothing path-like (no '/', '..', spaces). */
export const modelName: Rule<string> = (v) => {
  if (isBlank(v)) return fail('required');
  return typeof v === 'string' && MODEL_NAME_PATTERN.test(v) && !v.includes('..') ? ok(v) : fail('modelName', { got: shown(v) });
};

/** Sampling steps: a count (50), "ddimN", or per-section counts "10,15,20" (the reference's respacing strings). */
export const respacing: Rule<number | string> = (v) => {
  if (isBlank(v)) return ok('');
  const n = toNumber(v);
  if (Number.isInteger(n) && n >= 1 && n <= 100000) return ok(n);
  if (typeof v === 'string' && /^(ddim[1-9][0-9]{0,4}|[1-9][0-9]{0,4}(,[1-9][0-9]{0,4}){1,63})$/.test(v.trim())) return ok(v.trim());
  return fail('respacing', { got: shown(v) });
};

/** Free text such as a folder path: a string of at most maxLen characters. */
export function text(maxLen: number): Rule<string> {
  return (v) => (typeof v === 'string' && v.length <= maxLen ? ok(v.trim()) : fail('text', { max: maxLen, got: shown(v) }));
}

/** One whole number or a list of them (the Noiser's msg.t). */
export function intOrList(min: number, max: number, maxLen: number): Rule<number | number[]> {
  const one = integer(min, max);
  const many = intList(min, max, maxLen);
  return (v) => (Array.isArray(v) || (typeof v === 'string' && v.includes(',')) ? many(v) : one(v));
}

const SEED = optional(integer(0, 2 ** 31 - 1), undefined);

/** Every node's settings and msg overrides, by node type and setting name. */
export const FIELDS = {
  'iddpm-schedule': {
    kind: choice(['linear', 'cosine'] as const),
    steps: integer(2, 100000),
    cosineS: number(0, 1, true),
    maxBeta: number(0, 1, true),
  },
  'iddpm-noiser': {
    modelMeanType: choice(['epsilon', 'start_x'] as const),
    rescaleTimesteps: bool,
    seed: SEED,
  },
  'iddpm-unet': {
    model: modelName,
    preset: choice(['tiny', 'mnist', 'cifar', 'custom'] as const),
    modelVarType: choice(['learned_range', 'learned', 'fixed_small', 'fixed_large'] as const),
    imageSize: integer(8, 512),
    inChannels: choice(['1', '3'] as const),
    modelChannels: integer(8, 512),
    channelMult: intList(1, 16, 6),
    numResBlocks: integer(1, 8),
    attentionResolutions: intList(1, 512, 6, true),
    numHeads: integer(1, 32),
    dropout: number(0, 0.9),
    classConditional: bool,
    numClasses: integer(2, 10000),
  },
  'iddpm-hybrid-loss': {
    kind: choice(['hybrid', 'simple', 'kl', 'rescaled-kl'] as const),
    lambda: number(0, 1000),
  },
  'iddpm-importance-sampler': {
    kind: choice(['importance', 'uniform'] as const),
    history: integer(2, 1000),
    uniformProb: number(0, 1),
  },
  'iddpm-trainer': {
    dataset: choice(['mnist', 'fashion-mnist', 'folder', 'images'] as const),
    folder: text(1024),
    limit: optional(integer(1, 10_000_000), undefined),
    batchSize: integer(1, 1024),
    microbatch: integer(0, 1024),
    lr: number(0, 1, true),
    emaRate: number(0, 0.999999),
    gradClip: number(0, 1e6),
    maxSteps: integer(0, 1e9),
    logEvery: integer(1, 1e6),
    sampleEvery: integer(0, 1e6),
    sampleCount: optional(integer(1, 64), undefined),
    checkpointEvery: integer(0, 1e6),
    seed: SEED,
    resume: bool,
  },
  'iddpm-sampler': {
    // Flows saved before the evaluate mode have no mode, dataset or split: they generate, as they did.
    mode: optional(choice(['generate', 'evaluate'] as const), 'generate' as const),
    model: optional(modelName, ''),
    count: integer(1, 256),
    steps: respacing,
    method: choice(['ancestral', 'ddim'] as const),
    eta: number(0, 1),
    class: optional(integer(0, 9999), undefined),
    seed: SEED,
    format: choice(['grid', 'pngs', 'raw'] as const),
    columns: integer(0, 64),
    dataset: optional(choice(['mnist', 'fashion-mnist'] as const), 'mnist' as const),
    split: optional(choice(['test', 'train'] as const), 'test' as const),
    perTimestep: bool,
  },
} as const;

export type NodeType = keyof typeof FIELDS;
type Fields<N extends NodeType> = (typeof FIELDS)[N];
export type FieldValue<N extends NodeType, F extends keyof Fields<N>> = Fields<N>[F] extends Rule<infer T> ? T : never;

/** Checks one setting of one node type. */
export function checkField<N extends NodeType, F extends keyof Fields<N> & string>(type: N, field: F, v: unknown): Checked<FieldValue<N, F>> {
  const rule = FIELDS[type][field] as unknown as Rule<FieldValue<N, F>>;
  return rule(v);
}

/** Cross-field rule of the Schedule: a linear schedule's last β is 0.02·1000/T, which must stay below 1. */
export function checkLinearSteps(kind: unknown, steps: unknown): Issue | null {
  return kind === 'linear' && toNumber(steps) < 20 ? { key: 'linearSteps' } : null;
}
