/**
 * Where importance sampling puts t for a checkpoint of the demo recipe: its training loss (L_hybrid) at every 10th
 * t (and the last few) on 16 training digits, and the p_t the reference's LossSecondMomentResampler would draw from
 * those losses (p ∝ √E[L_t²], mixed with 0.001 uniform; linear between the measured t), summed by quarter of [0, T).
 * docs/paper-claims.md, "Importance sampling with L_hybrid starves the large t".
 *
 *   node --import tsx scripts/paper-claims/sampler-share.ts training/demo/ema_0.9995_012500.pt
 */
import { initBackend } from '../../engine/backend';
import { tf } from '../../engine/tf';
import { createDataset } from '../../engine/data';
import { Rng } from '../../engine/rng';
import { trainingDiffusion } from '../../engine/train';
import { DEMO_REFERENCE_PIPELINE } from '../reference/demo';
import { loadReferenceModel } from './lib';
async function main(): Promise<void> {
  await initBackend('wasm');
  if (!process.argv[2]) throw new Error('give a checkpoint of the demo recipe (ema_<rate>_<step>.pt)');
  const model = loadReferenceModel(process.argv[2], DEMO_REFERENCE_PIPELINE);
  const diffusion = trainingDiffusion(DEMO_REFERENCE_PIPELINE);
  const data = await createDataset({ kind: 'mnist', split: 'train' }, { imageSize: 32, channels: 1 });
  const N = 16;
  const batch = data.getBatch(Array.from({ length: N }, (_, i) => i * 37));
  const rng = new Rng(1);
  const ts = [...Array.from({ length: 99 }, (_, k) => k * 10 + 5), 990, 993, 995, 996, 997, 998, 999, 0, 1, 2];
  ts.sort((a, b) => a - b);
  const rms: number[] = [];
  for (const tv of ts) {
    const r = tf.tidy(() => {
      const x0 = tf.tensor4d(batch.x, [N, 32, 32, 1]);
      const noise = tf.tensor4d(rng.normalArray(N * 1024), [N, 32, 32, 1]);
      const t = tf.tensor1d(new Array(N).fill(tv), 'int32');
      const xt = diffusion.qSample(x0, t, noise);
      const out = model.unet.apply(xt as tf.Tensor4D, diffusion.scaleTimesteps(t), tf.tensor1d(Array.from(batch.y!), 'int32'));
      const l = diffusion.trainingLosses(out, x0, xt, t, noise);
      return { loss: Array.from(l.loss.dataSync()), mse: l.mse ? Array.from(l.mse.dataSync()) : undefined };
    });
    const ms = Math.sqrt(r.loss.reduce((a, v) => a + v * v, 0) / N);
    rms.push(ms);
    if (tv % 100 === 5 || tv > 990 || tv < 5) console.log(`t=${tv}: loss mean ${(r.loss.reduce((a, v) => a + v, 0) / N).toFixed(4)} rms ${ms.toFixed(4)} mse ${r.mse ? (r.mse.reduce((a, v) => a + v, 0) / N).toFixed(4) : '-'}`);
  }
  // Interpolate rms over all t (piecewise linear), then p_t.
  const T = 1000;
  const w = Array.from({ length: T }, (_, t) => {
    let k = 0;
    while (k < ts.length - 2 && ts[k + 1] < t) k++;
    const a = ts[k], b = ts[k + 1];
    return rms[k] + ((rms[k + 1] - rms[k]) * (t - a)) / (b - a);
  });
  const sum = w.reduce((a, v) => a + v, 0);
  const p = w.map((v) => 0.999 * v / sum + 0.001 / T);
  console.log(`t=999 alone: p = ${p[999].toFixed(4)}; t >= 750 but 999: ${p.slice(750, 999).reduce((a, v) => a + v, 0).toFixed(3)}`);
  for (let q = 0; q < 4; q++) console.log(`quarter ${q}: p = ${p.slice(q * 250, (q + 1) * 250).reduce((a, v) => a + v, 0).toFixed(3)} (uniform 0.25)`);
}
main().catch((e) => { console.error(e); process.exit(1); });
