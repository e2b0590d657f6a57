/**
 * Sampling on worker threads gives the images generate() gives in one thread (each image draws from its own
 * generator), for uneven shares, other batch compositions, DDIM and class labels; it reports progress, can be
 * cancelled, and its threads end when released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { UNet } from '../engine/unet/model';
import { resolveUNetConfig } from '../engine/unet/presets';
import { generate, type SamplingModel } from '../engine/sample/generate';
import { SamplingCancelledError } from '../engine/sample/loop';
import { generateInWorkers, forwardInWorkers, shareWeights, splitImages, WorkerPool, poolThreads, closePool } from '../engine/parallel';

process.env.IDDPM_WORKERS = '2';
process.env.IDDPM_WORKERS_IDLE_MS = '0';

/** A small UNet with random (not zero-initialised) output layers, so images depend on every weight. */
function model(numClasses: number | null): SamplingModel {
  const config = { ...resolveUNetConfig('tiny'), imageSize: 8, channelMult: [1, 2], attentionResolutions: [4], numClasses };
  const unet = UNet.create(config, 3, { zeroInit: false });
  return {
    unet,
    pipeline: {
      schedule: { kind: 'cosine', steps: 40 },
      noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
      unet: { model: 'p', preset: 'custom', modelVarType: 'learned_range', numClasses },
    },
    imageSize: 8,
    channels: config.inChannels,
    numClasses,
  };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

test('images are split into contiguous shares', () => {
  assert.deepEqual(splitImages(5, 2), [{ first: 0, count: 2 }, { first: 2, count: 3 }]);
  assert.deepEqual(splitImages(1, 2), [{ first: 0, count: 1 }]);
});

test('2 threads give the images of one thread, whatever the batch composition', { timeout: 120_000 }, async () => {
  await initBackend('wasm');
  const m = model(null);
  const c = model(10);
  try {
    const cases = [
      { m, opts: { count: 5, batchSize: 2, steps: 10, seed: 7 } },
      { m, opts: { count: 4, batchSize: 4, steps: 'ddim8', method: 'ddim' as const, eta: 0.5, seed: 8 } },
      { m: c, opts: { count: 4, steps: 6, seed: 9 } },
      { m: c, opts: { count: 3, steps: 6, seed: 9, classes: [1, 2, 3] } },
    ];
    for (const { m: mod, opts } of cases) {
      const one = await generate(mod, opts);
      const events: number[] = [];
      let last = { step: 0, total: -1, batch: 0, batches: -1 };
      const two = await generateInWorkers(mod, { ...opts, progressEvery: 1 }, { onProgress: (p) => {
        events.push(p.batch * p.total + p.step);
        last = p;
      } });
      assert.deepEqual(two.images.shape, one.images.shape);
      assert.deepEqual(two.classes, one.classes);
      assert.equal(two.steps, one.steps);
      assert.equal(two.seed, one.seed);
      const d = maxDiff(two.images.data, one.images.data);
      assert.equal(d, 0, `${JSON.stringify(opts)}: images differ by ${d}`);
      assert.ok(events.length > 0 && events.every((v, i) => i === 0 || v > events[i - 1]), 'progress moves forward');
      assert.ok(last.step === last.total && last.batch === last.batches - 1 && last.total === one.steps, `ends complete: ${JSON.stringify(last)}`);
      // Images differ from one another: equality is not that of a constant output.
      const per = 8 * 8 * mod.channels;
      assert.ok(maxDiff(one.images.data.subarray(0, per), one.images.data.subarray(per, 2 * per)) > 0.1);
    }
    // The seed matters.
    const other = await generateInWorkers(m, { count: 5, batchSize: 2, steps: 10, seed: 70 });
    const base = await generate(m, { count: 5, batchSize: 2, steps: 10, seed: 7 });
    assert.ok(maxDiff(other.images.data, base.images.data) > 0.1);
  } finally {
    (m.unet as UNet).dispose();
    (c.unet as UNet).dispose();
  }
  assert.equal(poolThreads(), 0, 'threads end once released');
});

test('sampling on threads can be cancelled', { timeout: 60_000 }, async () => {
  await initBackend('wasm');
  const m = model(null);
  let progress = 0;
  try {
    await assert.rejects(
      generateInWorkers(m, { count: 4, steps: 40, seed: 1, progressEvery: 1 }, { onProgress: () => progress++, isCancelled: () => progress >= 2 }),
      SamplingCancelledError,
    );
  } finally {
    (m.unet as UNet).dispose();
    await closePool();
  }
});

test('a batch evaluated on threads equals the in-thread forward pass', { timeout: 60_000 }, async () => {
  await initBackend('wasm');
  const m = model(null);
  const unet = m.unet as UNet;
  const pool = new WorkerPool(2);
  try {
    const x = tf.randomNormal([3, 8, 8, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const t = tf.tensor1d([10, 500, 900]);
    const ref = tf.tidy(() => unet.apply(x, t).dataSync() as Float32Array);
    const out = await forwardInWorkers(pool, shareWeights(unet), x.dataSync() as Float32Array, [3, 8, 8, 1], t.dataSync() as Float32Array);
    assert.equal(maxDiff(out, ref), 0);
    tf.dispose([x, t]);
  } finally {
    unet.dispose();
    await pool.terminate();
  }
});
