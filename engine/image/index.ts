/** Images as plain typed arrays: [-1, 1] <-> bytes, PNG/JPEG encode and decode, grids, resizing. */
export {
  ImageBatch, IMAGE_LIMITS, fromUint8, toUint8, validateImageBatch, checkImageSize, checkBatchElements,
} from './pixels';
export { DecodeOptions, ImageInput, encodePng, encodePngs, decodeImage, decodeImages, isPngOrJpeg } from './codec';
export { GridOptions, makeGrid, splitGrid, upscaleNearest } from './grid';
export { resizeUint8 } from './resize';
export { PngChunk, pngChunks, encodeChunk, iTXtData, withTextChunk, readTextChunks } from './png-text';
