/**
 * What a request may read: a training data folder (a Trainer's `folder` dataset) must lie under one of the
 * configured data folders (iddpmDataDirs, default <userDir>/iddpm/data), a checkpoint to import under one of the
 * import folders (iddpmImportDirs). A name is relative to a root (or absolute inside one); the root and the target
 * are compared by real path, so `../`, absolute paths elsewhere and links pointing out are all refused — each kind
 * with one neutral refusal, so the error is no oracle for what exists elsewhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badRequest } from '../spec';
import { isInside, realPathOrUndefined } from '../files';

/** The real path of the `kind` that `given` names under one of `roots` (first match wins), or undefined. */
export function realPathUnder(roots: readonly string[], given: string, kind: 'file' | 'folder'): string | undefined {
  if (typeof given !== 'string' || given.trim() === '' || given.includes('\0')) return undefined;
  for (const root of roots) {
    const base = realPathOrUndefined(root);
    if (!base) continue;
    const real = realPathOrUndefined(path.resolve(base, given));
    if (!real || !isInside(real, base)) continue;
    const stat = fs.statSync(real);
    if (kind === 'file' ? stat.isFile() : stat.isDirectory()) return real;
  }
  return undefined;
}

/** The real path of the data folder `requested` names, or one BAD_REQUEST that says only that it is not one. */
export function folderUnder(roots: readonly string[], requested: string, what = 'Data folder'): string {
  const real = realPathUnder(roots, requested, 'folder');
  if (real) return real;
  throw badRequest(`${what} ${JSON.stringify(requested)} is not a folder under the allowed folders (${roots.length ? 'setting iddpmDataDirs' : 'none configured'})`);
}
