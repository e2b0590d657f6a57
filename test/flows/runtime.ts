/**
 * A real Node-RED runtime for the flow tests, started through the same entry point as `npm start`
 * (scripts/start.js) on a free port with a temporary user folder, plus what the tests need around it:
 * a tiny trained model, HTTP requests, PNG decoding and the runtime's log.
 */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { EngineClient } from '../../engine/host/client';
import type { TrainEvent } from '../../engine/host/protocol';
import type { CompletePipeline } from '../../engine/spec';

export const root = join(__dirname, '..', '..');
export const examplesDir = join(root, 'examples');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const startScript = require(join(root, 'scripts', 'start.js')) as {
  start(opts: { port: number; userDir: string; stdio: 'pipe'; env: NodeJS.ProcessEnv }): Promise<{ stop(): Promise<void>; child: import('node:child_process').ChildProcess; editorUrl: string; host: string }>;
};

/** Node-RED flow configuration: an array of node objects. */
export type Flow = Array<Record<string, unknown> & { id: string; type: string }>;

export function readFlow(file: string): Flow {
  return JSON.parse(readFileSync(join(examplesDir, file), 'utf8')) as Flow;
}

/** examples/flows/*.json, in menu order. */
export function exampleFlowFiles(): string[] {
  return readdirSync(join(examplesDir, 'flows')).filter((f) => f.endsWith('.json')).sort().map((f) => join('flows', f));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function tempUserDir(): string {
  return mkdtempSync(join(tmpdir(), 'iddpm-flows-'));
}

/** The components a test model is trained with (the rest is fixed: cosine T = 100, ε, a small custom UNet). */
export interface TinyModel {
  name: string;
  loss?: CompletePipeline['loss'];
  timesteps?: CompletePipeline['timesteps'];
  /** Image side (default 8; 32 for models whose sample quality is measured: the classifiers read 32×32). */
  imageSize?: number;
}

/**
 * Trains each model for two steps on MNIST (by default the paper's components: hybrid loss, learned_range) in
 * one engine on `modelsDir`: enough for the engine to sample and evaluate them fast. Resolves once every final
 * checkpoint is written.
 */
export async function trainTinyModels(modelsDir: string, models: TinyModel[]): Promise<void> {
  const engine = new EngineClient({ modelsDir, backend: 'wasm' });
  const pipelineOf = (m: TinyModel): CompletePipeline => ({
    schedule: { kind: 'cosine', steps: 100 },
    noiser: { modelMeanType: 'epsilon' },
    unet: { model: m.name, preset: 'custom', config: { imageSize: m.imageSize ?? 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: (m.imageSize ?? 8) === 8 ? [4] : [], numHeads: 2 }, modelVarType: 'learned_range', numClasses: null },
    loss: m.loss ?? { kind: 'hybrid', lambda: 0.001 },
    timesteps: m.timesteps ?? { kind: 'uniform' },
  });
  // The client lets its process exit when no request is in flight; a training run is not one.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    for (const m of models) {
      const finished = new Promise<TrainEvent>((resolve) =>
        engine.on('train', (ev: TrainEvent) => ev.name === m.name && (ev.type === 'done' || ev.type === 'error') && resolve(ev)));
      // resume: false — the user dir may already hold the shipped demo model (32×32); the test's own small one replaces it.
      await engine.train(m.name, pipelineOf(m), { dataset: { kind: 'mnist', limit: 32 }, batchSize: 4, maxSteps: 2, checkpointEvery: 0, seed: 1, resume: false });
      const ev = await finished;
      if (ev.type !== 'done') throw new Error(`training the test model ${m.name} failed: ${ev.type === 'error' ? ev.message : ev.type}`);
    }
  } finally {
    clearInterval(keepAlive);
    await engine.close();
  }
}

export interface Runtime {
  base: string;
  userDir: string;
  modelsDir: string;
  /** Everything Node-RED wrote to stdout and stderr so far. */
  log(): string;
  /** Sends the Node-RED process a signal, e.g. SIGKILL to have it die mid-request (stop() still cleans up). */
  kill(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/**
 * Node-RED through scripts/start.js with `flow` deployed (when given; else start.js's own first-start flow) and
 * the engine on wasm, in `userDir` (a new temporary folder unless given, e.g. one already holding models).
 */
export async function startNodeRed(opts: { flow?: Flow; userDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Runtime> {
  const userDir = opts.userDir ?? tempUserDir();
  const modelsDir = join(userDir, 'iddpm', 'models');
  mkdirSync(modelsDir, { recursive: true });
  if (opts.flow) writeFileSync(join(userDir, 'flows.json'), JSON.stringify(opts.flow));
  const port = await freePort();
  const env = { ...process.env, IDDPM_BACKEND: 'wasm', ...opts.env };
  let output = '';
  const red = await startScript.start({ port, userDir, stdio: 'pipe', env }).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });
  red.child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  red.child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  // start.js binds loopback only and says where: use its address (`localhost` may resolve to ::1 first).
  const base = red.editorUrl.replace(/\/$/, '');
  return {
    base,
    userDir,
    modelsDir,
    log: () => output,
    kill: (signal) => void red.child.kill(signal),
    async stop() {
      await red.stop();
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  type: string;
  headers: Headers;
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

export async function get(url: string): Promise<Reply> {
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, body, json: <T>() => JSON.parse(body.toString('utf8')) as T };
}

/** GET once the flows have registered the route (Express answers "Cannot GET" until then). */
export async function getWhenRouted(url: string, timeoutMs = 20_000): Promise<Reply> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await get(url);
    if (!(r.status === 404 && r.body.toString().includes('Cannot GET')) || Date.now() > until) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Width, height and grey values (0..255, row-major) of a PNG. */
export function decodePng(buf: Buffer): { width: number; height: number; grey: Uint8Array } {
  const png = PNG.sync.read(buf);
  const grey = new Uint8Array(png.width * png.height);
  for (let i = 0; i < grey.length; i++) grey[i] = png.data[i * 4];
  return { width: png.width, height: png.height, grey };
}

/** The size of the engine's grid of `count` h×w images in `columns` (2 px padding, engine/image/grid.ts). */
export function gridSize(count: number, columns: number, h: number, w = h): { width: number; height: number } {
  const rows = Math.ceil(count / columns);
  return { width: columns * (w + 2) + 2, height: rows * (h + 2) + 2 };
}

/** Lines of the runtime's log that show a flow did not load or a node failed. */
export function problemsIn(log: string): string[] {
  return log.split('\n').filter((l) => /\[error\]|Unknown type|missing types|Waiting for missing|Failed to load|TypeError/i.test(l));
}

/** An in-process MQTT 3.1.1 broker (aedes) on a free port of this machine. */
export interface TestBroker {
  port: number;
  /** Resolves when some client subscribes to `topic`. */
  subscribed(topic: string): Promise<void>;
  close(): Promise<void>;
}

export async function startAedes(): Promise<TestBroker> {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker();
  const server = net.createServer(aedes.handle);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return {
    port,
    subscribed: (topic) => new Promise<void>((resolve) =>
      aedes.on('subscribe', (subs: Array<{ topic: string }>) => subs.some((s) => s.topic === topic) && resolve())),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
