/**
 * The rules of every IDDPM node's settings and msg overrides, by node type and setting name, derived from the
 * engine's vocabulary (engine/spec): the same kinds, limits and checks the engine applies, so a value the
 * dialog accepts is one the runtime and the engine accept. The editor loads this file too (bundled into
 * `iddpm/editor.js` by the build), so it must stay browser-safe: it imports only engine/spec.
 */
import {
  BUILTIN_DATASETS, DATASET_FIELDS, DATASET_SPLITS, IMPORT_FIELDS, LIMITS, LOSS_FIELDS, REFERENCE_PRESET_KINDS, NOISER_FIELDS, QUALITY_DEFAULTS, QUALITY_FIELDS, SAMPLE_FIELDS, SAMPLER_MODES,
  SCHEDULE_FIELDS, SEED, TIMESTEPS_FIELDS, TRAIN_FIELDS, UNET_CONFIG_FIELDS, UNET_FIELDS, bool, choice, modelName,
  optional, toNumber, type Checked, type Issue, type Rule,
} from '../../engine/spec';

export { shown, isBlank, intOrList, type Issue, type Checked, type Rule } from '../../engine/spec';

const SEED_OPTIONAL = optional(SEED, undefined);

/** Every node's settings and msg overrides, by node type and setting name. */
export const FIELDS = {
  'iddpm-schedule': SCHEDULE_FIELDS,
  'iddpm-noiser': { ...NOISER_FIELDS, seed: SEED_OPTIONAL },
  'iddpm-unet': {
    ...UNET_FIELDS,
    ...UNET_CONFIG_FIELDS,
    classConditional: bool,
  },
  'iddpm-hybrid-loss': LOSS_FIELDS,
  'iddpm-importance-sampler': TIMESTEPS_FIELDS,
  'iddpm-trainer': {
    dataset: DATASET_FIELDS.kind,
    folder: DATASET_FIELDS.path,
    limit: optional(DATASET_FIELDS.limit, undefined),
    ...TRAIN_FIELDS,
    sampleCount: optional(TRAIN_FIELDS.sampleCount, undefined),
    seed: SEED_OPTIONAL,
  },
  'iddpm-sampler': {
    // Flows saved before the evaluate mode have no mode, dataset or split: they generate, as they did.
    mode: optional(choice(SAMPLER_MODES), 'generate' as const),
    model: optional(modelName, ''),
    count: SAMPLE_FIELDS.count,
    steps: SAMPLE_FIELDS.steps,
    method: SAMPLE_FIELDS.method,
    eta: SAMPLE_FIELDS.eta,
    class: optional(SAMPLE_FIELDS.class, undefined),
    seed: SEED_OPTIONAL,
    format: SAMPLE_FIELDS.format,
    columns: SAMPLE_FIELDS.columns,
    dataset: optional(choice(BUILTIN_DATASETS), 'mnist' as const),
    split: optional(choice(DATASET_SPLITS), 'test' as const),
    perTimestep: bool,
    // Sample quality (engine/quality): generate mode measures its images; evaluate mode generates qualityCount.
    quality: bool,
    qualityCount: optional(QUALITY_FIELDS.count, QUALITY_DEFAULTS.count),
  },
  'iddpm-import': {
    file: IMPORT_FIELDS.file,
    preset: optional(choice(REFERENCE_PRESET_KINDS), '' as const),
    flags: optional(IMPORT_FIELDS.flags, ''),
    model: optional(modelName, ''),
    ema: IMPORT_FIELDS.ema,
    opt: IMPORT_FIELDS.opt,
    overwrite: IMPORT_FIELDS.overwrite,
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
  return kind === 'linear' && toNumber(steps) < LIMITS.diffusionSteps.linearMin ? { key: 'linearSteps' } : null;
}
