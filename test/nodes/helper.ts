/**
 * node-red-node-test-helper on a real Node-RED 4.1 runtime, loading the IDDPM nodes from their TypeScript sources,
 * with the settings the nodes read (models folder, wasm backend) in a fresh temp folder.
 */
import helper from 'node-red-node-test-helper';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { EngineClient } from '../../engine/host/client';
import type { TrainEvent } from '../../engine/host/protocol';
import type { CompletePipeline } from '../../engine/spec';
import type { NodeMessage, NodeStatus } from '../../nodes/shared/red';
import { engineSettings } from '../../nodes/shared/engine';

helper.init(require.resolve('node-red'));

export const userDir = mkdtempSync(join(tmpdir(), 'iddpm-nodes-'));
export const modelsDir = join(userDir, 'iddpm', 'models');
const settings = { userDir, iddpmBackend: 'wasm' };
helper.settings(settings);
/** The settings of the engine the nodes share (a test's own client with them is the same client). */
export const ENGINE_SETTINGS = engineSettings({ settings });

type NodeModule = (red: unknown) => void;
const load = (name: string): NodeModule => (require(`../../nodes/${name}/${name}`) as { default: NodeModule }).default;

export const NODES = {
  shared: (require('../../nodes/shared/iddpm-shared') as { default: NodeModule }).default,
  schedule: load('iddpm-schedule'),
  noiser: load('iddpm-noiser'),
  unet: load('iddpm-unet'),
  loss: load('iddpm-hybrid-loss'),
  timesteps: load('iddpm-importance-sampler'),
  trainer: load('iddpm-trainer'),
  sampler: load('iddpm-sampler'),
  import: load('iddpm-import'),
};
export const ALL_NODES = Object.values(NODES);

export { helper };

/** What a test sees of a node: input, the messages it was sent, and its status calls. */
export interface TestNode {
  receive(msg: NodeMessage): void;
  on(event: string, fn: (arg: never) => void): void;
  status: { getCalls(): Array<{ thisValue: unknown; args: [NodeStatus] }> };
}

export function node(id: string): TestNode {
  const n = helper.getNode(id) as unknown as TestNode;
  if (!n) throw new Error(`no node ${id}`);
  return n;
}

/** Every status this node has shown (the helper spies on Node.prototype.status). */
export function statuses(id: string): NodeStatus[] {
  const n = node(id);
  return n.status.getCalls().filter((c) => c.thisValue === n).map((c) => c.args[0]);
}
export const lastStatus = (id: string): NodeStatus | undefined => statuses(id).at(-1);

/** The next message a node receives, or a rejection after `ms`. */
export function nextMessage(id: string, ms = 10_000, filter: (m: NodeMessage) => boolean = () => true): Promise<NodeMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message at ${id} within ${ms} ms`)), ms);
    const handler = (m: NodeMessage): void => {
      if (!filter(m)) return;
      clearTimeout(timer);
      resolve(m);
    };
    node(id).on('input', handler as never);
  });
}

/** A Catch node (all errors) wired to a helper node `id`. */
export function catcher(id = 'caught'): Array<Record<string, unknown>> {
  return [
    { id: 'catch1', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [[id]] },
    { id, type: 'helper', z: 'f1' },
  ];
}

/** What a Catch node reports as msg.error. */
export interface Caught {
  message: string;
  code?: string;
  source?: { id: string; type: string };
  stack?: string;
}

/** The next error a Catch node reports (msg.error). */
export async function nextCaught(send: () => void, id = 'caught', ms = 10_000): Promise<Caught> {
  const p = nextMessage(id, ms);
  send();
  return (await p).error as Caught;
}

/** The next error a Catch node reports, as msg.error.message. */
export async function nextError(send: () => void, id = 'caught', ms = 10_000): Promise<string> {
  return String((await nextCaught(send, id, ms)).message);
}

/** A Sampler `n1` of `model` with `config` over its test defaults → helper `out`, and a Catch. */
export async function loadSampler(model: string, config: Record<string, unknown>): Promise<void> {
  await helper.load(ALL_NODES, [
    { id: 'f1', type: 'tab' },
    {
      id: 'n1', type: 'iddpm-sampler', z: 'f1', model, count: 2, steps: '', method: 'ancestral', eta: 0, class: '', seed: '',
      format: 'grid', columns: 0, ...config, wires: [['out']],
    },
    { id: 'out', type: 'helper', z: 'f1' },
    ...catcher(),
  ]);
}

/** Sends msg to n1 and returns what comes out at `out`. */
export async function through(msg: NodeMessage, ms = 30_000): Promise<NodeMessage> {
  const p = nextMessage('out', ms);
  node('n1').receive(msg);
  return p;
}

/**
 * Trains `name` for one step on 8 MNIST digits (cosine T, learned_range, hybrid loss, uniform t) with the given
 * custom UNet config, so a Sampler has a stored model to work from.
 */
export async function trainTestModel(
  engine: EngineClient, name: string, config: Record<string, unknown>, numClasses: number | null, T: number,
): Promise<void> {
  const pipeline: CompletePipeline = {
    schedule: { kind: 'cosine', steps: T },
    noiser: { modelMeanType: 'epsilon' },
    unet: { model: name, preset: 'custom', config, modelVarType: 'learned_range', numClasses },
    loss: { kind: 'hybrid', lambda: 0.001 },
    timesteps: { kind: 'uniform' },
  };
  const finished = new Promise<TrainEvent>((resolve) => engine.on('train', (ev: TrainEvent) => ev.name === name && (ev.type === 'done' || ev.type === 'error') && resolve(ev)));
  // The client keeps the process alive only while a request is in flight; a training run is not one.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    await engine.train(name, pipeline, { dataset: { kind: 'mnist', limit: 8 }, batchSize: 2, maxSteps: 1, checkpointEvery: 0, seed: 1 });
    const ev = await finished;
    assert.equal(ev.type, 'done', ev.type === 'error' ? ev.message : '');
  } finally {
    clearInterval(keepAlive);
  }
}
