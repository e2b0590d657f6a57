/**
 * The engine's time share of its threads (engine/parallel/share.ts), timed with real clocks on stand-in work:
 * without sampling, training steps follow each other at once; while a request samples, a step of T ms is followed
 * by share·T ms left to sampling; when sampling ends a waiting step goes on at once; two jobs alternate steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkShare } from '../../engine/parallel/share';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('no sampling: steps go on back to back', async () => {
  const share = new WorkShare(2);
  let busy = 0;
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) {
    await share.trainStep(async () => {
      const s0 = performance.now();
      await sleep(20);
      busy += performance.now() - s0;
    });
  }
  const total = performance.now() - t0;
  assert.ok(total < busy + 30, `${total.toFixed(0)} ms for ${busy.toFixed(0)} ms of steps`);
});

test('while a request samples, a step of T ms leaves the threads to it for share·T ms', async () => {
  const share = new WorkShare(2);
  const ended = share.samplingStarted();
  let step = 0;
  await share.trainStep(async () => {
    const s0 = performance.now();
    await sleep(60);
    step = performance.now() - s0;
  });
  const t0 = performance.now();
  await share.trainStep(() => undefined);
  const waited = performance.now() - t0;
  // Timers on a busy machine run late, never early: 2·T is a floor, and a late timer adds little.
  assert.ok(waited >= 2 * step - 5 && waited < 2 * step + 80, `waited ${waited.toFixed(0)} ms after a step of ${step.toFixed(0)} ms`);
  ended();
  assert.equal(share.sampling, 0);
});

test('when the last request ends, a waiting step goes on at once', async () => {
  const share = new WorkShare(10);
  const ended = share.samplingStarted();
  await share.trainStep(() => sleep(50)); // would wait 500 ms
  const t0 = performance.now();
  setTimeout(ended, 40);
  await share.trainStep(() => undefined);
  const waited = performance.now() - t0;
  assert.ok(waited >= 35 && waited < 150, `waited ${waited.toFixed(0)} ms`);
});

test('two jobs take turns step by step (one step on the threads at a time)', async () => {
  const share = new WorkShare(2);
  const order: string[] = [];
  let inside = 0;
  const job = async (name: string): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      await share.trainStep(async () => {
        inside++;
        assert.equal(inside, 1, 'one step at a time');
        order.push(name);
        await sleep(5);
        inside--;
      });
    }
  };
  await Promise.all([job('a'), job('b')]);
  assert.deepEqual(order, ['a', 'b', 'a', 'b', 'a', 'b']);
});
