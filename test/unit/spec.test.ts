/**
 * engine/spec, the one vocabulary: validators return coerced values with the defaults filled in, the limits are
 * the same for the nodes and the engine, typed arrays are recognised across realms, errors default to INTERNAL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import {
  checkTimesteps, EngineError, InvalidValue, LIMITS, LOSS_KINDS, SCHEDULE_DEFAULTS, TRAIN_DEFAULTS, checkImageInput, checkPipeline,
  checkSampleRequest, checkTrainOptions, codeOf, describeIssue, parseRespacing, respacingText, shown,
} from '../../engine/spec';
import { checkField, FIELDS } from '../../nodes/shared/rules';

test('checkTrainOptions coerces what library callers and flows send, and fills the real defaults', () => {
  const o = checkTrainOptions({ dataset: { kind: 'mnist' }, batchSize: '4', lr: '2e-4', resume: 'false' });
  assert.equal(o.batchSize, 4);
  assert.equal(typeof o.batchSize, 'number');
  assert.equal(o.lr, 2e-4);
  assert.equal(o.resume, false);
  assert.equal(o.logEvery, TRAIN_DEFAULTS.logEvery);
  assert.equal(o.emaRate, TRAIN_DEFAULTS.emaRate);
  assert.deepEqual(o.dataset, { kind: 'mnist', split: 'train' });
  assert.throws(() => checkTrainOptions({ dataset: { kind: 'mnist' }, batchsize: 4 }), /has unknown settings batchsize/);
});

test('two descriptions of one process compare equal once checked', () => {
  const short = { schedule: { kind: 'cosine' }, noiser: { modelMeanType: 'epsilon' }, unet: { model: 'm' }, loss: { kind: 'hybrid' }, timesteps: { kind: 'importance' } };
  const long = {
    schedule: { ...SCHEDULE_DEFAULTS }, noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true },
    unet: { model: 'm', preset: 'tiny', modelVarType: 'learned_range', numClasses: null },
    loss: { kind: 'hybrid', lambda: 0.001 }, timesteps: { kind: 'importance', history: '10', uniformProb: 0.001 },
  };
  assert.deepEqual(checkPipeline(short), checkPipeline(long));
  assert.throws(() => checkPipeline({ ...short, loss: undefined }), /pipeline: the pipeline is incomplete: missing loss/);
  assert.throws(() => checkPipeline({ ...short, schedule: { kind: 'linear', steps: 10 } }), /schedule.steps: a linear schedule needs at least 20 steps/);
});

test('timesteps: uniform unless importance sampling is asked for (the paper samples t uniformly for L_hybrid)', () => {
  assert.deepEqual(checkTimesteps({}), { kind: 'uniform' });
  assert.deepEqual(checkTimesteps({ kind: 'importance' }), { kind: 'importance', history: 10, uniformProb: 0.001 });
});

test('sampling requests: steps parsed once, seed left absent (the engine draws one), unknown fields refused', () => {
  const r = checkSampleRequest({ model: 'demo', count: '4', steps: 'ddim25' });
  assert.equal(r.count, 4);
  assert.deepEqual(r.steps, { kind: 'ddim', steps: 25 });
  assert.equal(r.seed, undefined);
  assert.equal(r.method, 'ancestral');
  assert.throws(() => checkSampleRequest({ model: 'demo', colour: 'red' }), /has unknown settings colour/);
  assert.throws(() => checkSampleRequest({ model: 'demo', eta: 1.5 }), /eta: must be between 0 and 1, not 1.5/);
  assert.throws(() => checkSampleRequest({ model: '../x' }), (e: EngineError) => e.code === 'BAD_REQUEST' && /model: must be 1-64 letters/.test(e.message));
});

test('respacing: one parser for numbers, ddimN and section counts, and back to the reference\'s text', () => {
  for (const [v, text] of [[50, '50'], ['50', '50'], ['ddim25', 'ddim25'], [' 10, 15,20 ', '10,15,20']] as const) {
    const r = parseRespacing(v);
    assert.ok(r, String(v));
    assert.equal(respacingText(r), text);
  }
  for (const bad of ['', 'ddim', 'ddim0', '0', '10,,2', 2.5, -3, 'fast', {}, null]) assert.equal(parseRespacing(bad), undefined, String(bad));
});

test('the nodes and the engine share every limit: seeds, η, λ, counts', () => {
  const node = (type: keyof typeof FIELDS, field: string, v: unknown): boolean => checkField(type, field as never, v).ok;
  const engineSeed = (s: number): boolean => {
    try {
      checkSampleRequest({ model: 'm', seed: s });
      return true;
    } catch {
      return false;
    }
  };
  for (const s of [0, LIMITS.seed.max, LIMITS.seed.max + 1, -1]) assert.equal(node('iddpm-sampler', 'seed', s), engineSeed(s), `seed ${s}`);
  for (const type of ['iddpm-trainer', 'iddpm-noiser'] as const) assert.equal(node(type, 'seed', LIMITS.seed.max), true);
  assert.equal(node('iddpm-sampler', 'eta', LIMITS.eta.max), true);
  assert.equal(node('iddpm-sampler', 'eta', LIMITS.eta.max + 0.1), false);
  assert.equal(node('iddpm-hybrid-loss', 'lambda', LIMITS.lambda.max + 1), false);
  assert.equal(node('iddpm-unet', 'model', 'a..b'), false, 'no ".." in names, for nodes and engine alike');
  assert.throws(() => checkSampleRequest({ model: 'a..b' }), /model: must be/);
  // Every objective the reference trains (its LossType: MSE, RESCALED_MSE, KL, RESCALED_KL) has a name in our one list.
  for (const kind of ['mse', 'hybrid', 'kl', 'rescaled-kl']) assert.ok((LOSS_KINDS as readonly string[]).includes(kind), kind);
});

test('typed arrays from another realm (a Function node) are accepted; odd values are named plainly', () => {
  const foreign = runInNewContext('new Float32Array([0, 0.5, -0.5, 1])') as Float32Array;
  assert.equal(foreign instanceof Float32Array, false, 'it really is another realm\'s');
  const images = checkImageInput('msg.payload', { shape: [1, 2, 2, 1], data: foreign });
  assert.deepEqual(Array.from((images as { data: Float32Array }).data), [0, 0.5, -0.5, 1]);
  const png = runInNewContext('new Uint8Array([0x89, 0x50, 0x4e, 0x47])') as Uint8Array;
  assert.equal(checkImageInput('msg.payload', png), png);
  assert.equal(shown({}), 'an object');
  assert.equal(describeIssue('msg.count', { key: 'notNumber', params: { got: shown({}) } }), 'msg.count: must be a number, not an object');
  assert.throws(() => checkImageInput('msg.payload', { shape: '1,2,2,1', data: foreign }), /msg.payload: .*shape must be \[N, H, W, C\], not "1,2,2,1"/);
});

test('errors: INTERNAL unless a user mistake says otherwise', () => {
  assert.equal(new EngineError('boom').code, 'INTERNAL');
  assert.equal(codeOf(new Error('boom')), 'INTERNAL');
  assert.equal(codeOf(new InvalidValue('count', { key: 'required' })), 'BAD_REQUEST');
  assert.equal(codeOf({ code: 'NOT_FOUND' }), 'NOT_FOUND');
  assert.equal(codeOf({ code: 'WHATEVER' }), 'INTERNAL');
});
