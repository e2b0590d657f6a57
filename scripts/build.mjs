// Compiles the TypeScript sources to dist/ and copies the editor files (.html, locales, icons) beside them.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

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
