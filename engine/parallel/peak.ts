/**
 * This machine's wasm-SIMD limit as the engine meets it: a large square matmul (XNNPACK's fully-connected
 * operator, packed once, then cache-blocked SIMD microkernels — the densest kernel the wasm backend has) timed
 * on one thread's backend, in GFLOP/s (2·n³ per product). The bench runs it on every worker thread at once,
 * so the sum is what all the cores give together.
 */
import { tf } from '../tf';

export function matmulGflops(size: number, runs: number): number {
  const a = tf.randomNormal([size, size]);
  const b = tf.randomNormal([size, size]);
  const once = (): number => {
    const t0 = performance.now();
    tf.tidy(() => void tf.matMul(a, b).dataSync());
    return performance.now() - t0;
  };
  once(); // packs b, allocates the output
  const ms = Math.min(...Array.from({ length: runs }, once));
  tf.dispose([a, b]);
  return (2 * size ** 3) / (ms * 1e6);
}

/** The peak on every thread of a pool at once: per thread, and the total. */
export async function poolMatmulGflops(pool: { size: number; request<T>(index: number, msg: { op: 'matmulPeak'; size: number; runs: number }): Promise<T> }, size = 1024, runs = 5): Promise<{ perThread: number[]; total: number }> {
  const perThread = await Promise.all(Array.from({ length: pool.size }, (_, k) => pool.request<number>(k, { op: 'matmulPeak', size, runs })));
  return { perThread, total: perThread.reduce((s, g) => s + g, 0) };
}
