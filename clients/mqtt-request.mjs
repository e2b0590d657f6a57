/**
 * A requester for the IDDPM sampling worker pool (examples/flows/07 Sampling worker pool.json): ask any number
 * of Node-RED instances behind one MQTT 5 broker for images, get each answer once. Needs the npm package `mqtt`
 * (v5): `npm install mqtt`.
 *
 *     import { connectSampler } from '@iddpm/node-red-iddpm/clients/mqtt-request.mjs'; // or a copy of this file
 *     const sampler = await connectSampler('mqtt://broker.lan:1883');
 *     const { png, instance } = await sampler.sample({ count: 4, steps: 'ddim25', method: 'ddim', seed: 7 });
 *     await sampler.close();
 *
 * The contract (README, "Sampling across machines"): a request is a JSON body of sampling settings published
 * with QoS 1 on `iddpm/sample/request` with the MQTT 5 properties Response Topic (where to answer) and
 * Correlation Data (which request this is; the answer carries it back). The answer, on the response topic, is
 * the PNG with content type `image/png`, or a JSON error `{ ok: false, status, code, error }` with content type
 * `application/json`; user properties `instance` and `status` say who served it and how it went.
 *
 * Why retries: Node-RED's `mqtt in` acknowledges a request as it arrives, so a worker that stops mid-request
 * (crash, redeploy, shutdown) loses it and the broker will not hand it to another worker. So when no answer
 * came within `timeoutMs`, the request is published again with the same correlation data (up to `attempts`
 * publications in all); a 503 (that worker's queue is full) is asked again after `busyRetryMs`, perhaps to
 * another worker. A retried request can then be answered twice (the slow first attempt and the retry): only
 * the first answer per correlation id resolves `sample()`, later ones are dropped (and counted in `stats`).
 */
import { randomUUID } from 'node:crypto';
import { connectAsync } from 'mqtt';

/** The topic the workers' shared subscription (`$share/iddpm-workers/iddpm/sample/request`) takes requests from. */
export const REQUEST_TOPIC = 'iddpm/sample/request';
/** How many answered correlation ids are remembered to tell a late duplicate from an answer that is not ours. */
const REMEMBERED_ANSWERS = 10_000;

/** A request the pool refused (status 400, 404, 503 after the retries…) or that got no answer (code TIMEOUT). */
export class SampleError extends Error {
  constructor(message, { status, code, instance, correlationId }) {
    super(message);
    this.name = 'SampleError';
    this.status = status;
    this.code = code;
    this.instance = instance;
    this.correlationId = correlationId;
  }
}

/** Connects an MQTT 5 client to `url` and returns a PoolRequester on it, subscribed to its response topic. */
export async function connectSampler(url, options = {}) {
  const client = await connectAsync(url, { protocolVersion: 5, clean: true, ...options.mqtt });
  const requester = new PoolRequester(client, { ...options, ownsClient: true });
  try {
    await requester.start();
  } catch (err) {
    await client.endAsync();
    throw err;
  }
  return requester;
}

export class PoolRequester {
  /**
   * @param client a connected MQTT 5 client (mqtt.js v5, `protocolVersion: 5`)
   * @param options `responseTopic` (default `iddpm/sample/response/<random>`: one per requester), `requestTopic`,
   *   `timeoutMs` (60 000), `attempts` (3), `busyRetryMs` (1000), `onAnswer(info)` called for every answer that
   *   arrives (duplicates too): `{ correlationId, instance, status, duplicate, unknown }`.
   */
  constructor(client, options = {}) {
    this.client = client;
    this.requestTopic = options.requestTopic ?? REQUEST_TOPIC;
    this.responseTopic = options.responseTopic ?? `iddpm/sample/response/${randomUUID()}`;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.attempts = options.attempts ?? 3;
    this.busyRetryMs = options.busyRetryMs ?? 1000;
    this.onAnswer = options.onAnswer ?? (() => undefined);
    this.ownsClient = options.ownsClient ?? false;
    /** Requests waiting for their answer, by correlation id. */
    this.pending = new Map();
    /** Correlation ids answered lately (insertion order: the oldest are forgotten first). */
    this.answered = new Set();
    /**
     * Publications (first tries and retries, and the retries alone); requests settled (answered, refused, timed
     * out or closed); answers dropped as late duplicates, or as not ours.
     */
    this.stats = { published: 0, retried: 0, settled: 0, duplicates: 0, unknown: 0 };
    this.onMessage = (topic, payload, packet) => {
      if (topic === this.responseTopic) this.handleAnswer(payload, packet.properties ?? {});
    };
  }

