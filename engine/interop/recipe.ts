/**
 * A training recipe for the reference (openai/improved-diffusion on PyTorch, MPI + DDP): everything a recipe
 * folder holds except the data and the checkpoint (engine/run/export-recipe.ts writes those):
 *   pipeline.json   the pipeline (msg.iddpm), which an import reads back
 *   recipe.json     ranks, per-rank batch and microbatch, the flags or the launcher, notes
 *   flags.txt       MODEL_FLAGS / DIFFUSION_FLAGS / TRAIN_FLAGS / SAMPLE_FLAGS, as the reference's README writes
 *                   them (only when its scripts can express the pipeline: flagsFromPipeline)
 *   launch.py       otherwise: the launcher that builds the same UNetModel and diffusion (launcherFor)
 *   train.sh        `mpiexec -n N` over image_train.py (or launch.py) with --batch_size/--microbatch per rank
 *   sample.sh       image_sample.py with the same flags (flags only)
 *   README.md       how to run it and how to bring `ema_*.pt` back (recipe-readme.ts)
 *
 * Batches: the reference's `--batch_size` is per MPI rank and DDP averages the ranks' gradients, so our batch B
 * over N ranks is `--batch_size B/N` (N must divide B). Its `--microbatch m` sums the gradients of the B/(N·m)
 * microbatch means (ours averages the whole batch): gradients B/(N·m) times larger, which Adam all but cancels.
 * DDP is used only when CUDA is available: on CPUs the ranks train separate copies (train_util warns so).
 */
import type { CompletePipeline } from '../spec';
import { checkPipeline } from '../spec';
import { IMAGE_TRAIN_DEFAULTS } from './args';
import { flagsFromPipeline, type ScriptFlags, type TrainFlags } from './flags';
import { emaRateText } from './checkpoint-files';
import { launcherFor } from './launcher';
import { recipeReadme } from './recipe-readme';

/** How the pipeline was trained here (TrainOptions' names), what the recipe carries over. */
export interface RecipeTraining {
  /** Our batch: the recipe's global batch (all ranks together). */
  batchSize: number;
  /** Our microbatch (0 = automatic, which becomes the whole per-rank batch). */
  microbatch: number;
  lr: number;
  emaRate: number;
  logEvery: number;
  checkpointEvery: number;
  maxSteps?: number;
  gradClip?: number;
}

export interface RecipeOptions {
  /** MPI ranks (GPUs) of `mpiexec -n N`; default 1. */
  ranks?: number;
  /** image_sample.py's `--timestep_respacing` (e.g. "250", "ddim50"); default: all T steps. */
  samplingRespacing?: string | null;
  /** The exported dataset folder, relative to the recipe folder (absent: the user supplies --data_dir). */
  dataDir?: string | null;
  /** Describes the dataset (for the README), e.g. "MNIST train, 60000 images, 10 classes". */
  datasetDescription?: string | null;
  /** A checkpoint exported with the recipe: the resume flag's model<step>.pt, relative to the folder. */
  resumeCheckpoint?: string | null;
  /** The model's name here (for the import command in the README). */
  modelName?: string;
}

export interface Recipe {
  mode: 'flags' | 'launcher';
  /** Why the scripts cannot express the pipeline (launcher mode), else null. */
  reason: string | null;
  ranks: number;
  perRankBatch: number;
  /** `--microbatch` per rank (-1 = the whole per-rank batch). */
  perRankMicrobatch: number;
  /** `--save_interval`: steps between the reference's checkpoints. */
  saveInterval: number;
  flags: ScriptFlags | null;
  /** The command train.sh runs, with the paths as variables. */
  trainCommand: string;
  /** Text files of the recipe folder by name. */
  files: Record<string, string>;
  notes: string[];
}

/** Per-rank batch and microbatch for N ranks (N must divide the batch). */
export function perRankBatches(training: Pick<RecipeTraining, 'batchSize' | 'microbatch'>, ranks: number): { batch: number; microbatch: number } {
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`ranks must be a whole number ≥ 1, got ${ranks}`);
  const B = training.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new Error(`batch size must be a whole number ≥ 1, got ${B}`);
  if (B % ranks !== 0) throw new Error(`a batch of ${B} cannot be split evenly over ${ranks} ranks (--batch_size is per rank): choose a number of ranks that divides ${B}, or another batch size`);
  const batch = B / ranks;
  const m = training.microbatch;
  return { batch, microbatch: m > 0 && m < batch ? m : -1 };
}

function notesFor(training: RecipeTraining, ranks: number, perRank: { batch: number; microbatch: number }): string[] {
  const notes: string[] = [];
  if (ranks > 1) notes.push(`${ranks} ranks × --batch_size ${perRank.batch} = the batch of ${training.batchSize} trained here; the reference averages the ranks' gradients with DDP only when CUDA is available: on CPUs the ${ranks} processes would train separate copies (train_util warns "Distributed training requires CUDA"), so run one rank on a CPU`);
  if (perRank.microbatch > 0) notes.push(`--microbatch ${perRank.microbatch}: the reference adds the gradients of ${perRank.batch / perRank.microbatch} microbatch means (ours averages the batch), gradients that much larger, which Adam cancels up to its ε`);
  if (training.gradClip) notes.push(`gradient clipping at ${training.gradClip}: the reference does not clip`);
  if (training.maxSteps) notes.push(`maxSteps ${training.maxSteps}: the reference runs until stopped (its --lr_anneal_steps would also anneal the learning rate); stop it after the checkpoint you want`);
  notes.push('the reference draws its own noise, timesteps and data order (it is not seeded): a run there follows the same objective, not the same numbers');
  return notes;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]*$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The recipe of `pipeline` trained as `training` over `options.ranks` ranks. */
