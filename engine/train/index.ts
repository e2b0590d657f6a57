/** Training: the step (Adam, EMA, microbatches), metrics, the model store with atomic checkpoints, and jobs. */
export { TrainingJob, type TrainingJobInit, type PreviewFn } from './job';
export { Trainer, NonFiniteLossError, type StepResult, type TrainerParts } from './trainer';
export { ModelStore, checkpointDirName, type Checkpoint, type CheckpointInput, type OptimizerRecord, type TrainState, type TensorDict } from './store';
export { MetricsWindow, summarizeImportance, type StepLosses, type ImportanceSummary } from './metrics';
export { autoMicrobatch, tapeBytesPerImage, TAPE_BUDGET_BYTES } from './microbatch';
export { resolveTrainRequest, unetConfigFor, trainingDiffusion, datasetSpecFor, modelSpecOf, TRAIN_DEFAULTS, type ResolvedTrainOptions } from './pipeline';
