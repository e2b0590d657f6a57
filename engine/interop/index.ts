/**
 * Interop with PyTorch checkpoints (`.pt`), without Python: a restricted unpickler and a protocol-2 pickler,
 * reading torch.save's zip and legacy formats, writing the zip format torch.load reads, and the reference's
 * AdamW optimizer state. See each module's header for the format details.
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
