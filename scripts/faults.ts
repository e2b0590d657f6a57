/**
 * `npm run faults`: the whole fault matrix, printed as a table (the fast cases run in `npm test`, test/faults):
 * - kills: the engine process SIGKILLed at random moments while it trains and checkpoints, 20 times — after each,
 *   the model's checkpoint loads and the next engine answers;
 * - bad inputs: ≥ 100 malformed sampling, training, noise and evaluation requests through the real client — each
 *   refused with a user-mistake code (never INTERNAL), the engine alive and answering afterwards;
 * - load: a real Node-RED training a model while 20 sampling requests arrive at once, and a trivial HTTP endpoint
 *   probed every 50 ms meanwhile — its latency (p50/p99) is the editor's and endpoints' responsiveness.
 *
 *   npm run faults [-- --kills 20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '../engine/host/client';

import { ModelStore } from '../engine/train';
import { codeOf, type CompletePipeline, type ErrorCode } from '../engine/spec';
import type { TrainEvent } from '../engine/host/protocol';
import { startNodeRed, trainTinyModels, type Flow } from '../test/flows/runtime';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SMALL = { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], numHeads: 2 };
const pipeline = (model: string): CompletePipeline => ({
  schedule: { kind: 'cosine', steps: 50 }, noiser: { modelMeanType: 'epsilon' },
  unet: { model, preset: 'custom', config: SMALL, modelVarType: 'learned_range', numClasses: null },
  loss: { kind: 'hybrid', lambda: 0.001 }, timesteps: { kind: 'importance' },
});
const rows: Array<[string, string, string]> = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function kills(n: number, dir: string): Promise<void> {
  const store = new ModelStore(dir);
  let loadable = 0;
  let answered = 0;
  let lost = 0;
  let early = 0;
  for (let i = 0; i < n; i++) {
    const engine = new EngineClient({ modelsDir: dir, backend: 'wasm' });
    const keepAlive = setInterval(() => undefined, 1000);
    const before = store.hasCheckpoint('k') ? store.readSpec('k').step : 0;
    // Killed at a random moment once it trains (every step checkpoints: most kills land inside a save).
    const training = new Promise<void>((resolve) => engine.on('train', (ev: TrainEvent) => ev.type === 'progress' && resolve()));
    await engine.train('k', pipeline('k'), { dataset: { kind: 'mnist', limit: 32 }, batchSize: 2, maxSteps: 0, checkpointEvery: 1, logEvery: 1, seed: 1 });
    await training;
    await sleep(Math.random() * 1500);
    process.kill(engine.pid!, 'SIGKILL');
    await new Promise<void>((resolve) => engine.once('exit', () => resolve()));
    clearInterval(keepAlive);
    if (!store.hasCheckpoint('k') && before === 0) {
      // Killed before the first checkpoint: there is nothing to lose yet (the next run starts afresh).
      early++;
    } else {
      try {
        const ckpt = store.loadCheckpoint('k', { training: true });
        if (ckpt.step >= before) loadable++;
        else lost++;
      } catch {
        lost++;
      }
    }
    const next = new EngineClient({ modelsDir: dir, backend: 'wasm' });
    try {
      const s = await next.status('k');
      if (s === null ? !store.hasCheckpoint('k') : s.state === 'stopped') answered++;
    } finally {
      await next.close();
    }
  }
  rows.push(['engine killed while training & checkpointing', `${n}`, `checkpoint loadable ${loadable}/${n - early} (${early} killed before the first), a checkpoint lost or rolled back ${lost}, next engine answers ${answered}/${n}`]);
}

/** Malformed requests, each with the codes that are right for it. */
function badRequests(): Array<{ what: string; send: (e: EngineClient) => Promise<unknown>; codes: ErrorCode[] }> {
  const out: Array<{ what: string; send: (e: EngineClient) => Promise<unknown>; codes: ErrorCode[] }> = [];
  const sample = (field: string, v: unknown): void =>
    void out.push({ what: `sample ${field}=${JSON.stringify(v)}`, send: (e) => e.sample({ model: 'k', count: 1, steps: 2, [field]: v } as never), codes: ['BAD_REQUEST', 'TOO_LARGE'] });
  for (const v of [0, -1, 1.5, 1e9, 'abc', {}, [], true, 'NaN', 'Infinity', '0x10']) sample('count', v);
  for (const v of ['fast', 'ddim0', 'ddim', -5, 0, 1e9, '10,,2', {}, 'ddim99999999']) sample('steps', v);
  for (const v of ['euler', 1, {}, 'ANCESTRAL']) sample('method', v);
  for (const v of [-1, 2, 'x', {}, Infinity]) sample('eta', v);
  for (const v of [-1, 2 ** 33, 'x', 1.5, {}]) sample('seed', v);
  for (const v of [-1, 1e9, 'x', [1, 'a'], 3]) sample('classes', v);
  for (const v of ['gif', 1, {}]) sample('format', v);
  for (const v of [-1, 1e6, 'x']) sample('columns', v);
  for (const v of [0, -3, 'x', 1e9]) sample('batchSize', v);
  sample('colour', 'red');
  for (const m of ['../x', '', 'a/b', '..', '.hidden', 'x'.repeat(65), 'é', 7, null]) {
    out.push({ what: `sample model=${JSON.stringify(m)}`, send: (e) => e.sample({ model: m, count: 1 } as never), codes: ['BAD_REQUEST'] });
  }
  out.push({ what: 'sample of an unknown model', send: (e) => e.sample({ model: 'nope', count: 1 }), codes: ['NOT_FOUND'] });
  out.push({ what: 'sample 256 × 1000 steps (T = 50)', send: (e) => e.sample({ model: 'k', count: 256, steps: 1000 }), codes: ['BAD_REQUEST'] });
  out.push({ what: 'sample 256 × 50 steps (over the cost limit)', send: (e) => e.sample({ model: 'k', count: 256, steps: 50 }), codes: ['TOO_LARGE'] });
  const train = (what: string, p: unknown, o: unknown): void =>
    void out.push({ what: `train ${what}`, send: (e) => e.train('t', p as never, o as never), codes: ['BAD_REQUEST', 'BUSY'] });
  const ok = { dataset: { kind: 'mnist', limit: 8 }, batchSize: 2, maxSteps: 1 };
  const p = pipeline('t');
  train('no pipeline', undefined, ok);
  train('pipeline a string', 'cosine', ok);
  for (const part of ['schedule', 'noiser', 'unet', 'loss', 'timesteps'] as const) train(`without ${part}`, { ...p, [part]: undefined }, ok);
  for (const [part, v] of [['schedule', { kind: 'quadratic' }], ['schedule', { kind: 'linear', steps: 10 }], ['schedule', { kind: 'cosine', steps: 1e9 }], ['noiser', { modelMeanType: 'v' }],
    ['unet', { ...p.unet, modelVarType: 'huge' }], ['unet', { ...p.unet, model: 'other' }], ['unet', { ...p.unet, config: { modelChannels: 100000 } }],
    ['unet', { ...p.unet, config: { imageSize: 34 } }], ['unet', { ...p.unet, config: { channelMults: [1] } }], ['unet', { ...p.unet, numClasses: 1 }],
    ['loss', { kind: 'l1' }], ['loss', { kind: 'hybrid', lambda: -1 }], ['timesteps', { kind: 'magic' }], ['timesteps', { kind: 'importance', history: 1 }]] as const) {
    train(`${part}=${JSON.stringify(v).slice(0, 40)}`, { ...p, [part]: v }, ok);
  }
  for (const [k, v] of [['batchSize', 0], ['batchSize', 'x'], ['lr', 0], ['lr', 5], ['emaRate', 2], ['gradClip', -1], ['maxSteps', -1], ['seed', -1], ['microbatch', -1], ['resume', 'maybe'], ['bogus', 1]] as const) {
    train(`${k}=${JSON.stringify(v)}`, p, { ...ok, [k]: v });
  }
  for (const d of [undefined, { kind: 'cifar' }, { kind: 'folder', path: '/etc' }, { kind: 'folder', path: '../../..' }, { kind: 'folder' }, { kind: 'mnist', split: 'val' }, { kind: 'mnist', limit: 0 },
    { kind: 'images' }, { kind: 'images', images: { shape: [1, 2, 2, 1], data: [0, NaN, 0, 0] } }, { kind: 'images', images: { shape: [1e9, 8, 8, 1], data: [] } },
    { kind: 'images', images: { shape: '1,8,8,1', data: [] } }, { kind: 'images', images: 'not images' }, { kind: 'images', images: { shape: [1, 8, 8, 1], data: new Float32Array(64) }, labels: [0, 'x'] }]) {
    train(`dataset=${JSON.stringify(d)?.slice(0, 50)}`, p, { ...ok, dataset: d });
  }
  const noise = (what: string, r: unknown): void => void out.push({ what: `noise ${what}`, send: (e) => e.noise(r as never), codes: ['BAD_REQUEST'] });
  const img = { shape: [1, 4, 4, 1], data: new Float32Array(16) };
  noise('no request', undefined);
  noise('t out of range', { schedule: { kind: 'cosine', steps: 10 }, images: img, t: 10 });
  noise('t a word', { schedule: { kind: 'cosine', steps: 10 }, images: img, t: 'late' });
  noise('65 timesteps', { schedule: { kind: 'cosine', steps: 100 }, images: img, t: Array.from({ length: 65 }, (_, i) => i) });
  noise('bytes that are no image', { schedule: { kind: 'cosine', steps: 10 }, images: Buffer.from('not a png'), t: 1 });
  noise('values beyond [-1, 1]', { schedule: { kind: 'cosine', steps: 10 }, images: { shape: [1, 1, 1, 1], data: [3] }, t: 1 });
  noise('bad schedule', { schedule: { kind: 'cosine', steps: 1 }, images: img, t: 0 });
  const evaluate = (what: string, r: unknown): void => void out.push({ what: `evaluate ${what}`, send: (e) => e.evaluate(r as never), codes: ['BAD_REQUEST', 'TOO_LARGE', 'NOT_FOUND'] });
  evaluate('dataset folder', { model: 'k', dataset: { kind: 'folder', path: '/etc' } });
  evaluate('count 0', { model: 'k', dataset: { kind: 'mnist' }, count: 0 });
  evaluate('count huge', { model: 'k', dataset: { kind: 'mnist' }, count: 10_000 });
  evaluate('split val', { model: 'k', dataset: { kind: 'mnist', split: 'val' } });
  out.push({ what: 'control an unknown action', send: (e) => e.control('k', 'explode' as never), codes: ['BAD_REQUEST'] });
  out.push({ what: 'control a model that does not train', send: (e) => e.control('k', 'stop'), codes: ['NOT_FOUND'] });
  out.push({ what: 'an unknown op', send: (e) => e.request({ op: 'format-disk' } as never), codes: ['BAD_REQUEST'] });
  return out;
}

