/**
 * `npm run conformance`: compares the engine with the reference numbers in IDDPM_REFERENCE_DIR and prints, per
 * file, the number of cases and the largest absolute and relative error, then `N passed, M failed`.
 */
import { loadChecks, referenceDir, hasFile, requireReferenceSet, runCheck } from '../test/conformance/harness';
import { initBackend } from '../engine/backend';

async function main(): Promise<void> {
  const dir = referenceDir();
  requireReferenceSet(dir);
  const backend = await initBackend(process.env.IDDPM_BACKEND ?? 'wasm');
  console.log(`reference: ${dir}\nbackend: ${backend.name}\n`);
  console.log('file'.padEnd(36) + 'cases'.padStart(7) + 'failed'.padStart(8) + 'max abs'.padStart(12) + 'max rel'.padStart(12));
  let passed = 0;
  let failed = 0;
  const notes: string[] = [];
  for (const mod of loadChecks()) {
    if (!hasFile(dir, mod.file)) {
      console.log(`${mod.file.padEnd(36)} (absent: counted as a failure)`);
      failed++;
      notes.push(`  ${mod.file}: not in ${dir}`);
      continue;
    }
    const r = await runCheck(mod, dir);
    passed += r.cases - r.failed;
    failed += r.failed;
    console.log(
      r.file.padEnd(36) + String(r.cases).padStart(7) + String(r.failed).padStart(8) +
        r.maxAbs.toExponential(2).padStart(12) + r.maxRel.toExponential(2).padStart(12),
    );
    notes.push(...r.failures.map((f) => `  ${r.file}: ${f}`));
  }
  if (notes.length) console.log('\nfailures:\n' + notes.join('\n'));
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
