/**
 * Data-parallel training steps: the main thread draws each step's batch, t, weights and noise as before; each
 * worker computes the gradient of Σ loss·w / B over a contiguous shard of the batch with a replica of the UNet;
 * the shards' gradients are summed in shard order (deterministic) and the trainer clips them and applies Adam
 * and the EMA to its own weights, which every replica loads before the next step. So the replicas are always
 * bit-identical to the main thread's weights, and checkpoints, resume and NaN handling stay the trainer's.
 */
import { tf } from '../tf';
import { microbatchFor } from '../train/microbatch';
import type { BatchGradients, GradientSource, Shard, StepBatch, Trainer } from '../train/trainer';
import type { WorkerPool } from './pool';
import type { ShardReply } from './protocol';
import { parameterViews, sharedBufferFor, storeVariables } from './weights';

let jobCounter = 0;

/**
 * Contiguous shards of a batch of B over `workers` threads (sizes differ by at most one; none when B < workers
 * leaves a thread idle), each with its microbatch size (the run's, or the automatic one for the shard) and the
 * number of its first microbatch among the step's, so dropout masks are numbered as in one thread.
 */
export function planShards(B: number, workers: number, microbatchFor: (size: number) => number): Shard[] {
  const shards: Shard[] = [];
  let microOffset = 0;
  for (let k = 0; k < workers; k++) {
    const start = Math.floor((k * B) / workers);
    const end = Math.floor(((k + 1) * B) / workers);
    if (end === start) continue;
    const microbatch = microbatchFor(end - start);
    shards.push({ start, end, microbatch, microOffset });
    microOffset += Math.ceil((end - start) / microbatch);
  }
  return shards;
}

/**
 * Σ over shards, in shard order, of the gradients they report, as one flat array in parameter order (zeros
 * where no shard reaches a parameter), and which parameters have a gradient.
 */
function sumShardGradients(views: Float32Array[][], replies: ShardReply[], total: number): { sum: Float32Array; hasGrad: boolean[] } {
  const sum = new Float32Array(total);
  let offset = 0;
  const hasGrad = views[0].map((view, i) => {
    let any = false;
    replies.forEach((r, k) => {
      if (!r.hasGrad[i]) return;
      const g = views[k][i];
      if (!any) sum.set(g, offset);
      else for (let j = 0, o = offset; j < g.length; j++, o++) sum[o] += g[j];
      any = true;
    });
    offset += view.length;
    return any;
  });
  return { sum, hasGrad };
}

export class ParallelGradients implements GradientSource {
  private readonly job = `job${++jobCounter}`;
  private readonly weightViews: Float32Array[];
  private readonly gradViews: Float32Array[][];
  private disposed = false;

  private constructor(
    private readonly pool: WorkerPool,
    private readonly trainer: Trainer,
    private readonly shards: Shard[],
    private readonly weights: SharedArrayBuffer,
    grads: SharedArrayBuffer[],
  ) {
    const vars = trainer.unet.trainableVariables();
    this.weightViews = parameterViews(weights, vars);
    this.gradViews = grads.map((g) => parameterViews(g, vars));
  }

  /** Builds a replica of the trainer's model on each worker that gets a shard of its batch. */
  static async start(pool: WorkerPool, trainer: Trainer): Promise<ParallelGradients> {
    const { options, config, pipeline } = trainer.parts;
    const B = options.batchSize;
    const shards = planShards(B, pool.size, (size) => microbatchFor(config, options.microbatch, size));
    const vars = trainer.unet.trainableVariables();
    const weights = sharedBufferFor(vars);
    const grads = shards.map(() => sharedBufferFor(vars));
    const source = new ParallelGradients(pool, trainer, shards, weights, grads);
    try {
      await Promise.all(shards.map((_, k) => pool.request(k, {
        op: 'trainInit', job: source.job, config, pipeline, seed: options.seed, batchSize: B, weights, grads: grads[k],
      })));
    } catch (err) {
      source.dispose();
      throw err;
    }
    return source;
  }

  /** How the batch is split between the threads. */
  get plan(): readonly Shard[] {
    return this.shards;
  }

  async gradients(batch: StepBatch): Promise<BatchGradients> {
    // The weights change every step (and on restore): the replicas load them with each shard.
    storeVariables(this.trainer.unet.trainableVariables(), this.weightViews);
    const replies = await Promise.all(this.shards.map((shard, k) => this.pool.request<ShardReply>(k, { op: 'trainShard', job: this.job, batch, shard })));
    const B = this.trainer.parts.options.batchSize;
    const losses = { loss: new Float32Array(B), mse: new Float32Array(B), vb: new Float32Array(B) };
    let objective = 0;
    replies.forEach((r, k) => {
      const { start, end } = this.shards[k];
      for (const key of ['loss', 'mse', 'vb'] as const) losses[key].set(r.losses[key].subarray(start, end), start);
      objective += r.objective;
    });
    const { sum, hasGrad } = sumShardGradients(this.gradViews, replies, this.weightViews.reduce((n, v) => n + v.length, 0));
    return {
      objective,
      losses,
      seen: { mse: replies.some((r) => r.seen.mse), vb: replies.some((r) => r.seen.vb) },
      grads: { flat: tf.tensor1d(sum), hasGrad },
    };
  }

  /** Frees the replicas (the pool itself belongs to whoever acquired it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.pool.usable) return;
    this.shards.forEach((_, k) => void this.pool.request(k, { op: 'trainFree', job: this.job }).catch(() => undefined));
  }
}
