/**
 * A real Node-RED 4 for the browser test: a child process of the node-red CLI with this package loaded from its
 * built dist/ (settings.nodesDir = the package root, read through package.json's node-red section), a fresh
 * userDir, and a free port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface NodeRed {
  url: string;
  userDir: string;
  child: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

/** `flow`: deployed at start (written as the flow file). */
export async function startNodeRed(extraSettings: Record<string, unknown> = {}, flow?: unknown[]): Promise<NodeRed> {
  const port = await freePort();
  const userDir = mkdtempSync(join(tmpdir(), 'iddpm-nr-'));
  if (flow) writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow, null, 2));
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    userDir,
    nodesDir: [ROOT],
    flowFile: 'flows.json',
    editorTheme: { tours: false, palette: {}, projects: { enabled: false } },
    telemetry: { enabled: false },
    logging: { console: { level: 'info' } },
    ...extraSettings,
  };
  const settingsFile = join(userDir, 'settings.js');
  writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  const red = require.resolve('node-red/red.js');
  const child = spawn(process.execPath, [red, '--settings', settingsFile, '--userDir', userDir], {
    cwd: userDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 30_000;
  while (!/Started flows|Server now running/.test(out)) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited:\n${out}`);
    if (Date.now() > deadline) throw new Error(`Node-RED did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    userDir,
    child,
    log: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGINT');
      }),
  };
}
