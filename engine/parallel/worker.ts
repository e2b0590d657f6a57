/**
 * Entry of an engine worker thread: its own wasm backend (with our wasm kernels), training replicas that compute
 * the gradients of their shard of each batch, and UNets that sample or evaluate their share of a request.
 */
import { parentPort } from 'node:worker_threads';
import { tf } from '../tf';
import { initBackend } from '../backend';
import type { GaussianDiffusion } from '../diffusion';
import { trainingDiffusion } from '../train/pipeline';
import { shardGradients, type ShardContext } from '../train/trainer';
import { UNet } from '../unet/model';
import type { UNetConfig } from '../unet/config';
import { copyValues, loadVariables, parameterViews } from './weights';
import { sampleImages } from './sample-images';
import type { ShardReply, SharedWeights, WorkerReply, WorkerRequest } from './protocol';
import { matmulGflops } from './peak';
import { bpdShare } from './bpd';

interface Replica {
  ctx: ShardContext;
  weights: Float32Array[];
  grads: Float32Array[];
}

const replicas = new Map<string, Replica>();

/** Sampling/evaluation UNets by config (weights are loaded per request), the most recent first. */
let models: Array<{ key: string; unet: UNet; snapshot?: number }> = [];
const MODELS_KEPT = 2;

/** Requests that use the shared sampling UNets run one after another (they await between steps). */
let modelChain: Promise<unknown> = Promise.resolve();

function modelFor(w: SharedWeights): UNet {
  let entry = models.find((m) => m.key === w.key);
  if (!entry) {
    entry = { key: w.key, unet: UNet.create(w.config as UNetConfig, 0) };
    for (const old of models.splice(MODELS_KEPT - 1)) old.unet.dispose();
  }
  models = [entry, ...models.filter((m) => m !== entry)];
  if (entry.snapshot !== w.snapshot) {
    const vars = entry.unet.trainableVariables();
    loadVariables(vars, parameterViews(w.buffer, vars));
    entry.snapshot = w.snapshot;
  }
  return entry.unet;
}

function trainShard(req: Extract<WorkerRequest, { op: 'trainShard' }>): ShardReply {
  const r = replicas.get(req.job);
  if (!r) throw new Error(`No training replica "${req.job}" in this worker`);
  loadVariables(r.ctx.params, r.weights);
  const result = shardGradients(r.ctx, req.batch, req.shard);
  const hasGrad = result.grads.map((g, i) => {
    if (!g) return false;
    copyValues(g, r.grads[i]);
    g.dispose();
    return true;
  });
  return { objective: result.objective, losses: result.losses, seen: result.seen, hasGrad };
}

function freeReplica(job: string): void {
  const r = replicas.get(job);
  if (!r) return;
  r.ctx.unet.dispose();
  r.ctx.diffusion.dispose();
  replicas.delete(job);
}

async function handle(req: WorkerRequest, emit: (event: unknown) => void): Promise<unknown> {
  switch (req.op) {
    case 'trainInit': {
      freeReplica(req.job);
      const unet = UNet.create(req.config, req.seed);
      const params = unet.trainableVariables();
      const diffusion: GaussianDiffusion = trainingDiffusion(req.pipeline);
      replicas.set(req.job, {
        ctx: { unet, params, diffusion, config: req.config, seed: req.seed, batchSize: req.batchSize },
        weights: parameterViews(req.weights, params),
        grads: parameterViews(req.grads, params),
      });
      return null;
    }
    case 'trainShard': {
      const reply = trainShard(req);
      return reply;
    }
    case 'trainFree':
      freeReplica(req.job);
      return null;
    case 'sample': {
      const run = modelChain.then(() => sampleImages(modelFor(req.model), req, emit));
      modelChain = run.catch(() => undefined);
      return run;
    }
    case 'bpd': {
      const run = modelChain.then(() => bpdShare(modelFor(req.model), req, emit));
      modelChain = run.catch(() => undefined);
      return run;
    }
    case 'matmulPeak':
      return matmulGflops(req.size, req.runs);
    case 'forward': {
      const run = modelChain.then(() => {
        const out = tf.tidy(() => modelFor(req.model).apply(tf.tensor4d(req.x, req.shape), tf.tensor1d(req.t), undefined, { training: false }));
        const data = out.dataSync() as Float32Array;
        out.dispose();
        return data;
      });
      modelChain = run.catch(() => undefined);
      return run;
    }
  }
}

/** Typed arrays in a reply move to the main thread instead of being copied. */
function transferables(value: unknown): ArrayBuffer[] {
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer) return [value.buffer];
  if (value && typeof value === 'object') return Object.values(value).flatMap(transferables);
  return [];
}

const port = parentPort!;
const ready = initBackend('wasm');
port.on('message', ({ id, msg }: { id: number; msg: WorkerRequest }) => {
  const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);
  ready
    .then(() => handle(msg, (event) => post({ id, event })))
    .then((result) => post({ id, ok: true, result }, [...new Set(transferables(result))]))
    .catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      post({ id, ok: false, error: { message: e.message, name: e.name } });
    });
});
