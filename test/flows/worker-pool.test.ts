/**
 * Flow 07 (the sampling worker pool) for real: a mosquitto of the test's own (MQTT 5, shared subscriptions) and
 * two Node-RED instances of this package, each its own user dir with the same small model, the flow, and the
 * broker and instance name from env (IDDPM_MQTT_BROKER, IDDPM_INSTANCE). A requester (clients/
 * mqtt-request.mjs on the npm `mqtt` v5 client) sends bursts of requests with distinct correlation data: each is
 * answered exactly once with a PNG; the same seed gives the same bytes whichever instance served it, and what the
 * engine itself makes; both instances serve. Then one instance dies (SIGKILL) mid-burst: every request is still
 * answered (the requester's retry after its timeout, with the same correlation data), none twice to the caller.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePng, get, gridSize, problemsIn, readFlow, startNodeRed, trainTinyModels, type Runtime } from './runtime';
import { startMosquitto, type Mosquitto } from './mosquitto';
import { EngineClient } from '../../engine/host/client';
import type { AnswerInfo, PoolRequest, PoolRequester } from '../../clients/mqtt-request.mjs';

type Client = typeof import('../../clients/mqtt-request.mjs');

const FLOW = readFlow('flows/07 Sampling worker pool.json');
const SHARED = '$share/iddpm-workers/iddpm/sample/request';
const INSTANCES = ['worker-a', 'worker-b'] as const;
/** The test model (trainTinyModels) makes 8×8 images. */
const SIDE = 8;
/** Small requests: one image, five respaced steps. */
const SMALL = { count: 1, steps: 5 } as const;

let broker: Mosquitto;
let workers: Runtime[] = [];
let modelsDir: string;
let client: Client;

before(async () => {
  client = await import('../../clients/mqtt-request.mjs');
  broker = await startMosquitto();
  modelsDir = mkdtempSync(join(tmpdir(), 'iddpm-pool-models-'));
  // Training the model and starting Node-RED overlap: the model is only read by the first request.
  const [, ...started] = await Promise.all([
    trainTinyModels(modelsDir, [{ name: 'demo' }]),
    ...INSTANCES.map((name) => startNodeRed({
      flow: FLOW,
      // The engine's threads: one each, so two instances do not oversubscribe two cores.
      env: { IDDPM_MQTT_BROKER: broker.url, IDDPM_INSTANCE: name, IDDPM_WORKERS: '1' },
    })),
  ]);
  workers = started;
  // start.js gave each user dir the shipped demo model (32×32): the test's small one replaces it.
  for (const w of workers) {
    rmSync(join(w.modelsDir, 'demo'), { recursive: true, force: true });
    cpSync(join(modelsDir, 'demo'), join(w.modelsDir, 'demo'), { recursive: true });
  }
  await broker.subscribed(SHARED, INSTANCES.length);
});

after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await broker?.stop();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

/** A requester on the test broker that records every answer as it arrives (duplicates too). */
async function requester(timeoutMs: number): Promise<{ pool: PoolRequester; arrivals: AnswerInfo[] }> {
  const arrivals: AnswerInfo[] = [];
  const pool = await client.connectSampler(broker.url, { timeoutMs, attempts: 4, onAnswer: (a) => arrivals.push(a) });
  return { pool, arrivals };
}

