// A read-only key/value store over one directory (Mirage's kv_ro): one regular file per key.
// A key that is not a plain file name of that directory is simply absent; nothing outside the
// directory is ever opened, not even through a symbolic link.
//
// Values are cached, but every lookup first asks the file system (one lstat) whether the file is still
// the one that was read: a change on disk (an edit in place, an atomic replace by rename, a removal, a
// symlink or FIFO put in its place) is seen by the very next lookup. There is no TTL.

import { constants, promises as fs, lstatSync, type BigIntStats } from 'node:fs';
import path from 'node:path';

export interface KvRo {
  /** The value's first `maxValueBytes` bytes, or `undefined` when the key is absent. */
  get(key: string): Promise<Uint8Array | undefined>;
}

export const MAX_KEY_BYTES = 255;

/** Default bound on the value bytes held in a store's cache (1 MiB). */
export const DEFAULT_MAX_CACHE_BYTES = 1024 * 1024;

/**
 * Default "racy" window: a value is cached only when its file's ctime was at least this long before the read.
 * File timestamps are not exact: Linux stamps them with a clock that advances in ticks (up to 10 ms), and some
 * file systems keep whole seconds (ext3, 1 s) or two (FAT). A second change within the same tick would leave
 * size, mtime and ctime all as they were, and a cached value would go stale. A file older than the window cannot
 * be changed again without its ctime changing, so its cached value is safe (git's "racily clean" rule). A file
 * changed within the window is read from disk on each lookup until it is older.
 */
export const DEFAULT_RACY_WINDOW_MS = 3000;

export interface DirectoryKvOptions {
  /** Most value bytes the cache holds (default `DEFAULT_MAX_CACHE_BYTES`); 0 turns the cache off. */
  maxCacheBytes?: number;
  /** See `DEFAULT_RACY_WINDOW_MS`. */
  racyWindowMs?: number;
  /** Wall-clock milliseconds, as `Date.now` (the default), read on each miss after the lstat and before the open; tests move it. */
  clock?: () => number;
}

/** Counters for tests and metrics: `hits` served from the cache, `misses` read from disk, `evictions` for space. */
export interface DirectoryKvStats {
  hits: number;
  misses: number;
  evictions: number;
}

/** What identifies one version of a file: if any of it differs, the file is not the one that was read. */
interface Stamp {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

interface CacheEntry extends Stamp {
  value: Uint8Array;
}

function stampOf(st: BigIntStats): Stamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** True when `key` can name a file directly inside the store's directory. */
export function isPlainKey(key: string): boolean {
  if (key.length === 0 || key === '.' || key === '..' || key.startsWith('.')) return false;
  if (/[/\\\0]/.test(key)) return false;
  return Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES;
}

export class DirectoryKv implements KvRo {
  /** Insertion order is age: the first entry is the least recently used. */
  private readonly cache = new Map<string, CacheEntry>();
  private bytes = 0;
  private readonly counters: DirectoryKvStats = { hits: 0, misses: 0, evictions: 0 };
  readonly maxCacheBytes: number;
  private readonly racyWindowNs: bigint;
  private readonly clock: () => number;

  private constructor(
    readonly dir: string,
    readonly maxValueBytes: number,
    opts: DirectoryKvOptions,
  ) {
    const maxCacheBytes = opts.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
    const racyWindowMs = opts.racyWindowMs ?? DEFAULT_RACY_WINDOW_MS;
    if (!Number.isSafeInteger(maxCacheBytes) || maxCacheBytes < 0) throw new RangeError(`maxCacheBytes must be a non-negative integer, not ${maxCacheBytes}`);
    if (!Number.isSafeInteger(racyWindowMs) || racyWindowMs < 0) throw new RangeError(`racyWindowMs must be a non-negative integer, not ${racyWindowMs}`);
    this.maxCacheBytes = maxCacheBytes;
    this.racyWindowNs = BigInt(racyWindowMs) * 1_000_000n;
    this.clock = opts.clock ?? Date.now;
  }

