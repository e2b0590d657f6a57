/**
 * The pure part of importing a reference checkpoint (engine/run/import-reference.ts writes the model folder):
 * - which pipeline the checkpoint belongs to: a published preset and/or image_train.py flags
 *   (pipelineFromFlags), or a pipeline given outright (a model trained by an exported launch.py);
 * - reading the file's tensors, whatever it is: torch zip, torch legacy, or safetensors in the reference's names;
 * - matching them against the UNet that pipeline builds, name for name and shape for shape, in the reference's
 *   state_dict order, with an error that lists every difference and says which flag most likely caused it.
 */
import { badRequest, checkPipeline, type CompletePipeline, type PipelineSpec, type UNetConfig } from '../spec';
import { parseSafetensors, type SafeTensor } from '../safetensors';
import type { ParamSpec } from '../unet/layout';
import { pipelineFromFlags, type ReferenceRecipe } from './flags';
import { presetFlags } from './presets';
import { detectTorchFormat, readTorchStateDict } from './torch-read';

export interface ImportSource {
  /** The model name (the pipeline's unet.model). */
  name: string;
  preset?: string;
  flags?: string;
  pipeline?: PipelineSpec;
}

export interface ImportPipeline {
  pipeline: CompletePipeline;
  /** The whole flag set (preset + flags) when the pipeline came from flags. */
  flags?: string;
  /** What image_train.py builds from them (args, training recipe, notes). */
  recipe?: ReferenceRecipe;
}

/** The pipeline of a checkpoint, from its preset and/or flags or as given; every mistake is BAD_REQUEST. */
export function pipelineForImport(source: ImportSource): ImportPipeline {
  if (source.pipeline) {
    if (source.preset !== undefined || source.flags !== undefined) throw badRequest('Give a pipeline or a preset/flags, not both');
    const p = source.pipeline;
    return { pipeline: checkPipeline({ ...p, unet: { ...(p.unet ?? {}), model: source.name } }, 'pipeline') };
  }
  let flags: string;
  try {
    flags = source.preset !== undefined ? presetFlags(source.preset, source.flags ?? '') : (source.flags ?? '');
  } catch (err) {
    throw badRequest((err as Error).message);
  }
  if (flags.trim() === '') throw badRequest('Give a reference preset, the flags the checkpoint was trained with, or its pipeline');
  try {
    const recipe = pipelineFromFlags(flags, { model: source.name });
    return { pipeline: recipe.pipeline, flags, recipe };
  } catch (err) {
    throw badRequest(`The flags cannot build a model: ${(err as Error).message}`);
  }
}

export type CheckpointFormat = 'torch-zip' | 'torch-legacy' | 'safetensors';

/** A checkpoint's tensors by name, in file order, and what kind of file it was. */
export function readCheckpointTensors(bytes: Uint8Array, label: string): { format: CheckpointFormat; tensors: Map<string, SafeTensor> } {
  const torch = detectTorchFormat(bytes);
  try {
    if (torch) return { format: torch === 'zip' ? 'torch-zip' : 'torch-legacy', tensors: readTorchStateDict(bytes) };
    const header = bytes.length >= 9 ? bytes[8] : -1;
    if (header !== 0x7b) throw new Error('neither a PyTorch checkpoint (zip or legacy torch.save) nor a safetensors file');
    return { format: 'safetensors', tensors: parseSafetensors(bytes) };
  } catch (err) {
    throw badRequest(`${label}: ${(err as Error).message}`);
  }
}

const FLOAT_DTYPES = ['F32', 'F64', 'F16', 'BF16'];

