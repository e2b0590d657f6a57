/**
 * Every loss kind with every variance type trains (a regression: with `simple` or a fixed variance, `loss` and
 * `mse` are the same tensor and were freed twice), and a run started over (resume off) may reach the step of the
 * checkpoint it replaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../engine/backend';
import { ModelStore } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import type { CompletePipeline, LossKind, ModelVarType } from '../engine/spec';

const images = { shape: [4, 8, 8, 1] as [number, number, number, number], data: Float32Array.from({ length: 256 }, (_, i) => Math.sin(i) * 0.9) };
const pipeline = (kind: LossKind, modelVarType: ModelVarType): CompletePipeline => ({
  schedule: { kind: 'cosine', steps: 20 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model: 'k', preset: 'custom', config: { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], numHeads: 1 }, modelVarType, numClasses: null },
  loss: { kind, lambda: 0.001 },
  timesteps: { kind: 'uniform' },
});

test('every loss kind trains with every variance type, and resume off starts over', async () => {
  await initBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'iddpm-kinds-'));
  const store = new ModelStore(dir);
  try {
    const combos: Array<[LossKind, ModelVarType]> = [['simple', 'fixed_small'], ['simple', 'learned_range'], ['hybrid', 'learned_range'], ['kl', 'fixed_large'], ['rescaled-kl', 'learned']];
    for (const [kind, varType] of combos) {
      const losses: number[] = [];
      const job = new TrainingJob({
        name: 'k', pipeline: pipeline(kind, varType), store,
        options: { dataset: { kind: 'images', images }, batchSize: 2, maxSteps: 2, logEvery: 1, checkpointEvery: 0, seed: 1, resume: false },
        onEvent: (ev) => ev.type === 'progress' && losses.push(ev.payload.loss),
      });
      await job.start();
      const s = job.status();
      assert.equal(s.state, 'done', `${kind}/${varType}: ${s.error}`);
      assert.equal(losses.length, 2);
      assert.ok(losses.every(Number.isFinite), `${kind}/${varType}: ${losses}`);
      const spec = store.readSpec('k');
      assert.equal(spec.step, 2);
      assert.deepEqual([spec.pipeline.loss.kind, spec.pipeline.unet.modelVarType], [kind, varType]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
