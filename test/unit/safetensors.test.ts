/** F16 encoding of safetensors (used to ship the demo model at half the size) against known IEEE half values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { floatToHalf, parseSafetensors, writeSafetensors } from '../../engine/safetensors';

test('floatToHalf rounds to nearest even, with subnormals, overflow and NaN', () => {
  // Bit patterns as numpy's np.float16(v).view(np.uint16) gives them.
  const cases: Array<[number, number]> = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [65504, 0x7bff], [65520, 0x7c00],
    [1e-5, 0x00a8], [6e-8, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -26, 0x0001], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  for (const [v, bits] of cases) assert.equal(floatToHalf(v), bits, `half(${v})`);
  assert.equal(floatToHalf(NaN) & 0x7c00, 0x7c00);
  assert.notEqual(floatToHalf(NaN) & 0x3ff, 0);
});

test('a float32 tensor written as F16 reads back within half precision', () => {
  const data = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
  const buf = writeSafetensors({ w: { dtype: 'F16', shape: [10, 100], data } });
  const back = parseSafetensors(buf).get('w')!;
  assert.equal(back.dtype, 'F16');
  assert.deepEqual(back.shape, [10, 100]);
  for (let i = 0; i < data.length; i++) assert.ok(Math.abs(back.data[i] as number - data[i]) <= Math.abs(data[i]) * 2 ** -11 + 1e-7, `element ${i}`);
  assert.equal(buf.length, 8 + (buf.readUInt32LE(0)) + 2000);
});
