/**
 * Bits/dim on worker threads gives evaluateBpd's answer in one thread, value for value (each image draws its own
 * noise, and its terms do not depend on the images beside it), for uneven shares, a respaced bound with its
 * per-timestep terms and a class-conditional model; it can be cancelled, and its threads end when released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../engine/backend';
import { UNet } from '../engine/unet/model';
import { resolveUNetConfig } from '../engine/unet/presets';
import type { SamplingModel } from '../engine/sample/generate';
import { evaluateBpd } from '../engine/sample/bpd';
import { SamplingCancelledError } from '../engine/sample/loop';
import { datasetFromImages } from '../engine/data';
import { Rng } from '../engine/rng';
import { evaluateBpdInWorkers, poolThreads, closePool } from '../engine/parallel';

process.env.IDDPM_WORKERS = '2';
process.env.IDDPM_WORKERS_IDLE_MS = '0';

/** A small UNet with random (not zero-initialised) output layers, so the bound depends on every weight. */
function model(numClasses: number | null): SamplingModel {
  const config = { ...resolveUNetConfig('tiny'), imageSize: 8, channelMult: [1, 2], attentionResolutions: [4], numClasses };
  return {
    unet: UNet.create(config, 3, { zeroInit: false }),
    pipeline: {
      schedule: { kind: 'cosine', steps: 12 },
      noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
      unet: { model: 'p', preset: 'custom', modelVarType: 'learned_range', numClasses },
    },
    imageSize: 8,
    channels: 1,
    numClasses,
  };
}

/** Random images in [−1, 1] (and labels 0…9), as a dataset. */
function dataset(n: number, seed: number, labelled: boolean) {
  const rng = new Rng(seed);
  const data = Float32Array.from({ length: n * 64 }, () => rng.next() * 2 - 1);
  return datasetFromImages({ shape: [n, 8, 8, 1], data }, labelled ? Int32Array.from({ length: n }, (_, i) => i % 10) : undefined);
}

test('bits/dim on 2 threads equals the in-thread evaluation', { timeout: 180_000 }, async () => {
  await initBackend('wasm');
  const plain = model(null);
  const conditional = model(10);
  try {
    const cases = [
      { m: plain, data: dataset(5, 1, false), opts: { count: 5, batchSize: 2, seed: 3 } },
      { m: plain, data: dataset(4, 2, false), opts: { count: 4, steps: 4, perTimestep: true, rowsPerPass: 3, seed: 4 } },
      { m: conditional, data: dataset(3, 3, true), opts: { count: 3, seed: 5 } },
    ];
    for (const { m, data, opts } of cases) {
      const one = await evaluateBpd(m, data, opts);
      let progress = 0;
      const two = await evaluateBpdInWorkers(m, data, opts, { onProgress: (done, total) => {
        assert.ok(done <= total);
        progress = done / total;
      } });
      const { seconds: _a, ...a } = one;
      const { seconds: _b, ...b } = two;
      assert.deepEqual(b, a, JSON.stringify(opts));
      assert.equal(progress, 1, 'progress reaches the end');
      // The images' bounds differ: equality is not that of a constant.
      assert.ok(new Set(one.perImage).size === one.count, `${one.perImage}`);
    }
    // The seed matters.
    const other = await evaluateBpdInWorkers(plain, dataset(5, 1, false), { count: 5, batchSize: 2, seed: 30 });
    const base = await evaluateBpd(plain, dataset(5, 1, false), { count: 5, batchSize: 2, seed: 3 });
    assert.notEqual(other.bitsPerDim, base.bitsPerDim);
  } finally {
    (plain.unet as UNet).dispose();
    (conditional.unet as UNet).dispose();
  }
  assert.equal(poolThreads(), 0, 'threads end once released');
});

test('bits/dim on threads can be cancelled', { timeout: 60_000 }, async () => {
  await initBackend('wasm');
  const m = model(null);
  let calls = 0;
  try {
    await assert.rejects(evaluateBpdInWorkers(m, dataset(4, 1, false), { count: 4, rowsPerPass: 1 }, { isCancelled: () => ++calls > 3 }), SamplingCancelledError);
  } finally {
    (m.unet as UNet).dispose();
    await closePool();
  }
});
