/**
 * Tensors and storages inside a torch.save pickle (torch/serialization.py, torch/_utils.py):
 *   a storage is a persistent id `('storage', torch.FloatStorage, key, location, numel[, view_metadata])`;
 *   a tensor is `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 *   backward_hooks[, metadata])`, and a Parameter wraps one in `_rebuild_parameter(tensor, requires_grad, hooks)`.
 * This module holds the allow-list of globals a state dict or optimizer state dict needs, validates every storage
 * and view against the bytes really present, and turns views into contiguous SafeTensors (gathering strided
 * ones). The total it materialises is capped at a small multiple of the file size, checked before allocating.
 */
import { SafeDtype, SafeTensor, decodeTensorBytes } from '../safetensors';
import type { AllowedGlobal } from './pickle';
import { PyGlobal, PyOrderedDict, PyTuple, PyValue, isPyInt, pyTypeName } from './pyvalue';

/** A checkpoint as Python values, tensors as SafeTensor (F16/BF16 decoded to float32, as parseSafetensors does). */
export type TorchValue = PyValue<SafeTensor>;

export class TorchCheckpointError extends Error {}

export function fail(message: string): never {
  throw new TorchCheckpointError(`Invalid PyTorch checkpoint: ${message}`);
}

/** torch's storage classes (`torch.<Name>`; `torch.cuda.<Name>` in old GPU checkpoints) and their dtypes. */
export const STORAGE_DTYPES: Readonly<Record<string, SafeDtype>> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};
export const ELEMENT_BYTES: Readonly<Record<SafeDtype, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
/** Bytes per element once decoded (half types become float32). */
const DECODED_BYTES: Readonly<Record<SafeDtype, number>> = { ...ELEMENT_BYTES, F16: 4, BF16: 4 };

/** Tensor data materialised from one file may total at most this multiple of the file size (plus SLACK_BYTES). */
export const MAX_EXPANSION = 4;
const SLACK_BYTES = 1 << 16;
/** Values nested deeper than this are refused (a state dict is 1 deep, an optimizer state dict 4). */
export const MAX_DEPTH = 64;

/** A storage named by a persistent id; `bytes` is filled from the file (a view of it, never a copy). */
export class TorchStorage {
  bytes?: Uint8Array;
  constructor(
    readonly key: string,
    readonly dtype: SafeDtype,
    /** Elements declared by the pickle. */
    readonly numel: number,
    /** Legacy storage views: the root storage and this view's first element in it. */
    readonly root?: TorchStorage,
    readonly rootOffset = 0,
  ) {}
  /** This storage's bytes (a view's are a slice of its root's); undefined until the file supplied them. */
  data(): Uint8Array | undefined {
    if (!this.root) return this.bytes;
    const b = this.root.data();
    const el = ELEMENT_BYTES[this.dtype];
    return b?.subarray(this.rootOffset * el, (this.rootOffset + this.numel) * el);
  }
}

type Ext = SafeTensor | TorchStorage;
interface PendingView { tensor: SafeTensor; storage: TorchStorage; offset: number; stride: number[] }

const EMPTY = new Float32Array(0);

function intArg(v: PyValue<Ext>, what: string): number {
  if (!isPyInt(v) || typeof v === 'bigint' || v < 0) fail(`${what} must be a non-negative integer, got ${pyTypeName(v)} ${String(v)}`);
  return v as number;
}

function intTuple(v: PyValue<Ext>, what: string): number[] {
  if (!(v instanceof PyTuple)) fail(`${what} must be a tuple, got ${pyTypeName(v)}`);
  return (v as PyTuple<Ext>).items.map((d, i) => intArg(d, `${what}[${i}]`));
}

export function isSafeTensor(v: unknown): v is SafeTensor {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Map) return false;
  const t = v as Partial<SafeTensor>;
  return typeof t.dtype === 'string' && t.dtype in ELEMENT_BYTES && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/** Collects the storages and tensor views of one checkpoint while it is unpickled, then materialises them. */
export class TensorBuilder {
  readonly storages = new Map<string, TorchStorage>();
  private readonly pending: PendingView[] = [];
  private budget: number;

  /** `fileBytes`: the checkpoint's size, which bounds every storage and the total materialised. */
  constructor(private readonly fileBytes: number) {
    this.budget = MAX_EXPANSION * fileBytes + SLACK_BYTES;
  }

