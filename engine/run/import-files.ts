/**
 * Which files an import request may read: only regular files inside the engine's import folders (Node-RED's
 * `iddpmImportDirs`, default `<userDir>/iddpm/import`). A request names a file relative to one of them (or by an
 * absolute path inside one). Both the folder and the file are resolved to their real paths (symlinks followed)
 * before they are compared, so `../`, absolute paths elsewhere and symlinks pointing out of the folder are all
 * refused, with one neutral message that does not say whether the file exists.
 *
 * The file is then opened with O_NOFOLLOW and checked on the open descriptor (a regular file, at most
 * LIMITS.importFileBytes), so a name swapped for a symlink after the check is not followed.
 */
import * as fs from 'node:fs';
import { EngineError, LIMITS, shown } from '../spec';
import { realPathUnder } from './paths';

/** The one refusal for a name that is not a readable file inside an import folder. */
export function notImportable(given: string): EngineError {
  return new EngineError(`No checkpoint ${shown(given)} in the import folder (the setting iddpmImportDirs; names are relative to it)`, 'NOT_FOUND');
}

/** The real path of `given` inside one of `roots` (first match wins), or the neutral NOT_FOUND. */
export function resolveImportFile(given: string, roots: readonly string[]): string {
  const real = realPathUnder(roots, given, 'file');
  if (!real) throw notImportable(String(given));
  return real;
}

/** Reads a resolved file without following a symlink put in its place, refusing files above the size limit. */
export async function readImportFile(realPath: string, given: string, maxBytes: number = LIMITS.importFileBytes): Promise<Buffer> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(realPath, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch {
    throw notImportable(given);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notImportable(given);
    if (stat.size > maxBytes) throw new EngineError(`${shown(given)} has ${stat.size} bytes, more than the ${maxBytes} a checkpoint import reads`, 'TOO_LARGE');
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
