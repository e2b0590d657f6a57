/**
 * The import folders (engine/run/import-files.ts): a name inside them is read; `../`, absolute paths elsewhere,
 * symlinks (of files or folders) pointing out, folders, NUL bytes and names that do not exist all get the same
 * neutral NOT_FOUND, which does not tell which; an import folder that is itself a symlink works (real paths on
 * both sides); an import through importReferenceCheckpoint with importDirs reads nothing outside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../engine/spec';
import { notImportable, readImportFile, resolveImportFile } from '../../engine/run/import-files';
import { importReferenceCheckpoint } from '../../engine/run/import-reference';
import { SMALL_PIPELINE, ref, tempDir } from './import-fixtures';

function setup(): { root: string; imports: string; outside: string } {
  const root = tempDir('imp-dirs-');
  const imports = path.join(root, 'iddpm', 'import');
  const outside = path.join(root, 'secret');
  fs.mkdirSync(path.join(imports, 'runs', 'a'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(imports, 'runs', 'a', 'ema_0.9999_000100.pt'), ref('unet_small.pt'));
  fs.writeFileSync(path.join(outside, 'unet.pt'), ref('unet_small.pt'));
  fs.symlinkSync(path.join(outside, 'unet.pt'), path.join(imports, 'link-out.pt'));
  fs.symlinkSync(outside, path.join(imports, 'dir-out'));
  fs.symlinkSync(path.join(imports, 'runs', 'a', 'ema_0.9999_000100.pt'), path.join(imports, 'link-in.pt'));
  return { root, imports, outside };
}

function refused(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof EngineError);
    assert.equal(err.code, 'NOT_FOUND', err.message);
    return err.message;
  }
  return assert.fail('expected a refusal');
}

test('names inside the import folder resolve to their real paths; everything else is one neutral NOT_FOUND', () => {
  const { root, imports, outside } = setup();
  const real = fs.realpathSync(path.join(imports, 'runs', 'a', 'ema_0.9999_000100.pt'));
  assert.equal(resolveImportFile('runs/a/ema_0.9999_000100.pt', [imports]), real);
  assert.equal(resolveImportFile(path.join(imports, 'runs/a/ema_0.9999_000100.pt'), [imports]), real, 'an absolute path inside');
  assert.equal(resolveImportFile('runs/a/../a/ema_0.9999_000100.pt', [imports]), real, '.. that stays inside');
  assert.equal(resolveImportFile('link-in.pt', [imports]), real, 'a symlink that stays inside');
  const hostile = [
    '../../secret/unet.pt', path.join(outside, 'unet.pt'), '/etc/passwd', 'link-out.pt', 'dir-out/unet.pt', 'runs',
    'runs/a', '.', '', 'no-such.pt', 'runs/a/ema_0.9999_000100.pt\0.txt', `..${path.sep}..${path.sep}secret${path.sep}unet.pt`,
  ];
  const messages = hostile.map((name) => refused(() => resolveImportFile(name, [imports])));
  // One wording for all: the message repeats what was asked, never whether or where it exists.
  messages.forEach((m, i) => assert.equal(m, notImportable(hostile[i]).message));
  assert.match(messages[0], /^No checkpoint "..\/..\/secret\/unet.pt" in the import folder \(the setting iddpmImportDirs/);
  // A second folder is searched too; a missing one is skipped.
  const second = path.join(root, 'second');
  fs.mkdirSync(second);
  fs.writeFileSync(path.join(second, 'other.pt'), 'x');
  assert.equal(resolveImportFile('other.pt', [path.join(root, 'missing'), imports, second]), fs.realpathSync(path.join(second, 'other.pt')));
  // The import folder itself may be a symlink (e.g. onto a data disk).
  fs.symlinkSync(imports, path.join(root, 'import-link'));
  assert.equal(resolveImportFile('runs/a/ema_0.9999_000100.pt', [path.join(root, 'import-link')]), real);
  refused(() => resolveImportFile('../secret/unet.pt', [path.join(root, 'import-link')]));
  fs.rmSync(root, { recursive: true, force: true });
});

test('reading refuses a file swapped for a symlink after the check, and files above the size limit', async () => {
  const { root, imports, outside } = setup();
  const real = resolveImportFile('runs/a/ema_0.9999_000100.pt', [imports]);
  assert.equal((await readImportFile(real, 'x')).length, ref('unet_small.pt').length);
  await assert.rejects(readImportFile(real, 'x', 100), (err: EngineError) => err.code === 'TOO_LARGE' && /more than the 100/.test(err.message));
  fs.rmSync(real);
  fs.symlinkSync(path.join(outside, 'unet.pt'), real);
  await assert.rejects(readImportFile(real, 'x'), (err: EngineError) => err.code === 'NOT_FOUND');
  fs.rmSync(root, { recursive: true, force: true });
});

test('an import confined to the import folders reads nothing outside and writes nothing', async () => {
  const { root, imports } = setup();
  const modelsDir = path.join(root, 'iddpm', 'models');
  const base = { name: 'm', pipeline: SMALL_PIPELINE, modelsDir, importDirs: [imports] };
  for (const file of ['../../secret/unet.pt', 'link-out.pt', 'dir-out/unet.pt']) {
    await assert.rejects(importReferenceCheckpoint({ ...base, file }), (err: EngineError) => err.code === 'NOT_FOUND');
  }
  // The EMA and optimizer files are confined too.
  await assert.rejects(importReferenceCheckpoint({ ...base, file: 'link-in.pt', ema: 'link-out.pt' }), (err: EngineError) => err.code === 'NOT_FOUND');
  await assert.rejects(importReferenceCheckpoint({ ...base, file: 'link-in.pt', opt: '../../secret/unet.pt' }), (err: EngineError) => err.code === 'NOT_FOUND');
  assert.equal(fs.existsSync(modelsDir), false);
  const { spec } = await importReferenceCheckpoint({ ...base, file: 'runs/a/ema_0.9999_000100.pt' });
  assert.deepEqual([spec.step, (spec.source as { file: string }).file], [100, 'ema_0.9999_000100.pt']);
  fs.rmSync(root, { recursive: true, force: true });
});
