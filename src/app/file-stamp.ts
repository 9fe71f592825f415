// File stamps: what says a file is still the version that was read, without reading it again. A stamp is the
// (dev, ino, size, mtime, ctime) of one lstat or fstat; two equal stamps are taken to be the same content, but
// only for a version whose ctime is older than the racy window (see `DEFAULT_RACY_WINDOW_MS`): a version changed
// more recently could change again and keep its stamp, the case git calls "racily clean"
// (Documentation/technical/racy-git.txt in git's sources).

import { lstatSync, type BigIntStats } from 'node:fs';

/**
 * Default "racy" window: a value is cached only when its file's ctime was at least this long before the read.
 * File timestamps are not exact: Linux stamps them with a clock that advances in ticks (up to 10 ms), and some
 * file systems keep whole seconds (ext3, 1 s) or two (FAT). A second change within the same tick would leave
 * size, mtime and ctime all as they were, and a cached value would go stale. A file older than the window cannot
 * be changed again without its ctime changing, so its cached value is safe (git's "racily clean" rule). A file
 * changed within the window is read from disk on each lookup until it is older.
 */
export const DEFAULT_RACY_WINDOW_MS = 3000;

/** What identifies one version of a file: if any of it differs, the file is not the one that was read. */
export interface Stamp {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function stampOf(st: BigIntStats): Stamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * The stamp of `file` if it is a regular file now, else `undefined` (absent, a directory, a symbolic link, a FIFO,
 * or not to be looked at: EACCES, ENOTDIR...).
 *
 * Synchronous on purpose: an lstat of a name in one local directory is a single syscall of a few microseconds
 * that the dentry and inode caches answer, far cheaper than the five libuv threadpool round trips (open, fstat,
 * read, read, close) a read from disk costs, and than even one of them. lstat never follows a symbolic link.
 */
export function lstatStamp(file: string): Stamp | undefined {
  let st: BigIntStats | undefined;
  try {
    st = lstatSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined; // EACCES, ENOTDIR, ...: absent, as a failed open was
  }
  if (st === undefined || !st.isFile()) return undefined;
  return stampOf(st);
}

/** A racy window (see `DEFAULT_RACY_WINDOW_MS`) in milliseconds, as the nanoseconds `pastRacyWindow` compares. */
export function racyWindowNs(racyWindowMs: number): bigint {
  return BigInt(racyWindowMs) * 1_000_000n;
}

/**
 * Whether the version `stamp` names is old enough that a later change must move its ctime: its ctime is at least
 * `windowNs` before `nowMs` (wall-clock milliseconds, as `Date.now`, taken no later than the read). A ctime in the
 * future (a clock stepped back) never is.
 */
export function pastRacyWindow(stamp: Stamp, nowMs: number, windowNs: bigint): boolean {
  const now = BigInt(Math.floor(nowMs)) * 1_000_000n;
  return now - stamp.ctimeNs >= windowNs;
}
