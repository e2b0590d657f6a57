/**
 * Message catalogs: every user-visible string comes from a node set's locales/<lang>/<set>.json through
 * Node-RED's RED._. Where the runtime has no catalog loaded (RED._ hands back the key, as under
 * node-red-node-test-helper) the English catalog shipped beside the node answers instead, so errors always read.
 */
import { MESSAGES, interpolate, reasonOf, type Issue } from '../../engine/spec';
import type { Red } from './red';
import sharedCatalog from './locales/en-US/iddpm-shared.json';

export type Translate = (key: string, params?: Record<string, unknown>) => string;
type Catalog = { [key: string]: string | Catalog };

function lookup(catalog: Catalog, key: string): string | undefined {
  let at: string | Catalog | undefined = catalog;
  for (const part of key.split('.')) at = typeof at === 'object' ? at[part] : undefined;
  return typeof at === 'string' ? at : undefined;
}

/** RED._ for one node set, falling back to that set's English catalog. */
export function translator(red: Pick<Red, '_'>, english: Catalog): Translate {
  return (key, params) => {
    const s = red._(key, params);
    if (s !== key) return s;
    const template = lookup(english, key);
    return template === undefined ? key : interpolate(template, params);
  };
}

/** The shared catalog's translator; the iddpm-shared node set installs its RED._ when Node-RED loads it. */
let shared: Translate = translator({ _: (k) => k }, sharedCatalog as Catalog);
export function useSharedCatalog(red: Pick<Red, '_'>): void {
  shared = translator(red, sharedCatalog as Catalog);
}
export const sharedT: Translate = (key, params) => shared(key, params);

/** A validation key in the runtime's catalog (other languages), else engine/spec's English wording. */
function validationT(key: string, params?: Record<string, unknown>): string {
  const k = `validation.${key}`;
  const s = sharedT(k, params);
  return s !== k ? s : MESSAGES[key] !== undefined ? interpolate(MESSAGES[key], params) : reasonOf({ key });
}

/** "<what>: <reason>", e.g. `msg.steps: must be a whole number from 2 to 100000, not 1.5`. */
export function describeIssue(what: string, issue: Issue): string {
  return validationT('field', { field: what, reason: validationT(issue.key, issue.params) });
}
