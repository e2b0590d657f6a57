/**
 * The bridge to the reference code (openai/improved-diffusion): its scripts' flags ↔ our pipeline, named presets
 * of its published runs, a generated Python launcher for any pipeline, a description of what the reference builds
 * (state_dict, process), and the export of a dataset as the PNG folder its loader reads. Pure: no tf.
 */
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
