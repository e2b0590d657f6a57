/**
 * The example flows in a real Node-RED runtime (started like `npm start`, on a free port) with a real MQTT broker
 * (aedes): every flow loads with no unknown types or errors; HTTP sampling answers PNGs of the asked size, 400s
 * with a reason, 404 for an unknown model, all of 20 concurrent requests, 503 when the queue is full; MQTT
 * requests are answered with their correlation id, malformed ones with an error reply; the forward-process
 * pictures follow q(x_t | x_0) and the schedules' ᾱ_t. Every reply names its seed (X-IDDPM-Seed, the MQTT
 * envelope); every Sampler has its Mode set; every flow fits a 1280 px wide canvas.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import {
  decodePng, exampleFlowFiles, get, getWhenRouted, gridSize, problemsIn, readFlow, startAedes, startNodeRed, tempUserDir,
  trainTinyModels, type Flow, type Runtime, type TestBroker,
} from './runtime';
import { EngineClient } from '../../engine/host/client';

const IDDPM_TYPES = ['iddpm-schedule', 'iddpm-noiser', 'iddpm-unet', 'iddpm-hybrid-loss', 'iddpm-importance-sampler', 'iddpm-trainer', 'iddpm-sampler'];
/** The engine refuses sampling requests beyond this many waiting (IDDPM_SAMPLE_QUEUE), to test the 503. */
const QUEUE = 20;
/** The test models (trainTinyModels) make 8×8 images. */
const SIDE = 8;

const flows = exampleFlowFiles().map((file) => ({ file, flow: readFlow(file) }));
let red: Runtime;
let broker: TestBroker;
let brokerPort: number;
let mqttClient: MqttClient;

/** Flow 05's Sampler: 64 samples at 100 respaced steps for its FID, more than the test needs to see them made. */
const COMPARE_SAMPLER = '68132b3ab48288d9';
/** Flow 06's Sampler: 64 samples of the shipped demo per grid; the test's 32×32 compare-hybrid, 4 samples. */
const STEPS_SAMPLER = '19ddecfcdab02b8d';
/** Samples per quality measurement in the test. */
const QUALITY_COUNT = 4;

/** All example flows in one deployment, the MQTT broker config pointed at the test's broker. */
function deployment(): Flow {
  return flows.flatMap(({ flow }) => flow.map((n) => {
    if (n.type === 'mqtt-broker') return { ...n, broker: 'localhost', port: String(brokerPort) };
    if (n.id === COMPARE_SAMPLER) return { ...n, steps: '10', qualityCount: QUALITY_COUNT };
    if (n.id === STEPS_SAMPLER) return { ...n, model: 'compare-hybrid', count: QUALITY_COUNT };
    return n;
  }));
}

before(async () => {
  broker = await startAedes();
  brokerPort = broker.port;
  const subscribed = broker.subscribed('iddpm/sample/request');
  const userDir = tempUserDir();
  // Training the test models and starting Node-RED overlap: the models are only needed by the first requests.
  // Flow 02/03 sample `demo`; flow 05 compares a hybrid + importance model with a simple + uniform one, 32×32 so
  // that the MNIST classifier can judge their samples (flow 06 samples compare-hybrid too).
  [red] = await Promise.all([
    startNodeRed({ flow: deployment(), userDir, env: { IDDPM_SAMPLE_QUEUE: String(QUEUE) } }),
    trainTinyModels(join(userDir, 'iddpm', 'models'), [
      { name: 'demo' },
      { name: 'compare-hybrid', timesteps: { kind: 'importance' }, imageSize: 32 },
      { name: 'compare-simple', loss: { kind: 'simple', lambda: 0.001 }, timesteps: { kind: 'uniform' }, imageSize: 32 },
    ]),
  ]);
  await subscribed;
  const mqtt = await import('mqtt');
  mqttClient = await mqtt.connectAsync(`mqtt://localhost:${brokerPort}`);
  await mqttClient.subscribeAsync('iddpm/sample/result', { qos: 1 });
});

after(async () => {
  await mqttClient?.endAsync();
  await red?.stop();
  await broker?.close();
});

