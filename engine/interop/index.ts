/**
 * The bridge to PyTorch and the reference code (openai/improved-diffusion), without Python:
 * - PyTorch checkpoints (`.pt`): a restricted unpickler and a protocol-2 pickler, reading torch.save's zip and
 *   legacy formats, writing the zip format torch.load reads, and the reference's AdamW optimizer state;
 * - its scripts' flags ↔ our pipeline, named presets of its published runs, a generated Python launcher for any
 *   pipeline, a description of what the reference builds (state_dict, process), and the export of a dataset as the
 *   PNG folder its loader reads;
 * - importing a checkpoint (names, shapes, hints), the reference's checkpoint file names and triple, a recipe
 *   folder's files (flags, train.sh, launch.py, README), and reading a generated launch.py back.
 * See each module's header for the details.
 */
export { PyFloat, PyGlobal, PyOrderedDict, PyTuple, pyTypeName } from './pyvalue';
export type { PyDict, PyValue } from './pyvalue';
export { PickleError, unpickle } from './pickle';
export type { AllowedGlobal, UnpickleOptions } from './pickle';
export { pickle, PyPersistentId, PyReduce } from './pickle-writer';
export { TorchCheckpointError, MAX_EXPANSION, isSafeTensor } from './torch-tensors';
export type { TorchValue } from './torch-tensors';
export { detectTorchFormat, readTorchCheckpoint, readTorchStateDict } from './torch-read';
export type { TorchCheckpointFormat } from './torch-read';
export { writeTorchCheckpoint, writeTorchStateDict, floatToBfloat16 } from './torch-write';
export type { WriteTorchOptions } from './torch-write';
export { adamStateToTorch, readAdamState, REFERENCE_ADAMW } from './torch-adam';
export type { AdamExportOptions, AdamHyperparameters, TorchAdamState } from './torch-adam';
export {
  ArgValue, ReferenceArgs, ReferenceScript, MODEL_AND_DIFFUSION_DEFAULTS, IMAGE_TRAIN_DEFAULTS, IMAGE_SAMPLE_DEFAULTS,
  parseReferenceArgs, formatFlags, scriptDefaults,
} from './args';
export {
  ReferenceRecipe, ScriptFlags, FlagsResult, TrainFlags, pipelineFromFlags, flagsFromPipeline, normaliseArgs,
  scriptLimitations, unetConfigOf, SCRIPT_CHANNEL_MULT, SCRIPT_IN_CHANNELS, SCRIPT_NUM_CLASSES,
} from './flags';
export { ReferenceLossType, ReferenceVarType, ReferenceMeanType, referenceLossType, objectiveOf, sameObjective } from './mapping';
export { ReferencePreset, ReferencePresetName, REFERENCE_PRESETS, REFERENCE_PRESET_NAMES, presetFlags, pipelineFromPreset } from './presets';
export { ReferenceProcess, StateDictEntry, referenceProcess, referenceStateDict, referenceModel, parameterCount } from './describe';
export { LauncherOptions, LauncherRecipe, launcherFor } from './launcher';
export { DatasetExportOptions, DatasetExportResult, exportDatasetToFolder, fileNameFor } from './dataset-export';
export { parseCheckpointName, referenceCheckpointNames, emaRateText, torchCheckpointTriple } from './checkpoint-files';
export type { CheckpointName, CheckpointRole, TorchFile, TorchTripleInput } from './checkpoint-files';
export { pipelineForImport, readCheckpointTensors, matchStateDict } from './import';
export type { CheckpointFormat, ImportPipeline, ImportSource } from './import';
export { recipeFor, perRankBatches } from './recipe';
export type { Recipe, RecipeOptions, RecipeTraining } from './recipe';
export { pipelineFromLauncher } from './launcher-read';
