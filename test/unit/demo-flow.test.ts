/**
 * The demo flow `npm start` deploys (examples/demo.json) and the model it serves (models/demo) must agree: its
 * "keep training" button resumes the shipped model only when the flow's components build exactly the stored
 * pipeline and UNet architecture (engine/run/job.ts refuses any difference), and it should continue with the
 * recipe the model was trained with (scripts/reference/demo.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkPipeline, type ModelSpec, type PipelineSpec } from '../../engine/spec';
import { unetConfigFor } from '../../engine/unet/presets';
import { buildSchedule } from '../../nodes/iddpm-schedule/iddpm-schedule';
import { buildNoiser } from '../../nodes/iddpm-noiser/iddpm-noiser';
import { buildUNet } from '../../nodes/iddpm-unet/iddpm-unet';
import { buildLoss } from '../../nodes/iddpm-hybrid-loss/iddpm-hybrid-loss';
import { buildTimesteps } from '../../nodes/iddpm-importance-sampler/iddpm-importance-sampler';
import { trainOptionsOf } from '../../nodes/iddpm-trainer/iddpm-trainer';
import type { NodeDef } from '../../nodes/shared/red';
import { DEMO_REFERENCE_PIPELINE, DEMO_REFERENCE_RECIPE } from '../../scripts/reference/demo';

const root = join(__dirname, '..', '..');
const flow = JSON.parse(readFileSync(join(root, 'examples', 'demo.json'), 'utf8')) as Array<NodeDef & { type: string }>;
const shipped = JSON.parse(readFileSync(join(root, 'models', 'demo', 'model.json'), 'utf8')) as ModelSpec;
const only = (type: string): NodeDef => {
  const nodes = flow.filter((n) => n.type === type);
  assert.equal(nodes.length, 1, `the demo flow has one ${type}`);
  return nodes[0];
};

/** The pipeline the flow's components put into msg.iddpm, in wiring order. */
function flowPipeline(): PipelineSpec {
  return {
    schedule: buildSchedule(only('iddpm-schedule'), undefined),
    noiser: buildNoiser(only('iddpm-noiser'), undefined),
    unet: buildUNet(only('iddpm-unet'), undefined),
    loss: buildLoss(only('iddpm-hybrid-loss'), undefined),
    timesteps: buildTimesteps(only('iddpm-importance-sampler'), undefined),
  };
}

test('the demo flow builds the shipped model\'s pipeline and UNet architecture, so "keep training" resumes it', () => {
  const built = checkPipeline(flowPipeline());
  assert.deepEqual(built, checkPipeline(shipped.pipeline));
  assert.deepEqual(unetConfigFor(built.unet), shipped.unetConfig);
  assert.equal(built.unet.model, shipped.name);
});

test('the shipped demo is the reference-trained, class-conditional one, and the flow trains on with its recipe', () => {
  assert.deepEqual(checkPipeline(shipped.pipeline), checkPipeline(DEMO_REFERENCE_PIPELINE));
  assert.equal(shipped.unetConfig.numClasses, 10);
  const source = shipped.source as { kind?: string; emaRate?: string } | undefined;
  assert.equal(source?.kind, 'improved-diffusion');
  assert.equal(source?.emaRate, DEMO_REFERENCE_RECIPE.ema_rate);
  const options = trainOptionsOf(only('iddpm-trainer'), {}, (key) => key);
  assert.equal(options.batchSize, DEMO_REFERENCE_RECIPE.batch_size);
  assert.equal(options.lr, DEMO_REFERENCE_RECIPE.lr);
  assert.equal(options.emaRate, Number(DEMO_REFERENCE_RECIPE.ema_rate));
  assert.equal(options.gradClip, 0, 'the reference does not clip gradients');
  assert.equal(options.resume, true);
  assert.deepEqual({ split: 'train', ...options.dataset }, { kind: 'mnist', split: 'train' }, 'MNIST training digits, as the reference run saw them');
});