/** The likeliest flag behind each mismatch of the tensors that reveal the architecture. */
function hints(dict: ReadonlyMap<string, SafeTensor>, params: readonly ParamSpec[], config: UNetConfig): string[] {
  const out: string[] = [];
  const shapeOf = (name: string): number[] | undefined => dict.get(name)?.shape;
  const first = shapeOf('input_blocks.0.0.weight');
  if (first && first.length === 4) {
    if (first[0] !== config.modelChannels) out.push(`the file's model has ${first[0]} base channels (--num_channels), the pipeline ${config.modelChannels}`);
    if (first[1] !== config.inChannels) out.push(`the file's model takes ${first[1]} image channels, the pipeline ${config.inChannels}`);
  }
  const last = shapeOf('out.2.weight');
  if (last && last.length === 4 && last[0] !== config.outChannels) {
    out.push(`the file's model outputs ${last[0]} channels, the pipeline ${config.outChannels} (${config.outChannels === 2 * config.inChannels ? 'a learned variance' : 'a fixed variance'}): check --learn_sigma`);
  }
  const labels = shapeOf('label_emb.weight');
  if (labels && config.numClasses === null) {
    out.push(`the file's model is class-conditional (${labels[0]} classes): ${labels[0] === 1000 ? 'add --class_cond True' : 'image_train.py\'s --class_cond means 1000 classes, so give its pipeline or launch.py instead of flags'}`);
  }
  else if (!labels && config.numClasses !== null) out.push('the file\'s model is unconditional: drop --class_cond');
  else if (labels && labels[0] !== config.numClasses) out.push(`the file's model has ${labels[0]} classes, the pipeline ${config.numClasses}`);
  const count = (names: Iterable<string>, re: RegExp): number => new Set([...names].filter((k) => re.test(k)).map((k) => k.replace(/\.(weight|bias)$/, ''))).size;
  const attnFile = count(dict.keys(), /\.qkv\.weight$/);
  const attnOurs = count(params.map((s) => s.name), /\.qkv\.weight$/);
  if (attnFile !== attnOurs) out.push(`the file has ${attnFile} attention blocks, the pipeline ${attnOurs}: check --attention_resolutions (pixel sizes, e.g. 16,8) and --num_res_blocks`);
  const blocks = (names: Iterable<string>): number => new Set([...names].map((k) => /^input_blocks\.(\d+)\./.exec(k)?.[1]).filter((x) => x !== undefined)).size;
  if (blocks(dict.keys()) !== blocks(params.map((s) => s.name))) out.push(`the file has ${blocks(dict.keys())} input blocks, the pipeline ${blocks(params.map((s) => s.name))}: check --num_res_blocks and --image_size (which fixes channel_mult)`);
  // With the same base channels, a ResBlock's embedding projection is 2·out wide with scale-shift norm, out without.
  const own = params.find((s) => s.name.endsWith('.emb_layers.1.weight'));
  const theirs = own ? dict.get(own.name)?.shape : undefined;
  if (first?.[0] === config.modelChannels && own && theirs && theirs[0] !== own.torchShape[0]) {
    out.push(`the ResBlocks' embedding projections have ${theirs[0]} outputs in the file, ${own.torchShape[0]} in the pipeline: check --use_scale_shift_norm`);
  }
  if (dict.size > 0 && [...dict.keys()].every((k) => k.startsWith('module.'))) out.push('every name starts with "module.": the state_dict of a DistributedDataParallel wrapper, not of the model');
  return out;
}

/**
 * The checkpoint's tensors as the UNet of `config` expects them: every parameter of `params` present with its
 * PyTorch shape and a float dtype, nothing else, returned as float32 in state_dict order (the model folder's
 * weights layout). Throws BAD_REQUEST listing missing and unexpected names and shape mismatches, with hints.
 */
export function matchStateDict(dict: ReadonlyMap<string, SafeTensor>, params: readonly ParamSpec[], config: UNetConfig, label: string): Map<string, SafeTensor> {
  const expected = new Map(params.map((s) => [s.name, s]));
  const missing = params.filter((s) => !dict.has(s.name)).map((s) => s.name);
  const unexpected = [...dict.keys()].filter((k) => !expected.has(k));
  const problems: string[] = [];
  const list = (names: string[]): string => `${names.slice(0, 8).join(', ')}${names.length > 8 ? `, … (${names.length - 8} more)` : ''}`;
  if (missing.length) problems.push(`${missing.length} missing key(s): ${list(missing)}`);
  if (unexpected.length) problems.push(`${unexpected.length} unexpected key(s): ${list(unexpected)}`);
  const mismatched: string[] = [];
  for (const s of params) {
    const t = dict.get(s.name);
    if (!t) continue;
    if (t.shape.join() !== s.torchShape.join()) mismatched.push(`${s.name} is [${t.shape}] in the file, [${s.torchShape}] in the pipeline's UNet`);
    else if (!FLOAT_DTYPES.includes(t.dtype)) mismatched.push(`${s.name} has dtype ${t.dtype}, not a float type`);
  }
  if (mismatched.length) problems.push(`${mismatched.length} shape mismatch(es): ${mismatched.slice(0, 6).join('; ')}${mismatched.length > 6 ? `; … (${mismatched.length - 6} more)` : ''}`);
  if (problems.length) {
    const why = hints(dict, params, config);
    throw badRequest(`${label} does not fit the pipeline's UNet (${params.length} parameters; the file has ${dict.size} tensors): ${problems.join('; ')}${why.length ? `. Likely: ${why.join('; ')}` : ''}`);
  }
  const out = new Map<string, SafeTensor>();
  for (const s of params) {
    const t = dict.get(s.name) as SafeTensor;
    // F16/BF16 were decoded to float32 by the reader; F64 is narrowed (the engine computes in float32).
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array);
    out.set(s.name, { dtype: 'F32', shape: [...s.torchShape], data });
  }
  return out;
}
