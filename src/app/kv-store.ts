// A read-only key/value store over one directory (Mirage's kv_ro): one regular file per key.
// A key that is not a plain file name of that directory is simply absent; nothing outside the
// directory is ever opened, not even through a symbolic link.
//
// Values are cached. Without a watch (`watch: false`) every lookup first asks the file system (one lstat)
// whether the file is still the one that was read: a change on disk (an edit in place, an atomic replace by
// rename, a removal, a symlink or FIFO put in its place) is seen by the very next lookup. With the watch (the
// default), an inotify watch of the directory stands in for that lstat for up to `maxTrustMs`: see
// `DirectoryKv` for what it sees, when, and what it cannot see.

import { constants, promises as fs, lstatSync, watch, type BigIntStats, type FSWatcher } from 'node:fs';
import path from 'node:path';

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
 * Default "racy" window: a value is cached only when its file's ctime was at least this long before the read.
 * File timestamps are not exact: Linux stamps them with a clock that advances in ticks (up to 10 ms), and some
 * file systems keep whole seconds (ext3, 1 s) or two (FAT). A second change within the same tick would leave
 * size, mtime and ctime all as they were, and a cached value would go stale. A file older than the window cannot
 * be changed again without its ctime changing, so its cached value is safe (git's "racily clean" rule). A file
 * changed within the window is read from disk on each lookup until it is older.
 */
export const DEFAULT_RACY_WINDOW_MS = 3000;

/**
 * Default bound on how long a cached value is served on the watch's word alone: after this long since the lstat
 * that last matched it, a lookup takes an lstat again (and trusts the entry for as long again if it still matches).
 * A safety net for changes inotify does not report (see `DirectoryKv`).
 */
export const DEFAULT_MAX_TRUST_MS = 1000;

/** After the watch is lost (an error) or could not be made (ENOENT, ENOSPC...), a lookup this long later tries again. */
export const WATCH_RETRY_MS = 1000;

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
  /** The store's `events` just before the lstat that last matched this entry. */
  checkedEvents: number;
  /** The clock then (ms); meaningful only while `checkedEvents` is current. */
  checkedAt: number;
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

const defaultWatchDir = (dir: string): FSWatcher => watch(dir, { persistent: false });

/**
 * The store. Its watch: from the first lookup on (unless `watch: false`), an inotify watch of the directory
 * (`fs.watch`, not persistent: it never keeps the process alive; `close()` ends it). Every event counts in
 * `events` and drops the value of the name it gives; then a cached value is served with no lstat only while no
 * event at all has come since the lstat that last matched it, the watch has been up all along, and that lstat is
 * at most `maxTrustMs` old. Any event making every other entry check once more is what keeps aliases right (two
 * names for one file: a hard link inside the directory, a case-insensitive file system, a key whose UTF-8 is not
 * its string's), at the cost of one lstat per cached key after each change in the directory.
 *
 * When the event is handled: inotify queues it inside the system call that makes the change (the write, rename,
 * unlink...), so the watch's descriptor is readable before that call returns, before any request that causally
 * follows the change can reach us; the first poll phase of the event loop that begins after the change reports
 * it, and the watch's callback drops the entry synchronously, in that poll phase. It is NOT true that every
 * lookup after the change comes after that callback, for two reasons. (1) A callback of the current turn reads
 * what has arrived by the time it runs, including bytes that came after epoll_wait returned and after the change
 * (a socket read, the TAP ring's drain). (2) epoll does not hand back descriptors in the order they became
 * ready: a level-triggered descriptor it reported in one epoll_wait goes straight back on its ready list, so in
 * the next one a busy keep-alive socket, or libuv's threadpool eventfd, comes before the inotify descriptor that
 * became ready after it (measured: after `await fsp.rm(file)`, whose lstat and unlink are two threadpool round
 * trips, the event is not yet handled about a third of the time). So a lookup can be served the value from
 * before a change from the change until the next poll phase has run the watch's callback: at most about one turn
 * of the event loop (under load, a few ms), as if its request had arrived that much earlier. A test, or anything
 * else in this process, that changes a file and must see it at once waits one loop turn (two setImmediate hops).
 *
 * What inotify does not report for this directory, the lstat after `maxTrustMs` still sees: a write through a
 * hard link from outside the directory, a write through a shared mmap (once its mtime moves), the path to the directory changing
 * above it (a parent renamed, a symbolic link on the way re-pointed, a mount over it), a change made by another
 * host on a network file system, and events lost when the inotify queue overflows (libuv drops IN_Q_OVERFLOW
 * without a word). The directory itself removed, renamed or its mode changed is an event naming the directory
 * itself: the cache is dropped and the watch starts again on whatever the path names now. An error, or a watch
 * closed under us, drops the whole cache too; lookups then take an lstat each, as without a watch, and one at
 * least `WATCH_RETRY_MS` later tries to watch again (so does one after a watch that could not be made). The racy window applies as before: it decides what is cached at all.
 */
export class DirectoryKv implements KvRo {
  /** Insertion order is age: the first entry is the least recently used. */
  private readonly cache = new Map<string, CacheEntry>();
  private bytes = 0;
  private readonly counters: DirectoryKvStats = { hits: 0, misses: 0, evictions: 0, watchHits: 0 };
  readonly maxCacheBytes: number;
  readonly maxCacheEntries: number;
  readonly maxTrustMs: number;
  private readonly racyWindowNs: bigint;
  private readonly clock: () => number;
  private readonly watchWanted: boolean;
  private readonly watchDir: (dir: string) => FSWatcher;
  /** What inotify calls the directory itself in its events. */
  private readonly dirName: string;
  private watcher: FSWatcher | undefined;
  /** Events seen, watches started and lost: an entry checked before the latest of them needs an lstat. */
  private events = 0;
  /** When the watch is lost: the clock at which a lookup tries again (undefined: never lost, start at once). */
  private retryAt: number | undefined;
  private closed = false;

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
    this.racyWindowNs = BigInt(racyWindowMs) * 1_000_000n;
    this.clock = opts.clock ?? Date.now;
    this.watchWanted = opts.watch ?? true;
    this.watchDir = opts.watchDir ?? defaultWatchDir;
    this.dirName = path.basename(dir);
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
    return this.watcher !== undefined;
  }

  /** Ends the watch for good; lookups go on, with one lstat each. Idempotent. */
  close(): void {
    this.closed = true;
    const w = this.watcher;
    if (w === undefined) return;
    this.watcher = undefined;
    this.events++;
    w.close();
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
    if (this.watcher === undefined && this.watchWanted && !this.closed) this.watchIfDue();
    const cached = this.cache.get(key);
    if (cached !== undefined && this.watcher !== undefined && cached.checkedEvents === this.events) {
      const age = this.clock() - cached.checkedAt;
      if (age >= 0 && age <= this.maxTrustMs) {
        // No event since an lstat found this very file (see the class comment): served with no system call.
        this.counters.hits++;
        this.counters.watchHits++;
        return this.served(key, cached);
      }
    }
    // Taken before the lstat: an event from then until the value is cached leaves it to be checked again.
    const events = this.events;
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
    if (cached !== undefined) {
      if (sameStamp(cached, stamp)) {
        this.counters.hits++;
        if (this.watcher !== undefined) {
          cached.checkedEvents = events;
          cached.checkedAt = this.clock();
        }
        return this.served(key, cached);
      }
      this.drop(key);
    }
    this.counters.misses++;
    // Taken before the file is opened, so never later than the read (see DEFAULT_RACY_WINDOW_MS).
    const nowMs = this.clock();
    const now = BigInt(Math.floor(nowMs)) * 1_000_000n;
    const read = await this.read(file);
    if (read === undefined) {
      this.drop(key);
      return undefined;
    }
    // Cached only if the handle read is the file lstat saw (else it changed in between: return what was read,
    // the next lookup reads again), and if that version is old enough that a later change must move its ctime.
    // Trusted without an lstat only if no event came during the read (`events` still current).
    if (sameStamp(read.stamp, stamp) && now - stamp.ctimeNs >= this.racyWindowNs) {
      this.store(key, { ...stamp, value: read.value.slice(), checkedEvents: events, checkedAt: nowMs });
    }
    return read.value;
  }

  /** A cached value made the most recently used, and a copy of it for the caller. */
  private served(key: string, entry: CacheEntry): Uint8Array {
    this.cache.delete(key); // most recently used: to the end
    this.cache.set(key, entry);
    return entry.value.slice(); // a copy: a caller that wipes or edits its value cannot change the cache's
  }

  /** Starts the watch, unless it was lost less than `WATCH_RETRY_MS` ago (a clock stepped back retries at once). */
  private watchIfDue(): void {
    if (this.retryAt !== undefined) {
      const now = this.clock();
      if (now < this.retryAt && now >= this.retryAt - WATCH_RETRY_MS) return;
    }
    this.events++; // whatever was checked before the watch began needs an lstat under it
    let w: FSWatcher;
    try {
      w = this.watchDir(this.dir);
    } catch {
      this.retryAt = this.clock() + WATCH_RETRY_MS; // ENOENT, ENOSPC (inotify's limit on watches)...
      return;
    }
    this.watcher = w;
    this.retryAt = undefined;
    w.on('change', (_type: string, filename: string | Buffer | null) => this.onEvent(w, filename));
    w.on('error', () => this.unwatch(w, false));
    w.on('close', () => this.unwatch(w, false));
  }

  /** In the watch's callback, in the first poll phase after the change (see the class comment). */
  private onEvent(w: FSWatcher, filename: string | Buffer | null): void {
    if (w !== this.watcher) return;
    this.events++;
    if (typeof filename === 'string' && filename !== this.dirName) {
      this.drop(filename);
      return;
    }
    // No name, or the directory's own (libuv names an event on the watched directory itself after it: removed,
    // renamed, mode changed; or a file of that name): watch again whatever the path names now.
    this.unwatch(w, true);
  }

  /** Lets `w` go and drops the whole cache; then watches again at once, or after `WATCH_RETRY_MS`. */
  private unwatch(w: FSWatcher, now: boolean): void {
    if (w !== this.watcher) return;
    this.watcher = undefined;
    this.events++;
    w.close(); // its 'close' then finds it let go already
    this.cache.clear();
    this.bytes = 0;
    if (now) {
      this.retryAt = undefined;
      if (!this.closed) this.watchIfDue();
    } else {
      this.retryAt = this.clock() + WATCH_RETRY_MS;
    }
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
      if (this.bytes <= this.maxCacheBytes && this.cache.size <= this.maxCacheEntries) break;
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
