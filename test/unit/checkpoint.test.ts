/**
 * The model store: round trip, refused names, and crash safety. A child process (this file, run with
 * CKPT_CHILD set) saves checkpoints and is SIGKILLed at each stage of a save, and at random moments; the previous
 * or the new checkpoint must load, complete and consistent, every time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { ModelStore, type CheckpointInput } from '../../engine/train/store';
import type { ModelSpec } from '../../engine/spec';
import { resolveUNetConfig } from '../../engine/unet/presets';
import type { SafeTensor } from '../../engine/safetensors';

/** A checkpoint whose every value encodes its step, so a torn mix of two checkpoints is detectable. */
function fakeCheckpoint(step: number, floats = 1000): CheckpointInput {
  const t = (v: number, n = floats): SafeTensor => ({ dtype: 'F32', shape: [n], data: new Float32Array(n).fill(v) });
  const spec: ModelSpec = {
    name: 'm',
    pipeline: {
      schedule: { kind: 'cosine', steps: 10 }, noiser: { modelMeanType: 'epsilon' },
      unet: { model: 'm', preset: 'tiny', modelVarType: 'learned_range', numClasses: null },
      loss: { kind: 'hybrid', lambda: 0.001 }, timesteps: { kind: 'importance' },
    },
    unetConfig: resolveUNetConfig('tiny'), step, createdAt: 'then', updatedAt: 'now',
  };
  return {
    spec,
    weights: new Map([['a.weight', t(step)], ['b.bias', t(step, 3)]]),
    ema: new Map([['a.weight', t(step + 0.5)]]),
    optimizer: { step, moments: new Map([['exp_avg.a.weight', t(-step)]]) },
    state: { step, rng: { noise: [step, 0, 0, 0, 0, 0] }, timestepSampler: { kind: 'uniform' }, dataSampler: { position: step } },
  };
}

/** Loads the current checkpoint and checks that every file belongs to the same step; returns that step. */
function loadConsistent(store: ModelStore, name: string): number {
  const c = store.loadCheckpoint(name, { training: true });
  const s = c.step;
  assert.equal(c.spec.step, s);
  assert.equal(c.state?.step, s);
  assert.equal(c.optimizer?.step, s);
  assert.ok((c.weights.get('a.weight')!.data as Float32Array).every((v) => v === s), 'weights from another step');
  assert.ok((c.ema.get('a.weight')!.data as Float32Array).every((v) => v === s + 0.5), 'ema from another step');
  assert.ok((c.optimizer!.moments.get('exp_avg.a.weight')!.data as Float32Array).every((v) => v === -s), 'moments from another step');
  return s;
}

function tmpModels(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-ckpt-'));
}

/** Child mode: save step 1, then step 2 killing ourselves at `CKPT_KILL_AT`; or save forever (`loop`). */
function child(): void {
  const store = new ModelStore(process.env.CKPT_CHILD as string);
  const killAt = process.env.CKPT_KILL_AT as string;
  if (killAt === 'loop') {
    const start = store.hasCheckpoint('m') ? store.readSpec('m').step + 1 : 1;
    for (let step = start; ; step++) store.saveCheckpoint('m', fakeCheckpoint(step, 2_000_000));
  }
  if (!store.hasCheckpoint('m')) store.saveCheckpoint('m', fakeCheckpoint(1));
  store.saveCheckpoint('m', fakeCheckpoint(2), (stage) => {
    if (stage === killAt) process.kill(process.pid, 'SIGKILL');
  });
}

function runChild(dir: string, killAt: string, killAfterMs?: number): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', __filename], { env: { ...process.env, CKPT_CHILD: dir, CKPT_KILL_AT: killAt }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    if (killAfterMs !== undefined) {
      // Wait until the child has written something, then kill it at a random moment of its save loop.
      const poll = setInterval(() => {
        if (fs.existsSync(path.join(dir, 'm', 'latest'))) {
          clearInterval(poll);
          setTimeout(() => p.kill('SIGKILL'), killAfterMs);
        }
      }, 5);
    }
    p.on('error', reject);
    p.on('exit', (code, signal) => (signal ? resolve(signal) : code === 0 ? resolve(null) : reject(new Error(`child failed: ${err}`))));
  });
}

