/** Runs every conformance check (see test/conformance/harness.ts) against IDDPM_REFERENCE_DIR. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadChecks, referenceDir, hasFile } from './conformance/harness';
import { initBackend } from '../engine/backend';

const dir = referenceDir();
for (const mod of loadChecks()) {
  test(`conformance: ${mod.file}`, { skip: !hasFile(dir, mod.file) && `${mod.file} not in ${dir}` }, async () => {
    await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
    const report = await mod.check(dir);
    assert.ok(report.cases > 0, `${mod.file}: no cases were checked`);
    assert.equal(report.failed, 0, `${mod.file}: ${report.failed} of ${report.cases} cases failed:\n${report.failures.join('\n')}`);
  });
}
