/**
 * The `quality` field of evaluation and sampling requests (engine/spec): absent or false asks for nothing, true
 * for the defaults (64 samples, 100 respaced ancestral steps, seed 0), an object overrides field by field; every
 * refusal names the field under `quality`, and a sampling request's quality takes only the classifier's dataset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EngineError, LIMITS, QUALITY_DEFAULTS, checkEvaluateRequest, checkQualityRequest, checkSampleRequest, parseRespacing,
} from '../../engine/spec';

const base = { model: 'm', dataset: { kind: 'mnist' } };

/** The message of the BAD_REQUEST that `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    assert.equal(err.code, 'BAD_REQUEST');
    return err.message;
  }
  assert.fail('no refusal');
}

test('absent, false and "false" ask for no quality; true and "true" for the defaults', () => {
  for (const off of [undefined, null, false, 'false', '']) assert.equal(checkEvaluateRequest({ ...base, quality: off }).quality, undefined, String(off));
  const on = checkEvaluateRequest({ ...base, quality: true }).quality;
  assert.deepEqual(on, { count: 64, method: 'ancestral', eta: 0, seed: 0, batchSize: 16, steps: parseRespacing(100) });
  assert.deepEqual(checkEvaluateRequest({ ...base, quality: 'true' }).quality, on);
  assert.equal(QUALITY_DEFAULTS.count, 64);
});

test('an object overrides field by field, coerced as the editor stores values', () => {
  const q = checkEvaluateRequest({ ...base, quality: { count: '8', steps: 'ddim25', method: 'ddim', eta: '0.5', seed: 7, batchSize: 4, dataset: 'fashion-mnist' } }).quality;
  assert.deepEqual(q, { count: 8, steps: { kind: 'ddim', steps: 25 }, method: 'ddim', eta: 0.5, seed: 7, batchSize: 4, dataset: 'fashion-mnist' });
  const partial = checkEvaluateRequest({ ...base, quality: { count: 2 } }).quality;
  assert.equal(partial?.dataset, undefined, 'no dataset: the engine takes the evaluation\'s');
  assert.deepEqual(partial, { ...QUALITY_DEFAULTS, count: 2, steps: parseRespacing(100) });
});

test('refusals name the field under quality', () => {
  assert.match(refusal(() => checkEvaluateRequest({ ...base, quality: { count: 1 } })), new RegExp(`^quality\\.count: must be between ${LIMITS.qualityCount.min} and ${LIMITS.qualityCount.max}, not 1`));
  assert.match(refusal(() => checkEvaluateRequest({ ...base, quality: { count: 257 } })), /^quality\.count: /);
  assert.match(refusal(() => checkEvaluateRequest({ ...base, quality: { steps: 'fast' } })), /^quality\.steps: must be a number of steps/);
  assert.match(refusal(() => checkEvaluateRequest({ ...base, quality: { dataset: 'cifar10' } })), /^quality\.dataset: must be one of mnist, fashion-mnist/);
  assert.match(refusal(() => checkEvaluateRequest({ ...base, quality: { samples: 8 } })), /^quality: has unknown settings samples/);
  assert.match(refusal(() => checkEvaluateRequest({ ...base, quality: 3 })), /^quality: must be true or false, not 3/);
  assert.match(refusal(() => checkQualityRequest({ method: 'euler' }, 'msg.quality')), /^msg\.quality\.method: must be one of ancestral, ddim/);
});

test('a sampling request measures its own images: quality takes only the dataset', () => {
  assert.equal(checkSampleRequest({ model: 'm' }).quality, undefined);
  assert.deepEqual(checkSampleRequest({ model: 'm', quality: true }).quality, {});
  assert.deepEqual(checkSampleRequest({ model: 'm', quality: { dataset: 'mnist' } }).quality, { dataset: 'mnist' });
  assert.match(refusal(() => checkSampleRequest({ model: 'm', quality: { count: 8 } })), /^quality: has unknown settings count \(known: dataset\)/);
});
