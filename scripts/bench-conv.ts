/**
 * Benchmarks the wasm training kernels (engine/backend/wasm-kernels.ts).
 *   1. A 3x3 conv, 64→64 channels, batch 8, 32x32, forward + backward (gradients wrt input and filter), on wasm
 *      with our kernels vs the tfjs cpu backend, plus the stock wasm Conv2DBackpropInput vs ours.
 *   2. Attention-sized batchMatMul (batch·heads 32, T 256, head dim 64): q·kᵀ alone and the attention
 *      softmax(q·kᵀ/√d)·v forward + backward, with the stock wasm BatchMatMul and with ours.
 * Prints the median of several runs in ms (wall clock, and this process's CPU time, which other load on the
 * machine disturbs less) and the ratios.
 * Run: node --import tsx scripts/bench-conv.ts [runs=5] [cpuRuns=1]  (one cpu conv step takes over a minute)
 */
import { tf } from '../engine/tf';
import '../engine/backend';
import { registerWasmKernels } from '../engine/backend/wasm-kernels';

const runs = Number(process.argv[2] ?? 5);
const cpuRuns = Number(process.argv[3] ?? 1);

interface Timing { wall: number; cpu: number }

/** Median wall and CPU time of `fn` over `n` runs after an optional warm-up; every run reads its results back. */
function median(fn: () => tf.Tensor[], n = runs, warmUp = true): Timing {
  const once = (): Timing => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = fn();
    for (const t of out) t.dataSync();
    tf.dispose(out);
    const c = process.cpuUsage(c0);
    return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
  };
  if (warmUp) once();
  const ts = Array.from({ length: n }, once);
  const mid = (k: keyof Timing): number => ts.map((t) => t[k]).sort((a, b) => a - b)[Math.floor(n / 2)];
  return { wall: mid('wall'), cpu: mid('cpu') };
}

const fmt = (t: Timing): string => `${t.wall.toFixed(1).padStart(8)} ms (cpu ${t.cpu.toFixed(1).padStart(7)} ms)`;
const ratio = (a: Timing, b: Timing): string => `${(a.wall / b.wall).toFixed(1)}x, cpu ${(a.cpu / b.cpu).toFixed(1)}x`;

function convForwardBackward(x: tf.Tensor4D, w: tf.Tensor4D): () => tf.Tensor[] {
  const f = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').square().mean());
  return () => tf.tidy(() => f([x, w]));
}

function attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): () => tf.Tensor[] {
  const scale = 1 / Math.sqrt(q.shape[2] as number);
  const f = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.matMul(tf.softmax(tf.matMul(a, b, false, true).mul(scale)), c).square().mean());
  return () => tf.tidy(() => f([q, k, v]));
}

async function onBackend<T>(name: string, fn: () => T): Promise<T> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to start`);
  return fn();
}

async function main(): Promise<void> {
  const shapeX: [number, number, number, number] = [8, 32, 32, 64];
  const shapeW: [number, number, number, number] = [3, 3, 64, 64];
  const [b, t, d] = [32, 256, 64];
  const make = (): { x: tf.Tensor4D; w: tf.Tensor4D; dy: tf.Tensor4D; q: tf.Tensor; k: tf.Tensor; v: tf.Tensor } => ({
    x: tf.randomNormal(shapeX), w: tf.randomNormal(shapeW, 0, 0.05), dy: tf.randomNormal(shapeX),
    q: tf.randomNormal([b, t, d]), k: tf.randomNormal([b, t, d]), v: tf.randomNormal([b, t, d]),
  });

  const stock = await onBackend('wasm', () => {
    const z = make();
    const r = {
      bpInput: median(() => [tf.conv2dTranspose(z.dy, z.w, shapeX, 1, 'same')]),
      qk: median(() => [tf.matMul(z.q, z.k, false, true)]),
      attention: median(attention(z.q, z.k, z.v), 3),
    };
    tf.dispose(Object.values(z));
    return r;
  });

  registerWasmKernels();
  const ours = await onBackend('wasm', () => {
    const z = make();
    const r = {
      forward: median(() => [tf.conv2d(z.x, z.w, 1, 'same')]),
      bpInput: median(() => [tf.conv2dTranspose(z.dy, z.w, shapeX, 1, 'same')]),
      bpFilter: median(() => [tf.engine().runKernel('Conv2DBackpropFilter', { x: z.x, dy: z.dy },
        { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: shapeW }) as tf.Tensor]),
      step: median(convForwardBackward(z.x, z.w)),
      qk: median(() => [tf.matMul(z.q, z.k, false, true)]),
      attention: median(attention(z.q, z.k, z.v)),
    };
    tf.dispose(Object.values(z));
    return r;
  });

  const cpu = await onBackend('cpu', () => {
    const z = make();
    const r = { step: median(convForwardBackward(z.x, z.w), cpuRuns, false) };
    tf.dispose(Object.values(z));
    return r;
  });

  console.log(`conv 3x3 64→64, batch 8, 32x32 (median of ${runs} wasm runs, ${cpuRuns} cpu runs)`);
  console.log(`  wasm forward                         ${fmt(ours.forward)}`);
  console.log(`  wasm input gradient   stock → ours   ${fmt(stock.bpInput)} → ${fmt(ours.bpInput)}  (${ratio(stock.bpInput, ours.bpInput)})`);
  console.log(`  wasm filter gradient  (stock: none)  ${fmt(ours.bpFilter)}`);
  console.log(`  forward+backward      cpu → wasm     ${fmt(cpu.step)} → ${fmt(ours.step)}  (wasm faster: ${ratio(cpu.step, ours.step)})`);
  console.log(`batchMatMul, batch·heads ${b}, T ${t}, head dim ${d}`);
  console.log(`  q·kᵀ                  stock → ours   ${fmt(stock.qk)} → ${fmt(ours.qk)}  (${ratio(stock.qk, ours.qk)})`);
  console.log(`  attention fwd+bwd     stock → ours   ${fmt(stock.attention)} → ${fmt(ours.attention)}  (${ratio(stock.attention, ours.attention)})`);
}

void main();
