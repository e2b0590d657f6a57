/**
 * The engine's sampling queue (engine/host/queue.ts) with a stand-in for the sampling itself: one request at a
 * time in arrival order, a listing with each request's progress, a waiting request cancelled at once (CANCELLED),
 * a running one told to stop, ids that are not in the queue refused, the bound (QUEUE_FULL), every change reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SampleQueue, type QueuedRequest } from '../../engine/host/queue';
import { checkSampleRequest, type EngineError } from '../../engine/spec';
import type { SampleResult } from '../../engine/sample/result';
import type { SampleQueueEntry } from '../../engine/host/protocol';

interface Run { entry: QueuedRequest; isCancelled: () => boolean; finish: () => void; fail: (e: Error) => void }

function harness(maxQueue = 4): { queue: SampleQueue; runs: Run[]; reports: SampleQueueEntry[][]; nextRun: () => Promise<Run> } {
  const runs: Run[] = [];
  const reports: SampleQueueEntry[][] = [];
  let waiter: ((r: Run) => void) | undefined;
  const queue = new SampleQueue({
    maxQueue, updateMs: 10, onChange: (e) => reports.push(e),
    run: (entry, isCancelled) => new Promise<SampleResult>((resolve, reject) => {
      const r: Run = { entry, isCancelled, finish: () => resolve({ format: 'grid', seed: entry.id, seconds: 0, backend: 'test' }), fail: reject };
      runs.push(r);
      waiter?.(r);
      waiter = undefined;
    }),
  });
  const nextRun = (): Promise<Run> => new Promise((resolve) => (waiter = resolve));
  return { queue, runs, reports, nextRun };
}

const request = (model: string, count = 2) => checkSampleRequest({ model, count, steps: 'ddim5', method: 'ddim' });

test('requests run one at a time in order; the listing shows the running one first with its progress', async () => {
  const { queue, reports, nextRun } = harness();
  let first = nextRun();
  const a = queue.add({ id: 1, request: request('a'), onProgress: () => undefined });
  const b = queue.add({ id: 2, request: request('b', 3), onProgress: () => undefined });
  const runA = await first;
  assert.deepEqual(queue.list().map((e) => [e.id, e.state, e.model, e.count, e.steps, e.method]), [[1, 'running', 'a', 2, 'ddim5', 'ddim'], [2, 'queued', 'b', 3, 'ddim5', 'ddim']]);
  runA.entry.onProgress({ step: 3, total: 5, batch: 0, batches: 1 });
  assert.deepEqual(queue.list()[0].progress, { step: 3, total: 5, batch: 0, batches: 1 });
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(reports.at(-1)?.[0].progress, { step: 3, total: 5, batch: 0, batches: 1 }, 'progress is reported (throttled)');
  first = nextRun();
  runA.finish();
  assert.equal((await a).seed, 1);
  const runB = await first;
  assert.equal(runB.entry.id, 2);
  runB.finish();
  assert.equal((await b).seed, 2);
  await queue.idle();
  assert.deepEqual(queue.list(), []);
  assert.deepEqual(reports.at(-1), []);
});

test('cancel: a waiting request leaves at once with CANCELLED, a running one is told to stop, an unknown id is not found', async () => {
  const { queue, nextRun } = harness();
  const started = nextRun();
  const a = queue.add({ id: 1, request: request('a'), onProgress: () => undefined });
  const b = queue.add({ id: 2, request: request('b'), onProgress: () => undefined });
  const runA = await started;
  assert.equal(queue.cancel(2), true);
  await assert.rejects(b, (err: EngineError) => err.code === 'CANCELLED' && /before it started/.test(err.message));
  assert.deepEqual(queue.list().map((e) => e.id), [1]);
  assert.equal(runA.isCancelled(), false);
  assert.equal(queue.cancel(1), true);
  assert.equal(runA.isCancelled(), true);
  runA.fail(Object.assign(new Error('Sampling was cancelled'), { name: 'SamplingCancelledError' }));
  await assert.rejects(a, /cancelled/);
  assert.equal(queue.cancel(1), false, 'gone');
  assert.equal(queue.cancel(77), false);
});

test('the queue is bounded: QUEUE_FULL beyond maxQueue; ids of in-process callers are numbered', async () => {
  const { queue, runs, nextRun } = harness(2);
  const started = nextRun();
  const a = queue.add({ id: 0, request: request('a'), onProgress: () => undefined });
  const b = queue.add({ id: 0, request: request('b'), onProgress: () => undefined });
  assert.throws(() => queue.add({ id: 0, request: request('c'), onProgress: () => undefined }), (err: EngineError) => err.code === 'QUEUE_FULL');
  await started;
  const ids = queue.list().map((e) => e.id);
  assert.equal(new Set(ids).size, 2);
  assert.ok(ids.every((i) => i < 0));
  const second = nextRun();
  runs[0].finish();
  (await second).finish();
  await Promise.all([a, b]);
});
