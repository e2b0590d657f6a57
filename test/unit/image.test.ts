import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  IMAGE_LIMITS, decodeImage, decodeImages, encodePng, encodePngs, fromUint8, makeGrid, resizeUint8, splitGrid, toUint8,
  upscaleNearest,
} from '../../engine/image';

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

/** Bytes 0..255 repeated to fill h*w*c values, offset so neighbouring images differ. */
function byteImage(h: number, w: number, c: number, offset = 0): Uint8Array {
  return Uint8Array.from({ length: h * w * c }, (_, i) => (i * 37 + offset) % 256);
}

async function pngOf(pixels: Uint8Array, h: number, w: number, c: 1 | 3): Promise<Buffer> {
  return sharp(pixels, { raw: { width: w, height: h, channels: c } }).toColourspace(c === 1 ? 'b-w' : 'srgb').png().toBuffer();
}

test('fromUint8 is pixel/127.5 - 1 in float32 and toUint8 inverts it exactly', () => {
  const x = fromUint8(ALL_BYTES);
  assert.equal(x[0], -1);
  assert.equal(x[255], 1);
  for (let p = 0; p < 256; p++) {
    assert.equal(x[p], Math.fround(Math.fround(p / 127.5) - 1));
    assert.ok(Math.abs(x[p] - (p / 127.5 - 1)) < 1e-7);
  }
  assert.deepEqual(toUint8(x), ALL_BYTES);
});

test('toUint8 rounds (x+1)*127.5 and clamps to 0..255', () => {
  const v = (p: number) => p / 127.5 - 1; // value whose scaled form is exactly p
  assert.deepEqual(Array.from(toUint8([v(10.4), v(10.6), v(254.7), 1.5, -3, NaN])), [10, 11, 255, 255, 0, 0]);
});

test('PNG encode/decode round-trips grey and RGB images exactly', async () => {
  for (const c of [1, 3] as const) {
    const x = fromUint8(byteImage(7, 5, c));
    const png = await encodePng(x, 7, 5, c);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.channels, c);
    assert.deepEqual([meta.height, meta.width], [7, 5]);
    const back = await decodeImage(png);
    assert.deepEqual(back.shape, [1, 7, 5, c]);
    assert.deepEqual(back.data, x);
  }
});

test('16-bit PNGs decode to the same 8-bit values', async () => {
  const px = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
  const png16 = await sharp(px, { raw: { width: 4, height: 3, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  assert.equal((await sharp(png16).metadata()).depth, 'ushort');
  assert.deepEqual(toUint8((await decodeImage(png16, { channels: 1 })).data), px);
});

test('encodePngs writes one PNG per image of the batch', async () => {
  const [n, h, w, c] = [3, 4, 6, 3];
  const images = Array.from({ length: n }, (_, k) => byteImage(h, w, c, 50 * k));
  const data = new Float32Array(n * h * w * c);
  images.forEach((img, k) => data.set(fromUint8(img), k * h * w * c));
  const pngs = await encodePngs({ shape: [n, h, w, c], data });
  assert.equal(pngs.length, n);
  for (let k = 0; k < n; k++) {
    const raw = await sharp(pngs[k]).raw().toBuffer();
    assert.deepEqual(new Uint8Array(raw), images[k]);
  }
});

test('splitGrid takes makeGrid\'s tiles back, in order, and refuses a grid of another layout', () => {
  const [n, h, w, c] = [7, 3, 5, 2];
  const data = Float32Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i) * 0.9);
  const grid = makeGrid({ shape: [n, h, w, c], data }, { columns: 3, padding: 1 });
  const back = splitGrid(grid, n, h, w, { columns: 3, padding: 1 });
  assert.deepEqual(back.shape, [n, h, w, c]);
  assert.deepEqual(Array.from(back.data), Array.from(data));
  assert.deepEqual(Array.from(splitGrid(makeGrid({ shape: [n, h, w, c], data }), n, h, w).data), Array.from(data), 'default layout');
  assert.throws(() => splitGrid(grid, n, h, w, { columns: 4, padding: 1 }), /a grid of 7 tiles of 3x5 in 4 columns with padding 1 is 9x25, not 13x19/);
});

test('makeGrid places image k at row floor(k/columns), column k mod columns, with padded gutters', () => {
  const [n, h, w, c] = [5, 3, 4, 1];
  const data = new Float32Array(n * h * w * c);
  for (let k = 0; k < n; k++) for (let i = 0; i < h * w; i++) data[k * h * w + i] = -0.9 + 0.1 * k + 0.001 * i;
  const pad = 2;
  const grid = makeGrid({ shape: [n, h, w, c], data }, { columns: 2, padding: pad, padValue: -1 });
  const [, gh, gw] = grid.shape;
  assert.deepEqual(grid.shape, [1, 3 * (h + pad) + pad, 2 * (w + pad) + pad, 1]);
  const covered = new Set<number>();
  for (let k = 0; k < n; k++) {
    const top = pad + Math.floor(k / 2) * (h + pad);
    const left = pad + (k % 2) * (w + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        covered.add((top + y) * gw + left + x);
        assert.equal(grid.data[(top + y) * gw + left + x], data[k * h * w + y * w + x]);
      }
    }
  }
  for (let i = 0; i < gh * gw; i++) if (!covered.has(i)) assert.equal(grid.data[i], -1);
  // Default: near-square layout, white gutters.
  const square = makeGrid({ shape: [n, h, w, c], data });
  assert.deepEqual(square.shape, [1, 2 * (h + 2) + 2, 3 * (w + 2) + 2, 1]);
  assert.equal(square.data[0], 1);
});

