/**
 * `npm run lint:layers`: fails on an import that points up a layer (docs/architecture.md). Every import in
 * engine/ and nodes/ — static, dynamic, `export … from`, `require()`, type-only included — is resolved to the
 * layer of the file it names and must point to the same folder or to a lower layer:
 *
 *   engine: spec < core (the files in engine/ itself) < backend, image, schedule, timesteps
 *           < ops, optim, diffusion, data < unet < train, sample, interop < quality, parallel < run < host
 *           < engine/index.ts (the library's public entry)
 *   nodes:  nodes/<node> may import nodes/shared; both may import only engine/spec and engine/host/{client,protocol};
 *           the editor's modules (nodes/shared/rules.ts, editor-client.ts) only engine/spec, so they stay browser-safe.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const repoRoot = resolve(__dirname, '..');

/** Engine folders by layer, lowest first; `.` is the files directly in engine/ (tf, rng, safetensors, turn). */
export const ENGINE_LAYERS: string[][] = [
  ['spec'],
  ['.'],
  ['backend', 'image', 'schedule', 'timesteps'],
  ['ops', 'optim', 'diffusion', 'data'],
  ['unet'],
  ['train', 'sample', 'interop'],
  ['quality', 'parallel'],
  ['run'],
  ['host'],
];

const NODE_ALLOWED_ENGINE = ['engine/spec', 'engine/host/client.ts', 'engine/host/protocol.ts'];
const BROWSER_MODULES = [
  'nodes/shared/rules.ts', 'nodes/shared/editor-client.ts', 'nodes/shared/model-picker.ts',
  'nodes/iddpm-sidebar/sidebar-client.ts', 'nodes/iddpm-sidebar/charts.ts', 'nodes/iddpm-sidebar/style.ts',
];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Module specifiers of every import-like statement in a source file. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

/** The repo-relative path (posix) an import resolves to, or undefined for a package. */
function target(root: string, from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const abs = resolve(dirname(from), spec);
  for (const candidate of [abs, `${abs}.ts`, join(abs, 'index.ts'), abs.replace(/\.js$/, '.ts')]) {
    try {
      if (statSync(candidate).isFile()) return relative(root, candidate).split(sep).join('/');
    } catch {
      // not this one
    }
  }
  return relative(root, abs).split(sep).join('/');
}

/** The engine folder of a repo path (`.` for files directly in engine/), or undefined outside engine/. */
function engineFolder(p: string): string | undefined {
  const parts = p.split('/');
  if (parts[0] !== 'engine') return undefined;
  return parts.length === 2 ? (parts[1] === 'index.ts' ? 'index' : '.') : parts[1];
}

function engineRank(folder: string): number {
  if (folder === 'index') return ENGINE_LAYERS.length;
  const r = ENGINE_LAYERS.findIndex((l) => l.includes(folder));
  return r;
}

/** Every import under `root`/engine and `root`/nodes that breaks the layering, as a sentence each. */
export function violations(root = repoRoot): string[] {
  const bad: string[] = [];
  const files = ['engine', 'nodes'].flatMap((d) => { try { return tsFiles(join(root, d)); } catch { return []; } });
  for (const file of files) {
    const rel = relative(root, file).split(sep).join('/');
    const from = engineFolder(rel);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const to = target(root, file, spec);
      if (!to) continue;
      const say = (why: string): void => void bad.push(`${rel}: imports ${spec} (${to}): ${why}`);
      if (from !== undefined) {
        const toFolder = engineFolder(to);
        if (toFolder === undefined) {
          say('the engine knows nothing of Node-RED or the rest of the repo');
          continue;
        }
        if (toFolder === from) continue;
        const rf = engineRank(from);
        const rt = engineRank(toFolder);
        if (rf < 0) say(`engine/${from} is in no layer: add it to ENGINE_LAYERS in scripts/lint-layers.ts`);
        else if (rt < 0) say(`engine/${toFolder} is in no layer`);
        else if (rt >= rf) say(`engine/${toFolder} is not below engine/${from}`);
        continue;
      }
      // nodes/
      if (to.startsWith('nodes/')) {
        if (rel.startsWith('nodes/shared/') && !to.startsWith('nodes/shared/')) say('nodes/shared may not import a node');
        else if (!rel.startsWith('nodes/shared/') && to.split('/')[1] !== rel.split('/')[1] && !to.startsWith('nodes/shared/')) say('a node imports only its own folder and nodes/shared');
      } else if (to.startsWith('engine/')) {
        const allowed = BROWSER_MODULES.includes(rel) ? ['engine/spec'] : NODE_ALLOWED_ENGINE;
        if (!allowed.some((a) => to === a || to.startsWith(`${a}/`))) say(`nodes may import only ${allowed.join(', ')}`);
      } else {
        say('outside engine/ and nodes/');
      }
    }
  }
  return bad;
}

if (require.main === module) {
  const bad = violations();
  if (bad.length) {
    console.error(`${bad.length} import(s) point up a layer (docs/architecture.md):\n${bad.map((b) => `  ${b}`).join('\n')}`);
    process.exitCode = 1;
  } else {
    console.log('layers: every import points down (or within its folder)');
  }
}
