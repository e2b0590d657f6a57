/**
 * Trains a run of docs/paper-claims.md (scripts/paper-claims/runs.ts) with the reference on PyTorch:
 *
 *   node --import tsx scripts/paper-claims/train.ts --reference cosine [--data DIR]
 *
 * Writes the launcher (engine/interop launcherFor) to $CLAIMS_RUNS/ref-<name>/launch.py and runs it with
 * /usr/bin/python3 (IDDPM_REF: the reference's folder, default /tmp/iddpm-ref; --data: the PNG folder of
 * scripts/reference/export-dataset.ts, default $CLAIMS_RUNS/data), 1 torch thread, OMP_WAIT_POLICY=PASSIVE, under
 * nice 15. It keeps every checkpoint triple (the run's save_interval), resumes from the newest one, and stops the
 * process once the triple of the run's last step is written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { launcherFor } from '../../engine/interop/launcher';
import { arg } from './lib';
import { REFERENCE_RUNS, RUNS_DIR } from './runs';

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
  const args = [launcher, '--data_dir', arg('data') ?? path.join(RUNS_DIR, 'data'), ...(resume ? ['--resume_checkpoint', resume.file] : [])];
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
  const reference = arg('reference');
  if (!reference) throw new Error('give --reference NAME (scripts/paper-claims/runs.ts)');
  await referenceRun(reference);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
});
