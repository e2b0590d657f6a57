/**
 * Crash-safe file writes. A file is written to a temporary name, flushed to disk (fsync) and renamed over its
 * target; the directory is fsynced so the rename itself survives a power cut. rename(2) is atomic on POSIX: a
 * reader sees the old file or the new one, never a torn one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** fsync a directory so entries created or renamed in it are durable (a no-op where directories cannot be opened). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open directories; its renames are durable on their own.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `data` to `file` (creating it) and fsyncs it. Not atomic on its own: use into a temporary name. */
export function writeFileDurable(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Atomically replaces `file` with `data`: temp file in the same directory, fsync, rename, fsync the directory. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileDurable(tmp, data);
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}
