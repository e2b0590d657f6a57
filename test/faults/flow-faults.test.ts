/**
 * Faults seen from a flow, in a real Node-RED (through scripts/start.js) with a real MQTT broker (aedes): a
 * request in flight during a redeploy is answered (HTTP 503 and an MQTT error reply, code CANCELLED); an HTTP
 * client that hangs up withdraws its request from the engine; a Float32Array made in a Function node (another
 * realm) is taken as images.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { decodePng, get, getWhenRouted, startAedes, startNodeRed, tempUserDir, trainTinyModels, type Flow, type Runtime, type TestBroker } from '../flows/runtime';

let red: Runtime;
let broker: TestBroker;
let brokerPort: number;
let mqttClient: MqttClient;

/** Maps msg.error.code to an HTTP status, as example 02 does. */
const HTTP_MAP = "const s = { BAD_REQUEST: 400, TOO_LARGE: 400, NOT_FOUND: 404, BUSY: 503, QUEUE_FULL: 503, CANCELLED: 503, ENGINE_EXITED: 503, TIMEOUT: 504 }; msg.statusCode = s[msg.error.code] || 500; if (msg.statusCode === 503) msg.headers = { 'Retry-After': '5' }; msg.payload = { error: msg.error.message, code: msg.error.code || 'INTERNAL' }; return msg;";
const MQTT_MAP = "msg.topic = 'f/res'; msg.payload = JSON.stringify({ id: msg.id, ok: false, code: msg.error.code || 'INTERNAL', error: msg.error.message }); return msg;";

function flow(): Flow {
  return [
    { id: 'tab', type: 'tab', label: 'faults' },
    { id: 'broker', type: 'mqtt-broker', name: 'test', broker: 'localhost', port: String(brokerPort), clientid: '', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true },
    // HTTP: a long sampling request, its errors mapped to statuses.
    { id: 'hin', type: 'http in', z: 'tab', url: '/f/sample', method: 'get', wires: [['hq']] },
    { id: 'hq', type: 'function', z: 'tab', func: 'msg.count = Number(msg.req.query.count); msg.steps = Number(msg.req.query.steps); msg.seed = 1; return msg;', outputs: 1, wires: [['hs']] },
    { id: 'hs', type: 'iddpm-sampler', z: 'tab', mode: 'generate', model: 'tiny8', count: 1, steps: '5', method: 'ancestral', eta: 0, class: '', seed: '', format: 'grid', columns: 0, wires: [['hout']] },
    { id: 'hout', type: 'http response', z: 'tab', statusCode: '', headers: {} },
    { id: 'hcatch', type: 'catch', z: 'tab', scope: ['hs'], uncaught: false, wires: [['hmap']] },
    { id: 'hmap', type: 'function', z: 'tab', func: HTTP_MAP, outputs: 1, wires: [['hout']] },
    // MQTT: the same, answered on f/res.
    { id: 'min', type: 'mqtt in', z: 'tab', topic: 'f/req', qos: '1', datatype: 'json', broker: 'broker', wires: [['mq']] },
    { id: 'mq', type: 'function', z: 'tab', func: 'msg.id = msg.payload.id; msg.count = msg.payload.count; msg.steps = msg.payload.steps; msg.seed = 1; return msg;', outputs: 1, wires: [['ms']] },
    { id: 'ms', type: 'iddpm-sampler', z: 'tab', mode: 'generate', model: 'tiny8', count: 1, steps: '5', method: 'ancestral', eta: 0, class: '', seed: '', format: 'grid', columns: 0, wires: [['mok']] },
    { id: 'mok', type: 'function', z: 'tab', func: "msg.topic = 'f/res'; msg.payload = JSON.stringify({ id: msg.id, ok: true }); return msg;", outputs: 1, wires: [['mout']] },
    { id: 'mout', type: 'mqtt out', z: 'tab', topic: '', qos: '1', retain: 'false', broker: 'broker' },
    { id: 'mcatch', type: 'catch', z: 'tab', scope: ['ms'], uncaught: false, wires: [['mmap']] },
    { id: 'mmap', type: 'function', z: 'tab', func: MQTT_MAP, outputs: 1, wires: [['mout']] },
    // A Function node makes a Float32Array (its own realm) and the Noiser takes it as images.
    { id: 'nin', type: 'http in', z: 'tab', url: '/f/noise', method: 'get', wires: [['nf']] },
    { id: 'nf', type: 'function', z: 'tab', func: 'msg.payload = { shape: [2, 8, 8, 1], data: new Float32Array(128).fill(0.25) }; msg.t = [0, 10]; return msg;', outputs: 1, wires: [['nn']] },
    { id: 'nn', type: 'iddpm-noiser', z: 'tab', modelMeanType: 'epsilon', rescaleTimesteps: true, wires: [['nout']] },
    { id: 'nout', type: 'http response', z: 'tab', statusCode: '', headers: {} },
    { id: 'ncatch', type: 'catch', z: 'tab', scope: ['nn'], uncaught: false, wires: [['hmapn']] },
    { id: 'hmapn', type: 'function', z: 'tab', func: HTTP_MAP, outputs: 1, wires: [['nout']] },
  ];
}

