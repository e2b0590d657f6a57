/**
 * Folders a request may read: a training data folder (a Trainer's `folder` dataset) must lie under one of the
 * configured data folders (Node-RED setting iddpmDataDirs, default <userDir>/iddpm/data). Real paths are compared,
 * so a link cannot lead out; and every refusal reads the same, so the error is no oracle for what exists elsewhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badRequest } from '../spec';
import { isInside, realPathOrUndefined as realOrUndefined } from '../files';

/**
 * The real path of the folder `requested` names — relative to the first root that has it, or absolute — when it
 * is a folder inside one of `roots`; otherwise a BAD_REQUEST that says only that it is not one.
 */
export function folderUnder(roots: readonly string[], requested: string, what = 'Data folder'): string {
  const neutral = badRequest(`${what} ${JSON.stringify(requested)} is not a folder under the allowed folders (${roots.length ? 'setting iddpmDataDirs' : 'none configured'})`);
  if (typeof requested !== 'string' || requested.trim() === '' || requested.includes('\0')) throw neutral;
  const realRoots = roots.map(realOrUndefined).filter((r): r is string => r !== undefined);
  const candidates = path.isAbsolute(requested) ? [requested] : realRoots.map((r) => path.join(r, requested));
  for (const candidate of candidates) {
    const real = realOrUndefined(candidate);
    if (real && realRoots.some((r) => isInside(real, r)) && fs.statSync(real).isDirectory()) return real;
  }
  throw neutral;
}
