/**
 * Hostile and broken .pt files, built here byte by byte: code-running pickles (posix.system, builtins.eval,
 * subprocess.Popen, INST), sizes beyond the bytes present, views outside their storage, expansions, truncated
 * and compressed zips, cut pickles, deep nesting, memo bombs and cycles. Each is refused with a message that
 * says what is wrong, before anything is allocated or called; the unpickler's semantics are checked too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { readTorchCheckpoint, readTorchStateDict, unpickle, PyTuple, PyOrderedDict } from '../../engine/interop';
import type { AllowedGlobal } from '../../engine/interop';
import { OP, PickleAssembler, legacyFile, referenceDir, torchZip, u64 } from './interop-helpers';

const marker = join(tmpdir(), `iddpm-pt-exploit-${process.pid}`);
rmSync(marker, { force: true });

/** `posix.system("touch <marker>")` as pickle.dumps writes it for os.system. */
const systemPayload = new PickleAssembler().global('posix', 'system').op(OP.BINPUT, 0).str(`touch ${marker}`).op(OP.TUPLE1, OP.REDUCE).bytes();

test('the exploit payload is a real one: with posix.system allowed it would run the command', () => {
  const calls: unknown[] = [];
  unpickle(systemPayload, { globals: new Map<string, AllowedGlobal<never>>([['posix.system', { call: (args) => (calls.push(args), 0) }]]) });
  assert.deepEqual(calls, [[`touch ${marker}`]]);
});

test('globals outside the allow-list are refused by name before anything is called', () => {
  const zip = torchZip(systemPayload);
  assert.throws(() => readTorchCheckpoint(zip), /Invalid PyTorch checkpoint: data\.pkl: refusing Python global posix\.system: only collections\.OrderedDict, torch\._utils\._rebuild_tensor_v2 .* nothing from the file is executed \(opcode GLOBAL at byte 2\)/);
  assert.throws(() => readTorchCheckpoint(legacyFile(systemPayload, [])), /object: refusing Python global posix\.system/);
  // builtins.eval through STACK_GLOBAL, as protocol 4 writes it.
  const evalPayload = new PickleAssembler().op(OP.SHORT_BINUNICODE, 8, ...Buffer.from('builtins'), OP.MEMOIZE, OP.SHORT_BINUNICODE, 4, ...Buffer.from('eval'), OP.MEMOIZE, OP.STACK_GLOBAL)
    .str(`__import__('os').system('touch ${marker}')`).op(OP.TUPLE1, OP.REDUCE).bytes();
  assert.throws(() => readTorchCheckpoint(torchZip(evalPayload)), /refusing Python global builtins\.eval.*opcode STACK_GLOBAL/);
  // Hidden inside an otherwise valid state dict, after an allowed OrderedDict() call.
  const hidden = new PickleAssembler().global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE, OP.REDUCE, OP.MARK).str('w')
    .global('subprocess', 'Popen').op(OP.EMPTY_LIST).str('touch').op(OP.APPEND).str(marker).op(OP.APPEND, OP.TUPLE1, OP.REDUCE, OP.SETITEMS).bytes();
  assert.throws(() => readTorchCheckpoint(torchZip(hidden)), /refusing Python global subprocess\.Popen/);
  const inst = new PickleAssembler().op(OP.MARK).str(`touch ${marker}`).op(OP.INST, ...Buffer.from('os\nsystem\n')).bytes();
  assert.throws(() => readTorchCheckpoint(torchZip(inst)), /data\.pkl: this opcode is not allowed in a checkpoint \(opcode INST at byte \d+\)/);
  assert.equal(existsSync(marker), false, 'nothing ran');
  // An allowed value-only global cannot be called either.
  const callStorage = new PickleAssembler().global('torch', 'FloatStorage').op(OP.EMPTY_TUPLE, OP.REDUCE).bytes();
  assert.throws(() => readTorchCheckpoint(torchZip(callStorage)), /torch\.FloatStorage cannot be called here/);
});

/** data.pkl of `{'w': _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}`. */
function tensorPickle(numel: number, size: number[], stride: number[], offset = 0): Uint8Array {
  const p = new PickleAssembler().op(OP.EMPTY_DICT).str('w').global('torch._utils', '_rebuild_tensor_v2').op(OP.MARK)
    .op(OP.MARK).str('storage').global('torch', 'FloatStorage').str('0').str('cpu').raw([OP.LONG1, 8, ...u64(BigInt(numel))]).op(OP.TUPLE, OP.BINPERSID)
    .int(offset).op(OP.MARK);
  for (const d of size) p.raw([OP.LONG1, 8, ...u64(BigInt(d))]);
  p.op(OP.TUPLE, OP.MARK);
  for (const s of stride) p.int(s);
  return p.op(OP.TUPLE, OP.NEWFALSE).global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE, OP.REDUCE, OP.TUPLE, OP.REDUCE, OP.SETITEM).bytes();
}
const floats = (...v: number[]): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);

