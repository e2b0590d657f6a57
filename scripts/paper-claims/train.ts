/**
 * Trains the runs of docs/paper-claims.md.
 *
 *   node --import tsx scripts/paper-claims/train.ts --run kl-uniform        an engine run (runs.ts ENGINE_RUNS)
 *   node --import tsx scripts/paper-claims/train.ts --reference fixed       a reference run on PyTorch (REFERENCE_RUNS)
 *
 * Engine runs: our TrainingJob (engine/run/job.ts) with a model store in $CLAIMS_RUNS/models (default
 * /work/claims-runs/models); it checkpoints every 100 steps and resumes from the last checkpoint when started
 * again. Run it niced (`nice -n 15`, IDDPM_WORKERS=1 or 2) on a shared machine.
 *
 * Reference runs: writes the launcher (engine/interop launcherFor) to $CLAIMS_RUNS/ref-<name>/launch.py and runs
 * it with /usr/bin/python3 (IDDPM_REF: the reference's folder, default /tmp/iddpm-ref; data: --data the PNG folder
 * of scripts/reference/export-dataset.ts, default /work/demo-ref/data), 1 torch thread, OMP_WAIT_POLICY=PASSIVE,
 * under nice 15; it keeps every checkpoint triple (save_interval 1000), resumes from the newest one, and stops the
 * process once the triple of the run's last step is written. The reference's TrainLoop has no seed: its runs
 * differ from each other in the initial weights and data order as well.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { initBackend } from '../../engine/backend';
import { ModelStore } from '../../engine/train';
import { TrainingJob } from '../../engine/run/job';
import { closePool } from '../../engine/parallel';
import { launcherFor } from '../../engine/interop/launcher';
import { arg } from './lib';
import { ENGINE_RUNS, REFERENCE_RUNS, RUNS_DIR } from './runs';

async function engineRun(name: string): Promise<void> {
  const run = ENGINE_RUNS[name];
  if (!run) throw new Error(`Unknown run "${name}": one of ${Object.keys(ENGINE_RUNS).join(', ')}`);
  await initBackend('wasm');
  const store = new ModelStore(path.join(RUNS_DIR, 'models'));
  const started = Date.now();
  let last = 0;
  const job = new TrainingJob({
    name, pipeline: run.pipeline, options: run.options, store, preview: async () => Buffer.alloc(0),
    onEvent: (ev) => {
      if (ev.type === 'progress' && Date.now() - last > 60_000) {
        last = Date.now();
        console.log(`${new Date().toISOString()} ${name} step ${ev.payload.step} loss ${ev.payload.loss.toFixed(4)} ${ev.payload.imagesPerSec.toFixed(1)} img/s`);
      }
      if (ev.type === 'error') console.error(`${name}: ${ev.message}`);
    },
  });
  const stop = (): void => void job.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await job.start();
  const s = job.status();
  const seconds = (Date.now() - started) / 1000;
  fs.appendFileSync(path.join(RUNS_DIR, 'times.jsonl'), JSON.stringify({ run: name, kind: 'engine', state: s.state, step: s.step, seconds, finishedAt: new Date().toISOString() }) + '\n');
  console.log(`${name}: ${s.state} at step ${s.step} after ${seconds.toFixed(0)} s`);
  if (s.state === 'failed') process.exitCode = 1;
}

/** The newest model<step>.pt of a run folder, or undefined. */
function newestCheckpoint(dir: string): { file: string; step: number } | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const found = fs.readdirSync(dir).map((f) => /^model(\d+)\.pt$/.exec(f)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ file: path.join(dir, m[0]), step: Number(m[1]) })).sort((a, b) => b.step - a.step);
  return found[0];
}

async function referenceRun(name: string): Promise<void> {
  const run = REFERENCE_RUNS[name as keyof typeof REFERENCE_RUNS];
  if (!run) throw new Error(`Unknown reference run "${name}": one of ${Object.keys(REFERENCE_RUNS).join(', ')}`);
  const dir = path.join(RUNS_DIR, `ref-${name}`);
  const logdir = path.join(dir, 'run');
  fs.mkdirSync(logdir, { recursive: true });
  const launcher = path.join(dir, 'launch.py');
  fs.writeFileSync(launcher, launcherFor(run.pipeline, { recipe: run.recipe, threads: 1 }));
  const pad = (s: number): string => String(s).padStart(6, '0');
  const target = path.join(logdir, `opt${pad(run.steps)}.pt`);
  if (fs.existsSync(target)) {
    console.log(`${name}: already at step ${run.steps}`);
    return;
  }
  const resume = newestCheckpoint(logdir);
  if (resume) {
    // logger.configure rewrites progress.csv and log.txt: keep the old ones.
    for (const f of ['progress.csv', 'log.txt']) if (fs.existsSync(path.join(logdir, f))) fs.copyFileSync(path.join(logdir, f), path.join(logdir, `${f}.upto${pad(resume.step)}`));
  }
  const args = [launcher, '--data_dir', arg('data') ?? '/work/demo-ref/data', ...(resume ? ['--resume_checkpoint', resume.file] : [])];
  const env = { ...process.env, OPENAI_LOGDIR: logdir, IDDPM_REF: process.env.IDDPM_REF ?? '/tmp/iddpm-ref', OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '1' };
  const started = Date.now();
  const log = fs.openSync(path.join(dir, 'train.log'), 'a');
  const child = spawn('nice', ['-n', '15', '/usr/bin/python3', ...args], { env, stdio: ['ignore', log, log] });
  fs.writeFileSync(path.join(dir, 'train.pid'), String(child.pid));
  console.log(`${name}: pid ${child.pid}, ${resume ? `resuming from step ${resume.step}` : 'from step 0'}, until step ${run.steps}`);
  const poll = setInterval(() => {
    // The triple is complete once opt<step>.pt exists and has stopped growing.
    if (fs.existsSync(target)) {
      const size = fs.statSync(target).size;
      setTimeout(() => {
        if (fs.existsSync(target) && fs.statSync(target).size === size && child.exitCode === null) child.kill('SIGTERM');
      }, 5000);
    }
  }, 10_000);
  const stop = (): void => void child.kill('SIGTERM');
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  clearInterval(poll);
  const seconds = (Date.now() - started) / 1000;
  const reached = newestCheckpoint(logdir)?.step ?? 0;
  fs.appendFileSync(path.join(RUNS_DIR, 'times.jsonl'), JSON.stringify({ run: `ref-${name}`, kind: 'reference', fromStep: resume?.step ?? 0, step: reached, seconds, finishedAt: new Date().toISOString() }) + '\n');
  console.log(`${name}: stopped at step ${reached} after ${seconds.toFixed(0)} s`);
}

async function main(): Promise<void> {
  const engine = arg('run');
  const reference = arg('reference');
  if (engine) await engineRun(engine);
  else if (reference) await referenceRun(reference);
  else throw new Error('give --run NAME (engine) or --reference NAME');
}

main()
  .catch((err) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exitCode = 1;
  })
  .finally(() => closePool());
