/**
 * The iddpm-shared node set: no node types of its own. It gives the other IDDPM nodes their shared message catalog
 * (locales/en-US/iddpm-shared.json) and serves the editor script `iddpm/editor.js`, which the build bundles from
 * editor-client.ts and the shared rules (window.IDDPM; each node's .html loads it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useSharedCatalog } from './i18n';
import type { Red } from './red';

/** The bundled editor script: beside this file when built, else in dist/ (running from sources). */
function editorScriptPath(): string {
  const built = join(__dirname, 'editor.js');
  return existsSync(built) ? built : join(__dirname, '..', '..', 'dist', 'nodes', 'shared', 'editor.js');
}

export default function (RED: Red): void {
  useSharedCatalog(RED);
  let bundle: string | undefined;
  // Static code like Node-RED's own resources/ route: a <script src> cannot carry the admin token.
  RED.httpAdmin?.get('/iddpm/editor.js', (_req, res) => {
    try {
      bundle ??= readFileSync(editorScriptPath(), 'utf8');
      res.type('application/javascript').send(bundle);
    } catch (err) {
      res.status(500).type('text/plain').send(`IDDPM editor script unavailable (run npm run build): ${(err as Error).message}`);
    }
  });
}
