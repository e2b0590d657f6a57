/**
 * PNG text chunks (engine/image/png-text.ts) against independent decoders: pngjs reads the pixels of a PNG with our
 * iTXt chunk exactly as before (so the chunk layout and CRC are right), sharp still decodes it, the text comes back
 * byte for byte (UTF-8 included), a flipped bit is caught by the CRC, and compressed iTXt, tEXt and zTXt are read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { encodeChunk, encodePng, iTXtData, pngChunks, readTextChunks, withTextChunk } from '../../engine/image';
import { canonicalJson, pipelineDigest } from '../../engine/digest';

async function somePng(): Promise<Buffer> {
  const data = Float32Array.from({ length: 6 * 5 }, (_, i) => (i / 29) * 2 - 1);
  return encodePng(data, 6, 5, 1);
}

/** A PNG with `chunk` inserted right after IHDR. */
function insertAfterIhdr(png: Buffer, chunk: Buffer): Buffer {
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}

test('an iTXt chunk: pngjs and sharp decode the same pixels, the text reads back exactly, after IHDR', async () => {
  const png = await somePng();
  const text = JSON.stringify({ seed: 4294967295, note: 'x̂₀ — ᾱ_t, 日本語' });
  const tagged = withTextChunk(png, 'iddpm', text);
  assert.deepEqual(pngChunks(tagged).map((c) => c.type).slice(0, 2), ['IHDR', 'iTXt']);
  assert.deepEqual(PNG.sync.read(tagged).data, PNG.sync.read(png).data);
  const raw = await sharp(tagged).raw().toBuffer();
  assert.deepEqual(raw, await sharp(png).raw().toBuffer());
  assert.equal(readTextChunks(tagged).get('iddpm'), text);
  assert.equal(tagged.length, png.length + 12 + Buffer.byteLength('iddpm') + 5 + Buffer.byteLength(text));
});

test('writing the same keyword again replaces the chunk; other keywords stay', async () => {
  const png = withTextChunk(withTextChunk(await somePng(), 'Comment', 'hello'), 'iddpm', 'one');
  const again = withTextChunk(png, 'iddpm', 'two');
  assert.equal(pngChunks(again).filter((c) => c.type === 'iTXt').length, 2);
  assert.deepEqual([...readTextChunks(again)], [['iddpm', 'two'], ['Comment', 'hello']]);
});

test('a flipped bit fails the CRC; a truncated file and a non-PNG are refused', async () => {
  const tagged = withTextChunk(await somePng(), 'iddpm', 'abc');
  const bad = Buffer.from(tagged);
  bad[8 + 12 + 13 + 8 + 2] ^= 1; // a byte of the iTXt keyword
  assert.throws(() => pngChunks(bad), /iTXt at byte 33 has a bad CRC/);
  assert.throws(() => pngChunks(tagged.subarray(0, 40)), /runs past the end|truncated/);
  assert.throws(() => pngChunks(Buffer.from('GIF89a0123456789')), /not a PNG/);
  assert.throws(() => withTextChunk(tagged, ' bad', 'x'), /keyword/);
  assert.throws(() => withTextChunk(tagged, 'x'.repeat(80), 'x'), /keyword/);
});

test('compressed iTXt, tEXt and zTXt written by others are read', async () => {
  const png = await somePng();
  const zlibbed = insertAfterIhdr(png, encodeChunk('iTXt', iTXtData('a', 'ünïcode '.repeat(40), true)));
  assert.equal(readTextChunks(zlibbed).get('a'), 'ünïcode '.repeat(40));
  const tEXt = insertAfterIhdr(png, encodeChunk('tEXt', Buffer.from('Title\0caf\xe9', 'latin1')));
  assert.equal(readTextChunks(tEXt).get('Title'), 'café');
  const zTXt = insertAfterIhdr(png, encodeChunk('zTXt', Buffer.concat([Buffer.from('Z\0\0', 'latin1'), deflateSync(Buffer.from('zipped', 'latin1'))])));
  assert.equal(readTextChunks(zTXt).get('Z'), 'zipped');
  // pngjs accepts what we wrote (its CRC check is on by default).
  assert.equal(PNG.sync.read(zlibbed).width, 5);
});

test('canonical JSON sorts keys at every level; the pipeline digest ignores key order only', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: null }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[1,{"y":null,"z":0}]},"b":1}');
  const p = { schedule: { kind: 'cosine', steps: 1000 }, loss: { kind: 'hybrid', lambda: 0.001 } };
  const q = { loss: { lambda: 0.001, kind: 'hybrid' }, schedule: { steps: 1000, kind: 'cosine' } };
  assert.equal(pipelineDigest(p), pipelineDigest(q));
  assert.match(pipelineDigest(p), /^sha256:[0-9a-f]{64}$/);
  assert.notEqual(pipelineDigest(p), pipelineDigest({ ...q, loss: { lambda: 0.002, kind: 'hybrid' } }));
});
