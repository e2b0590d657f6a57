/**
 * Trains a stored model further with our engine (engine/run/job.ts TrainingJob, resuming from its checkpoint:
 * for an imported reference checkpoint, from the reference's Adam state), with the pipeline in its model.json.
 * Used by scripts/reference/round-trip.sh for "a run continued here".
 *
 *   node --import tsx scripts/reference/train-more.ts --models-dir D --model M --steps N --data DIR [--batch 4]
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../../engine/backend';
import { TrainingJob } from '../../engine/run/job';
import { ModelStore } from '../../engine/train';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'models-dir': { type: 'string' }, model: { type: 'string' }, steps: { type: 'string' }, data: { type: 'string' }, batch: { type: 'string', default: '4' }, lr: { type: 'string', default: '1e-4' } },
  });
  if (!values['models-dir'] || !values.model || !values.steps || !values.data) throw new Error('--models-dir, --model, --steps and --data are required');
  await initBackend(process.env.IDDPM_BACKEND);
  const store = new ModelStore(values['models-dir']);
  const spec = store.readSpec(values.model);
  const job = new TrainingJob({
    name: values.model, pipeline: spec.pipeline, store,
    options: { dataset: { kind: 'folder', path: values.data }, batchSize: Number(values.batch), lr: Number(values.lr), maxSteps: spec.step + Number(values.steps), logEvery: 1, checkpointEvery: 0, resume: true },
    onEvent: (ev) => {
      if (ev.type === 'progress') console.log(`step ${ev.payload.step}: loss ${ev.payload.loss.toFixed(4)}`);
      if (ev.type === 'error') console.error(ev.message);
    },
  });
  await job.start();
  const status = job.status();
  if (status.state !== 'done') throw new Error(`training ended ${status.state}: ${status.error ?? ''}`);
  const after = store.loadCheckpoint(values.model, { training: true });
  console.log(`${values.model}: step ${spec.step} → ${after.spec.step}, Adam update ${after.optimizer?.step}`);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
