// `npm test`: builds, type-checks everything (sources, tests, scripts), checks the layering, then runs the
// fast unit tier (test/unit, `npm run test:unit`) before every other test/**/*.test.ts — one file at a time:
// the machine has 2 cores and several tests train models. Node 20's runner does not expand globs itself.
// `npm test -- --unit` runs the unit tier alone; other arguments select files: `npm test -- test/host`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return find(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => a !== '--unit');
const all = find(join(root, 'test')).map((f) => relative(root, f)).sort();
const selected = all.filter((f) => filters.length === 0 || filters.some((x) => f.startsWith(x.replace(/^\.\//, ''))));
const isUnit = (f) => f.startsWith(join('test', 'unit'));
const tiers = unitOnly ? [selected.filter(isUnit)] : [selected.filter(isUnit), selected.filter((f) => !isUnit(f))];

function step(what, cmd, argv) {
  const started = Date.now();
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`\n${what} failed`);
    process.exit(r.status ?? 1);
  }
  console.log(`${what}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const node = process.execPath;
step('build', node, [join(root, 'scripts', 'build.mjs')]);
if (filters.length === 0) {
  step('typecheck', node, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', join(root, 'tsconfig.test.json')]);
  step('lint:layers', node, ['--import', 'tsx', join(root, 'scripts', 'lint-layers.ts')]);
}
tiers.forEach((files, i) => {
  if (files.length === 0) return;
  step(i === 0 ? 'unit tier' : 'integration tier', node, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files]);
});
