/**
 * `npm start` on a fresh clone: scripts/start.js (the entry point `npm start` runs after the build) comes up on
 * PORT with a new user folder, prints the editor and sample URLs, deploys the demo flow with no errors, lists the
 * examples in the editor's Import > Examples, and the sample endpoint answers: a PNG of the shipped demo model when
 * models/demo exists, else a 404 saying there is no such model. Ctrl-C (SIGINT) ends it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decodePng, freePort, get, getWhenRouted, gridSize, problemsIn, root, tempUserDir } from './runtime';

const userDir = tempUserDir();
const shipsDemo = existsSync(join(root, 'models', 'demo'));
let child: ChildProcess | undefined;
let output = '';

/** Ctrl-C, as a user would; start.js passes it on to Node-RED, which stops its flows and the engine. */
function interrupt(proc: ChildProcess, timeoutMs: number): Promise<number | null | 'timeout'> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill('SIGINT');
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
  return Promise.race([exited, timeout]);
}

after(async () => {
  if (child && (await interrupt(child, 20_000)) === 'timeout') {
    child.kill('SIGKILL');
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  rmSync(userDir, { recursive: true, force: true });
});

/** Resolves with the printed URLs once start.js says Node-RED is up. */
function started(proc: ChildProcess): Promise<{ editor: string; sample: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start.js printed no URLs within 60 s:\n${output}`)), 60_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const editor = /Node-RED editor:\s+(\S+)/.exec(output);
      const sample = /Sample digits:\s+(\S+)/.exec(output);
      if (editor && sample) {
        clearTimeout(timer);
        resolve({ editor: editor[1], sample: sample[1] });
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    proc.on('exit', (code) => reject(new Error(`start.js exited with ${code}:\n${output}`)));
  });
}

test('npm start comes up on PORT with the demo flow and serves the sample endpoint', async () => {
  const port = await freePort();
  child = spawn(process.execPath, [join(root, 'scripts', 'start.js')], {
    cwd: root,
    env: { ...process.env, PORT: String(port), IDDPM_USER_DIR: userDir, IDDPM_BACKEND: 'wasm' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const urls = await started(child);
  // Loopback only, and it says so: another local address (127.0.0.2) is refused, so is the network.
  assert.equal(urls.editor, `http://127.0.0.1:${port}/`);
  assert.equal(urls.sample, `http://127.0.0.1:${port}/iddpm/sample?count=16&steps=50`);
  assert.match(output, /Listening on:\s+127\.0\.0\.1 only/);
  await assert.rejects(fetch(`http://127.0.0.2:${port}/`), 'not reachable on another address');
  assert.equal((await get(urls.editor)).status, 200);

  // The first start deployed the demo flow and copied the demo model (when the package ships one).
  const flow = JSON.parse(readFileSync(join(userDir, 'flows.json'), 'utf8')) as Array<{ type: string }>;
  assert.ok(flow.some((n) => n.type === 'iddpm-sampler') && flow.some((n) => n.type === 'iddpm-trainer'));
  assert.equal(existsSync(join(userDir, 'iddpm', 'models', 'demo')), shipsDemo);

  const base = `http://127.0.0.1:${port}`;
  const r = await getWhenRouted(`${base}/iddpm/sample?count=1&steps=5&seed=1`, 60_000);
  if (shipsDemo) {
    assert.equal(r.status, 200, r.body.toString().slice(0, 300));
    const png = decodePng(r.body);
    assert.deepEqual({ width: png.width, height: png.height }, gridSize(1, 1, 32));
  } else {
    assert.equal(r.status, 404, r.body.toString().slice(0, 300));
    assert.match(r.json<{ error: string }>().error, /No trained model named "demo"/);
    assert.match(output, /No demo model yet/);
  }
  const preview = await get(`${base}/iddpm/demo/preview.png`);
  assert.equal(preview.status, 404);
  assert.match(preview.body.toString(), /No preview yet/);

  // Import > Examples lists this package's flows.
  const listing = (await (await fetch(`${base}/library/examples/flows/@iddpm/node-red-iddpm/flows`)).json()) as Array<{ fn?: string }>;
  const names = listing.map((e) => e.fn ?? '');
  for (const name of ['01 Train on MNIST', '02 Generate over HTTP', '03 Generate on MQTT', '04 See the forward process', '05 Compare components', '06 Sample fewer steps']) {
    assert.ok(names.some((n) => n.startsWith(name)), `${name} is not among the examples ${JSON.stringify(listing)}`);
  }
  assert.deepEqual(problemsIn(output), []);

  assert.notEqual(await interrupt(child, 20_000), 'timeout', 'start.js ends on Ctrl-C');
});