/** How many times each value occurs. */
function tally(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** Answers of the first burst by seed: the second burst's must equal them byte for byte. */
const pngBySeed = new Map<number, Buffer>();

test('20 requests over two instances: each answered once, with the PNG its seed makes, by both instances', async (t) => {
  // The first request on each instance starts its engine: a generous timeout, so this burst needs no retry.
  const { pool, arrivals } = await requester(90_000);
  try {
    // Requests 2j and 2j+1 share seed j: the broker hands consecutive requests to different workers in turn.
    const seeds = Array.from({ length: 20 }, (_, i) => Math.floor(i / 2));
    const answers = await Promise.all(seeds.map((seed, i) => pool.sample({ ...SMALL, seed }, { correlationId: `burst1-${i}` })));
    t.diagnostic(`served by ${JSON.stringify(Object.fromEntries(tally(answers.map((a) => String(a.instance)))))}`);
    // Exactly once: one arrival per correlation id, none retried, nothing dropped or foreign.
    assert.deepEqual([...tally(arrivals.map((a) => a.correlationId)).values()], Array(20).fill(1));
    assert.deepEqual(new Set(arrivals.map((a) => a.correlationId)), new Set(seeds.map((_, i) => `burst1-${i}`)));
    assert.deepEqual(pool.stats, { published: 20, retried: 0, settled: 20, duplicates: 0, unknown: 0 });
    answers.forEach((a, i) => {
      assert.equal(a.correlationId, `burst1-${i}`);
      assert.equal(a.attempts, 1);
      assert.deepEqual([a.model, a.count, a.backend], ['demo', 1, 'wasm']);
      const png = decodePng(a.png);
      assert.deepEqual({ width: png.width, height: png.height }, gridSize(1, 1, SIDE));
    });
    assert.deepEqual(new Set(answers.map((a) => a.instance)), new Set(INSTANCES), 'both instances served');
    let acrossInstances = 0;
    for (let j = 0; j < 10; j++) {
      const [x, y] = [answers[2 * j], answers[2 * j + 1]];
      assert.ok(x.png.equals(y.png), `seed ${j}: the same bytes from ${x.instance} and ${y.instance}`);
      if (x.instance !== y.instance) acrossInstances++;
      pngBySeed.set(j, x.png);
    }
    assert.ok(acrossInstances >= 1, 'at least one seed was served by both instances');
    assert.equal(new Set([...pngBySeed.values()].map((b) => b.toString('base64'))).size, 10, 'ten seeds, ten images');
    // What the engine itself makes of the request (an engine of the test's own on the same model).
    const engine = new EngineClient({ modelsDir, backend: 'wasm' });
    try {
      const direct = await engine.sample({ model: 'demo', ...SMALL, method: 'ancestral', eta: 0, format: 'grid', seed: 3 });
      assert.ok(direct.png && direct.png.equals(pngBySeed.get(3) ?? Buffer.alloc(0)), 'the pool answers the engine\'s own PNG');
    } finally {
      await engine.close();
    }
  } finally {
    await pool.close();
  }
});

test('refusals are answered on the response topic, never dropped: bad requests 400, an unknown model 404', async () => {
  const { pool } = await requester(30_000);
  try {
    const cases: Array<[Record<string, unknown>, number, string, RegExp]> = [
      [{ count: 'many' }, 400, 'BAD_REQUEST', /count/],
      [{ ...SMALL, colour: 'red' }, 400, 'BAD_REQUEST', /Unknown field "colour"/],
      [{ ...SMALL, model: 'nope' }, 404, 'NOT_FOUND', /No trained model named "nope"/],
    ];
    for (const [request, status, code, reason] of cases) {
      const err = await pool.sample(request as unknown as PoolRequest).then(() => assert.fail(`${JSON.stringify(request)} was answered with a PNG`), (e: unknown) => e);
      assert.ok(err instanceof client.SampleError, String(err));
      assert.deepEqual([err.status, err.code], [status, code], err.message);
      assert.match(err.message, reason);
      assert.ok(INSTANCES.includes(err.instance as (typeof INSTANCES)[number]), `refused by ${err.instance}`);
    }
    // Not JSON at all (published by hand: the requester only sends JSON).
    const answer = new Promise<{ payload: Buffer; properties: Record<string, unknown> }>((resolve) =>
      pool.client.on('message', (topic, payload, packet) => topic === 'test/not-json' && resolve({ payload, properties: { ...packet.properties } })));
    await pool.client.subscribeAsync('test/not-json', { qos: 1 });
    await pool.client.publishAsync('iddpm/sample/request', 'count=4 please', {
      qos: 1, properties: { responseTopic: 'test/not-json', correlationData: Buffer.from('raw-1') },
    });
    const { payload, properties } = await answer;
    assert.equal(Buffer.from(properties.correlationData as Buffer).toString(), 'raw-1');
    assert.equal(properties.contentType, 'application/json');
    const body = JSON.parse(payload.toString()) as { ok: boolean; status: number; code: string; error: string };
    assert.deepEqual([body.ok, body.status, body.code], [false, 400, 'BAD_REQUEST']);
    assert.match(body.error, /not JSON/);
  } finally {
    await pool.close();
  }
});

test('the flow\'s own requester side: GET /iddpm/pool/sample answers the PNG from the pool, X-Served-By', async () => {
  const servedBy = new Set<string | null>();
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${workers[0].base}/iddpm/pool/sample?count=1&steps=5&seed=3`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200, body.toString().slice(0, 300));
    assert.match(res.headers.get('content-type') ?? '', /^image\/png/);
    assert.ok(body.equals(pngBySeed.get(3) ?? Buffer.alloc(0)), 'the same bytes as over MQTT for seed 3');
    servedBy.add(res.headers.get('x-served-by'));
  }
  // Two requests in turn: the broker handed one to each instance.
  assert.deepEqual(servedBy, new Set(INSTANCES));
  const bad = await get(`${workers[0].base}/iddpm/pool/sample?count=1&steps=fast`);
  assert.equal(bad.status, 400);
  assert.match(bad.json<{ error: string }>().error, /steps/);
  for (const w of workers) assert.deepEqual(problemsIn(w.log()), []);
});

test('an instance killed mid-burst: every request is still answered, once, by the one left', async (t) => {
  const [survivor, victim] = INSTANCES;
  // Shorter than the first burst's timeout (the engines are warm now): a lost request is asked again after 8 s.
  let killed = false;
  const arrivals: AnswerInfo[] = [];
  const pool = await client.connectSampler(broker.url, {
    timeoutMs: 8000,
    attempts: 4,
    onAnswer(a) {
      arrivals.push(a);
      // Once the victim has answered and a few answers are in, it dies with the requests it has queued.
      if (!killed && arrivals.length >= 3 && arrivals.some((x) => x.instance === victim)) {
        killed = true;
        workers[1].kill('SIGKILL');
      }
    },
  });
  try {
    const seeds = Array.from({ length: 20 }, (_, i) => i % 10);
    const answers = await Promise.all(seeds.map((seed, i) => pool.sample({ ...SMALL, seed }, { correlationId: `burst2-${i}` })));
    t.diagnostic(`${arrivals.length} answers arrived for 20 requests; served by ${JSON.stringify(Object.fromEntries(tally(answers.map((a) => String(a.instance)))))}; stats ${JSON.stringify(pool.stats)}`);
    assert.ok(killed, `${victim} was killed mid-burst`);
    answers.forEach((a, i) => {
      assert.equal(a.correlationId, `burst2-${i}`);
      assert.ok(a.png.equals(pngBySeed.get(seeds[i]) ?? Buffer.alloc(0)), `request ${i} (seed ${seeds[i]}, by ${a.instance}): the bytes of the first burst`);
    });
    // The caller got each request once; the wire may have carried late duplicates, which were dropped.
    const delivered = arrivals.filter((a) => !a.duplicate);
    assert.deepEqual([...tally(delivered.map((a) => a.correlationId)).values()], Array(20).fill(1));
    assert.equal(pool.stats.duplicates, arrivals.length - 20);
    assert.equal(pool.stats.unknown, 0);
    assert.equal(pool.stats.settled, 20);
    // The victim's queued requests died with it (mqtt in had acknowledged them): the retries recovered them.
    assert.ok(pool.stats.retried >= 1, `some requests needed a retry: ${JSON.stringify(pool.stats)}`);
    assert.ok(answers.some((a) => a.attempts > 1 && a.instance === survivor), `a retried request was served by ${survivor}`);
  } finally {
    await pool.close();
  }
  assert.deepEqual(problemsIn(workers[0].log()), []);
});
