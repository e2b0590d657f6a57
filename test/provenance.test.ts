/**
 * Provenance end to end in the engine service (in process, wasm): a request without a seed draws a fresh one and
 * says which; two seedless requests differ; every PNG carries what made it (model, its step, the digest of its
 * pipeline, sampler settings, seed, which images, package version); the service given such a PNG draws the
 * same bytes again — a grid, one PNG of `pngs`, a training preview — and refuses when the weights have moved on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineService } from '../engine/host/service';
import { readTextChunks, encodePng } from '../engine/image';
import { pipelineDigest } from '../engine/digest';
import { PROVENANCE_KEYWORD, type CompletePipeline, type EngineError, type Provenance } from '../engine/spec';
import type { JobStatus, SampleResult, TrainEvent } from '../engine/host/protocol';

const modelsDir = mkdtempSync(join(tmpdir(), 'iddpm-provenance-'));
const events: TrainEvent[] = [];
const service = new EngineService({ modelsDir, backend: 'wasm', broadcast: (ev) => events.push(ev) });
const version = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

const pipeline = (model: string): CompletePipeline => ({
  schedule: { kind: 'cosine', steps: 50 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model, preset: 'custom', config: { imageSize: 8, modelChannels: 32, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], numHeads: 2 }, modelVarType: 'learned_range', numClasses: null },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'uniform' },
});

async function train(model: string, maxSteps: number, extra: Record<string, unknown> = {}): Promise<JobStatus> {
  await service.train(model, pipeline(model), { dataset: { kind: 'mnist', limit: 16 }, batchSize: 4, maxSteps, checkpointEvery: 0, seed: 3, ...extra });
  for (;;) {
    const s = service.status(model);
    if (s && ['done', 'stopped', 'failed'].includes(s.state)) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const provenanceOf = (png: Buffer): Provenance => JSON.parse(readTextChunks(png).get(PROVENANCE_KEYWORD)!) as Provenance;
const sample = (request: Record<string, unknown>): Promise<SampleResult> => service.handle({ op: 'sample', request: { model: 'prov', ...request } as never }) as Promise<SampleResult>;

before(async () => {
  const s = await train('prov', 2, { sampleEvery: 2, sampleCount: 3 });
  assert.equal(s.state, 'done', s.error);
});

after(async () => {
  await service.shutdown();
  rmSync(modelsDir, { recursive: true, force: true });
});

test('no seed: a fresh random seed, reported; two seedless requests give different images', async () => {
  const a = await sample({ count: 2, steps: 5, method: 'ddim' });
  const b = await sample({ count: 2, steps: 5, method: 'ddim' });
  assert.ok(Number.isInteger(a.seed) && Number.isInteger(b.seed));
  assert.notEqual(a.seed, b.seed);
  assert.notDeepEqual(a.png, b.png);
  assert.equal(provenanceOf(a.png!).seed, a.seed);
  // The reported seed is the one that drew them: asking for it gives the same PNG.
  const again = await sample({ count: 2, steps: 5, method: 'ddim', seed: a.seed });
  assert.deepEqual(again.png, a.png);
});

test('a grid carries its model, step, pipeline digest, settings, seed, images and package version; it is drawn again bit for bit', async () => {
  const spec = service.modelSpec('prov');
  const grid = await sample({ count: 5, steps: 'ddim5', method: 'ddim', eta: 0.5, columns: 2, seed: 77 });
  const p = provenanceOf(grid.png!);
  assert.deepEqual(p, {
    format: 'iddpm-provenance/1', kind: 'sample', package: '@iddpm/node-red-iddpm', packageVersion: version,
    model: 'prov', modelStep: 2, pipelineDigest: pipelineDigest(spec.pipeline),
    sampler: { steps: 'ddim5', method: 'ddim', eta: 0.5, clipDenoised: true, ema: true, count: 5 },
    seed: 77, images: [0, 1, 2, 3, 4], output: 'grid', columns: 2,
  });
  assert.deepEqual(grid.provenance, p);
  const again = await service.regenerate(grid.png!);
  assert.ok(again.png!.equals(grid.png!), 'identical bytes');
});

test('one PNG of a pngs request is drawn again alone, bit for bit', async () => {
  const r = await sample({ count: 3, steps: 4, format: 'pngs' });
  assert.deepEqual(r.pngs!.map((png) => provenanceOf(png).images), [[0], [1], [2]]);
  const again = await service.regenerate(r.pngs![1]);
  assert.equal(again.format, 'pngs');
  assert.ok(again.png!.equals(r.pngs![1]), 'identical bytes');
  assert.ok(!again.png!.equals(r.pngs![0]));
});

test('a training preview carries its provenance and is drawn again from the stored weights of its step', async () => {
  const preview = events.find((e): e is Extract<TrainEvent, { type: 'sample' }> => e.type === 'sample' && e.name === 'prov');
  assert.ok(preview, 'a preview at step 2');
  const p = provenanceOf(preview.png);
  assert.equal(p.kind, 'preview');
  assert.equal(p.trainStep, 2);
  assert.deepEqual(p.sampler, { steps: '25', method: 'ancestral', eta: 0, clipDenoised: true, ema: true, count: 3 });
  assert.ok(preview.frames && preview.frames.length >= 4, 'x_t and x̂₀ frames');
  assert.equal(provenanceOf(preview.frames[0].xt).frame?.of, 'xt');
  const again = await service.regenerate(preview.png);
  assert.ok(again.png!.equals(preview.png), 'the Sampler draws the preview again from the checkpoint of its step');
  await assert.rejects(service.regenerate(preview.frames[0].predXstart), /a frame \(predXstart at t = \d+\)/);
});

test('refused: a PNG without provenance, not a PNG, and a model that has trained on since', async () => {
  const plain = await encodePng(new Float32Array(16), 4, 4, 1);
  const refused = async (p: Promise<unknown>, code: string, re: RegExp): Promise<void> => {
    await assert.rejects(p, (err: EngineError) => {
      assert.equal(err.code, code);
      assert.match(err.message, re);
      return true;
    });
  };
  await refused(service.handle({ op: 'regenerate', png: plain }), 'BAD_REQUEST', /^msg\.payload: cannot be made again: the PNG has no IDDPM provenance/);
  await refused(service.handle({ op: 'regenerate', png: Buffer.from('not a png') }), 'BAD_REQUEST', /not a readable PNG/);
  const old = await sample({ count: 2, steps: 3, seed: 5 });
  const s = await train('prov', 3);
  assert.equal(s.step, 3);
  await refused(service.handle({ op: 'regenerate', png: old.png! }), 'BAD_REQUEST', /drawn by model "prov" at step 2, and the model is now at step 3; set msg\.seed = 5/);
});
