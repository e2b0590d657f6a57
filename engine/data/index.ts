/** Datasets (MNIST, Fashion-MNIST, image folders, images from messages) and the shuffled batch sampler. */
export { Batch, Dataset, ArrayDataset, datasetFromImages, validateLabels } from './dataset';
export { DigitsOptions, Split, loadMnist, loadFashionMnist, readIdx } from './mnist';
export { FolderOptions, loadImageFolder } from './folder';
export { createDataset, type DatasetShape } from './create';
export { BatchSampler, BatchSamplerState } from './sampler';