  /** Opens the store; rejects with a message fit for the command line when `dir` is not a readable directory. */
  static async open(dir: string, maxValueBytes = 4096, opts: DirectoryKvOptions = {}): Promise<DirectoryKv> {
    const abs = path.resolve(dir);
    let st;
    try {
      st = await fs.stat(abs);
    } catch {
      throw new Error(`data directory ${dir} does not exist`);
    }
    if (!st.isDirectory()) throw new Error(`data directory ${dir} is not a directory`);
    try {
      await fs.access(abs, constants.R_OK | constants.X_OK);
    } catch {
      throw new Error(`data directory ${dir} is not readable`);
    }
    return new DirectoryKv(abs, maxValueBytes, opts);
  }

  /** Live counters (read-only to callers). */
  get stats(): Readonly<DirectoryKvStats> {
    return this.counters;
  }

  /** Value bytes the cache holds now; never more than `maxCacheBytes`. */
  get cachedBytes(): number {
    return this.bytes;
  }

  /** Keys whose values the cache holds now, least recently used first. */
  cachedKeys(): string[] {
    return [...this.cache.keys()];
  }

  /** Every key present now (for start-up messages). Always read from the directory: the listing is not cached. */
  async keys(): Promise<string[]> {
    const entries = await fs.readdir(this.dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && isPlainKey(e.name)).map((e) => e.name).sort();
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    if (!isPlainKey(key)) return undefined;
    const file = path.join(this.dir, key);
    // Synchronous on purpose: an lstat of a name in one local directory is a single syscall of a few
    // microseconds that the dentry and inode caches answer, far cheaper than the five libuv threadpool round
    // trips (open, fstat, read, read, close) a read from disk costs, and than even one of them. lstat never
    // follows a symbolic link.
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(file, { bigint: true, throwIfNoEntry: false });
    } catch {
      st = undefined; // EACCES, ENOTDIR, ...: absent, as a failed open was
    }
    if (st === undefined || !st.isFile()) {
      this.drop(key);
      return undefined;
    }
    const stamp = stampOf(st);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (sameStamp(hit, stamp)) {
        this.counters.hits++;
        this.cache.delete(key); // most recently used: to the end
        this.cache.set(key, hit);
        return hit.value.slice(); // a copy: a caller that wipes or edits its value cannot change the cache's
      }
      this.drop(key);
    }
    this.counters.misses++;
    // Taken before the file is opened, so never later than the read (see DEFAULT_RACY_WINDOW_MS).
    const now = BigInt(Math.floor(this.clock())) * 1_000_000n;
    const read = await this.read(file);
    if (read === undefined) {
      this.drop(key);
      return undefined;
    }
    // Cached only if the handle read is the file lstat saw (else it changed in between: return what was read,
    // the next lookup reads again), and if that version is old enough that a later change must move its ctime.
    if (sameStamp(read.stamp, stamp) && now - stamp.ctimeNs >= this.racyWindowNs) this.store(key, { ...stamp, value: read.value.slice() });
    return read.value;
  }

  /** The file's first `maxValueBytes` bytes and the stamp of the very handle read, or `undefined` if absent. */
  private async read(file: string): Promise<{ value: Uint8Array; stamp: Stamp } | undefined> {
    let fh: fs.FileHandle | undefined;
    try {
      // O_NOFOLLOW refuses a symbolic link; O_NONBLOCK keeps a FIFO from blocking the open.
      fh = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return undefined;
      const buf = new Uint8Array(this.maxValueBytes);
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return { value: buf.subarray(0, n), stamp: stampOf(st) };
    } catch {
      return undefined;
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  /** Caches `entry` as the most recent, then evicts the oldest until within bound; too large a value is not kept. */
  private store(key: string, entry: CacheEntry): void {
    this.drop(key);
    if (this.maxCacheBytes === 0 || entry.value.length > this.maxCacheBytes) return;
    this.cache.set(key, entry);
    this.bytes += entry.value.length;
    for (const [oldKey, old] of this.cache) {
      if (this.bytes <= this.maxCacheBytes) break;
      this.cache.delete(oldKey);
      this.bytes -= old.value.length;
      this.counters.evictions++;
    }
  }

  private drop(key: string): void {
    const old = this.cache.get(key);
    if (old === undefined) return;
    this.cache.delete(key);
    this.bytes -= old.value.length;
  }
}
