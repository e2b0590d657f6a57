/** Error measure shared by the backend tests. */
import assert from 'node:assert/strict';

/** max |a − b| / max(max |b|, 1): the error relative to the reference's magnitude. */
export function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let err = 0;
  let mag = 1;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return err / mag;
}
