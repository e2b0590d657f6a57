/**
 * Layout conversion between the reference's PyTorch parameters and ours (NHWC-friendly):
 *   conv weight OIHW ↔ HWIO;  Linear weight [out, in] ↔ [in, out];  Conv1d(k=1) weight [O, I, 1] ↔ [I, O].
 * Biases, GroupNorm affine parameters and the label embedding table are the same in both.
 */
import type { SafeTensor } from '../safetensors';
import type { ParamSpec } from './layout';

/** conv OIHW → HWIO. */
function oihwToHwio(src: Float32Array, [o, i, h, w]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((y * w + x) * i + b) * o + a] = src[((a * i + b) * h + y) * w + x];
  return out;
}

/** conv HWIO → OIHW. */
function hwioToOihw(src: Float32Array, [h, w, i, o]: number[]): Float32Array {
  const out = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((a * i + b) * h + y) * w + x] = src[((y * w + x) * i + b) * o + a];
  return out;
}

/** [rows, cols] → [cols, rows]. */
function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

function isMatrix(spec: ParamSpec): boolean {
  return spec.role === 'weight' && (spec.kind === 'linear' || spec.kind === 'conv1d');
}

/** PyTorch-layout values of one parameter → ours. */
export function fromTorchLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  if (spec.kind === 'conv' && spec.role === 'weight') return oihwToHwio(data, spec.torchShape);
  if (isMatrix(spec)) return transpose2d(data, spec.torchShape[0], spec.torchShape[1]);
  return data;
}

/** Our values of one parameter → PyTorch layout. */
export function toTorchLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  if (spec.kind === 'conv' && spec.role === 'weight') return hwioToOihw(data, spec.shape);
  if (isMatrix(spec)) return transpose2d(data, spec.shape[0], spec.shape[1]);
  return data;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Checks a state dict against the expected parameters — every key present, no unknown key, shapes equal, a
 * floating-point dtype — and returns each parameter's values in our layout, in `specs` order.
 */
export function importStateDict(specs: ParamSpec[], dict: Map<string, SafeTensor>): Map<string, Float32Array> {
  const expected = new Set(specs.map((s) => s.name));
  const missing = specs.filter((s) => !dict.has(s.name)).map((s) => s.name);
  const unknown = [...dict.keys()].filter((k) => !expected.has(k));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.length} parameter(s): ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`);
  if (unknown.length) problems.push(`unknown parameter(s) for this UNet config: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`);
  for (const s of specs) {
    const t = dict.get(s.name);
    if (!t) continue;
    if (!sameShape(t.shape, s.torchShape)) problems.push(`${s.name} has shape [${t.shape}], expected [${s.torchShape}]`);
    else if (!['F32', 'F64', 'F16', 'BF16'].includes(t.dtype)) problems.push(`${s.name} has dtype ${t.dtype}, expected a float type`);
  }
  if (problems.length) throw new Error(`State dict does not match the UNet config: ${problems.join('; ')}`);
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    const t = dict.get(s.name) as SafeTensor;
    const values = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array);
    out.set(s.name, fromTorchLayout(s, values));
  }
  return out;
}
