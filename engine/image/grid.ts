/**
 * Layouts for previews: tiling a batch into one image (as torchvision's `make_grid`) and integer
 * nearest-neighbour upscaling so 28x28 samples are visible in the editor.
 */
import { ImageBatch } from './pixels';

export interface GridOptions {
  /** Images per row. Default: ceil(sqrt(N)), a near-square grid. */
  columns?: number;
  /** Pixels between tiles and around the border. */
  padding?: number;
  /**
   * Value of the gutters, in [-1, 1]. Default 1 (white): samples of MNIST-like data have black
   * backgrounds, and black gutters would merge the tiles into one picture.
   */
  padValue?: number;
}

/** Where makeGrid puts n tiles of h×w: the grid's size and the top-left corner of tile k. */
function gridLayout(n: number, h: number, w: number, options: GridOptions): { columns: number; padding: number; gridH: number; gridW: number; corner: (k: number) => [number, number] } {
  const columns = Math.min(options.columns ?? Math.ceil(Math.sqrt(n)), n);
  const padding = options.padding ?? 2;
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`grid columns must be a positive integer, got ${columns}`);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`grid padding must be a non-negative integer, got ${padding}`);
  const rows = Math.ceil(n / columns);
  return {
    columns, padding, gridH: rows * (h + padding) + padding, gridW: columns * (w + padding) + padding,
    corner: (k) => [padding + Math.floor(k / columns) * (h + padding), padding + (k % columns) * (w + padding)],
  };
}

/**
 * Tiles a batch into a single [1, H', W', C] image: `columns` tiles per row, row-major (image k at row
 * floor(k / columns), column k mod columns), `padding` pixels of `padValue` between tiles and around them.
 */
export function makeGrid(batch: ImageBatch, options: GridOptions = {}): ImageBatch {
  const [n, h, w, c] = batch.shape;
  const { gridH, gridW, corner } = gridLayout(n, h, w, options);
  const out = new Float32Array(gridH * gridW * c).fill(options.padValue ?? 1);
  for (let k = 0; k < n; k++) {
    const [top, left] = corner(k);
    for (let y = 0; y < h; y++) {
      const src = ((k * h + y) * w) * c;
      out.set(batch.data.subarray(src, src + w * c), ((top + y) * gridW + left) * c);
    }
  }
  return { shape: [1, gridH, gridW, c], data: out };
}

/**
 * The tiles of a makeGrid image back as an [n, h, w, C] batch (n tiles of h×w, read row-major with the same
 * `columns` and `padding`): a stored grid of samples measured again without its run.
 */
export function splitGrid(grid: ImageBatch, n: number, h: number, w: number, options: Pick<GridOptions, 'columns' | 'padding'> = {}): ImageBatch {
  const [, height, width, c] = grid.shape;
  const { columns, padding, gridH, gridW, corner } = gridLayout(n, h, w, options);
  if (height !== gridH || width !== gridW) {
    throw new Error(`a grid of ${n} tiles of ${h}x${w} in ${columns} columns with padding ${padding} is ${gridH}x${gridW}, not ${height}x${width}`);
  }
  const out = new Float32Array(n * h * w * c);
  for (let k = 0; k < n; k++) {
    const [top, left] = corner(k);
    for (let y = 0; y < h; y++) {
      const src = ((top + y) * gridW + left) * c;
      out.set(grid.data.subarray(src, src + w * c), ((k * h + y) * w) * c);
    }
  }
  return { shape: [n, h, w, c], data: out };
}

/** Enlarges every image by an integer `factor`, each pixel becoming a factor x factor block. */
export function upscaleNearest(batch: ImageBatch, factor: number): ImageBatch {
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`upscale factor must be a positive integer, got ${factor}`);
  const [n, h, w, c] = batch.shape;
  const outH = h * factor;
  const outW = w * factor;
  const out = new Float32Array(n * outH * outW * c);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < outH; y++) {
      const srcRow = ((k * h + Math.floor(y / factor)) * w) * c;
      const dstRow = ((k * outH + y) * outW) * c;
      for (let x = 0; x < outW; x++) {
        const src = srcRow + Math.floor(x / factor) * c;
        for (let ch = 0; ch < c; ch++) out[dstRow + x * c + ch] = batch.data[src + ch];
      }
    }
  }
  return { shape: [n, outH, outW, c], data: out };
}