export function recipeFor(pipeline: CompletePipeline, training: RecipeTraining, options: RecipeOptions = {}): Recipe {
  const p = checkPipeline(pipeline);
  const ranks = options.ranks ?? 1;
  const perRank = perRankBatches(training, ranks);
  const rate = emaRateText(training.emaRate);
  const train: Partial<TrainFlags> = {
    batch_size: perRank.batch, microbatch: perRank.microbatch, lr: training.lr, ema_rate: rate,
    // 0 (never) here has no equivalent there: the scripts' defaults (every 10 and 10000 steps) then apply.
    log_interval: training.logEvery > 0 ? training.logEvery : IMAGE_TRAIN_DEFAULTS.log_interval,
    save_interval: training.checkpointEvery > 0 ? training.checkpointEvery : IMAGE_TRAIN_DEFAULTS.save_interval,
    resume_checkpoint: options.resumeCheckpoint ?? '',
  };
  const result = flagsFromPipeline(p, { train, samplingRespacing: options.samplingRespacing ?? null });
  const notes = notesFor(training, ranks, perRank);
  if (result.flags && p.timesteps.kind === 'importance') {
    notes.push('--schedule_sampler loss-second-moment: the reference\'s resample.py uses np.int, which NumPy 1.24 removed; use NumPy < 1.24 there (launch.py patches it)');
  }
  const files: Record<string, string> = { 'pipeline.json': `${JSON.stringify(p, null, 2)}\n` };
  const dataDir = options.dataDir ?? null;
  const dataArg = dataDir ? shellQuote(dataDir) : '"${DATA_DIR:?set DATA_DIR to the image folder}"';
  const header = [
    '#!/bin/sh',
    '# Written by node-red-iddpm (engine/interop/recipe.ts); README.md says how to run it.',
    'set -e',
    'cd "$(dirname "$0")"',
    ': "${IDDPM_REF:?set IDDPM_REF to the improved-diffusion checkout (the folder holding scripts/ and improved_diffusion/)}"',
    '# The reference scripts import improved_diffusion: installed (pip install -e) or from the checkout.',
    'export PYTHONPATH="$IDDPM_REF${PYTHONPATH:+:$PYTHONPATH}"',
    'export OPENAI_LOGDIR="${OPENAI_LOGDIR:-$PWD/run}"',
    'PYTHON="${PYTHON:-python3}"',
    'MPIEXEC="${MPIEXEC:-mpiexec}"',
  ];
  let trainCommand: string;
  if (result.flags) {
    const f = result.flags;
    files['flags.txt'] = [
      `MODEL_FLAGS="${f.model}"`, `DIFFUSION_FLAGS="${f.diffusion}"`, `TRAIN_FLAGS="${f.train}"`, `SAMPLE_FLAGS="${f.sample}"`, '',
    ].join('\n');
    trainCommand = `$MPIEXEC -n ${ranks} "$PYTHON" "$IDDPM_REF/scripts/image_train.py" --data_dir ${dataArg} $MODEL_FLAGS $DIFFUSION_FLAGS $TRAIN_FLAGS "$@"`;
    files['train.sh'] = [...header, '. ./flags.txt', trainCommand, ''].join('\n');
    files['sample.sh'] = [
      ...header.filter((l) => !l.startsWith('export OPENAI_LOGDIR')),
      'MODEL_PATH="${1:?usage: sh sample.sh run/ema_<rate>_<step>.pt [more image_sample.py flags]}"',
      'shift',
      'export OPENAI_LOGDIR="${OPENAI_LOGDIR:-$PWD/samples}"',
      '. ./flags.txt',
      `$MPIEXEC -n ${ranks} "$PYTHON" "$IDDPM_REF/scripts/image_sample.py" --model_path "$MODEL_PATH" $MODEL_FLAGS $DIFFUSION_FLAGS $SAMPLE_FLAGS --num_samples 16 --batch_size 16 "$@"`,
      '',
    ].join('\n');
  } else {
    files['launch.py'] = launcherFor(p, {
      recipe: {
        batch_size: perRank.batch, microbatch: perRank.microbatch, lr: training.lr, ema_rate: rate,
        log_interval: train.log_interval as number, save_interval: train.save_interval as number,
        resume_checkpoint: options.resumeCheckpoint ?? '',
      },
    });
    trainCommand = `$MPIEXEC -n ${ranks} "$PYTHON" launch.py --data_dir ${dataArg} "$@"`;
    files['train.sh'] = [...header, trainCommand, ''].join('\n');
  }
  const recipe: Recipe = {
    mode: result.flags ? 'flags' : 'launcher',
    reason: result.reason,
    ranks,
    perRankBatch: perRank.batch,
    perRankMicrobatch: perRank.microbatch,
    saveInterval: train.save_interval as number,
    flags: result.flags,
    trainCommand,
    files,
    notes,
  };
  files['recipe.json'] = `${JSON.stringify({
    generatedBy: 'node-red-iddpm', mode: recipe.mode, reason: recipe.reason, ranks, perRankBatch: perRank.batch,
    perRankMicrobatch: perRank.microbatch, globalBatch: training.batchSize, emaRate: rate,
    flags: result.flags ? { model: result.flags.model, diffusion: result.flags.diffusion, train: result.flags.train, sample: result.flags.sample } : null,
    launcher: result.flags ? null : 'launch.py', dataDir, resumeCheckpoint: options.resumeCheckpoint ?? null, notes,
  }, null, 2)}\n`;
  files['README.md'] = recipeReadme(p, recipe, { ...options, emaRate: rate, training });
  return recipe;
}
