/**
 * Imports the newest EMA checkpoint of the reference's demo run (scripts/reference/launch_demo.py: the grey
 * 10-class `tiny` MNIST model trained by the reference's TrainLoop) through the engine's importReference request
 * and uses it as any model: a grid of one class sampled over the full T, and bits/dim of MNIST test images.
 * The checkpoint is copied first (the run keeps writing), into a temporary import folder; the model goes into a
 * temporary models folder (or --models-dir).
 *
 *   node --import tsx scripts/reference/import-demo.ts --run /work/demo-ref/run --grid grid.png [--class 7]
 *     [--count 16] [--evaluate 16] [--steps N] [--models-dir D]
 *
 * Prints one JSON object: the file imported (name, sha256, step), sampling and evaluation results and times.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { EngineService } from '../../engine/host/service';
import type { ImportReferenceResult } from '../../engine/run/import-reference';
import type { EvaluateResult } from '../../engine/sample/bpd';
import type { SampleResult } from '../../engine/sample/result';
import { DEMO_REFERENCE_PIPELINE } from './demo';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      run: { type: 'string' }, grid: { type: 'string' }, class: { type: 'string', default: '7' }, count: { type: 'string', default: '16' },
      evaluate: { type: 'string', default: '16' }, steps: { type: 'string' }, 'models-dir': { type: 'string' }, seed: { type: 'string', default: '7' },
    },
  });
  if (!values.run) throw new Error('--run <the reference run folder holding ema_<rate>_<step>.pt> is required');
  const emas = fs.readdirSync(values.run).filter((f) => /^ema_[\d.]+_\d+\.pt$/.test(f)).sort();
  if (emas.length === 0) throw new Error(`no ema_<rate>_<step>.pt in ${values.run}`);
  const newest = emas[emas.length - 1];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-demo-import-'));
  const importDir = path.join(work, 'import');
  fs.mkdirSync(importDir);
  fs.copyFileSync(path.join(values.run, newest), path.join(importDir, newest));
  const modelsDir = values['models-dir'] ?? path.join(work, 'models');
  const service = new EngineService({ modelsDir, importDirs: [importDir], broadcast: () => undefined });
  const name = 'demo-reference';
  try {
    let t = Date.now();
    const imported = (await service.handle({ op: 'importReference', request: { file: newest, name, pipeline: DEMO_REFERENCE_PIPELINE, overwrite: true } })) as ImportReferenceResult;
    const importSeconds = (Date.now() - t) / 1000;
    console.error(`imported ${newest} as ${name} (step ${imported.spec.step}) in ${importSeconds} s`);
    const steps = values.steps === undefined ? undefined : Number(values.steps);
    t = Date.now();
    const sample = (await service.handle({
      op: 'sample', request: { model: name, count: Number(values.count), classes: Number(values.class), seed: Number(values.seed), format: 'grid', ...(steps ? { steps } : {}) },
    })) as SampleResult;
    const sampleSeconds = (Date.now() - t) / 1000;
    if (values.grid) fs.writeFileSync(values.grid, sample.png!);
    console.error(`sampled ${values.count} of class ${values.class} in ${sampleSeconds} s${values.grid ? ` → ${values.grid}` : ''}`);
    t = Date.now();
    const bpd = (await service.handle({ op: 'evaluate', request: { model: name, dataset: { kind: 'mnist', split: 'test' }, count: Number(values.evaluate), seed: 0 } })) as EvaluateResult;
    const source = imported.spec.source as Record<string, unknown>;
    console.log(JSON.stringify({
      imported: { file: source.file, sha256: source.sha256, step: imported.spec.step, seconds: importSeconds, modelsDir },
      sample: { count: Number(values.count), class: Number(values.class), steps: steps ?? DEMO_REFERENCE_PIPELINE.schedule.steps, seed: Number(values.seed), seconds: sampleSeconds, backend: sample.backend, grid: values.grid ?? null },
      evaluate: { count: bpd.count, steps: bpd.steps, bitsPerDim: bpd.bitsPerDim, standardError: bpd.standardError, priorBpd: bpd.priorBpd, vbBpd: bpd.vbBpd, perImage: bpd.perImage, seconds: (Date.now() - t) / 1000 },
    }, null, 2));
  } finally {
    await service.shutdown();
    if (!values['models-dir']) fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
