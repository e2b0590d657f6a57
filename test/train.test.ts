/**
 * Training end to end on the wasm backend: the `tiny` preset learns MNIST (the loss falls far below its start),
 * a job reports progress/previews/checkpoints in the protocol's shapes, bad arguments are refused, and a
 * non-finite loss stops the run without reaching a checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../engine/backend';
import { tf } from '../engine/tf';
import { ModelStore, Trainer, unetConfigFor } from '../engine/train';
import { TrainingJob } from '../engine/run/job';
import type { TrainEvent, TrainProgress } from '../engine/host/protocol';
import type { CompletePipeline, TrainOptions } from '../engine/spec';

function pipelineFor(name: string, unet: Partial<CompletePipeline['unet']> = {}, steps = 1000): CompletePipeline {
  return {
    schedule: { kind: 'cosine', steps },
    noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
    unet: { model: name, preset: 'tiny', modelVarType: 'learned_range', numClasses: null, ...unet },
    loss: { kind: 'hybrid', lambda: 0.001 },
    timesteps: { kind: 'importance' },
  };
}

/** 8×8 images, two levels: a UNet small enough that steps take milliseconds. */
const SMALL = { imageSize: 8, channelMult: [1, 2], attentionResolutions: [4], modelChannels: 32 };

const tmpStore = (): ModelStore => new ModelStore(fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-train-')));

async function runJob(name: string, pipeline: CompletePipeline, options: TrainOptions, store: ModelStore, hook?: (ev: TrainEvent, job: TrainingJob) => void): Promise<{ job: TrainingJob; events: TrainEvent[] }> {
  const events: TrainEvent[] = [];
  const job: TrainingJob = new TrainingJob({ name, pipeline, options, store, onEvent: (ev) => {
    events.push(ev);
    hook?.(ev, job);
  } });
  await job.start();
  return { job, events };
}

const progressOf = (events: TrainEvent[]): TrainProgress[] => events.flatMap((e) => (e.type === 'progress' ? [e.payload] : []));

test('the tiny preset learns MNIST on wasm: the loss falls far below its start', { timeout: 120_000 }, async () => {
  const backend = await initBackend('wasm');
  assert.equal(backend.name, 'wasm');
  const store = tmpStore();
  const steps = 20;
  const t0 = performance.now();
  const { job, events } = await runJob('tiny-mnist', pipelineFor('tiny-mnist'), {
    dataset: { kind: 'mnist', limit: 2000 }, batchSize: 8, lr: 2e-3, maxSteps: steps, logEvery: 1, sampleEvery: steps, sampleCount: 4, checkpointEvery: 0, seed: 1,
  }, store);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(job.status().state, 'done', job.status().error);
  const progress = progressOf(events);
  assert.equal(progress.length, steps);
  const first = progress[0].loss;
  const last = progress.slice(-5).reduce((s, p) => s + p.loss, 0) / 5;
  console.log(`tiny/MNIST batch 8: loss ${first.toFixed(4)} → ${last.toFixed(4)} (mean of last 5) in ${steps} steps, ${seconds.toFixed(1)} s`);
  // An untrained ε-model outputs 0 (zero-initialised output conv), so the first loss is E[ε²] ≈ 1.
  assert.ok(Math.abs(first - 1) < 0.2, `first loss ${first}`);
  assert.ok(last < 0.5 * first, `loss fell only from ${first} to ${last}`);

  const p = progress[steps - 1];
  assert.equal(p.backend, 'wasm');
  assert.equal(p.step, steps);
  assert.equal(p.lossQuartiles.length, 4);
  assert.ok(p.mse! > 0 && p.vb! > 0 && p.gradNorm > 0 && p.imagesPerSec > 0);
  assert.ok(p.importance && p.importance.warmedUp === false && Math.abs(p.importance.pMax - 1e-3) < 1e-9, 'uniform until warmed up');

  const sample = events.find((e) => e.type === 'sample');
  assert.ok(sample && sample.type === 'sample' && sample.png.subarray(1, 4).toString() === 'PNG', 'a PNG preview');
  const ckpts = events.filter((e) => e.type === 'checkpoint');
  assert.deepEqual(ckpts.map((e) => (e as { step: number }).step), [steps], 'one final checkpoint');
  assert.equal(events[events.length - 1].type, 'done');

  const ckpt = store.loadCheckpoint('tiny-mnist');
  assert.equal(ckpt.step, steps);
  assert.deepEqual(ckpt.spec.unetConfig, { ...unetConfigFor(pipelineFor('x').unet) });
  assert.equal(ckpt.spec.train?.batchSize, 8);
  assert.equal(store.readLog('tiny-mnist').length, steps);
});

test('bad arguments are refused with errors that name the setting', () => {
  const store = tmpStore();
  const ok: TrainOptions = { dataset: { kind: 'mnist' }, batchSize: 4 };
  const make = (name: string, options: TrainOptions, pipeline = pipelineFor(name)): TrainingJob => new TrainingJob({ name, pipeline, options, store });
  assert.throws(() => make('m', { ...ok, batchSize: 0 }), /batchSize: must be between 1 and/);
  assert.throws(() => make('m', { ...ok, batchSize: 2.5 }), /batchSize: must be a whole number/);
  assert.throws(() => make('m', { ...ok, lr: -1e-4 }), /lr: must be greater than 0/);
  assert.throws(() => make('m', { ...ok, dataset: { kind: 'cifar10' as 'mnist' } }), /dataset.kind: must be one of mnist, fashion-mnist, folder, images/);
  assert.throws(() => make('../x', ok), /model: must be 1-64 letters.* not "..\/x"/);
  assert.throws(() => make('m', ok, { ...pipelineFor('m'), loss: undefined } as unknown as CompletePipeline), /missing loss/);
  assert.throws(() => make('m', ok, pipelineFor('other')), /unet.model: is "other" but the run is for model "m"/);
  assert.throws(() => make('m', ok, pipelineFor('m', { config: { channelMults: [1] } as never })), /unknown settings channelMults/);
  assert.doesNotThrow(() => make('m', ok));
});

test('a dataset the model cannot use fails the job with a clear error', async () => {
  await initBackend('wasm');
  const { job, events } = await runJob('cond', pipelineFor('cond', { config: SMALL, numClasses: 10 }), {
    dataset: { kind: 'images', images: { shape: [2, 8, 8, 1], data: new Float32Array(128) } }, batchSize: 2, maxSteps: 1,
  }, tmpStore());
  assert.equal(job.status().state, 'failed');
  assert.match(job.status().error!, /class-conditional \(10 classes\) but the dataset .* has no labels/);
  assert.equal(events[events.length - 1].type, 'error');
});

test('a NaN loss stops the run with a clear error and never reaches a checkpoint', async () => {
  await initBackend('wasm');
  const store = tmpStore();
  // Corrupt the model right after the step-2 checkpoint, the way a diverging run would: step 3's loss is NaN.
  const nextStep = Trainer.prototype.nextStep;
  Trainer.prototype.nextStep = function (this: Trainer) {
    if (this.step === 2) tf.tidy(() => this.unet.variable('out.2.bias').assign(tf.fill([2], NaN)));
    return nextStep.call(this);
  };
  const { job, events } = await runJob('nan', pipelineFor('nan', { config: SMALL }), {
    dataset: { kind: 'mnist', limit: 64 }, batchSize: 4, maxSteps: 10, logEvery: 1, checkpointEvery: 2,
  }, store).finally(() => (Trainer.prototype.nextStep = nextStep));
  const status = job.status();
  assert.equal(status.state, 'failed');
  assert.match(status.error!, /^loss became NaN at step 3\b/);
  const last = events[events.length - 1];
  assert.ok(last.type === 'error' && /NaN at step 3/.test(last.message));
  assert.equal(events.filter((e) => e.type === 'checkpoint').length, 1);
  const ckpt = store.loadCheckpoint('nan', { training: true });
  assert.equal(ckpt.step, 2);
  for (const dict of [ckpt.weights, ckpt.ema, ckpt.optimizer!.moments]) {
    for (const [k, t] of dict) assert.ok((t.data as Float32Array).every(Number.isFinite), `${k} is not finite`);
  }
  assert.ok(store.readLog('nan').every((e) => Number.isFinite(e.loss as number)), 'no NaN in the log');
});

test('pause, resume and stop act at step boundaries; stop writes a final checkpoint', async () => {
  await initBackend('wasm');
  const store = tmpStore();
  let pausedAt = -1;
  let stepWhilePaused = -1;
  const { job, events } = await runJob('ctl', pipelineFor('ctl', { config: SMALL }), {
    dataset: { kind: 'mnist', limit: 64 }, batchSize: 2, maxSteps: 0, logEvery: 1, checkpointEvery: 0,
  }, store, (ev, j) => {
    if (ev.type !== 'progress') return;
    if (ev.payload.step === 2) {
      j.pause();
      pausedAt = 2;
      setTimeout(() => {
        stepWhilePaused = j.status().step;
        assert.equal(j.status().state, 'paused');
        j.resume();
      }, 100);
    }
    if (ev.payload.step === 4) void j.stop();
  });
  assert.equal(pausedAt, 2);
  assert.equal(stepWhilePaused, 2, 'no step ran while paused');
  assert.equal(job.status().state, 'stopped');
  assert.equal(job.status().step, 4);
  assert.equal(store.readSpec('ctl').step, 4);
  const done = events[events.length - 1];
  assert.ok(done.type === 'done' && done.status.state === 'stopped');
});
