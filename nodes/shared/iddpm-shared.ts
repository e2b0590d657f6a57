/**
 * The iddpm-shared node set: no node types of its own. It gives the other IDDPM nodes their shared message catalog
 * (locales/en-US/iddpm-shared.json) and serves the editor script `iddpm/editor.js`: the compiled shared rules and
 * editor-client bundled into one browser script that sets window.IDDPM (each node's .html loads it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useSharedCatalog } from './i18n';
import type { Red } from './red';

/** Editor modules in dependency order, by the name other modules require them with. */
const MODULES: Array<[string, string]> = [
  ['protocol', 'engine/host/protocol.js'],
  ['rules', 'nodes/shared/rules.js'],
  ['editor-client', 'nodes/shared/editor-client.js'],
];

/** The package's compiled output: beside this file when built, else dist/ (running from sources). */
function compiledRoot(): string {
  const built = join(__dirname, '..', '..');
  return existsSync(join(built, MODULES[1][1])) ? built : join(__dirname, '..', '..', 'dist');
}

/** A minimal CommonJS bundle: each module gets `exports` and a `require` that resolves the modules above by name. */
export function editorBundle(root = compiledRoot()): string {
  const parts = MODULES.map(([name, file]) => {
    const source = readFileSync(join(root, file), 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
    return `define(${JSON.stringify(name)}, function (exports, require) {\n${source}\n});`;
  });
  return `(function () {
  var done = {};
  function define(name, body) { var exports = {}; body(exports, function (p) { return done[p.split('/').pop()]; }); done[name] = exports; }
  ${parts.join('\n')}
  window.IDDPM = done['editor-client'];
})();\n`;
}

export default function (RED: Red): void {
  useSharedCatalog(RED);
  let bundle: string | undefined;
  // Static code like Node-RED's own resources/ route: a <script src> cannot carry the admin token.
  RED.httpAdmin?.get('/iddpm/editor.js', (_req, res) => {
    try {
      bundle ??= editorBundle();
      res.type('application/javascript').send(bundle);
    } catch (err) {
      res.status(500).type('text/plain').send(`IDDPM editor script unavailable (run npm run build): ${(err as Error).message}`);
    }
  });
}