test('upscaleNearest repeats each pixel in a factor x factor block', () => {
  const data = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]); // [1, 2, 2, 2]
  const up = upscaleNearest({ shape: [1, 2, 2, 2], data }, 3);
  assert.deepEqual(up.shape, [1, 6, 6, 2]);
  for (let y = 0; y < 6; y++) {
    for (let x = 0; x < 6; x++) {
      for (let ch = 0; ch < 2; ch++) {
        assert.equal(up.data[(y * 6 + x) * 2 + ch], data[(Math.floor(y / 3) * 2 + Math.floor(x / 3)) * 2 + ch]);
      }
    }
  }
});

test('JPEG decodes close to the encoded image, with grey/RGB conversion', async () => {
  const [h, w] = [16, 24];
  const rgb = Uint8Array.from({ length: h * w * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    return [(p % w) * 10, Math.floor(p / w) * 15, 128][i % 3];
  });
  const jpeg = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
  const img = await decodeImage(jpeg, { channels: 3 });
  assert.deepEqual(img.shape, [1, h, w, 3]);
  const bytes = toUint8(img.data);
  let err = 0;
  for (let i = 0; i < bytes.length; i++) err += Math.abs(bytes[i] - rgb[i]);
  assert.ok(err / bytes.length < 3, `mean JPEG error ${err / bytes.length} levels`);

  const greyRgb = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => Math.floor(i / 3) * 16);
  const asGrey = await decodeImage(await pngOf(greyRgb, 4, 4, 3), { channels: 1 });
  assert.deepEqual(Array.from(toUint8(asGrey.data)), Array.from({ length: 16 }, (_, p) => p * 16));
  const asRgb = await decodeImage(await pngOf(Uint8Array.from({ length: 16 }, (_, p) => p * 16), 4, 4, 1), { channels: 3 });
  assert.deepEqual(toUint8(asRgb.data), greyRgb);
});

test('decodeImage resizes the shorter side and centre-crops (cover), as the reference loader', async () => {
  // 48 x 64 image: blue, with red in the 4 outermost columns on each side, which the crop to square removes.
  const [h, w] = [48, 64];
  const px = Uint8Array.from({ length: h * w * 3 }, (_, i) => {
    const x = Math.floor(i / 3) % w;
    const red = x < 4 || x >= w - 4;
    return (i % 3 === 0 ? red : i % 3 === 2 && !red) ? 200 : 0;
  });
  const img = await decodeImage(await pngOf(px, h, w, 3), { size: [32, 32], channels: 3 });
  assert.deepEqual(img.shape, [1, 32, 32, 3]);
  const bytes = toUint8(img.data);
  for (let p = 0; p < 32 * 32; p++) assert.deepEqual([bytes[3 * p], bytes[3 * p + 1], bytes[3 * p + 2]], [0, 0, 200]);
});

test('resizeUint8 keeps constants, reproduces linear ramps (cubic, antialiased) and agrees with sharp', async () => {
  const flat = resizeUint8(new Uint8Array(28 * 28).fill(77), 1, 28, 28, 1, 16, 16);
  assert.ok(flat.every((v) => v === 77));
  // Bicubic filters reproduce linear functions away from the border: out(i) = f((i + 0.5)·scale − 0.5).
  const ramp = Uint8Array.from({ length: 28 * 28 }, (_, i) => 20 + 7 * (i % 28));
  for (const out of [14, 56]) {
    const r = resizeUint8(ramp, 1, 28, 28, 1, 28, out);
    const scale = 28 / out;
    const margin = Math.ceil(3 / Math.min(scale, 1)) + 2;
    for (let x = margin; x < out - margin; x++) {
      assert.equal(r[5 * out + x], Math.round(20 + 7 * ((x + 0.5) * scale - 0.5)), `width ${out}, x ${x}`);
    }
  }
  const smooth = Uint8Array.from({ length: 28 * 28 }, (_, i) => Math.round(127 + 100 * Math.sin(i % 28 / 4) * Math.cos(Math.floor(i / 28) / 5)));
  // Shrinking, libvips uses the same kernel and pixel-centre convention (its enlargement aligns differently).
  for (const out of [16, 10]) {
    const ours = resizeUint8(smooth, 1, 28, 28, 1, out, out);
    const theirs = await sharp(smooth, { raw: { width: 28, height: 28, channels: 1 } })
      .resize(out, out, { kernel: 'cubic' }).toColourspace('b-w').raw().toBuffer();
    assert.equal(theirs.length, ours.length);
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff += Math.abs(ours[i] - theirs[i]);
    assert.ok(diff / ours.length < 1, `mean difference to sharp ${diff / ours.length} at ${out}`);
  }
});