test('a valid hand-made tensor pickle reads (the baseline the refusals below differ from)', () => {
  const dict = readTorchStateDict(torchZip(tensorPickle(4, [2, 2], [2, 1]), { 0: floats(1, 2, 3, 4) }));
  assert.deepEqual([...dict.get('w')!.data], [1, 2, 3, 4]);
});

test('a 1 KB file declaring a 10 GB storage is refused before allocating', () => {
  const numel = 2_684_354_560; // 10 GiB of float32
  const file = torchZip(tensorPickle(numel, [numel], [1]), { 0: floats(1, 2, 3, 4) });
  assert.ok(file.length < 1024, `${file.length} bytes`);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => readTorchCheckpoint(file), /storage 0 declares 2684354560 F32 elements \(10737418240 bytes\), more than the whole \d+-byte file/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'no large allocation');
  // Within the file size but beyond the storage entry.
  const padded = torchZip(tensorPickle(100, [100], [1]), { 0: floats(1, 2, 3, 4), pad: new Uint8Array(1000) });
  assert.throws(() => readTorchCheckpoint(padded), /storage 0 declares 400 bytes, its data holds only 16/);
});

test('views outside their storage and expansions beyond the file size are refused', () => {
  const data = { 0: floats(1, 2, 3, 4) };
  assert.throws(() => readTorchCheckpoint(torchZip(tensorPickle(4, [8], [1]), data)), /tensor view \(offset 0, size \[8\], stride \[1\]\) reaches element 8 of storage 0, which has 4/);
  assert.throws(() => readTorchCheckpoint(torchZip(tensorPickle(4, [2, 2], [2, 1], 1), data)), /reaches element 5 of storage 0/);
  assert.throws(() => readTorchCheckpoint(torchZip(tensorPickle(4, [2, 3], [1, 2]), data)), /reaches element 6/);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => readTorchCheckpoint(torchZip(tensorPickle(1, [100_000_000], [0]), data)), /tensor of shape \[100000000\] would need 400000000 bytes, beyond the 4× file-size limit/);
  assert.throws(() => readTorchCheckpoint(torchZip(tensorPickle(1, [2 ** 40, 2 ** 40], [0, 0]), data)), /would need \d.*bytes, beyond the 4× file-size limit/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'no large allocation');
});

test('truncated, compressed and incomplete zips are refused clearly', () => {
  const good = readFileSync(join(referenceDir(), 'unet_small.pt'));
  assert.throws(() => readTorchCheckpoint(good.subarray(0, good.length >> 1)), /Invalid PyTorch checkpoint: not a readable zip archive \(invalid zip data\); the file may be truncated or corrupt/);
  assert.throws(() => readTorchCheckpoint(good.subarray(0, good.length - 10)), /not a readable zip archive/);
  const pkl = tensorPickle(4, [4], [1]);
  const cut = (n: number): Uint8Array => torchZip(pkl.subarray(0, pkl.length - n), { 0: floats(1, 2, 3, 4) });
  assert.throws(() => readTorchCheckpoint(cut(1)), /data\.pkl: the pickle ends before its STOP opcode \(truncated\?\)/);
  assert.throws(() => readTorchCheckpoint(cut(30)), /data\.pkl: unterminated line \(truncated pickle\?\) \(opcode GLOBAL at byte \d+\)/);
  assert.throws(() => readTorchCheckpoint(cut(45)), /data\.pkl: needs \d+ more bytes, only \d+ remain \(truncated pickle\?\)/);
  const deflated = zipSync({ 'archive/data.pkl': [pkl, { level: 6 }], 'archive/version': Buffer.from('3\n') });
  assert.throws(() => readTorchCheckpoint(deflated), /zip entry archive\/data\.pkl is compressed \(method 8\); torch writes checkpoints uncompressed/);
  assert.throws(() => readTorchCheckpoint(torchZip(pkl)), /storage 0 is used but archive\/data\/0 is not in the archive/);
  const script = zipSync({ 'model/constants.pkl': [pkl, { level: 0 }], 'model/version': [Buffer.from('3\n'), { level: 0 }] });
  assert.throws(() => readTorchCheckpoint(script), /model\/data\.pkl is missing \(is this a TorchScript archive or another zip file\?\)/);
  assert.throws(() => readTorchCheckpoint(zipSync({ 'data.pkl': [pkl, { level: 0 }] })), /zip entry "data\.pkl" is not inside a folder/);
  assert.throws(() => readTorchCheckpoint(Buffer.from('not a checkpoint at all')), /neither the zip format/);
});