/** A full redeploy of the same flow, as the editor's Deploy button does. */
async function redeploy(): Promise<void> {
  const res = await fetch(`${red.base}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v1' },
    body: JSON.stringify(flow()),
  });
  assert.equal(res.status, 204, await res.text());
}

before(async () => {
  broker = await startAedes();
  brokerPort = broker.port;
  const userDir = tempUserDir();
  await trainTinyModels(join(userDir, 'iddpm', 'models'), [{ name: 'tiny8' }]);
  red = await startNodeRed({ flow: flow(), userDir });
  const mqtt = await import('mqtt');
  mqttClient = await mqtt.connectAsync(`mqtt://localhost:${brokerPort}`);
  await mqttClient.subscribeAsync('f/res', { qos: 1 });
  await getWhenRouted(`${red.base}/f/sample?count=1&steps=2`, 60_000);
});

after(async () => {
  await mqttClient?.endAsync();
  await red?.stop();
  await broker?.close();
});

test('a sampling request in flight during a redeploy is answered over HTTP: 503, code CANCELLED, Retry-After', async () => {
  const pending = fetch(`${red.base}/f/sample?count=128&steps=100`);
  await new Promise((r) => setTimeout(r, 1500));
  await redeploy();
  const res = await pending;
  const body = (await res.json()) as { code: string; error: string };
  assert.equal(res.status, 503, JSON.stringify(body));
  assert.equal(body.code, 'CANCELLED');
  assert.match(body.error, /redeployed or removed while this request ran/);
  assert.equal(res.headers.get('retry-after'), '5');
  await getWhenRouted(`${red.base}/f/sample?count=1&steps=2`, 30_000);
});

test('… and over MQTT: an error reply with its id and code CANCELLED', async () => {
  const reply = new Promise<Record<string, unknown>>((resolve) => {
    mqttClient.on('message', (_t, payload) => {
      const m = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (m.id === 'r1') resolve(m);
    });
  });
  await mqttClient.publishAsync('f/req', JSON.stringify({ id: 'r1', count: 128, steps: 100 }), { qos: 1 });
  await new Promise((r) => setTimeout(r, 1500));
  await redeploy();
  const m = await Promise.race([reply, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no MQTT reply within 20 s:\n${red.log().slice(-3000)}`)), 20_000))]);
  assert.equal(m.ok, false, JSON.stringify(m));
  assert.equal(m.code, 'CANCELLED');
  await getWhenRouted(`${red.base}/f/sample?count=1&steps=2`, 30_000);
});

test('an HTTP client that hangs up withdraws its request: the engine is free for the next one at once', async () => {
  const quick = async (): Promise<number> => {
    const t0 = Date.now();
    const r = await get(`${red.base}/f/sample?count=1&steps=2`);
    assert.equal(r.status, 200);
    return Date.now() - t0;
  };
  const idle = await quick();
  const abort = new AbortController();
  const long = fetch(`${red.base}/f/sample?count=128&steps=100`, { signal: abort.signal }).catch((err: Error) => err);
  await new Promise((r) => setTimeout(r, 1000));
  abort.abort();
  await long;
  await new Promise((r) => setTimeout(r, 300));
  const after = await quick();
  // The withdrawn request would take many seconds; the next one waits at most a step of it.
  assert.ok(after < idle + 3000, `the next request took ${after} ms (idle ${idle} ms): the abandoned one still ran`);
  assert.match(red.log(), /./);
});

test('a Float32Array made in a Function node is taken as images', async () => {
  const r = await get(`${red.base}/f/noise`);
  assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  const png = decodePng(r.body);
  assert.ok(png.width > 8 && png.height > 8, `${png.width}×${png.height}`);
});
