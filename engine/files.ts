/** Path checks shared by everything that reads or writes user-named files. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Whether `child` is `root` or below it (both absolute, normalised: compare real paths to rule out links). */
export function isInside(child: string, root: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The real path of `p` (links resolved), or undefined when it does not exist. */
export function realPathOrUndefined(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}
