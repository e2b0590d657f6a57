/**
 * The sampling export (how the demo model ships): model.json + half-precision EMA weights, loadable for
 * sampling, and trainable further from those weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../engine/backend';
import { ModelStore } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import type { CompletePipeline, TrainOptions } from '../engine/spec';

const pipeline: CompletePipeline = {
  schedule: { kind: 'cosine', steps: 50 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model: 'm', preset: 'custom', config: { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], numHeads: 2 }, modelVarType: 'learned_range', numClasses: null },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'uniform' },
};
const images = { shape: [8, 8, 8, 1] as [number, number, number, number], data: Float32Array.from({ length: 512 }, (_, i) => Math.sin(i) * 0.9) };
const options = (maxSteps: number): TrainOptions => ({ dataset: { kind: 'images', images }, batchSize: 4, maxSteps, checkpointEvery: 0, logEvery: 0, seed: 3, emaRate: 0.9, lr: 1e-3 });

test('exportForSampling writes model.json + F16 EMA that loads as both weight sets and trains on', async () => {
  await initBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'iddpm-export-'));
  try {
    const store = new ModelStore(join(dir, 'train'));
    await new TrainingJob({ name: 'm', pipeline, options: options(3), store }).start();
    const shipped = new ModelStore(join(dir, 'ship'));
    const path = store.exportForSampling('m', shipped);
    assert.deepEqual(readdirSync(path).sort(), ['ema.safetensors', 'model.json']);

    const full = store.loadCheckpoint('m');
    const light = shipped.loadCheckpoint('m');
    assert.equal(light.step, 3);
    assert.deepEqual(light.spec.pipeline, full.spec.pipeline);
    assert.equal(light.weights, light.ema);
    let checked = 0;
    for (const [k, t] of full.ema) {
      const h = light.ema.get(k)!;
      assert.deepEqual(h.shape, t.shape, k);
      for (let i = 0; i < t.data.length; i++) {
        const a = t.data[i] as number;
        assert.ok(Math.abs((h.data[i] as number) - a) <= Math.abs(a) * 2 ** -11 + 6e-8, `${k}[${i}]`);
        checked++;
      }
    }
    assert.ok(checked > 10_000);

    // Training the export further starts from its weights, at its step.
    await new TrainingJob({ name: 'm', pipeline, options: options(5), store: shipped }).start();
    const after = shipped.loadCheckpoint('m', { training: true });
    assert.equal(after.step, 5);
    assert.ok(after.optimizer && after.state);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
