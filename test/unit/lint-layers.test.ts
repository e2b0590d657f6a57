/** The layering check itself: the repo passes it, and it catches each kind of upward import in a made-up tree. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { importsOf, violations } from '../../scripts/lint-layers';

test('every import in engine/ and nodes/ points down a layer', () => {
  assert.deepEqual(violations(), []);
});

test('the import forms it reads', () => {
  const src = [
    "import { a } from './a';", "import type { B } from '../b';", "export { c } from './c';", "export * from './d';",
    "import './e';", "const f = require('./f');", "await import('./g');", "// import { no } from './comment';",
    "/* import { no2 } from './block'; */", "import {\n  multi,\n  line,\n} from './h';",
  ].join('\n');
  assert.deepEqual(importsOf(src).sort(), ['../b', './a', './c', './d', './e', './f', './g', './h']);
});

test('an upward import, a node reaching into the engine, and the editor importing past spec are each caught', () => {
  const root = mkdtempSync(join(tmpdir(), 'iddpm-layers-'));
  const put = (p: string, text: string): void => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  };
  put('engine/spec/index.ts', "export const a = 1;\n");
  put('engine/host/client.ts', "import { a } from '../spec';\nexport const b = a;\n");
  put('engine/sample/generate.ts', "import type { b } from '../host/client';\n");
  put('engine/train/trainer.ts', "import { x } from '../parallel/pool';\n");
  put('engine/parallel/pool.ts', "export const x = 1;\n");
  put('engine/newthing/a.ts', "import { a } from '../spec';\n");
  put('nodes/iddpm-x/iddpm-x.ts', "import { b } from '../../engine/host/client';\nimport { y } from '../../engine/train/trainer';\n");
  put('nodes/shared/rules.ts', "import { b } from '../../engine/host/client';\n");
  put('nodes/shared/status.ts', "import { z } from '../iddpm-x/iddpm-x';\n");
  const found = violations(root);
  const has = (re: RegExp): boolean => found.some((v) => re.test(v));
  assert.ok(has(/engine\/sample\/generate\.ts: imports \.\.\/host\/client .*not below engine\/sample/), found.join('\n'));
  assert.ok(has(/engine\/train\/trainer\.ts: .*engine\/parallel is not below engine\/train/));
  assert.ok(has(/engine\/newthing is in no layer/));
  assert.ok(has(/nodes\/iddpm-x\/iddpm-x\.ts: imports \.\.\/\.\.\/engine\/train\/trainer/));
  assert.ok(!has(/nodes\/iddpm-x\/iddpm-x\.ts: imports \.\.\/\.\.\/engine\/host\/client/), 'the host client is allowed');
  assert.ok(has(/nodes\/shared\/rules\.ts: .*only engine\/spec/));
  assert.ok(has(/nodes\/shared\/status\.ts: .*may not import a node/));
  assert.equal(found.length, 6, found.join('\n'));
});
