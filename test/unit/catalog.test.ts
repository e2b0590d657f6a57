/**
 * The strings and rules the editor and runtime share: every catalog key the nodes use exists (en-US), the editor
 * script served at iddpm/editor.js runs in a browser-like context and explains refusals exactly as the runtime,
 * and the rules' edge cases (respacing strings, lists, model names, decimal text).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { JOB_PHASES, JOB_STATES, LOSS_KINDS, MESSAGES, PIPELINE_PARTS, SAMPLE_STATES } from '../../engine/spec';
import { checkField, FIELDS } from '../../nodes/shared/rules';

const ROOT = join(__dirname, '..', '..');
const NODE_TYPES = Object.keys(FIELDS);
type Catalog = { [k: string]: string | Catalog };
const catalogOf = (dir: string, name: string): Catalog => JSON.parse(readFileSync(join(ROOT, 'nodes', dir, 'locales', 'en-US', `${name}.json`), 'utf8')) as Catalog;
const has = (c: Catalog, key: string): boolean => {
  let at: string | Catalog | undefined = c;
  for (const part of key.split('.')) at = typeof at === 'object' ? at[part] : undefined;
  return typeof at === 'string';
};
const keysIn = (text: string, re: RegExp): string[] => [...text.matchAll(re)].map((m) => m[1]);
const shared = catalogOf('shared', 'iddpm-shared');

test('every catalog key a node uses exists in its en-US catalog', () => {
  for (const type of NODE_TYPES) {
    const catalog = catalogOf(type, type);
    const ts = readFileSync(join(ROOT, 'nodes', type, `${type}.ts`), 'utf8');
    const html = readFileSync(join(ROOT, 'nodes', type, `${type}.html`), 'utf8');
    const used = [
      ...keysIn(ts, /\bt\('([\w.-]+)'/g),
      ...keysIn(html, /data-i18n="(?:\[\w+\])?([\w.-]+)"/g),
      ...keysIn(html, /this\._\('([\w.-]+)'\)/g),
    ];
    assert.ok(used.length > 3, `${type} uses its catalog`);
    for (const key of used) assert.ok(has(catalog, key), `${type}: missing "${key}"`);
    assert.ok(has(catalog, `${type}.paletteLabel`), `${type}: palette label`);
  }
  // Keys built at run time.
  for (const kind of LOSS_KINDS.filter((k) => k !== 'hybrid')) assert.ok(has(catalogOf('iddpm-hybrid-loss', 'iddpm-hybrid-loss'), `status.${kind}`), `status.${kind}`);
  for (const part of PIPELINE_PARTS) assert.ok(has(catalogOf('iddpm-trainer', 'iddpm-trainer'), `parts.${part}`));
  // engine/spec's wording: every issue key the spec can raise has its English message.
  for (const file of ['rules.ts', 'validate.ts', 'fields.ts']) {
    const source = readFileSync(join(ROOT, 'engine', 'spec', file), 'utf8');
    for (const key of [...keysIn(source, /fail\(\s*'(\w+)'/g), ...keysIn(source, /key: '(\w+)'/g)]) assert.ok(key in MESSAGES, `engine/spec/messages.ts: ${key}`);
  }
  // The shared catalog: every sharedT key.
  for (const file of ['component.ts', 'i18n.ts', 'editor-client.ts', 'model-picker.ts']) {
    for (const key of keysIn(readFileSync(join(ROOT, 'nodes', 'shared', file), 'utf8'), /(?:sharedT|\bt)\('([\w.-]+)'/g)) assert.ok(has(shared, key), `shared: ${key}`);
  }
});

test('the sidebar\'s catalog has every key its script uses, and a word for every job state, phase and queue state', () => {
  const catalog = catalogOf('iddpm-sidebar', 'iddpm-sidebar');
  const script = readFileSync(join(ROOT, 'nodes', 'iddpm-sidebar', 'sidebar-client.ts'), 'utf8');
  const used = keysIn(script, /\bt\('([\w.-]+)'/g);
  assert.ok(used.length > 20);
  for (const key of used) assert.ok(has(catalog, key), `iddpm-sidebar: missing "${key}"`);
  for (const s of JOB_STATES) assert.ok(has(catalog, `state.${s}`), `state.${s}`);
  for (const p of JOB_PHASES) assert.ok(has(catalog, `phase.${p}`), `phase.${p}`);
  for (const q of SAMPLE_STATES) assert.ok(has(catalog, `queue.${q}`), `queue.${q}`);
  for (const tab of ['jobs', 'sampling', 'models']) assert.ok(has(catalog, `tabs.${tab}`));
  // The Trainer's status names each phase of a starting job.
  const trainer = catalogOf('iddpm-trainer', 'iddpm-trainer');
  for (const p of JOB_PHASES.filter((x) => x !== 'training' && x !== 'finished')) assert.ok(has(trainer, `phase.${p}`), `iddpm-trainer phase.${p}`);
});

test('no catalog uses {{…}}: Node-RED interpolates __name__', () => {
  for (const [dir, name] of [['shared', 'iddpm-shared'], ['iddpm-sidebar', 'iddpm-sidebar'], ...NODE_TYPES.map((t) => [t, t])]) {
    assert.doesNotMatch(JSON.stringify(catalogOf(dir, name)), /\{\{/, name);
  }
});

test('the editor script runs in a browser context and explains refusals like the runtime', () => {
  const script = join(ROOT, 'dist', 'nodes', 'shared', 'editor.js');
  if (!existsSync(script)) execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')]);
  // RED._ as the editor's i18next: the catalog's string, or the key itself when the catalog lacks it.
  const translate = (key: string, params: Record<string, unknown> = {}): string => {
    const [, k] = key.split(':');
    let at: string | Catalog | undefined = shared;
    for (const part of k.split('.')) at = typeof at === 'object' ? at[part] : undefined;
    return typeof at === 'string' ? at.replace(/__(\w+?)__/g, (_, n: string) => String(params[n])) : key;
  };
  const form: Record<string, { value: string }> = {};
  const window: Record<string, unknown> = {};
  runInNewContext(readFileSync(script, 'utf8'), { window, RED: { _: translate }, document: { getElementById: (id: string) => form[id] ?? null } });
  type Check = (v: unknown, opt?: unknown) => true | string;
  const IDDPM = window.IDDPM as { check(t: string, f: string, v: unknown): true | string; validator(t: string, f: string, when?: (n: unknown) => boolean): Check; scheduleSteps: Check };
  assert.equal(IDDPM.check('iddpm-schedule', 'steps', '1000'), true);
  assert.equal(IDDPM.check('iddpm-schedule', 'steps', 'abc'), 'must be a number, not "abc"');
  assert.equal(IDDPM.check('iddpm-hybrid-loss', 'lambda', '-1'), 'must be between 0 and 1000, not -1');
  const v = IDDPM.validator('iddpm-unet', 'numClasses', (n) => (n as { classConditional: boolean }).classConditional);
  assert.equal(v.length, 2, 'Node-RED 4 passes the reason on only from two-argument validators');
  assert.equal(v.call({ classConditional: false }, 'x'), true);
  assert.equal(v.call({ classConditional: true }, 'x'), 'must be a number, not "x"');
  form['node-input-kind'] = { value: 'linear' };
  assert.match(String(IDDPM.scheduleSteps.call({ kind: 'cosine' }, '10')), /^a linear schedule needs at least 20 steps/);
  form['node-input-kind'] = { value: 'cosine' };
  assert.equal(IDDPM.scheduleSteps.call({}, '10'), true);
});

test('rules: respacing, lists, model names and decimal text', () => {
  const ok = (type: keyof typeof FIELDS, field: string, v: unknown): unknown => {
    const r = checkField(type, field as never, v);
    return r.ok ? r.value : `!${r.issue.key}`;
  };
  assert.deepEqual(ok('iddpm-sampler', 'steps', 50), { kind: 'sections', counts: [50] });
  assert.deepEqual(ok('iddpm-sampler', 'steps', '50'), { kind: 'sections', counts: [50] });
  assert.deepEqual(ok('iddpm-sampler', 'steps', 'ddim25'), { kind: 'ddim', steps: 25 });
  assert.deepEqual(ok('iddpm-sampler', 'steps', '10, 15,20'), { kind: 'sections', counts: [10, 15, 20] });
  assert.equal(ok('iddpm-sampler', 'steps', ''), undefined);
  for (const bad of ['ddim0', 'ddim', '10,,2', '0', -3, 2.5, '1e9', {}, 'fast']) assert.equal(ok('iddpm-sampler', 'steps', bad), '!respacing', String(bad));
  assert.deepEqual(ok('iddpm-unet', 'channelMult', [1, 2, 4]), [1, 2, 4]);
  assert.equal(ok('iddpm-unet', 'channelMult', ''), '!intList');
  assert.equal(ok('iddpm-unet', 'channelMult', '1,2,2,2,2,2,2'), '!intList');
  assert.deepEqual(ok('iddpm-unet', 'attentionResolutions', ''), []);
  for (const name of ['a', 'mnist-1', 'A.b_c-9', 'x'.repeat(64)]) assert.equal(ok('iddpm-unet', 'model', name), name);
  for (const name of ['', '.hidden', '-x', 'a/b', 'a\\b', 'a..b', 'x'.repeat(65), 'é', 7]) assert.match(String(ok('iddpm-unet', 'model', name)), /^!(modelName|required)$/, String(name));
  assert.equal(ok('iddpm-trainer', 'lr', '1e-4'), 1e-4);
  assert.equal(ok('iddpm-trainer', 'lr', 0), '!rangeAbove');
  for (const bad of ['0x10', 'Infinity', 'NaN', '1,5', true, null]) assert.match(String(ok('iddpm-trainer', 'batchSize', bad)), /^!(notNumber|required)$/, String(bad));
  assert.equal(ok('iddpm-sampler', 'seed', ''), undefined);
  assert.equal(ok('iddpm-sampler', 'class', '3'), 3);
});