test('decodeImages accepts a Buffer, an array of Buffers and a { shape, data } batch', async () => {
  const a = byteImage(6, 6, 1);
  const b = byteImage(6, 6, 1, 99);
  const one = await decodeImages(await pngOf(a, 6, 6, 1));
  assert.deepEqual(one.shape, [1, 6, 6, 1]);
  const two = await decodeImages([await pngOf(a, 6, 6, 1), await pngOf(b, 6, 6, 1)]);
  assert.deepEqual(two.shape, [2, 6, 6, 1]);
  assert.deepEqual(toUint8(two.data.subarray(36)), b);
  const resized = await decodeImages([await pngOf(a, 6, 6, 1), await pngOf(byteImage(9, 12, 1), 9, 12, 1)], { size: [4, 4], channels: 3 });
  assert.deepEqual(resized.shape, [2, 4, 4, 3]);
  const raw = await decodeImages({ shape: [1, 2, 2, 1], data: [-1, 0, 0.5, 1] });
  assert.ok(raw.data instanceof Float32Array);
  assert.deepEqual(Array.from(raw.data), [-1, 0, 0.5, 1]);
  const f32 = new Float32Array(12).fill(0.25);
  assert.equal((await decodeImages({ shape: [1, 2, 2, 3], data: f32 }, { size: [2, 2], channels: 3 })).data, f32);
});

test('decodeImages refuses bad inputs with clear errors', async () => {
  const png = await pngOf(byteImage(6, 6, 1), 6, 6, 1);
  const cases: Array<[unknown, RegExp, object?]> = [
    ['a string', /got string/],
    [42, /got number/],
    [null, /got null/],
    [Buffer.from('definitely not an image'), /not a PNG or JPEG image/],
    [png.subarray(0, 40), /could not/],
    [[], /empty/],
    [[png, 'x'], /image 1: expected a PNG or JPEG Buffer, got string/],
    [[png, await pngOf(byteImage(5, 6, 1), 5, 6, 1)], /image 1 is 5x6 but image 0 is 6x6/],
    [{ shape: [2, 2, 1], data: [0, 0, 0, 0] }, /rank 4/],
    [{ shape: [1, 2, 2, 1], data: [0, 0, 0] }, /3 values but shape \[1, 2, 2, 1\] needs 4/],
    [{ shape: [1, 2, 2, 1], data: [0, NaN, 0, 0] }, /index 1 is NaN/],
    [{ shape: [1, 2, 2, 1], data: [0, 0, Infinity, 0] }, /index 2 is Infinity/],
    [{ shape: [1, 2, 2, 1], data: [0, 0, 0, 1.5] }, /index 3 is 1.5, outside \[-1, 1\]/],
    [{ shape: [1, 2, 2, 1], data: [0, 0, '0', 0] }, /element 2 is string/],
    [{ shape: [1, 2, 2, 1], data: 'abcd' }, /Float32Array or an array of numbers/],
    [{ shape: [1, 2, 2, 2], data: new Float32Array(8) }, /1 \(grey\) or 3 \(RGB\) channels/],
    [{ shape: [1.5, 2, 2, 1], data: [0, 0, 0, 0] }, /positive integer/],
    [{ shape: [1, 2, 2, 1], data: [0, 0, 0, 0] }, /images are 2x2 but 4x4 is expected/, { size: [4, 4] }],
    [{ shape: [1, 2, 2, 1], data: [0, 0, 0, 0] }, /1 channel\(s\) but 3 expected/, { channels: 3 }],
    [{ shape: [1, 5000, 10, 1], data: [] }, /limit is 4096 pixels per side/],
    [{ shape: [10000, 1000, 1000, 3], data: [] }, /limit is \d+ per batch/],
    [png, /limit is 4096 pixels per side/, { size: [9000, 9000] }],
  ];
  for (const [input, message, options] of cases) {
    await assert.rejects(decodeImages(input, options), message, `input ${JSON.stringify(input)?.slice(0, 60)}`);
  }
  const huge = await sharp({ create: { width: IMAGE_LIMITS.maxSide + 1, height: 8, channels: 3, background: '#000' } }).png().toBuffer();
  await assert.rejects(decodeImages(huge), /image is 8x4097 pixels; the limit is 4096 pixels per side/);
  await assert.rejects(encodePng(new Float32Array(5), 2, 2, 1), /5 values/);
});