test('legacy files: wrong magic, truncated storages and count mismatches are refused', () => {
  const good = readFileSync(join(referenceDir(), 'unet_small_legacy.pt'));
  assert.throws(() => readTorchCheckpoint(good.subarray(0, good.length - 100)), /storage \d+ needs \d+ bytes, only \d+ remain \(truncated\?\)/);
  // Cut inside the pickle: the first storage (16 KB) is already larger than what is left.
  assert.throws(() => readTorchCheckpoint(good.subarray(0, 5000)), /storage \d+ declares 4096 F32 elements \(16384 bytes\), more than the whole 5000-byte file/);
  const small = legacyFile(new PickleAssembler().op(OP.EMPTY_DICT).str('w').op(OP.NONE, OP.SETITEM).bytes(), []);
  assert.throws(() => readTorchCheckpoint(small.subarray(0, small.length - 10)), /object: needs 1 more bytes, only 0 remain \(truncated pickle\?\) \(opcode BINUNICODE/);
  assert.throws(() => readTorchCheckpoint(new PickleAssembler().int(5).bytes()), /starts with torch's magic number, this pickle holds int 5/);
  const pkl = tensorPickle(4, [4], [1]);
  assert.deepEqual([...readTorchStateDict(legacyFile(pkl, [{ key: '0', count: 4n, data: floats(1, 2, 3, 4) }])).get('w')!.data], [1, 2, 3, 4]);
  assert.throws(() => readTorchCheckpoint(legacyFile(pkl, [{ key: '0', count: 5n, data: floats(1, 2, 3, 4, 5) }])), /storage 0 holds 5 elements, the pickle declared 4/);
  assert.throws(() => readTorchCheckpoint(legacyFile(pkl, [])), /storage 0 is used by a tensor but its data is not in the file/);
  assert.throws(() => readTorchCheckpoint(legacyFile(pkl, [{ key: '1', count: 4n, data: floats(1, 2, 3, 4) }])), /storage 1 is listed in the file but no tensor uses it/);
  const module = new PickleAssembler().op(OP.MARK).str('module').global('torch', 'FloatStorage').op(OP.NONE, OP.NONE, OP.TUPLE, OP.BINPERSID).bytes();
  assert.throws(() => readTorchCheckpoint(legacyFile(module, [])), /pickles a whole nn\.Module \(torch\.save\(model\)\)/);
});

test('deep nesting, cycles and memo abuse are refused; shared references stay cheap', () => {
  const deep = new PickleAssembler();
  for (let i = 0; i < 100; i++) deep.op(OP.EMPTY_LIST);
  for (let i = 0; i < 99; i++) deep.op(OP.APPEND);
  assert.throws(() => readTorchCheckpoint(torchZip(deep.bytes())), /values are nested deeper than 64 levels/);
  const cycle = new PickleAssembler().op(OP.EMPTY_LIST, OP.BINPUT, 0, OP.BINGET, 0, OP.APPEND).bytes();
  assert.throws(() => readTorchCheckpoint(torchZip(cycle)), /the pickle contains a reference cycle/);
  assert.throws(() => readTorchCheckpoint(torchZip(new PickleAssembler().op(OP.NONE, OP.LONG_BINPUT, 0xf0, 0xff, 0xff, 0xff).bytes())), /memo index 4294967280 is larger than the pickle itself/);
  assert.throws(() => readTorchCheckpoint(torchZip(new PickleAssembler().op(OP.BINGET, 3).bytes())), /memo entry 3 was never stored/);
  // A "billion laughs": level k+1 is [level k, level k], 60 levels = 2^60 leaves from a few hundred bytes.
  const bomb = new PickleAssembler().op(OP.NONE);
  for (let k = 0; k < 60; k++) bomb.op(OP.BINPUT, k, OP.POP, OP.EMPTY_LIST, OP.MARK, OP.BINGET, k, OP.BINGET, k, OP.APPENDS);
  const start = Date.now();
  const value = readTorchCheckpoint(torchZip(bomb.bytes())) as unknown[];
  assert.ok(Date.now() - start < 2000, 'linear in the file, not in the logical size');
  let level: unknown = value;
  for (let k = 0; k < 60; k++) {
    assert.ok(Array.isArray(level) && level.length === 2 && level[0] === level[1], `level ${k} shares its two children`);
    level = (level as unknown[])[0];
  }
});

test('unpickler semantics: marks, stack underflow, tuples, dict order, OrderedDict attributes, frames', () => {
  const dict = unpickle(new PickleAssembler().op(OP.EMPTY_DICT, OP.MARK).int(2).str('two').str('a').op(OP.NONE).op(OP.SETITEMS).bytes()).value as Map<unknown, unknown>;
  assert.deepEqual([...dict.entries()], [[2, 'two'], ['a', null]]);
  const tuple = unpickle(new PickleAssembler().int(1).int(2).int(3).op(OP.TUPLE3).bytes()).value as PyTuple;
  assert.ok(tuple instanceof PyTuple);
  assert.deepEqual(tuple.items, [1, 2, 3]);
  assert.throws(() => unpickle(new PickleAssembler().op(OP.MARK, OP.APPEND).bytes()), /stack underflow \(opcode APPEND at byte 3\)/);
  assert.throws(() => unpickle(new PickleAssembler().op(OP.EMPTY_LIST, OP.APPENDS).bytes()), /no MARK to pop to/);
  assert.throws(() => unpickle(new PickleAssembler().op(OP.EMPTY_DICT).int(1).op(OP.APPEND).bytes()), /can only append to a list, not to dict \(opcode APPEND at byte 5\)/);
  assert.throws(() => unpickle(new PickleAssembler().op(OP.EMPTY_LIST).int(1).int(2).op(OP.SETITEM).bytes()), /can only set items on a dict, not on list/);
  assert.throws(() => unpickle(Uint8Array.from([OP.PROTO, 2, 0xff, OP.STOP])), /unknown opcode 0xff \(corrupt pickle\?\)/);
  assert.throws(() => unpickle(Uint8Array.from([OP.PROTO, 2, OP.NONE])), /the pickle ends before its STOP opcode \(truncated\?\) \(at byte 3\)/);
  assert.throws(() => unpickle(Uint8Array.from([OP.PROTO, 2, OP.BININT, 1, 2])), /needs 4 more bytes, only 2 remain \(truncated pickle\?\) \(opcode BININT at byte 2\)/);
  // A state dict's _metadata, set with BUILD on the OrderedDict (as model.state_dict() pickles).
  const od = unpickle(new PickleAssembler().global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE, OP.REDUCE)
    .op(OP.EMPTY_DICT).str('_metadata').op(OP.EMPTY_DICT, OP.SETITEM, OP.BUILD).bytes(),
  { globals: new Map([['collections.OrderedDict', { call: () => new PyOrderedDict() }]]) }).value as PyOrderedDict;
  assert.ok(od instanceof PyOrderedDict && od.attributes.get('_metadata') instanceof Map);
  assert.throws(() => unpickle(new PickleAssembler().op(OP.EMPTY_LIST, OP.EMPTY_DICT, OP.BUILD).bytes()), /BUILD \(setting attributes\) is only allowed on an OrderedDict, not on list/);
  const framed = Uint8Array.from([OP.PROTO, 4, OP.FRAME, ...u64(3n), OP.BININT1, 9, OP.STOP]);
  assert.equal(unpickle(framed).value, 9);
});

test('random corruption of a zip and a legacy file either reads or is refused as an invalid checkpoint', () => {
  const zip = readFileSync(join(__dirname, 'interop-fixtures', 'adamw_torch1.13.pt'));
  const legacy = legacyFile(tensorPickle(4, [2, 2], [2, 1]), [{ key: '0', count: 4n, data: floats(1, 2, 3, 4) }]);
  let seed = 12345;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (const [name, file] of [['zip', zip], ['legacy', legacy]] as const) {
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(file);
      for (let k = 0; k < 1 + rand(4); k++) b[rand(b.length)] = rand(256);
      try {
        readTorchCheckpoint(b);
      } catch (err) {
        assert.ok(err instanceof Error && err.message.startsWith('Invalid PyTorch checkpoint:'), `${name} attempt ${i}: ${String(err)}`);
        refused++;
      }
    }
    assert.ok(refused > 30, `${name}: ${refused} of 300 corrupted files refused`);
  }
});
