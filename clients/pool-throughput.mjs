#!/usr/bin/env node
/**
 * Measures what a sampling worker pool (examples/flows/07 Sampling worker pool.json) serves: requests per
 * minute, and which instance served how many, with `concurrency` requests in flight so every worker stays busy.
 *
 *     node clients/pool-throughput.mjs [broker-url] [requests] [concurrency]
 *     # defaults: mqtt://localhost:1883, 24 requests, 8 in flight; each request count 4, ddim25 (demo model)
 *
 * A few warm-up requests first (one per worker starts its engine) are not counted. Env POOL_REQUEST overrides
 * the request as JSON, e.g. POOL_REQUEST='{"count":16,"steps":50}'.
 */
import { connectSampler } from './mqtt-request.mjs';

const [url = 'mqtt://localhost:1883', requestsArg = '24', concurrencyArg = '8'] = process.argv.slice(2);
const requests = Number(requestsArg);
const concurrency = Number(concurrencyArg);
const request = JSON.parse(process.env.POOL_REQUEST ?? '{"count":4,"steps":"ddim25","method":"ddim"}');
if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('usage: pool-throughput.mjs [broker-url] [requests ≥ 1] [concurrency ≥ 1]');
  process.exit(2);
}

const sampler = await connectSampler(url, { timeoutMs: 120_000 });
try {
  // Warm-up: enough requests at once that each worker gets one (the broker hands them out in turn).
  await Promise.all(Array.from({ length: concurrency }, (_, i) => sampler.sample({ ...request, seed: 1_000_000 + i })));
  const servedBy = {};
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < requests) {
      const seed = next++;
      const answer = await sampler.sample({ ...request, seed });
      servedBy[answer.instance] = (servedBy[answer.instance] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const minutes = (performance.now() - started) / 60_000;
  console.log(JSON.stringify({
    request, requests, concurrency, seconds: +(minutes * 60).toFixed(1),
    requestsPerMinute: +(requests / minutes).toFixed(1), servedBy, stats: sampler.stats,
  }));
} finally {
  await sampler.close();
}
