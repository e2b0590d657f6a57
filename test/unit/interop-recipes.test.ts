/**
 * The recipes.json conformance check on its own (test/conformance.test.ts runs it with all the others): flags →
 * our pipeline → the reference's state_dict, process and args, and back to flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasFile, referenceDir } from '../conformance/harness';
import * as recipes from '../conformance/recipes.check';

test('conformance: recipes.json (reference flag sets ↔ our pipeline)', () => {
  const dir = referenceDir();
  assert.ok(hasFile(dir, recipes.file), `${recipes.file} is missing from ${dir}`);
  const report = recipes.check(dir);
  assert.ok(report.cases > 0, 'no cases were checked');
  assert.equal(report.failed, 0, `${report.failed} of ${report.cases} cases failed:\n${report.failures.join('\n')}`);
});