  /** Subscribes to the response topic (QoS 1). */
  async start() {
    this.client.on('message', this.onMessage);
    await this.client.subscribeAsync(this.responseTopic, { qos: 1 });
  }

  /**
   * Asks the pool for `request` (model, count, steps, method, seed, class, eta, columns). Resolves once with
   * `{ png, instance, correlationId, attempts, model, count, seconds, backend }`; rejects with a SampleError.
   */
  sample(request, { correlationId = randomUUID() } = {}) {
    if (this.pending.has(correlationId)) return Promise.reject(new Error(`correlation id ${correlationId} is already waiting for its answer`));
    return new Promise((resolve, reject) => {
      this.pending.set(correlationId, { body: JSON.stringify(request), tries: 0, timer: undefined, resolve, reject });
      this.publish(correlationId);
    });
  }

  publish(correlationId) {
    const p = this.pending.get(correlationId);
    if (!p) return;
    if (p.tries > 0) this.stats.retried++;
    p.tries++;
    this.stats.published++;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => this.expire(correlationId), this.timeoutMs);
    const properties = {
      responseTopic: this.responseTopic,
      correlationData: Buffer.from(correlationId),
      contentType: 'application/json',
      // A request no worker took within the timeout will be asked again: the broker may drop the stale copy.
      messageExpiryInterval: Math.ceil(this.timeoutMs / 1000),
    };
    // A failed publication (connection lost) is left to the timeout, which publishes again.
    this.client.publish(this.requestTopic, p.body, { qos: 1, properties }, () => undefined);
  }

  expire(correlationId) {
    const p = this.pending.get(correlationId);
    if (!p) return;
    if (p.tries < this.attempts) return this.publish(correlationId);
    this.settle(correlationId, new SampleError(
      `No worker answered within ${this.timeoutMs / 1000} s, ${p.tries} times: is a worker connected to ${this.requestTopic}'s shared subscription?`,
      { status: 504, code: 'TIMEOUT', instance: undefined, correlationId },
    ));
  }

  handleAnswer(payload, properties) {
    const correlationId = properties.correlationData ? Buffer.from(properties.correlationData).toString() : '';
    const user = properties.userProperties ?? {};
    const instance = typeof user.instance === 'string' ? user.instance : undefined;
    const status = Number(user.status) || (properties.contentType === 'image/png' ? 200 : 500);
    const p = this.pending.get(correlationId);
    const duplicate = !p && this.answered.has(correlationId);
    this.onAnswer({ correlationId, instance, status, duplicate, unknown: !p && !duplicate });
    if (!p) {
      if (duplicate) this.stats.duplicates++;
      else this.stats.unknown++;
      return;
    }
    if (status === 503 && p.tries < this.attempts) {
      clearTimeout(p.timer);
      p.timer = setTimeout(() => this.publish(correlationId), this.busyRetryMs);
      return;
    }
    if (status === 200 && properties.contentType === 'image/png') {
      const { model, count, seconds, backend } = user;
      this.settle(correlationId, null, {
        png: Buffer.from(payload), instance, correlationId, attempts: p.tries,
        model, count: Number(count), seconds: Number(seconds), backend,
      });
      return;
    }
    let body = {};
    try {
      body = JSON.parse(Buffer.from(payload).toString('utf8'));
    } catch {
      body = { error: `an answer that is neither a PNG nor JSON (content type ${properties.contentType ?? 'none'})` };
    }
    this.settle(correlationId, new SampleError(String(body.error ?? 'the worker refused the request'), {
      status, code: body.code ?? user.code ?? 'INTERNAL', instance, correlationId,
    }));
  }

  settle(correlationId, error, answer) {
    const p = this.pending.get(correlationId);
    this.pending.delete(correlationId);
    clearTimeout(p.timer);
    this.answered.add(correlationId);
    if (this.answered.size > REMEMBERED_ANSWERS) this.answered.delete(this.answered.values().next().value);
    this.stats.settled++;
    if (error) p.reject(error);
    else p.resolve(answer);
  }

  /** Rejects what still waits (code CLOSED), unsubscribes, and ends the client if connectSampler made it. */
  async close() {
    for (const correlationId of [...this.pending.keys()]) {
      this.settle(correlationId, new SampleError('The requester was closed before the answer came', { status: undefined, code: 'CLOSED', instance: undefined, correlationId }));
    }
    this.client.off('message', this.onMessage);
    if (this.ownsClient) await this.client.endAsync();
    else await this.client.unsubscribeAsync(this.responseTopic);
  }
}