  /** The allow-list: what a state dict or optimizer state dict needs, nothing else. */
  globals(): Map<string, AllowedGlobal<Ext>> {
    const g = new Map<string, AllowedGlobal<Ext>>();
    const ordered: AllowedGlobal<Ext> = {
      call: (args) => (args.length === 0 ? new PyOrderedDict<Ext>() : fail('OrderedDict(...) with arguments is not supported')),
    };
    ordered.construct = ordered.call;
    g.set('collections.OrderedDict', ordered);
    g.set('torch._utils._rebuild_tensor_v2', { call: (a) => this.rebuild(a, '_rebuild_tensor_v2', 6, 7) });
    g.set('torch._utils._rebuild_tensor', { call: (a) => this.rebuild(a, '_rebuild_tensor', 4, 4) });
    const parameter = (name: string, n: number): AllowedGlobal<Ext> => ({
      call: (a) => {
        if (a.length !== n) fail(`${name} takes ${n} arguments, got ${a.length}`);
        if (!isSafeTensor(a[0])) fail(`${name}: the data must be a tensor, got ${pyTypeName(a[0])}`);
        return a[0];
      },
    });
    g.set('torch._utils._rebuild_parameter', parameter('_rebuild_parameter', 3));
    g.set('torch._utils._rebuild_parameter_with_state', parameter('_rebuild_parameter_with_state', 4));
    for (const name of Object.keys(STORAGE_DTYPES)) {
      g.set(`torch.${name}`, {});
      g.set(`torch.cuda.${name}`, {});
    }
    return g;
  }

  static readonly allowedDescription = 'collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter(_with_state) and torch storage types (torch.FloatStorage, …)';

  /**
   * Resolves a persistent id to its storage. `bytesFor(key, nbytes)` returns the key's bytes when the format
   * knows them now (zip), or undefined to have them filled in later (legacy); `nbytes` is checked against the
   * file before anything is allocated.
   */
  persistentLoad(pid: PyValue<Ext>, bytesFor: (key: string, nbytes: number) => Uint8Array | undefined): TorchStorage {
    if (!(pid instanceof PyTuple) || pid.length === 0) fail(`a persistent id must be a non-empty tuple, got ${pyTypeName(pid)}`);
    const [kind, type, key, , numelValue, view] = (pid as PyTuple<Ext>).items;
    const typename = kind instanceof Uint8Array ? String.fromCharCode(...kind) : kind;
    if (typename === 'module') fail('it pickles a whole nn.Module (torch.save(model)); only state dicts and plain values can be read: save model.state_dict() instead');
    if (typename !== 'storage') fail(`unknown persistent id type ${JSON.stringify(typename)}`);
    const items = (pid as PyTuple<Ext>).items;
    if (items.length !== 5 && items.length !== 6) fail(`a storage id has 5 or 6 fields, got ${items.length}`);
    const storageName = type instanceof PyGlobal ? type.name : '';
    const dtype = STORAGE_DTYPES[storageName];
    if (!dtype) fail(`unsupported storage type ${pyTypeName(type)}`);
    if (typeof key !== 'string') fail(`a storage key must be a string, got ${pyTypeName(key)}`);
    const numel = intArg(numelValue, `storage ${key}: numel`);
    const nbytes = numel * ELEMENT_BYTES[dtype];
    if (nbytes > this.fileBytes) fail(`storage ${key} declares ${numel} ${dtype} elements (${nbytes} bytes), more than the whole ${this.fileBytes}-byte file`);
    let root = this.storages.get(key as string);
    if (root && (root.dtype !== dtype || root.numel !== numel)) fail(`storage ${key} is declared twice with different types or sizes`);
    if (!root) {
      root = new TorchStorage(key as string, dtype, numel);
      const bytes = bytesFor(key as string, nbytes);
      if (bytes) {
        if (bytes.length < nbytes) fail(`storage ${key} declares ${nbytes} bytes, its data holds only ${bytes.length}`);
        root.bytes = bytes.subarray(0, nbytes);
      }
      this.storages.set(key as string, root);
    }
    if (view === undefined || view === null) return root;
    if (!(view instanceof PyTuple) || view.length !== 3) fail(`storage ${key}: view metadata must be (key, offset, size), got ${pyTypeName(view)}`);
    const [, viewOffset, viewSize] = (view as PyTuple<Ext>).items;
    const offset = intArg(viewOffset, `storage ${key}: view offset`);
    const size = intArg(viewSize, `storage ${key}: view size`);
    if (offset + size > numel) fail(`storage ${key}: view [${offset}, ${offset + size}) lies outside its ${numel} elements`);
    return new TorchStorage(key as string, dtype, size, root, offset);
  }

