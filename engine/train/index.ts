/** Training: the step (Adam, EMA, microbatches), metrics, the model store with atomic checkpoints. */
export { Trainer, NonFiniteLossError, type StepResult, type TrainerParts } from './trainer';
export {
  ModelStore, checkpointDirName, optimizerRecordFrom, adamStateFrom, type Checkpoint, type CheckpointInput, type ImportedCheckpointInput,
  type OptimizerRecord, type TrainState, type TensorDict,
} from './store';
export { MetricsWindow, StepClock, TimestepLosses, summarizeImportance, type StepLosses, type ImportanceSummary, type TimestepCurves, type TrainProgress } from './metrics';
export { autoMicrobatch, microbatchFor, tapeBytesPerImage, TAPE_BUDGET_BYTES } from './microbatch';
export { resolveTrainRequest, unetConfigFor, trainingDiffusion, imageShapeOf, modelSpecOf } from './pipeline';
export { modelSummary, modelSummaries, pipelineSummary, type ModelSummary } from './summary';
export type { StoredEvaluation } from './store';