if (process.env.CKPT_CHILD) {
  child();
} else {
  test('a checkpoint round-trips: spec, weights, EMA, optimizer, state, log', () => {
    const store = new ModelStore(tmpModels());
    assert.equal(store.hasCheckpoint('m'), false);
    assert.throws(() => store.loadCheckpoint('m'), /Model "m" has no checkpoint/);
    const dir = store.saveCheckpoint('m', fakeCheckpoint(7));
    assert.equal(path.basename(dir), 'ckpt-00000007');
    assert.equal(loadConsistent(store, 'm'), 7);
    assert.deepEqual([...store.loadCheckpoint('m').weights.get('b.bias')!.data], [7, 7, 7]);
    assert.equal(store.loadCheckpoint('m').optimizer, undefined, 'optimizer only when asked for');
    assert.equal(store.readSpec('m').step, 7);
    assert.equal(JSON.parse(fs.readFileSync(path.join(store.modelDir('m'), 'model.json'), 'utf8')).step, 7);
    store.saveCheckpoint('m', fakeCheckpoint(9));
    assert.equal(loadConsistent(store, 'm'), 9);
    assert.deepEqual(fs.readdirSync(store.modelDir('m')).filter((f) => f.startsWith('ckpt-')), ['ckpt-00000009'], 'older checkpoints are removed');
    assert.deepEqual(store.list(), ['m']);
    for (const step of [1, 2, 3]) store.appendLog('m', { step, loss: step });
    store.truncateLog('m', 2);
    assert.deepEqual(store.readLog('m').map((e) => e.step), [1, 2]);
  });

  test('model names outside ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ are refused', () => {
    const store = new ModelStore(tmpModels());
    for (const bad of ['../x', '..', '.hidden', 'a/b', 'a\\b', '', 'x'.repeat(65), '/etc', 'a b']) {
      assert.throws(() => store.modelDir(bad), /Invalid model name/, bad);
      assert.throws(() => store.saveCheckpoint(bad, fakeCheckpoint(1)), /Invalid model name/, bad);
    }
    assert.equal(path.basename(store.modelDir('mnist-v1.2_b')), 'mnist-v1.2_b');
  });

  test('a save killed at any stage leaves a loadable checkpoint (the previous one until the pointer moves)', async () => {
    const stages = ['file:weights.safetensors', 'file:ema.safetensors', 'file:optimizer.safetensors', 'file:state.json', 'file:model.json', 'renamed', 'committed'];
    for (const stage of stages) {
      const dir = tmpModels();
      assert.equal(await runChild(dir, stage), 'SIGKILL', `child was not killed at ${stage}`);
      const store = new ModelStore(dir);
      const expected = stage === 'committed' ? 2 : 1;
      assert.equal(loadConsistent(store, 'm'), expected, `killed at ${stage}`);
      // The next save clears what the killed one left behind.
      store.saveCheckpoint('m', fakeCheckpoint(3));
      assert.equal(loadConsistent(store, 'm'), 3);
      assert.deepEqual(fs.readdirSync(store.modelDir('m')).filter((f) => f.startsWith('ckpt-')), ['ckpt-00000003'], `after ${stage}`);
    }
  });

  test('killed at random moments while saving 16 MB checkpoints in a loop, the store always loads', async () => {
    const dir = tmpModels();
    const store = new ModelStore(dir);
    let last = 0;
    for (let round = 0; round < 6; round++) {
      assert.equal(await runChild(dir, 'loop', 20 + Math.floor(Math.random() * 150)), 'SIGKILL');
      const step = loadConsistent(store, 'm');
      assert.ok(step >= last, `went back from step ${last} to ${step}`);
      last = step;
    }
  });
}
