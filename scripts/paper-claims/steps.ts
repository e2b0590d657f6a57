/**
 * Sample quality of a demo-recipe checkpoint by sampling method and steps (docs/paper-claims.md, claim a): n
 * samples (seed 0, class i % 10) per setting, figures beside the real-image floor, a grid per setting in --grids.
 *
 *   node --import tsx scripts/paper-claims/steps.ts training/demo/ema_0.9995_012500.pt 64 ancestral:25 ddim:25 ancestral:full
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { initBackend } from '../../engine/backend';
import { closePool } from '../../engine/parallel';
import { gridPng } from '../../engine/sample/result';
import { DEMO_REFERENCE_PIPELINE } from '../reference/demo';
import { loadReferenceModel, sampleSetFigures } from './lib';
/** Where the grids go (env GRIDS, default the OS temp folder). */
const GRIDS = process.env.GRIDS ?? os.tmpdir();

async function main(): Promise<void> {
  await initBackend('wasm');
  const [file, n, ...settings] = process.argv.slice(2);
  const model = loadReferenceModel(file, DEMO_REFERENCE_PIPELINE);
  for (const s of settings) {
    const [method, stepsText] = s.split(':');
    const steps = stepsText === 'full' ? undefined : Number(stepsText);
    const r = await sampleSetFigures(model, { dataset: 'mnist', sizes: [Number(n)], steps, method: method as 'ancestral' | 'ddim', seed: 0 });
    const f = r.sizes[0];
    console.log(`${s}: n=${f.n} confident ${(100 * f.samples.confidentShare).toFixed(0)}% FID ${f.samples.fid.toFixed(1)} (floor ${f.floor.fid.toFixed(1)}) largest ${(100 * f.samples.largestClassShare).toFixed(0)}% border ${f.samples.borderMean.toFixed(3)} ${r.seconds.toFixed(0)} s`);
    fs.mkdirSync(GRIDS, { recursive: true });
    fs.writeFileSync(`${GRIDS}/steps-${method}-${stepsText}.png`, await gridPng({ shape: r.images.shape as [number, number, number, number], data: r.images.data }, 10));
  }
  await closePool();
}
main().catch((e) => { console.error(e); process.exit(1); });