async function badInputs(dir: string): Promise<void> {
  // A cost limit that 256 images × 50 steps of the small model exceed and 1 × 2 steps do not.
  const engine = new EngineClient({ modelsDir: dir, backend: 'wasm', maxRequestCost: 500 });
  const cases = badRequests();
  const wrong: string[] = [];
  let right = 0;
  const pid = (await engine.info()).pid;
  for (const c of cases) {
    try {
      await c.send(engine);
      wrong.push(`${c.what}: accepted`);
    } catch (err) {
      const code = codeOf(err);
      if (c.codes.includes(code)) right++;
      else wrong.push(`${c.what}: ${code} ${(err as Error).message.slice(0, 80)}`);
    }
    // A refused training request must not leave a job behind.
    await engine.control('t', 'stop').catch(() => undefined);
  }
  const after = await engine.info();
  const good = await engine.sample({ model: 'k', count: 1, steps: 2, seed: 1 }).then(() => 'yes', () => 'no');
  await engine.close();
  rows.push(['bad inputs through the client', `${cases.length}`, `right code ${right}/${cases.length}, engine restarted: ${after.pid === pid ? 'no' : 'YES'}, a good request after them: ${good}`]);
  for (const w of wrong) console.log(`  wrong: ${w}`);
}

async function load(): Promise<void> {
  const flow: Flow = [
    { id: 'tab', type: 'tab', label: 'load' },
    { id: 'pin', type: 'http in', z: 'tab', url: '/f/ping', method: 'get', wires: [['pout']] },
    { id: 'pout', type: 'http response', z: 'tab', statusCode: '', headers: {} },
    { id: 'sin', type: 'http in', z: 'tab', url: '/f/sample', method: 'get', wires: [['s']] },
    { id: 's', type: 'iddpm-sampler', z: 'tab', mode: 'generate', model: 'k8', count: 4, steps: 'ddim10', method: 'ddim', eta: 0, class: '', seed: '', format: 'grid', columns: 0, wires: [['sout']] },
    { id: 'sout', type: 'http response', z: 'tab', statusCode: '', headers: {} },
    { id: 'tin', type: 'http in', z: 'tab', url: '/f/train', method: 'get', wires: [['tf']] },
    { id: 'tf', type: 'function', z: 'tab', func: `msg.iddpm = ${JSON.stringify(pipeline('job'))}; return [msg, { payload: 'started', res: msg.res, req: msg.req }];`, outputs: 2, wires: [['tr'], ['tout']] },
    { id: 'tr', type: 'iddpm-trainer', z: 'tab', dataset: 'mnist', folder: '', limit: 64, batchSize: 8, microbatch: 0, lr: 0.0001, emaRate: 0.9999, gradClip: 0, maxSteps: 100000, logEvery: 10, sampleEvery: 0, sampleCount: 4, checkpointEvery: 50, seed: 1, resume: false, wires: [[]] },
    { id: 'tout', type: 'http response', z: 'tab', statusCode: '', headers: {} },
  ];
  const userDir = mkdtempSync(join(tmpdir(), 'iddpm-faults-load-'));
  await trainTinyModels(join(userDir, 'iddpm', 'models'), [{ name: 'k8' }]);
  const red = await startNodeRed({ flow, userDir });
  try {
    await (await fetch(`${red.base}/f/train`)).text();
    await sleep(3000);
    const pings: number[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const t0 = performance.now();
        await (await fetch(`${red.base}/f/ping`)).text();
        pings.push(performance.now() - t0);
        await sleep(50);
      }
    })();
    const t0 = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${red.base}/f/sample`).then((r) => r.status)));
    const seconds = (Date.now() - t0) / 1000;
    probing = false;
    await probe;
    const ok = answers.filter((s) => s === 200).length;
    rows.push(['20 concurrent sampling requests while training', '20', `answered 200: ${ok}/20 in ${seconds.toFixed(1)} s; ping p50 ${percentile(pings, 0.5).toFixed(0)} ms, p99 ${percentile(pings, 0.99).toFixed(0)} ms, max ${Math.max(...pings).toFixed(0)} ms (${pings.length} probes)`]);
  } finally {
    await red.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'iddpm-faults-'));
  try {
    await kills(arg('kills', 20), dir);
    await badInputs(dir);
    await load();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const w = [48, 6];
  console.log(`\n${'fault'.padEnd(w[0])} ${'n'.padStart(w[1])}  result`);
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w[0])} ${b.padStart(w[1])}  ${c}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

