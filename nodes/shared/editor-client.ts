/**
 * The editor side of the shared rules: runs in the browser (served with rules.ts as `iddpm/editor.js`, which sets
 * window.IDDPM), so every dialog validates with exactly the runtime's rules and explains a refusal in words.
 */
import { MESSAGES, interpolate, SCHEDULE_DEFAULTS, NOISER_DEFAULTS, UNET_DEFAULTS, LOSS_DEFAULTS, TIMESTEPS_DEFAULTS, TRAIN_DEFAULTS, SAMPLE_DEFAULTS, QUALITY_DEFAULTS, PRESETS, REFERENCE_PRESET_KINDS } from '../../engine/spec';
import { checkField, checkLinearSteps, type Issue, type NodeType } from './rules';
import { modelPicker as picker } from './model-picker';

/** The engine's defaults, for the dialogs' `defaults` (one definition: engine/spec/defaults.ts). */
export const defaults = {
  schedule: SCHEDULE_DEFAULTS, noiser: NOISER_DEFAULTS, unet: UNET_DEFAULTS, loss: LOSS_DEFAULTS,
  timesteps: TIMESTEPS_DEFAULTS, train: TRAIN_DEFAULTS, sample: SAMPLE_DEFAULTS, quality: QUALITY_DEFAULTS,
};
/** The named UNet architectures, for the UNet dialog's summary of a preset. */
export const presets = PRESETS;
/** The reference's published flag sets, for the Import dialog. */
export const referencePresets = REFERENCE_PRESET_KINDS;

declare const RED: { _(key: string, params?: Record<string, unknown>): string };
declare const document: { getElementById(id: string): { value: string } | null };


const NS = '@iddpm/node-red-iddpm/iddpm-shared';

/** A key of the shared catalog (iddpm-shared.json). */
export function t(key: string, params?: Record<string, unknown>): string {
  return RED._(`${NS}:${key}`, params);
}

/** A validation key in the editor's catalog (a translation), else engine/spec's English wording. */
function validationText(key: string, params?: Record<string, unknown>): string {
  const s = t(`validation.${key}`, params);
  if (!s.endsWith(`validation.${key}`)) return s;
  return interpolate(MESSAGES[key] ?? key, params);
}

export function explain(issue: Issue): string {
  return validationText(issue.key, issue.params);
}

/** true, or the reason the value is refused. */
export function check(type: NodeType, field: string, v: unknown): true | string {
  const r = checkField(type, field as never, v);
  return r.ok ? true : explain(r.issue);
}

/**
 * A Node-RED 4 validate function for `defaults` (declared with two arguments, so it may return its reason as a
 * string). `when(node)` limits the check to settings that are in use (e.g. cosine s only for cosine).
 */
export function validator(type: NodeType, field: string, when?: (node: Record<string, unknown>) => boolean) {
  return function (this: Record<string, unknown>, v: unknown, _opt?: unknown): true | string {
    if (when && !when(this)) return true;
    return check(type, field, v);
  };
}

/** The Schedule's cross-field rule (linear needs T ≥ 20), for the steps field. */
export function scheduleSteps(this: Record<string, unknown>, v: unknown, _opt?: unknown): true | string {
  const base = check('iddpm-schedule', 'steps', v);
  if (base !== true) return base;
  // In the open dialog the kind select holds the value being edited; elsewhere the node's saved one.
  const kind = document.getElementById('node-input-kind')?.value ?? this.kind;
  const issue = checkLinearSteps(kind, v);
  return issue ? explain(issue) : true;
}

/** The stored models beside a dialog's model field (`IDDPM.modelPicker('#node-input-model')` in oneditprepare). */
export function modelPicker(selector: string): void {
  picker(selector, t);
}
