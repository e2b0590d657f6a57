/**
 * Where a worker's time goes: one thread, one shard of a training step (what each of the bench's 2 worker threads
 * computes: half of a batch of 16) and one evaluation pass on the same shard, profiled kernel by kernel with
 * tf.profile. Prints wall and CPU time per pass (median), the number of kernels dispatched, and the kernel time
 * grouped by kernel name, largest first; the main thread's update (Adam, EMA, norm) is timed apart.
 * Run: node --import tsx scripts/profile-step.ts [preset=tiny] [images=8] [runs=5]
 */
import { tf } from '../engine/tf';
import { initBackend } from '../engine/backend';
import { datasetFromImages } from '../engine/data';
import { Rng } from '../engine/rng';
import { Trainer, resolveTrainRequest, trainingDiffusion, unetConfigFor } from '../engine/train';
import { shardGradients, type StepBatch } from '../engine/train/trainer';
import type { CompletePipeline } from '../engine/spec';

const preset = (process.argv[2] ?? 'tiny') as 'tiny' | 'mnist';
const images = Number(process.argv[3] ?? 8);
const runs = Number(process.argv[4] ?? 5);
const B = 16;

const pipe: CompletePipeline = {
  schedule: { kind: 'cosine', steps: 1000 },
  noiser: { modelMeanType: 'epsilon' },
  unet: { model: 'p', preset, modelVarType: 'learned_range', numClasses: null },
  loss: { kind: 'hybrid', lambda: 0.001 },
  timesteps: { kind: 'importance' },
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function time(label: string, f: () => void, n = runs): void {
  f();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    f();
    wall.push(performance.now() - t0);
    cpu.push(cpuMs() - c0);
  }
  console.log(`${label.padEnd(36)} wall ${median(wall).toFixed(1).padStart(8)} ms   cpu ${median(cpu).toFixed(1).padStart(8)} ms   (wall ${wall.map((w) => w.toFixed(0)).join(' ')})`);
}

async function profile(label: string, f: () => void): Promise<void> {
  const info = await tf.profile(f);
  const byName = new Map<string, { ms: number; n: number }>();
  let total = 0;
  // tf.profile also lists the scopes of ops that call kernels (`fusedConv2d__op`, `unnamed scope`): skip them.
  for (const k of info.kernels.filter((e) => !e.name.endsWith('__op') && e.name !== 'unnamed scope')) {
    const ms = (await k.kernelTimeMs) as number;
    const e = byName.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n += 1;
    total += ms;
    byName.set(k.name, e);
  }
  const count = info.kernels.filter((e) => !e.name.endsWith('__op') && e.name !== 'unnamed scope').length;
  console.log(`\n${label}: ${count} kernels, ${total.toFixed(1)} ms kernel time, peak ${(info.peakBytes / 2 ** 20).toFixed(0)} MB`);
  for (const [name, e] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) {
    console.log(`  ${name.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  ${String(e.n).padStart(5)} calls`);
  }
  // IDDPM_PROFILE_SHAPES=BatchMatMul,Sum: the costliest calls of those kernels, with their shapes.
  const detail = (process.env.IDDPM_PROFILE_SHAPES ?? '').split(',').filter(Boolean);
  for (const name of detail) {
    const calls = await Promise.all(info.kernels.filter((k) => k.name === name).map(async (k) => ({ ms: (await k.kernelTimeMs) as number, shapes: JSON.stringify(k.inputShapes) })));
    const byShape = new Map<string, { ms: number; n: number }>();
    for (const c of calls) {
      const e = byShape.get(c.shapes) ?? { ms: 0, n: 0 };
      e.ms += c.ms;
      e.n += 1;
      byShape.set(c.shapes, e);
    }
    console.log(`  ${name} by input shapes:`);
    for (const [shapes, e] of [...byShape.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) console.log(`    ${e.ms.toFixed(1).padStart(7)} ms ${String(e.n).padStart(4)}×  ${shapes}`);
  }
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const config = unetConfigFor(pipe.unet);
  const rng = new Rng(7);
  const per = config.imageSize * config.imageSize * config.inChannels;
  const data = Float32Array.from({ length: 64 * per }, () => rng.next() * 2 - 1);
  const shape: [number, number, number, number] = [64, config.imageSize, config.imageSize, config.inChannels];
  const dataset = datasetFromImages({ shape, data });
  const { options } = resolveTrainRequest('p', pipe, { dataset: { kind: 'images', images: { shape, data } }, batchSize: B, seed: 1 });
  const trainer = new Trainer({ pipeline: pipe, config, options, diffusion: trainingDiffusion(pipe), dataset });
  const ctx = trainer.shardContext();
  const t = Int32Array.from({ length: B }, (_, i) => (i * 61) % 1000);
  const batch: StepBatch = { step: 0, x: data.subarray(0, B * per), t, weights: new Float32Array(B).fill(1), noise: rng.normalArray(B * per) };
  const shard = { start: 0, end: images, microbatch: Math.min(images, trainer.microbatch), microOffset: 0 };
  const train = (): void => tf.dispose(shardGradients(ctx, batch, shard).grads.filter((g): g is tf.Tensor => !!g));
  const x = tf.tensor4d(batch.noise.subarray(0, images * per), [images, config.imageSize, config.imageSize, config.inChannels]);
  const ts = tf.tensor1d(Array.from(t.subarray(0, images), (v) => v));
  const evaluate = (): void => tf.tidy(() => void trainer.ema.apply(x, ts).dataSync());

  console.log(`${preset}: ${images} images per pass, microbatch ${shard.microbatch}, one thread, ${trainer.unet.parameterCount()} parameters`);
  time('training shard (forward+backward)', train);
  time('evaluation pass', evaluate);
  time('whole step in this thread (B=16)', () => void trainer.runStep(), 3);
  await profile('training shard', train);
  await profile('evaluation pass', evaluate);
  x.dispose();
  ts.dispose();
  trainer.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
