/** Data-parallel training and sampling on worker threads, one wasm backend each (see pool.ts). */
export { WorkerPool, WorkerError, acquirePool, releasePool, closePool, poolThreads, workerCount } from './pool';
export { ParallelGradients, planShards } from './train';
export { generateInWorkers, forwardInWorkers, shareWeights, splitImages } from './sample';
export { WorkShare, workShare } from './share';
export { matmulGflops, poolMatmulGflops } from './peak';
export { evaluateBpdInWorkers } from './bpd';
