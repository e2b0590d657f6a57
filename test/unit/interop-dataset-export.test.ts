import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { ArrayDataset, loadImageFolder, loadMnist } from '../../engine/data';
import { exportDatasetToFolder, fileNameFor } from '../../engine/interop/dataset-export';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-export-'));
}

/**
 * A PNG file decoded by pngjs, independently of the engine's codec (sharp): [H, W, channels] by the file's
 * colour type (0 grey, 2 RGB; anything else fails) and the pixels without the RGBA expansion pngjs does.
 */
async function readPng(file: string): Promise<{ shape: number[]; pixels: Buffer }> {
  const png = PNG.sync.read(fs.readFileSync(file));
  const channels = ({ 0: 1, 2: 3 } as Record<number, number>)[png.colorType];
  if (!channels || png.depth !== 8) assert.fail(`${file}: colour type ${png.colorType}, depth ${png.depth}`);
  const pixels = Buffer.alloc(png.width * png.height * channels);
  for (let p = 0; p < png.width * png.height; p++) {
    for (let k = 0; k < channels; k++) pixels[p * channels + k] = png.data[p * 4 + k];
  }
  return { shape: [png.height, png.width, channels], pixels };
}

/** Sorted names, with the class prefix before `_` numbered in sorted prefix order: the reference's load_data. */
function referenceLabels(files: string[]): number[] {
  const names = [...files].sort().map((f) => f.split('_')[0]);
  const classes = [...new Set(names)].sort();
  return names.map((n) => classes.indexOf(n));
}

test('file names: class and index zero-padded so that sorted names follow class numbers', () => {
  assert.equal(fileNameFor(7, 42, 10, 60000), '7_00042.png');
  assert.equal(fileNameFor(3, 42, 100, 60000), '03_00042.png');
  assert.equal(fileNameFor(11, 0, 12, 5), '11_0.png');
  assert.equal(fileNameFor(null, 9, null, 10), '9.png');
  assert.equal(fileNameFor(null, 9, null, 11), '09.png');
  assert.throws(() => fileNameFor(10, 0, 10, 5), /label 10, outside the dataset's classes 0\.\.9/);
});

test('MNIST export: the exact padded 32x32 grey bytes the engine trains on, labels from the file names', async () => {
  const dir = tempDir();
  const mnist = loadMnist({ split: 'train', imageSize: 32, channels: 1 });
  const n = 50;
  const result = await exportDatasetToFolder(mnist, dir, { limit: n, chunkSize: 16 });
  assert.equal(result.files.length, n);
  assert.equal(result.numClasses, 10);
  assert.equal(fs.readdirSync(dir).length, n);
  // MNIST train image 0 is a 5.
  assert.equal(result.files[0], '5_00000.png');
  const batch = mnist.getBatch(Array.from({ length: n }, (_, i) => i));
  for (let i = 0; i < n; i++) {
    const { shape, pixels } = await readPng(path.join(dir, result.files[i]));
    assert.deepEqual(shape, [32, 32, 1]);
    assert.equal(result.files[i].split('_')[0], String(batch.y?.[i]));
    for (let k = 0; k < 32 * 32; k++) {
      const want = Math.round((batch.x[i * 1024 + k] + 1) * 127.5);
      if (pixels[k] !== want) assert.fail(`image ${i} pixel ${k}: ${pixels[k]} != ${want}`);
    }
    // The 2 px border is background.
    assert.equal(pixels[0], 0);
    assert.equal(pixels[32 * 32 - 1], 0);
  }
  fs.rmSync(dir, { recursive: true });
});

test('12 classes, RGB: the reference numbering of the name prefixes equals the dataset labels, pixels round-trip', async () => {
  const dir = tempDir();
  const count = 24;
  const [h, w, c] = [5, 4, 3];
  const pixels = Uint8Array.from({ length: count * h * w * c }, (_, i) => (i * 37 + 11) % 256);
  // Labels chosen so that unpadded names would sort 10 and 11 between 1 and 2.
  const labels = Int32Array.from({ length: count }, (_, i) => (i * 5) % 12);
  const dataset = new ArrayDataset('synthetic', [h, w, c], pixels, labels, 12);
  const result = await exportDatasetToFolder(dataset, dir);
  assert.ok(result.files.includes('10_02.png'), result.files.join(' '));
  const files = fs.readdirSync(dir);
  const sorted = [...files].sort();
  const byName = new Map(result.files.map((f, i) => [f, i]));
  const ref = referenceLabels(files);
  sorted.forEach((f, j) => assert.equal(ref[j], labels[byName.get(f) as number], f));

  const back = await loadImageFolder(dir, { imageSize: 4, channels: 3, classFromFilename: true });
  assert.equal(back.size, count);
  const reread = back.getBatch(Array.from({ length: count }, (_, i) => i));
  const original = dataset.getBatch(sorted.map((f) => byName.get(f) as number));
  assert.deepEqual(reread.y, original.y);
  // 5x4 images come back resized to 4x4 by the folder loader, so compare the raw file bytes instead.
  for (let j = 0; j < count; j++) {
    const i = byName.get(sorted[j]) as number;
    const png = await readPng(path.join(dir, sorted[j]));
    assert.deepEqual(png.shape, [h, w, c]);
    assert.deepEqual([...png.pixels], [...pixels.subarray(i * h * w * c, (i + 1) * h * w * c)]);
  }
  fs.rmSync(dir, { recursive: true });
});

test('unlabelled images are written as <index>.png', async () => {
  const dir = tempDir();
  const dataset = new ArrayDataset('plain', [2, 2, 1], new Uint8Array(3 * 4).fill(200), null);
  const result = await exportDatasetToFolder(dataset, dir);
  assert.deepEqual(result.files, ['0.png', '1.png', '2.png']);
  assert.equal(result.numClasses, null);
  assert.deepEqual([...(await readPng(path.join(dir, '2.png'))).pixels], [200, 200, 200, 200]);
  fs.rmSync(dir, { recursive: true });
});

test('refusals: a folder that already holds images, a bad limit, a channel count PNG cannot hold', async () => {
  const dir = tempDir();
  const dataset = new ArrayDataset('plain', [2, 2, 1], new Uint8Array(8), null);
  await exportDatasetToFolder(dataset, dir);
  await assert.rejects(exportDatasetToFolder(dataset, dir), /already holds 2 image file\(s\).*empty folder/);
  await assert.rejects(exportDatasetToFolder(dataset, tempDir(), { limit: 3 }), /limit must be an integer 1\.\.2/);
  const two = new ArrayDataset('two', [2, 2, 2], new Uint8Array(8), null);
  await assert.rejects(exportDatasetToFolder(two, tempDir()), /needs 1 or 3 channels, the images have 2/);
  fs.rmSync(dir, { recursive: true });
});
