// A read-only key/value store over one directory (Mirage's kv_ro): one regular file per key.
// A key that is not a plain file name of that directory is simply absent; nothing outside the
// directory is ever opened, not even through a symbolic link.
//
// Values are cached (an `LruCache`, bounded in bytes and in entries). Without a watch (`watch: false`) every
// lookup first asks the file system (one lstat) whether the file is still the one that was read (its `Stamp`,
// file-stamp.ts): a change on disk (an edit in place, an atomic replace by rename, a removal, a symlink or FIFO
// put in its place) is seen by the very next lookup. With the watch (the default), an inotify watch of the
// directory (a `DirWatch`, dir-watch.ts) stands in for that lstat for up to `maxTrustMs`: see `DirectoryKv` for
// how, and `DirWatch` for what the watch sees, when, and what it cannot see.

import { constants, promises as fs, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { DirWatch, WATCH_RETRY_MS } from './dir-watch.ts';
import { DEFAULT_RACY_WINDOW_MS, lstatStamp, pastRacyWindow, racyWindowNs, sameStamp, stampOf, type Stamp } from './file-stamp.ts';
import { LruCache } from './lru-cache.ts';

export { DEFAULT_RACY_WINDOW_MS, WATCH_RETRY_MS };

export interface KvRo {
  /** The value's first `maxValueBytes` bytes, or `undefined` when the key is absent. */
  get(key: string): Promise<Uint8Array | undefined>;
}

export const MAX_KEY_BYTES = 255;

/** Default bound on the value bytes held in a store's cache (1 MiB). */
export const DEFAULT_MAX_CACHE_BYTES = 1024 * 1024;

/** Default bound on the values a store's cache holds, whatever their size (empty values cost no bytes). */
export const DEFAULT_MAX_CACHE_ENTRIES = 4096;

/**
 * Default bound on how long a cached value is served on the watch's word alone: after this long since the lstat
 * that last matched it, a lookup takes an lstat again (and trusts the entry for as long again if it still matches).
 * A safety net for changes inotify does not report (see `DirWatch`).
 */
export const DEFAULT_MAX_TRUST_MS = 1000;

export interface DirectoryKvOptions {
  /** Most value bytes the cache holds (default `DEFAULT_MAX_CACHE_BYTES`); 0 turns the cache off. */
  maxCacheBytes?: number;
  /** Most values the cache holds (default `DEFAULT_MAX_CACHE_ENTRIES`). */
  maxCacheEntries?: number;
  /** See `DEFAULT_RACY_WINDOW_MS`. */
  racyWindowMs?: number;
  /**
   * Wall-clock milliseconds, as `Date.now` (the default); tests move it. Read on each miss after the lstat and
   * before the open; with the watch also on each cached lookup (for `maxTrustMs`) and while the watch is lost.
   */
  clock?: () => number;
  /** Watch the directory (inotify) so that cached lookups need no lstat (default true). */
  watch?: boolean;
  /** See `DEFAULT_MAX_TRUST_MS`. */
  maxTrustMs?: number;
  /** How the directory is watched: `fs.watch(dir, { persistent: false })` by default. Tests wrap it to reach the watcher. */
  watchDir?: (dir: string) => FSWatcher;
}

/**
 * Counters for tests and metrics: `hits` served from the cache, `misses` read from disk, `evictions` for space;
 * `watchHits` are the hits served with no lstat at all, on the watch's word (a part of `hits`).
 */
export interface DirectoryKvStats {
  hits: number;
  misses: number;
  evictions: number;
  watchHits: number;
}

interface CacheEntry extends Stamp {
  value: Uint8Array;
  /** The watch's `events` just before the lstat that last matched this entry. */
  checkedEvents: number;
  /** The clock then (ms); meaningful only while `checkedEvents` is current. */
  checkedAt: number;
}

/** True when `key` can name a file directly inside the store's directory. */
export function isPlainKey(key: string): boolean {
  if (key.length === 0 || key === '.' || key === '..' || key.startsWith('.')) return false;
  if (/[/\\\0]/.test(key)) return false;
  return Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES;
}

/**
 * The store. Its watch (a `DirWatch`): from the first lookup on (unless `watch: false`), an inotify watch of the
 * directory (`fs.watch`, not persistent: it never keeps the process alive; `close()` ends it). Every event counts
 * in the watch's `events` and drops the value of the name it gives; then a cached value is served with no lstat
 * only while no event at all has come since the lstat that last matched it, the watch has been up all along, and
 * that lstat is at most `maxTrustMs` old. Any event making every other entry check once more is what keeps
 * aliases right (two names for one file: a hard link inside the directory, a case-insensitive file system, a key
 * whose UTF-8 is not its string's), at the cost of one lstat per cached key after each change in the directory.
 *
 * An event is handled in the first poll phase of the event loop after the change, but not every lookup after
 * the change comes after it (see `DirWatch` for why): a lookup can be served the value from before a change
 * for at most about one turn of the event loop (under load, a few ms), as if its request had arrived that much
 * earlier. A test, or anything else in this process, that changes a file and must see it at once waits one loop
 * turn (two setImmediate hops).
 *
 * What inotify does not report for this directory (listed at `DirWatch`: a write through a hard link from
 * outside it, a shared mmap, the path above it changing, another host on a network file system, a queue
 * overflow), the lstat after `maxTrustMs` still sees. The directory itself removed, renamed or its mode changed
 * is an event naming the directory itself: the cache is dropped and the watch starts again on whatever the path
 * names now. An error, or a watch closed under us, drops the whole cache too; lookups then take an lstat each,
 * as without a watch, and one at least `WATCH_RETRY_MS` later tries to watch again (so does one after a watch
 * that could not be made). The racy window applies as before: it decides what is cached at all.
 */
export class DirectoryKv implements KvRo {
  private readonly cache: LruCache<string, CacheEntry>;
  private readonly counters: DirectoryKvStats = { hits: 0, misses: 0, evictions: 0, watchHits: 0 };
  readonly maxCacheBytes: number;
  readonly maxCacheEntries: number;
  readonly maxTrustMs: number;
  private readonly racyWindowNs: bigint;
  private readonly clock: () => number;
  private readonly watchWanted: boolean;
  private readonly watch: DirWatch;

  private constructor(
    readonly dir: string,
    readonly maxValueBytes: number,
    opts: DirectoryKvOptions,
  ) {
    const maxCacheBytes = opts.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
    const racyWindowMs = opts.racyWindowMs ?? DEFAULT_RACY_WINDOW_MS;
    const maxTrustMs = opts.maxTrustMs ?? DEFAULT_MAX_TRUST_MS;
    if (!Number.isSafeInteger(maxCacheBytes) || maxCacheBytes < 0) throw new RangeError(`maxCacheBytes must be a non-negative integer, not ${maxCacheBytes}`);
    if (!Number.isSafeInteger(racyWindowMs) || racyWindowMs < 0) throw new RangeError(`racyWindowMs must be a non-negative integer, not ${racyWindowMs}`);
    if (!Number.isSafeInteger(maxTrustMs) || maxTrustMs < 0) throw new RangeError(`maxTrustMs must be a non-negative integer, not ${maxTrustMs}`);
    this.maxCacheBytes = maxCacheBytes;
    const maxCacheEntries = opts.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES;
    if (!Number.isSafeInteger(maxCacheEntries) || maxCacheEntries < 1) throw new RangeError(`maxCacheEntries must be a positive integer, not ${maxCacheEntries}`);
    this.maxCacheEntries = maxCacheEntries;
    this.maxTrustMs = maxTrustMs;
    this.racyWindowNs = racyWindowNs(racyWindowMs);
    this.clock = opts.clock ?? Date.now;
    this.watchWanted = opts.watch ?? true;
    this.cache = new LruCache({ maxBytes: maxCacheBytes, maxEntries: maxCacheEntries, sizeOf: (e) => e.value.length });
    this.watch = new DirWatch(dir, {
      clock: this.clock,
      watchDir: opts.watchDir,
      onChange: (name) => this.cache.delete(name),
      onLost: () => this.cache.clear(),
    });
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

  /** Whether the directory is watched now (cached lookups then need no lstat). */
  get watching(): boolean {
    return this.watch.watching;
  }

  /** Ends the watch for good; lookups go on, with one lstat each. Idempotent. */
  close(): void {
    this.watch.close();
  }

  /** Value bytes the cache holds now; never more than `maxCacheBytes`. */
  get cachedBytes(): number {
    return this.cache.bytes;
  }

  /** Keys whose values the cache holds now, least recently used first. */
  cachedKeys(): string[] {
    return this.cache.keys();
  }

  /** Every key present now (for start-up messages). Always read from the directory: the listing is not cached. */
  async keys(): Promise<string[]> {
    const entries = await fs.readdir(this.dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && isPlainKey(e.name)).map((e) => e.name).sort();
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    if (!isPlainKey(key)) return undefined;
    if (this.watchWanted) this.watch.startIfDue();
    const cached = this.cache.peek(key);
    if (cached !== undefined && this.watch.vouchesFor(cached.checkedEvents)) {
      const age = this.clock() - cached.checkedAt;
      if (age >= 0 && age <= this.maxTrustMs) {
        // No event since an lstat found this very file (see the class comment): served with no system call.
        this.counters.hits++;
        this.counters.watchHits++;
        return this.served(key, cached);
      }
    }
    // Taken before the lstat: an event from then until the value is cached leaves it to be checked again.
    const events = this.watch.events;
    const file = path.join(this.dir, key);
    // One synchronous lstat, on purpose (see `lstatStamp`); it never follows a symbolic link.
    const stamp = lstatStamp(file);
    if (stamp === undefined) {
      this.cache.delete(key);
      return undefined;
    }
    if (cached !== undefined) {
      if (sameStamp(cached, stamp)) {
        this.counters.hits++;
        if (this.watch.watching) {
          cached.checkedEvents = events;
          cached.checkedAt = this.clock();
        }
        return this.served(key, cached);
      }
      this.cache.delete(key);
    }
    this.counters.misses++;
    // Taken before the file is opened, so never later than the read (see DEFAULT_RACY_WINDOW_MS).
    const nowMs = this.clock();
    const read = await this.read(file);
    if (read === undefined) {
      this.cache.delete(key);
      return undefined;
    }
    // Cached only if the handle read is the file lstat saw (else it changed in between: return what was read,
    // the next lookup reads again), and if that version is old enough that a later change must move its ctime.
    // Trusted without an lstat only if no event came during the read (`events` still current).
    if (sameStamp(read.stamp, stamp) && pastRacyWindow(stamp, nowMs, this.racyWindowNs)) {
      this.store(key, { ...stamp, value: read.value.slice(), checkedEvents: events, checkedAt: nowMs });
    }
    return read.value;
  }

  /** A cached value made the most recently used, and a copy of it for the caller. */
  private served(key: string, entry: CacheEntry): Uint8Array {
    this.cache.touch(key);
    return entry.value.slice(); // a copy: a caller that wipes or edits its value cannot change the cache's
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

  /** Caches `entry` as the most recent, evicting the least recently used to stay within bound; too large a value is not kept. */
  private store(key: string, entry: CacheEntry): void {
    this.counters.evictions += this.cache.set(key, entry);
  }
}
