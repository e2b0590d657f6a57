/** The README.md of a recipe folder (engine/interop/recipe.ts): how to run it and how to bring the result back. */
import type { CompletePipeline } from '../spec';
import type { Recipe, RecipeOptions, RecipeTraining } from './recipe';
import { unetConfigOf } from './flags';

function describe(p: CompletePipeline): string {
  const c = unetConfigOf(p.unet);
  const colour = c.inChannels === 1 ? 'grey' : c.inChannels === 3 ? 'RGB' : `${c.inChannels}-channel`;
  const classes = c.numClasses === null ? 'unconditional' : `${c.numClasses} classes`;
  return `${c.imageSize}×${c.imageSize} ${colour}, ${classes}; UNet with ${c.modelChannels} base channels, channel_mult (${c.channelMult.join(', ')}), ${c.numResBlocks} ResBlock(s) per level, attention at ${c.attentionResolutions.join(', ') || 'no'} px; ${p.schedule.kind} schedule, T = ${p.schedule.steps}, ${p.unet.modelVarType} variance, ${p.loss.kind} loss, ${p.timesteps.kind} timesteps`;
}

export function recipeReadme(p: CompletePipeline, recipe: Recipe, options: RecipeOptions & { emaRate: string; training: RecipeTraining }): string {
  const model = options.modelName ?? p.unet.model;
  const flags = recipe.flags;
  const save = recipe.saveInterval;
  const importSource = flags ? `--flags "${[flags.model, flags.diffusion].filter((s) => s).join(' ')}"` : '--pipeline pipeline.json';
  const lines: string[] = [
    `# Training recipe: ${model} on the reference implementation`,
    '',
    `Written by node-red-iddpm from the pipeline in \`pipeline.json\` (${describe(p)}). It trains the same model with`,
    'openai/improved-diffusion on PyTorch, on as many GPUs as `mpiexec -n N` starts; its checkpoints come back into',
    'Node-RED (the import below) to be sampled, evaluated, compared and served.',
    '',
    '## What the reference runs',
    flags
      ? 'Its own `scripts/image_train.py`, with the flags in `flags.txt` (the reference README\'s MODEL_FLAGS, DIFFUSION_FLAGS, TRAIN_FLAGS):'
      : `\`launch.py\`: ${recipe.reason ?? ''}. The launcher builds the reference's \`UNetModel\` and diffusion with these settings and runs the reference's own \`TrainLoop\` (AdamW, EMA, logging, checkpoints) on them.`,
    '',
    ...(flags ? ['```sh', `MODEL_FLAGS="${flags.model}"`, `DIFFUSION_FLAGS="${flags.diffusion}"`, `TRAIN_FLAGS="${flags.train}"`, '```', ''] : []),
    '## Files',
    '| file | what |',
    '|---|---|',
    '| `pipeline.json` | the pipeline (`msg.iddpm`); the import reads it back |',
    '| `recipe.json` | ranks, per-rank batch and microbatch, flags or launcher, notes |',
    ...(flags ? ['| `flags.txt` | the flags, sourced by the scripts |', '| `sample.sh` | `image_sample.py` with the same flags |'] : ['| `launch.py` | builds the model and diffusion, runs `TrainLoop` |']),
    '| `train.sh` | the `mpiexec` command line |',
    ...(options.dataDir ? [`| \`${options.dataDir}/\` | the dataset as the image folder the reference reads${options.datasetDescription ? ` (${options.datasetDescription})` : ''}; the class is the file name's prefix before \`_\` |`] : []),
    ...(options.resumeCheckpoint ? [`| \`${options.resumeCheckpoint.replace(/\/[^/]*$/, '/')}\` | the model's state here as \`model<step>.pt\`, \`ema_<rate>_<step>.pt\`, \`opt<step>.pt\` |`] : []),
    '',
    '## Run',
    '1. The reference and its packages: `git clone https://github.com/openai/improved-diffusion && pip install -e improved-diffusion`',
    '   (torch, blobfile, tqdm) and `mpi4py` (with an MPI such as OpenMPI).',
    `2. \`IDDPM_REF=/path/to/improved-diffusion sh train.sh\`${options.dataDir ? '' : ' with `DATA_DIR=/path/to/images`'}, which runs`,
    '',
    '   ```sh',
    `   ${recipe.trainCommand}`,
    '   ```',
    '',
    `   ${recipe.ranks} rank(s) × \`--batch_size ${recipe.perRankBatch}\`${recipe.perRankMicrobatch > 0 ? ` (\`--microbatch ${recipe.perRankMicrobatch}\`)` : ''} = the batch of ${options.training.batchSize} trained here. Every ${save} steps rank 0 writes`,
    `   \`model<step>.pt\`, \`ema_${options.emaRate}_<step>.pt\` and \`opt<step>.pt\` into \`run/\` (\`OPENAI_LOGDIR\`); it runs until stopped.`,
    '   `PYTHON`, `MPIEXEC` (e.g. `"mpiexec --allow-run-as-root"`) and `OPENAI_LOGDIR` may be set; more flags after `train.sh` are passed on.',
    ...(options.resumeCheckpoint ? [
      `3. The run continues the model trained here: the train flags include \`--resume_checkpoint ${options.resumeCheckpoint}\`; the`,
      '   reference reads the step from that name and loads the EMA and optimizer files beside it.',
    ] : []),
    '',
    '## Notes',
    ...recipe.notes.map((n) => `- ${n}`),
    '- The reference names a checkpoint by its loop step k after k + 1 updates (its `opt<k>.pt` says `step` k + 1); the import counts updates.',
    '',
    '## Bring it back',
    'From the node-red-iddpm folder (`--models-dir` defaults to `./iddpm-models`; Node-RED\'s is `<userDir>/iddpm/models`):',
    '',
    '```sh',
    `npm run import-reference -- --recipe <this folder> --file run/ema_${options.emaRate}_<step>.pt --name ${model} --models-dir <models folder>`,
    '# or, to continue training here with the reference\'s Adam state:',
    `npm run import-reference -- --recipe <this folder> --file run/model<step>.pt --ema run/ema_${options.emaRate}_<step>.pt --opt run/opt<step>.pt --name ${model} --models-dir <models folder>`,
    '```',
    '',
    `Without \`--recipe\`, give the architecture as \`${importSource}\`. In Node-RED: put the file into`,
    '`<userDir>/iddpm/import/` (the `iddpmImportDirs` setting) and send a message through an IDDPM Import node with that',
    `file name and ${flags ? 'the MODEL_FLAGS and DIFFUSION_FLAGS above' : 'msg.iddpm = the contents of pipeline.json'}. The model is then sampled by name:`,
    'a Sampler node, evaluate mode (bits/dim), or the HTTP/MQTT example flows.',
    ...(flags ? [
      '',
      '## Sample with the reference',
      `\`IDDPM_REF=… sh sample.sh run/ema_${options.emaRate}_<step>.pt\` writes 16 samples as an .npz into \`samples/\` (\`SAMPLE_FLAGS\` = \`${flags.sample || 'all T steps'}\`).`,
    ] : []),
    '',
  ];
  return lines.join('\n');
}
