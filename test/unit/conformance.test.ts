/**
 * Runs every conformance check (see test/conformance/harness.ts) against IDDPM_REFERENCE_DIR (default: the repo's
 * own copy, test/reference). A missing set fails; a file the set lacks fails; a check that throws fails its file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadChecks, referenceDir, hasFile, requireReferenceSet, runCheck } from '../conformance/harness';
import { initBackend } from '../../engine/backend';

const dir = referenceDir();

test('the reference set is there', () => {
  requireReferenceSet(dir);
});

for (const mod of loadChecks()) {
  test(`conformance: ${mod.file}`, async () => {
    assert.ok(hasFile(dir, mod.file), `${mod.file} is not in ${dir}: every reference set has it`);
    await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
    const report = await runCheck(mod, dir);
    assert.ok(report.cases > 0, `${mod.file}: no cases were checked`);
    assert.equal(report.failed, 0, `${mod.file}: ${report.failed} of ${report.cases} cases failed:\n${report.failures.join('\n')}`);
  });
}