  /** `_rebuild_tensor(_v2)`: validates the view now, materialises it in materialize(). */
  private rebuild(args: PyValue<Ext>[], name: string, min: number, max: number): SafeTensor {
    if (args.length < min || args.length > max) fail(`${name} takes ${min === max ? min : `${min} or ${max}`} arguments, got ${args.length}`);
    const storage = args[0];
    if (!(storage instanceof TorchStorage)) fail(`${name}: the first argument must be a storage, got ${pyTypeName(storage)}`);
    const s = storage as TorchStorage;
    const offset = intArg(args[1], 'storage_offset');
    const shape = intTuple(args[2], 'size');
    const stride = intTuple(args[3], 'stride');
    if (shape.length !== stride.length) fail(`size has ${shape.length} dimensions, stride ${stride.length}`);
    let numel = 1;
    for (const d of shape) numel *= d;
    const cost = numel * DECODED_BYTES[s.dtype];
    if (!(cost <= this.budget)) {
      fail(`tensor of shape [${shape}] would need ${cost} bytes, beyond the ${MAX_EXPANSION}× file-size limit for tensor data (${this.budget} bytes left)`);
    }
    this.budget -= cost;
    const last = numel === 0 ? offset : shape.reduce((acc, d, i) => acc + (d - 1) * stride[i], offset) + 1;
    if (last > s.numel) fail(`tensor view (offset ${offset}, size [${shape}], stride [${stride}]) reaches element ${last} of storage ${s.key}, which has ${s.numel}`);
    const tensor: SafeTensor = { dtype: s.dtype, shape, data: EMPTY };
    this.pending.push({ tensor, storage: s, offset, stride });
    return tensor;
  }

  /** Fills every tensor's data from its storage; a storage the file never supplied is an error. */
  materialize(): void {
    for (const { tensor, storage, offset, stride } of this.pending) {
      const bytes = storage.data();
      if (!bytes) fail(`storage ${storage.key} is used by a tensor but its data is not in the file`);
      tensor.data = decodeTensorBytes(tensor.dtype, gather(bytes as Uint8Array, ELEMENT_BYTES[tensor.dtype], offset, tensor.shape, stride));
    }
    this.pending.length = 0;
  }
}

/** The elements of a strided view as contiguous row-major bytes (a subarray when the view is contiguous). */
export function gather(bytes: Uint8Array, el: number, offset: number, shape: number[], stride: number[]): Uint8Array {
  const numel = shape.reduce((a, b) => a * b, 1);
  let expected = 1;
  let contiguous = true;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) contiguous = false;
    expected *= shape[i];
  }
  if (contiguous || numel === 0) return bytes.subarray(offset * el, (offset + numel) * el);
  const out = new Uint8Array(numel * el);
  const index = new Array<number>(shape.length).fill(0);
  let src = offset;
  for (let n = 0; n < numel; n++) {
    out.set(bytes.subarray(src * el, src * el + el), n * el);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) { src += stride[d]; break; }
      src -= (shape[d] - 1) * stride[d];
      index[d] = 0;
    }
  }
  return out;
}

/**
 * Checks the unpickled tree: no bare storage left (only tensors are supported), no reference cycle, at most
 * MAX_DEPTH levels deep. Shared subtrees are visited once, so a "memo bomb" of repeated references costs nothing.
 */
export function checkTree(value: PyValue<Ext>): TorchValue {
  const height = new Map<object, number>();
  const onPath = new Set<object>();
  const visit = (v: PyValue<Ext>, depth: number): number => {
    if (depth > MAX_DEPTH) fail(`values are nested deeper than ${MAX_DEPTH} levels`);
    if (v instanceof TorchStorage) fail(`a bare storage (${v.key}) is not supported; only tensors are`);
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || isSafeTensor(v)) return 0;
    const known = height.get(v);
    if (known !== undefined) {
      if (depth + known > MAX_DEPTH) fail(`values are nested deeper than ${MAX_DEPTH} levels`);
      return known;
    }
    if (onPath.has(v)) fail('the pickle contains a reference cycle');
    onPath.add(v);
    let h = 0;
    const children: PyValue<Ext>[] = Array.isArray(v) ? v : v instanceof PyTuple ? v.items : v instanceof Map ? [...v.keys(), ...v.values()] : [];
    if (v instanceof PyOrderedDict) children.push(...v.attributes.values());
    for (const c of children) h = Math.max(h, 1 + visit(c, depth + 1));
    onPath.delete(v);
    height.set(v, h);
    return h;
  };
  visit(value, 0);
  return value as TorchValue;
}
