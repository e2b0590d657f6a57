/**
 * The five component nodes on a real Node-RED runtime: each one's part of msg.iddpm from its settings, its msg
 * overrides, replacement of a part already present (said in the status), and refusals that reach a Catch node.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_NODES, catcher, helper, lastStatus, nextCaught, nextError, nextMessage, node, statuses } from './helper';
import type { NodeMessage } from '../../nodes/shared/red';

before(() => helper.startServer());
after(() => helper.stopServer());
afterEach(() => helper.unload());

/** One node `n1` of `type` with `config`, wired to helper `out`, plus a Catch. */
async function loadOne(type: string, config: Record<string, unknown> = {}): Promise<void> {
  await helper.load(ALL_NODES, [
    { id: 'f1', type: 'tab' },
    { id: 'n1', type, z: 'f1', name: '', ...config, wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' },
    ...catcher(),
  ]);
}

/** Sends msg to n1 and returns what comes out. */
async function through(msg: NodeMessage): Promise<NodeMessage> {
  const p = nextMessage('out');
  node('n1').receive(msg);
  return p;
}

const refusal = (msg: NodeMessage): Promise<string> => nextError(() => node('n1').receive(msg));

const SCHEDULE = { kind: 'cosine', steps: 1000, cosineS: 0.008, maxBeta: 0.999 };

describe('Schedule', () => {
  test('puts the configured schedule into msg.iddpm and shows it', async () => {
    await loadOne('iddpm-schedule', SCHEDULE);
    const out = await through({ payload: 1 });
    assert.deepEqual(out.iddpm, { schedule: SCHEDULE });
    assert.equal(out.payload, 1);
    assert.deepEqual(lastStatus('n1'), { fill: 'green', shape: 'dot', text: 'cosine · T=1000' });
  });

  test('msg.schedule and msg.steps override the settings', async () => {
    await loadOne('iddpm-schedule', SCHEDULE);
    assert.deepEqual((await through({ schedule: 'linear', steps: 500 })).iddpm, { schedule: { kind: 'linear', steps: 500 } });
    assert.deepEqual((await through({ schedule: { steps: 50, cosineS: 0.01 } })).iddpm?.schedule, { kind: 'cosine', steps: 50, cosineS: 0.01, maxBeta: 0.999 });
    // Numbers typed as decimal text (an HTTP query, the editor) are accepted.
    assert.equal((await through({ steps: '250' })).iddpm?.schedule?.steps, 250);
  });

  test('replaces a schedule already in the pipeline, keeps the other parts, and says so', async () => {
    await loadOne('iddpm-schedule', SCHEDULE);
    const loss = { kind: 'simple', lambda: 0.001 };
    const out = await through({ iddpm: { schedule: { kind: 'linear', steps: 20 }, loss } as never });
    assert.deepEqual(out.iddpm, { schedule: SCHEDULE, loss });
    assert.deepEqual(lastStatus('n1'), { fill: 'yellow', shape: 'ring', text: 'replaced schedule: cosine · T=1000' });
  });

  test('bad overrides are refused with a reason, reaching Catch, status red', async () => {
    await loadOne('iddpm-schedule', SCHEDULE);
    assert.equal(await refusal({ steps: 'many' }), 'msg.steps: must be a number, not "many"');
    assert.equal(await refusal({ steps: NaN }), 'msg.steps: must be a number, not NaN');
    assert.equal(await refusal({ steps: '0x10' }), 'msg.steps: must be a number, not "0x10"');
    assert.equal(await refusal({ steps: 12.5 }), 'msg.steps: must be a whole number, not 12.5');
    assert.equal(await refusal({ steps: 1e9 }), 'msg.steps: must be between 2 and 100000, not 1000000000');
    assert.equal(await refusal({ schedule: 'quadratic' }), 'msg.kind: must be one of linear, cosine, not "quadratic"');
    assert.equal(await refusal({ schedule: 7 }), 'msg.schedule: must be an object, not 7');
    assert.match(await refusal({ schedule: 'linear', steps: 10 }), /^steps: a linear schedule needs at least 20 steps/);
    assert.equal(await refusal({ iddpm: 'all' as never }), 'msg.iddpm must be an object holding the pipeline parts, not "all"');
    assert.equal(lastStatus('n1')?.fill, 'red');
  });

  test('Catch gets the reason alone as msg.error.message and BAD_REQUEST as msg.error.code', async () => {
    await loadOne('iddpm-schedule', SCHEDULE);
    const error = await nextCaught(() => node('n1').receive({ steps: 'many' }));
    // Node-RED makes msg.error.message String(err): no "Error: " in front of the reason.
    assert.equal(error.message, 'msg.steps: must be a number, not "many"');
    assert.equal(error.code, 'BAD_REQUEST');
    assert.deepEqual([error.source?.id, error.source?.type], ['n1', 'iddpm-schedule']);
    assert.equal(error.stack, undefined, 'no stack of the nodes\' own code in a refusal');
  });

  test('a bad setting shows at deploy and refuses every message', async () => {
    await loadOne('iddpm-schedule', { ...SCHEDULE, maxBeta: 1.5 });
    assert.deepEqual(statuses('n1')[0], { fill: 'red', shape: 'ring', text: 'maxBeta: must be greater than 0 and at most 1, not 1.5' });
    assert.match(await refusal({}), /^maxBeta: must be greater than 0/);
  });
});

describe('Noiser', () => {
  test('settings, overrides and refusals', async () => {
    await loadOne('iddpm-noiser', { modelMeanType: 'epsilon', rescaleTimesteps: true });
    assert.deepEqual((await through({})).iddpm, { noiser: { modelMeanType: 'epsilon', rescaleTimesteps: true } });
    assert.equal(lastStatus('n1')?.text, 'predicts epsilon · t rescaled');
    assert.deepEqual((await through({ modelMeanType: 'start_x', rescaleTimesteps: false })).iddpm?.noiser, { modelMeanType: 'start_x', rescaleTimesteps: false });
    assert.equal(await refusal({ modelMeanType: 'v' }), 'msg.modelMeanType: must be one of epsilon, start_x, not "v"');
    assert.equal(await refusal({ rescaleTimesteps: 'yes' }), 'msg.rescaleTimesteps: must be true or false, not "yes"');
  });

  test('msg.t with a payload that is not images is refused; without msg.t anything passes through as a pipeline message', async () => {
    await loadOne('iddpm-noiser', { modelMeanType: 'epsilon', rescaleTimesteps: true });
    assert.match(await nextError(() => node('n1').receive({ payload: 'hello', t: 5 })), /^msg\.t asks for noised images, but msg\.payload holds no images \("hello"\)/);
    const out = await through({ payload: 'hello' });
    assert.equal(out.payload, 'hello');
    assert.ok(out.iddpm?.noiser);
    const images = { shape: [1, 2, 2, 1], data: new Float32Array(4) };
    const training = await through({ payload: images });
    assert.equal(training.payload, images);
    assert.ok(training.iddpm?.noiser);
  });
});

describe('UNet', () => {
  const UNET = { model: 'digits', preset: 'tiny', modelVarType: 'learned_range', classConditional: false, numClasses: 10 };
  test('a preset, msg.model / msg.preset / msg.modelVarType overrides, class conditioning', async () => {
    await loadOne('iddpm-unet', UNET);
    assert.deepEqual((await through({})).iddpm, { unet: { model: 'digits', preset: 'tiny', modelVarType: 'learned_range', numClasses: null } });
    assert.equal(lastStatus('n1')?.text, 'digits · tiny · learned_range');
    assert.deepEqual((await through({ model: 'faces.v2', preset: 'cifar', modelVarType: 'fixed_small' })).iddpm?.unet,
      { model: 'faces.v2', preset: 'cifar', modelVarType: 'fixed_small', numClasses: null });
  });

  test('custom architecture from the settings', async () => {
    await loadOne('iddpm-unet', {
      ...UNET, preset: 'custom', imageSize: '16', inChannels: '3', modelChannels: '48', channelMult: '1, 2,2',
      numResBlocks: 1, attentionResolutions: '', numHeads: 2, dropout: '0.1', classConditional: true, numClasses: '10',
    });
    assert.deepEqual((await through({})).iddpm?.unet, {
      model: 'digits', preset: 'custom', modelVarType: 'learned_range', numClasses: 10,
      config: { imageSize: 16, inChannels: 3, modelChannels: 48, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [], numHeads: 2, dropout: 0.1 },
    });
    assert.equal(lastStatus('n1')?.text, 'digits · custom · learned_range · 10 classes');
  });

  test('path-like names, unknown presets and bad architectures are refused', async () => {
    await loadOne('iddpm-unet', UNET);
    assert.match(await refusal({ model: '../etc/passwd' }), /^msg\.model: must be 1-64 letters, digits/);
    assert.match(await refusal({ model: 'a..b' }), /^msg\.model: must be 1-64 letters/);
    assert.match(await refusal({ model: 'my model' }), /^msg\.model: /);
    assert.match(await refusal({ model: 'x'.repeat(65) }), /^msg\.model: /);
    assert.match(await refusal({ model: 42 }), /^msg\.model: .*not 42$/);
    assert.equal(await refusal({ preset: 'huge' }), 'msg.preset: must be one of tiny, mnist, cifar, custom, not "huge"');
    await helper.unload();
    await loadOne('iddpm-unet', { ...UNET, preset: 'custom', imageSize: 32, inChannels: '1', modelChannels: 64, channelMult: '1,2,two', numResBlocks: 2, attentionResolutions: '16', numHeads: 4, dropout: 0 });
    assert.match(lastStatus('n1')?.text ?? '', /^channelMult: must be 1 to 6 whole numbers/);
  });
});

describe('HybridLoss', () => {
  test('settings, overrides and refusals', async () => {
    await loadOne('iddpm-hybrid-loss', { kind: 'hybrid', lambda: 0.001 });
    assert.deepEqual((await through({})).iddpm, { loss: { kind: 'hybrid', lambda: 0.001 } });
    assert.equal(lastStatus('n1')?.text, 'hybrid · λ=0.001');
    assert.deepEqual((await through({ loss: 'rescaled-kl', lambda: 0.01 })).iddpm?.loss, { kind: 'rescaled-kl', lambda: 0.01 });
    assert.equal(lastStatus('n1')?.text, 'rescaled-kl');
    assert.equal(await refusal({ loss: 'l1' }), 'msg.loss: must be one of hybrid, simple, kl, rescaled-kl, mse, not "l1"');
    assert.equal(await refusal({ lambda: -1 }), 'msg.lambda: must be between 0 and 1000, not -1');
    assert.equal(await refusal({ lambda: 'Infinity' }), 'msg.lambda: must be a number, not "Infinity"');
  });
});

describe('ImportanceSampler', () => {
  test('settings, overrides and refusals', async () => {
    await loadOne('iddpm-importance-sampler', { kind: 'importance', history: 10, uniformProb: 0.001 });
    assert.deepEqual((await through({})).iddpm, { timesteps: { kind: 'importance', history: 10, uniformProb: 0.001 } });
    assert.equal(lastStatus('n1')?.text, 'importance · history 10 · uniform 0.001');
    assert.deepEqual((await through({ timesteps: 'uniform' })).iddpm?.timesteps, { kind: 'uniform' });
    assert.deepEqual((await through({ history: 20, uniformProb: '0.01' })).iddpm?.timesteps, { kind: 'importance', history: 20, uniformProb: 0.01 });
    assert.equal(await refusal({ history: 0 }), 'msg.history: must be between 2 and 1000, not 0');
    assert.equal(await refusal({ uniformProb: [0.1] }), 'msg.uniformProb: must be a number, not an array of 1');
  });
});

describe('pipeline assembly', () => {
  test('the five components in a row build the whole pipeline', async () => {
    await helper.load(ALL_NODES, [
      { id: 'f1', type: 'tab' },
      { id: 's', type: 'iddpm-schedule', z: 'f1', ...SCHEDULE, wires: [['n']] },
      { id: 'n', type: 'iddpm-noiser', z: 'f1', modelMeanType: 'epsilon', rescaleTimesteps: true, wires: [['u']] },
      { id: 'u', type: 'iddpm-unet', z: 'f1', model: 'm', preset: 'tiny', modelVarType: 'learned_range', wires: [['l']] },
      { id: 'l', type: 'iddpm-hybrid-loss', z: 'f1', kind: 'hybrid', lambda: 0.001, wires: [['i']] },
      { id: 'i', type: 'iddpm-importance-sampler', z: 'f1', kind: 'importance', history: 10, uniformProb: 0.001, wires: [['out']] },
      { id: 'out', type: 'helper', z: 'f1' },
    ]);
    const p = nextMessage('out');
    node('s').receive({ payload: 'go' });
    const out = await p;
    assert.deepEqual(Object.keys(out.iddpm ?? {}), ['schedule', 'noiser', 'unet', 'loss', 'timesteps']);
    assert.deepEqual(out.iddpm?.unet, { model: 'm', preset: 'tiny', modelVarType: 'learned_range', numClasses: null });
  });
});