test('the examples: numbered, each explained by a comment node, every IDDPM node type used, core nodes only', () => {
  const used = new Set(flows.flatMap(({ flow }) => flow.map((n) => n.type)));
  for (const type of IDDPM_TYPES) assert.ok(used.has(type), `${type} appears in no example flow`);
  const core = new Set(['tab', 'comment', 'inject', 'debug', 'function', 'change', 'switch', 'template', 'catch', 'http in', 'http response', 'mqtt in', 'mqtt out', 'mqtt-broker']);
  for (const type of used) assert.ok(core.has(type) || IDDPM_TYPES.includes(type), `${type} is neither a core node nor an IDDPM node`);
  flows.forEach(({ file, flow }, i) => {
    assert.match(file, new RegExp(`^flows/0${i + 1} [A-Z]`), file);
    const note = flow.find((n) => n.type === 'comment');
    assert.ok(note && String(note.info).length > 200, `${file} has no explaining comment`);
  });
  const ids = flows.flatMap(({ flow }) => flow.map((n) => n.id));
  assert.equal(new Set(ids).size, ids.length, 'node ids are unique across the examples');
});

test('every example flow loads into Node-RED: the IDDPM nodes register, no unknown types, no errors', async () => {
  const res = await fetch(`${red.base}/nodes`, { headers: { accept: 'application/json' } });
  const sets = (await res.json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
  const ours = sets.filter((s) => s.module === '@iddpm/node-red-iddpm');
  for (const s of ours) assert.ok(s.enabled && !s.err, `node set ${s.types} failed: ${s.err}`);
  const registered = new Set(sets.flatMap((s) => s.types));
  for (const type of IDDPM_TYPES) assert.ok(registered.has(type), `${type} is not registered`);
  const deployed = (await (await fetch(`${red.base}/flows`)).json()) as Flow;
  assert.equal(deployed.length, deployment().length);
  for (const n of deployed) if (n.type !== 'tab') assert.ok(registered.has(n.type) || n.type === 'mqtt-broker', `unknown type ${n.type}`);
  // The HTTP endpoints of every flow are up (Express answers "Cannot GET" for routes no flow registered).
  for (const path of ['/iddpm/forward', '/iddpm/compare', '/iddpm/steps']) assert.equal((await getWhenRouted(red.base + path)).status, 200, path);
  const preview = await getWhenRouted(`${red.base}/iddpm/train/preview.png`);
  assert.equal(preview.status, 404);
  assert.match(preview.body.toString(), /No preview yet/);
  assert.match(red.log(), /Started flows/);
  assert.deepEqual(problemsIn(red.log()), []);
});

/** The right edge of a node as Node-RED draws it (at least 100 px wide, wider for a long label). */
function rightEdge(n: Flow[number]): number {
  const label = String(n.name || n.url || n.type);
  return Number(n.x) + Math.max(100, 7 * label.length + 50) / 2;
}

test('every flow fits a 1280 px canvas; every Sampler says its mode; flow 02 has its own path beside the demo\'s', () => {
  for (const { file, flow } of [...flows, { file: 'demo.json', flow: readFlow('demo.json') }]) {
    for (const n of flow) {
      if (n.x === undefined) continue;
      assert.ok(rightEdge(n) <= 1080, `${file}: ${n.type} "${n.name ?? ''}" reaches x = ${rightEdge(n)}`);
      if (n.type === 'iddpm-sampler') assert.ok(n.mode === 'generate' || n.mode === 'evaluate', `${file}: a Sampler without a mode`);
    }
  }
  const urls = (flow: Flow): string[] => flow.filter((n) => n.type === 'http in').map((n) => String(n.url));
  const demo = urls(readFlow('demo.json'));
  for (const { file, flow } of flows) for (const u of urls(flow)) assert.ok(!demo.includes(u), `${file} adds a second GET ${u} next to the demo's`);
});

test('HTTP: without a seed each request draws a fresh one and names it in X-IDDPM-Seed; that seed draws them again', async () => {
  const url = `${red.base}/iddpm/example/sample?count=2&steps=3`;
  const [a, b] = [await getWhenRouted(url), await get(url)];
  const [sa, sb] = [a.headers.get('x-iddpm-seed'), b.headers.get('x-iddpm-seed')];
  assert.match(sa ?? '', /^\d+$/);
  assert.notEqual(sa, sb);
  assert.ok(!a.body.equals(b.body), 'two seedless requests give different images');
  const again = await get(`${url}&seed=${sa}`);
  assert.equal(again.headers.get('x-iddpm-seed'), sa);
  assert.ok(again.body.equals(a.body), 'the reported seed draws the same PNG');
});

test('HTTP: GET /iddpm/example/sample answers a PNG grid of count images in columns, repeatable by seed', async () => {
  const url = `${red.base}/iddpm/example/sample?count=6&columns=3&steps=4&seed=11`;
  const r = await getWhenRouted(url);
  assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  assert.match(r.type, /^image\/png/);
  const png = decodePng(r.body);
  assert.deepEqual({ width: png.width, height: png.height }, gridSize(6, 3, SIDE));
  const again = await get(url);
  assert.ok(again.body.equals(r.body), 'the same seed gives the same PNG');
  const other = await get(`${red.base}/iddpm/example/sample?count=6&columns=3&steps=4&seed=12`);
  assert.ok(!other.body.equals(r.body), 'another seed gives other images');
  const ddim = await get(`${red.base}/iddpm/example/sample?count=1&steps=5&method=ddim&eta=0`);
  assert.equal(ddim.status, 200);
  assert.deepEqual((({ width, height }) => ({ width, height }))(decodePng(ddim.body)), gridSize(1, 1, SIDE));
});

test('HTTP: bad query values get a 400 with the reason, an unknown model a 404', async () => {
  const cases: Array<[string, number, RegExp]> = [
    ['count=abc', 400, /count/],
    ['count=0', 400, /count/],
    ['count=1&steps=fast', 400, /steps/],
    ['count=1&method=euler', 400, /method/],
    ['count=1&cout=3', 400, /Unknown query parameter "cout"/],
    ['model=../etc', 400, /model/],
    ['model=nope&count=1', 404, /No trained model named "nope"/],
  ];
  for (const [query, status, reason] of cases) {
    const r = await getWhenRouted(`${red.base}/iddpm/example/sample?${query}`);
    assert.equal(r.status, status, `${query}: ${r.body.toString()}`);
    assert.match(r.type, /^application\/json/);
    const body = r.json<{ error: string; code: string; status: number }>();
    assert.match(body.error, reason, query);
    assert.doesNotMatch(body.error, /\{\{|__\w+__/, `${query}: the reason is a finished sentence`);
    assert.doesNotMatch(body.error, /^Error: /, `${query}: Catch got the reason alone`);
    // The status comes from the code Catch saw in msg.error.code (the flow reads no message text).
    assert.equal(body.code, status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', query);
    assert.equal(body.status, status);
  }
});

test('HTTP: 20 concurrent requests are all answered with a PNG', async () => {
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`${red.base}/iddpm/example/sample?count=1&steps=3&seed=${i}`)));
  for (const r of replies) {
    assert.equal(r.status, 200, r.body.toString().slice(0, 200));
    assert.equal(decodePng(r.body).width, gridSize(1, 1, SIDE).width);
  }
  assert.equal(new Set(replies.map((r) => r.body.toString('base64'))).size, 20, 'twenty seeds, twenty different images');
});

test('HTTP: beyond the queue limit, requests get a 503 with a reason and Retry-After', async () => {
  const burst = await Promise.all(Array.from({ length: QUEUE + 10 }, (_, i) => fetch(`${red.base}/iddpm/example/sample?count=1&steps=6&seed=${i}`)));
  const statuses = burst.map((r) => r.status);
  assert.ok(statuses.every((s) => s === 200 || s === 503), `statuses ${statuses}`);
  const full = burst.filter((r) => r.status === 503);
  assert.ok(full.length >= 1 && full.length <= 10 + 1, `${full.length} of ${burst.length} refused`);
  assert.equal(full[0].headers.get('retry-after'), '5');
  const bodies = (await Promise.all(burst.map((r) => r.arrayBuffer()))).map((b) => Buffer.from(b));
  const body = JSON.parse(bodies[statuses.indexOf(503)].toString()) as { error: string; code: string };
  assert.equal(body.code, 'QUEUE_FULL');
  assert.match(body.error, /queue is full/);
  for (const [i, b] of bodies.entries()) if (statuses[i] === 200) assert.equal(decodePng(b).width, gridSize(1, 1, SIDE).width);
});

/** The next reply on iddpm/sample/result whose id is `id`. */
function nextResult(id: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply for id ${JSON.stringify(id)} within 30 s`)), 30_000);
    const onMessage = (topic: string, payload: Buffer): void => {
      const reply = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (topic !== 'iddpm/sample/result' || reply.id !== id) return;
      clearTimeout(timer);
      mqttClient.off('message', onMessage);
      resolve(reply);
    };
    mqttClient.on('message', onMessage);
  });
}

test('MQTT: a JSON request is answered on iddpm/sample/result with its id and a PNG', async () => {
  const replyA = nextResult('job-a');
  const replyB = nextResult(7);
  await mqttClient.publishAsync('iddpm/sample/request', JSON.stringify({ id: 'job-a', count: 4, columns: 2, steps: 4, seed: 3 }), { qos: 1 });
  await mqttClient.publishAsync('iddpm/sample/request', JSON.stringify({ id: 7, model: 'demo', count: 3, steps: 'ddim4', method: 'ddim', columns: 3 }), { qos: 1 });
  for (const [reply, count, columns] of [[await replyA, 4, 2], [await replyB, 3, 3]] as const) {
    assert.equal(reply.ok, true, JSON.stringify(reply).slice(0, 300));
    assert.equal(reply.contentType, 'image/png');
    assert.equal(reply.model, 'demo');
    assert.equal(reply.count, count);
    assert.ok(Number.isInteger(reply.seed), 'the envelope names the seed');
    const png = decodePng(Buffer.from(String(reply.png), 'base64'));
    assert.deepEqual({ width: png.width, height: png.height }, gridSize(count, columns, SIDE));
  }
});

test('MQTT: malformed requests get an error reply, not silence', async () => {
  const notJson = nextResult(null);
  await mqttClient.publishAsync('iddpm/sample/request', 'count=4 please', { qos: 1 });
  const r1 = await notJson;
  assert.deepEqual([r1.ok, r1.status, r1.code], [false, 400, 'BAD_REQUEST']);
  assert.match(String(r1.error), /not JSON/);

  const cases: Array<[Record<string, unknown>, number, RegExp]> = [
    [{ id: 'bad-count', count: 'many' }, 400, /count/],
    [{ id: 'bad-field', count: 1, colour: 'red' }, 400, /Unknown field "colour"/],
    [{ id: 'no-model', model: 'nope', count: 1 }, 404, /No trained model named "nope"/],
  ];
  for (const [request, status, reason] of cases) {
    const reply = nextResult(request.id);
    await mqttClient.publishAsync('iddpm/sample/request', JSON.stringify(request), { qos: 1 });
    const r = await reply;
    assert.equal(r.ok, false);
    assert.equal(r.status, status, JSON.stringify(r));
    assert.equal(r.code, status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', JSON.stringify(r));
    assert.match(String(r.error), reason);
    assert.doesNotMatch(String(r.error), /^Error: /);
    assert.doesNotMatch(String(r.error), /\{\{|__\w+__/, 'the reason is a finished sentence');
  }
});

/** The test bits/dim and FID cells of each model's row on /iddpm/compare: the values and the bits/dim title. */
function compareCells(html: string): Record<string, { value: string; title: string; fid: string }> {
  const out: Record<string, { value: string; title: string; fid: string }> = {};
  for (const m of html.matchAll(/<tr><td>(compare-\w+)<\/td>.*?<td class="bpd"(?: title="([^"]*)")?>([^<]*)<\/td><td class="fid"[^>]*>([^<]*)<\/td>/g)) {
    out[m[1]] = { title: m[2] ?? '', value: m[3], fid: m[4] };
  }
  return out;
}

test('compare components: "sample & evaluate both now" reports each model\'s test bits/dim, FID and samples', async () => {
  const before = await getWhenRouted(`${red.base}/iddpm/compare`);
  assert.deepEqual(Object.values(compareCells(before.body.toString())).map((c) => [c.value, c.fid]), [['not evaluated yet', 'not evaluated yet'], ['not evaluated yet', 'not evaluated yet']]);
  // The flow's inject button, pressed through the editor's API.
  const pressed = await fetch(`${red.base}/inject/481eef03ede055ce`, { method: 'POST' });
  assert.equal(pressed.status, 200);
  let cells: ReturnType<typeof compareCells> = {};
  let html = '';
  // Generous: the first quality request of an engine computes the classifier's statistics of 5000 test digits.
  for (const until = Date.now() + 300_000; Date.now() < until; await new Promise((res) => setTimeout(res, 500))) {
    html = (await get(`${red.base}/iddpm/compare`)).body.toString();
    cells = compareCells(html);
    if (Object.values(cells).every((c) => /^\d/.test(c.value) && /^\d/.test(c.fid)) && !html.includes('not sampled yet')) break;
  }
  // The engine asked directly (another engine process on the same models) for bits/dim on the first 4 MNIST test
  // images with the noise of the Sampler's seed (1), and for the quality of its Samples made with its settings
  // (10 steps in this test, ancestral, seed 1), agrees with what the flow shows.
  const engine = new EngineClient({ modelsDir: red.modelsDir, backend: 'wasm' });
  try {
    for (const model of ['compare-hybrid', 'compare-simple']) {
      const cell = cells[model];
      assert.ok(cell && /^\d/.test(cell.value) && /^\d/.test(cell.fid), `${model}: ${cell?.value}, ${cell?.fid}\n${html}\n${problemsIn(red.log()).join('\n')}`);
      const direct = await engine.evaluate({
        model, dataset: { kind: 'mnist', split: 'test' }, count: 4, seed: 1,
        quality: { count: QUALITY_COUNT, steps: 10, method: 'ancestral', eta: 0, seed: 1 },
      });
      assert.equal(cell.value, direct.bitsPerDim.toPrecision(4), model);
      const parts = /^L_vlb (\S+) \+ prior (\S+) on 4 test images$/.exec(cell.title);
      assert.ok(parts, cell.title);
      assert.ok(Math.abs(Number(parts[1]) + Number(parts[2]) - direct.bitsPerDim) < 2e-3, `${cell.title} adds up to ${direct.bitsPerDim}`);
      const q = direct.quality!;
      assert.equal(cell.fid, `${q.samples.fid.toPrecision(4)} (floor ${q.floor!.fid.toPrecision(4)})`, model);
      assert.equal(q.samples.count, QUALITY_COUNT);
      const grid = await get(`${red.base}/iddpm/compare/${model}`);
      assert.equal(grid.status, 200);
      assert.deepEqual((({ width, height }) => ({ width, height }))(decodePng(grid.body)), gridSize(QUALITY_COUNT, 2, 32));
    }
  } finally {
    await engine.close();
  }
});

test('fewer steps: FID beside bits/dim at 25, 50, 100 and all T steps, ancestral and DDIM', async () => {
  const pressed = await fetch(`${red.base}/inject/5b2d3b054cf5fe49`, { method: 'POST' });
  assert.equal(pressed.status, 200);
  const keys = ['25', '50', '100', 'all'];
  let html = '';
  const figures = (): { fid: Map<string, string>; bpd: Map<string, string> } => ({
    fid: new Map([...html.matchAll(/<span class="fid" data-key="([\w-]+)">FID ([\d.]+)<\/span>/g)].map((m) => [m[1], m[2]])),
    bpd: new Map([...html.matchAll(/<td class="bpd" data-key="([\w-]+)">([\d.]+) ± [\d.]+<\/td>/g)].map((m) => [m[1], m[2]])),
  });
  // Eight samplings and four bounds, one after another in the engine: a minute idle, ten on a loaded CPU.
  for (const until = Date.now() + 600_000; Date.now() < until; await new Promise((res) => setTimeout(res, 1000))) {
    html = (await getWhenRouted(`${red.base}/iddpm/steps`)).body.toString();
    const f = figures();
    if (f.fid.size === 8 && f.bpd.size === 4) break;
  }
  const { fid, bpd } = figures();
  assert.equal(fid.size, 8, `${html}\n${problemsIn(red.log()).join('\n')}`);
  assert.equal(bpd.size, 4, html);
  // Two of the figures asked of the engine directly: the same model, seed (1), steps and method.
  const engine = new EngineClient({ modelsDir: red.modelsDir, backend: 'wasm' });
  try {
    const sampled = await engine.sample({ model: 'compare-hybrid', count: QUALITY_COUNT, steps: 25, method: 'ddim', seed: 1, format: 'raw', quality: true });
    assert.equal(fid.get('ddim-25'), sampled.quality!.samples.fid.toFixed(1));
    const bound = await engine.evaluate({ model: 'compare-hybrid', dataset: { kind: 'mnist', split: 'test' }, count: 4, seed: 1, steps: 50 });
    assert.equal(bpd.get('bpd-50'), bound.bitsPerDim.toFixed(3));
    // Each step count is its own process, with its own bound; the test model's T is 100, so 100 steps is all of it.
    assert.equal(new Set(keys.slice(0, 3).map((k) => bpd.get(`bpd-${k}`))).size, 3, JSON.stringify([...bpd]));
    assert.equal(bpd.get('bpd-100'), bpd.get('bpd-all'));
  } finally {
    await engine.close();
  }
  const grid = await get(`${red.base}/iddpm/steps/ancestral-all`);
  assert.deepEqual((({ width, height }) => ({ width, height }))(decodePng(grid.body)), gridSize(QUALITY_COUNT, QUALITY_COUNT, 32));
});

/** Pearson correlation of two equally long arrays. */
function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i] / n), (mb += b[i] / n);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) (ab += (a[i] - ma) * (b[i] - mb)), (aa += (a[i] - ma) ** 2), (bb += (b[i] - mb) ** 2);
  return ab / Math.sqrt(aa * bb);
}

/** The 32×32 cell of the strip at (row, column): digit `row` noised at the column's t. */
function cell(png: ReturnType<typeof decodePng>, row: number, column: number): Uint8Array {
  const out = new Uint8Array(32 * 32);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[y * 32 + x] = png.grey[(2 + row * 34 + y) * png.width + 2 + column * 34 + x];
  return out;
}

/** ᾱ_t (0-based t) of the linear schedule, β from 1e-4 to 0.02 over T steps (Ho et al.), computed here. */
function linearAlphaBar(t: number, T: number): number {
  let a = 1;
  for (let i = 0; i <= t; i++) a *= 1 - (1e-4 + ((0.02 - 1e-4) * i) / (T - 1));
  return a;
}
/** ᾱ_t of the cosine schedule (paper eq. 17): f(t+1)/f(0), f(u) = cos²((u/T + s)/(1 + s)·π/2). */
function cosineAlphaBar(t: number, T: number, s = 0.008): number {
  const f = (u: number): number => Math.cos(((u / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  return f(t + 1) / f(0);
}

test('forward process: strips keep the digits at small t, lose them at T, the linear schedule sooner', async () => {
  const linear = decodePng((await getWhenRouted(`${red.base}/iddpm/forward.png?schedule=linear`)).body);
  const cosine = decodePng((await get(`${red.base}/iddpm/forward.png?schedule=cosine`)).body);
  // Three digits × t = 0, 100, … 900, 999.
  assert.deepEqual({ width: linear.width, height: linear.height }, gridSize(33, 11, 32));
  for (let row = 0; row < 3; row++) {
    const clean = cell(cosine, row, 0);
    assert.ok(correlation(cell(linear, row, 0), clean) > 0.99, 'at t = 0 both schedules show the same digit');
    assert.ok(correlation(cell(cosine, row, 1), clean) > 0.8 && correlation(cell(linear, row, 1), clean) > 0.7, 't = 100 still shows it');
    const [lin, cos] = [correlation(cell(linear, row, 5), clean), correlation(cell(cosine, row, 5), clean)];
    assert.ok(cos > lin + 0.2, `at t = 500 cosine keeps more of the digit (${cos.toFixed(2)}) than linear (${lin.toFixed(2)})`);
    for (const strip of [linear, cosine]) assert.ok(Math.abs(correlation(cell(strip, row, 10), clean)) < 0.2, 'at t = 999 it is noise');
  }
});

test('forward process: /iddpm/alphas.svg draws ᾱ_t of both schedules (Figure 5)', async () => {
  const r = await getWhenRouted(`${red.base}/iddpm/alphas.svg`);
  assert.equal(r.status, 200);
  assert.match(r.type, /^image\/svg\+xml/);
  const svg = r.body.toString();
  const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]+)"/g)].map((m) => m[1].split(' ').map((p) => p.split(',').map(Number)));
  assert.equal(lines.length, 2);
  // Plot area: y = 40 (ᾱ = 1) to y = 350 (ᾱ = 0), as drawn by the flow's function node.
  const alphaAt = (line: number[][], t: number): number => 1 - (line[t][1] - 40) / 310;
  for (const t of [0, 250, 499, 750, 999]) {
    assert.ok(Math.abs(alphaAt(lines[0], t) - linearAlphaBar(t, 1000)) < 0.003, `linear ᾱ at t = ${t}`);
    assert.ok(Math.abs(alphaAt(lines[1], t) - cosineAlphaBar(t, 1000)) < 0.003, `cosine ᾱ at t = ${t}`);
  }
});
