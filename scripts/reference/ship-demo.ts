/**
 * Ships a checkpoint of the reference's demo run as `models/demo`: imports the EMA weights (a torch state_dict,
 * `ema_<rate>_<step>.pt`) with the demo pipeline (scripts/reference/demo.ts) through the bridge's importer, then
 * writes the model folder's smallest form for sampling (model.json + the EMA weights in half precision,
 * ModelStore.exportForSampling) in place of the old one.
 *
 *   node --import tsx scripts/reference/ship-demo.ts --ema training/demo/ema_0.9995_012000.pt [--out models]
 *
 * Prints the shipped folder, its step and its size in bytes. The figures of the model card come from
 * `npm run demo-quality -- --model demo` afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { importReferenceCheckpoint } from '../../engine/run/import-reference';
import { ModelStore } from '../../engine/train';
import { DEMO_REFERENCE_PIPELINE } from './demo';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { ema: { type: 'string' }, out: { type: 'string', default: 'models' } } });
  if (!values.ema) throw new Error('--ema <ema_<rate>_<step>.pt of the demo run> is required');
  const file = path.resolve(values.ema);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-ship-demo-'));
  try {
    const store = new ModelStore(path.join(work, 'models'));
    const imported = await importReferenceCheckpoint({
      file: path.basename(file), name: 'demo', pipeline: DEMO_REFERENCE_PIPELINE, overwrite: true, store, importDirs: [path.dirname(file)],
    });
    // Written beside, then swapped in: the old folder goes only once the new one is complete.
    const staging = new ModelStore(path.join(work, 'shipped'));
    store.exportForSampling('demo', staging);
    const target = path.join(path.resolve(values.out), 'demo');
    const keep = ['README.md'].filter((f) => fs.existsSync(path.join(target, f)));
    for (const f of keep) fs.copyFileSync(path.join(target, f), path.join(work, 'shipped', 'demo', f));
    fs.rmSync(target, { recursive: true, force: true });
    fs.cpSync(path.join(work, 'shipped', 'demo'), target, { recursive: true });
    const sizeOf = (p: string): number => (fs.statSync(p).isDirectory() ? fs.readdirSync(p).reduce((n, f) => n + sizeOf(path.join(p, f)), 0) : fs.statSync(p).size);
    const bytes = sizeOf(target);
    console.log(JSON.stringify({ shipped: target, step: imported.spec.step, source: imported.spec.source, bytes, notes: imported.notes }, null, 2));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
