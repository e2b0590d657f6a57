// Compiles the TypeScript sources to dist/, bundles the editor script (the shared rules and engine/spec for the
// dialogs) with esbuild, and copies the editor files (.html, locales, icons) beside them.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { buildSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });

// Editor assets live beside each node's source; Node-RED loads them from beside the built .js.
const nodesDir = join(root, 'nodes');
function copyAssets(dir) {
  for (const entry of readdirSync(dir)) {
    const src = join(dir, entry);
    const rel = src.slice(root.length + 1);
    if (statSync(src).isDirectory()) {
      if (entry === 'locales' || entry === 'icons') cpSync(src, join(root, 'dist', rel), { recursive: true });
      else copyAssets(src);
    } else if (entry.endsWith('.html')) {
      cpSync(src, join(root, 'dist', rel));
    }
  }
}
if (existsSync(nodesDir)) copyAssets(nodesDir);

// The dialogs' script: nodes/shared/editor-client.ts and everything it imports (browser-safe by construction:
// engine/spec and nodes/shared/rules.ts import nothing else), as one script that sets window.IDDPM.
buildSync({
  entryPoints: [join(root, 'nodes', 'shared', 'editor-client.ts')],
  outfile: join(root, 'dist', 'nodes', 'shared', 'editor.js'),
  bundle: true,
  format: 'iife',
  globalName: 'IDDPM',
  platform: 'browser',
  target: 'es2019',
  // A top-level var is a global in a classic script, but not where the script runs inside a function.
  footer: { js: 'if (typeof window !== "undefined") window.IDDPM = IDDPM;' },
  logLevel: 'warning',
});

// The IDDPM sidebar's script (an editor plugin): its views and uPlot with its stylesheet, as one script that sets
// window.IDDPMSidebar; nothing is fetched from elsewhere.
buildSync({
  entryPoints: [join(root, 'nodes', 'iddpm-sidebar', 'sidebar-client.ts')],
  outfile: join(root, 'dist', 'nodes', 'iddpm-sidebar', 'sidebar.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'IDDPMSidebar',
  platform: 'browser',
  target: 'es2019',
  loader: { '.css': 'text' },
  footer: { js: 'if (typeof window !== "undefined") window.IDDPMSidebar = IDDPMSidebar;' },
  logLevel: 'warning',
});
