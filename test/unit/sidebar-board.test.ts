/**
 * What the sidebar keeps of each job in Node-RED's process (nodes/iddpm-sidebar/board.ts): each engine event
 * becomes the update the editors get; the history grows with the progress records and is thinned past its bound;
 * a resumed model's earlier log goes in front; a preview becomes data URLs; the engine's exit fails running jobs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HISTORY_POINTS, JobBoard, appendPoint } from '../../nodes/iddpm-sidebar/board';
import type { JobStatus, TrainEvent, TrainProgress } from '../../engine/host/protocol';

const status = (s: Partial<JobStatus> = {}): JobStatus => ({ name: 'm', state: 'running', step: 0, maxSteps: 100, ...s });
const progress = (step: number): TrainProgress => ({
  name: 'm', step, loss: 1 / step, mse: 0.5 / step, lossQuartiles: [1, null, 2, 3], gradNorm: 1, imagesPerSec: 8, backend: 'wasm', maxSteps: 100, etaSeconds: 100 - step,
  curves: { T: 4, binSize: 1, t: [0, 1, 2, 3], loss: [1, 2, null, 4], p: [0.25, 0.25, 0.25, 0.25], pFloor: 0.00025, pUniform: 0.25 },
});

test('events become updates: status, progress with its point and curves, a preview as data URLs', () => {
  const board = new JobBoard();
  const u1 = board.apply({ type: 'status', name: 'm', status: status({ state: 'starting', phase: 'loading-dataset' }) });
  assert.deepEqual(u1, { name: 'm', kind: 'status', status: status({ state: 'starting', phase: 'loading-dataset' }) });
  const u2 = board.apply({ type: 'progress', name: 'm', payload: progress(10) });
  assert.equal(u2?.kind, 'progress');
  if (u2?.kind !== 'progress') return;
  assert.deepEqual(u2.point, { step: 10, loss: 0.1, mse: 0.05, lossQuartiles: [1, null, 2, 3], imagesPerSec: 8 });
  assert.deepEqual([u2.status.step, u2.status.etaSeconds, u2.status.maxSteps, u2.status.lastLoss], [10, 90, 100, 0.1]);
  assert.deepEqual(u2.curves?.loss, [1, 2, null, 4]);
  assert.equal('curves' in u2.progress, false, 'the curves travel once');
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
  const u3 = board.apply({ type: 'sample', name: 'm', step: 10, png, frames: [{ t: 3, xt: png, predXstart: png }] } as TrainEvent);
  assert.equal(u3?.kind, 'preview');
  if (u3?.kind !== 'preview') return;
  assert.equal(u3.preview.png, `data:image/png;base64,${png.toString('base64')}`);
  assert.deepEqual(u3.preview.frames.map((f) => f.t), [3]);
  assert.equal(board.apply({ type: 'checkpoint', name: 'm', step: 10, path: '/x' }), undefined);
  const view = board.get('m')!;
  assert.deepEqual([view.history.length, view.preview?.step, view.status.previewStep], [1, 10, 10]);
});

test('history: steps stay increasing, a resumed model\'s earlier log goes in front, and it is thinned past its bound', () => {
  const board = new JobBoard();
  board.apply({ type: 'progress', name: 'm', payload: progress(50) });
  board.apply({ type: 'progress', name: 'm', payload: progress(51) });
  assert.equal(board.needsHistory('m'), false);
  board.seedHistory('m', [{ step: 10, loss: 1 }, { step: 49, loss: 1 }, { step: 50, loss: 9 }]);
  assert.deepEqual(board.get('m')!.history.map((p) => p.step), [10, 49, 50, 51]);
  assert.equal(board.get('m')!.history[2].loss, 1 / 50, 'the job\'s own record wins');
  let h = Array.from({ length: HISTORY_POINTS }, (_, i) => ({ step: i + 1, loss: 1 }));
  h = appendPoint(h, { step: HISTORY_POINTS + 1, loss: 2 });
  assert.ok(h.length <= HISTORY_POINTS / 2 + 2, `${h.length} points after thinning`);
  assert.equal(h.at(-1)?.step, HISTORY_POINTS + 1, 'the latest point is kept');
  assert.ok(h.every((p, i) => i === 0 || p.step > h[i - 1].step));
  assert.deepEqual(appendPoint([{ step: 5, loss: 1 }, { step: 7, loss: 1 }], { step: 6, loss: 2 }).map((p) => p.step), [5, 6], 'a restarted run drops what it redoes');
});

test('the engine\'s exit fails the jobs that were running, not the finished ones', () => {
  const board = new JobBoard();
  board.apply({ type: 'status', name: 'a', status: status({ name: 'a' }) });
  board.apply({ type: 'done', name: 'b', status: status({ name: 'b', state: 'done' }) });
  const updates = board.engineExited('engine stopped');
  assert.deepEqual(updates.map((u) => [u.name, u.status.state, u.status.error]), [['a', 'failed', 'engine stopped']]);
  assert.equal(board.get('b')!.status.state, 'done');
});
