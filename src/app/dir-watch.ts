// A watch of one directory (inotify, through `fs.watch`) that tells its owner which names changed, and counts
// every event, every watch started and every watch lost in `events`: whatever its owner checked while `events`
// had the value it has now, and while the watch is up, has had no change reported since. See `DirWatch` for when
// an event is handled and what inotify does not report.

import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

/** After the watch is lost (an error) or could not be made (ENOENT, ENOSPC...), a lookup this long later tries again. */
export const WATCH_RETRY_MS = 1000;

export interface DirWatchOptions {
  /** Wall-clock milliseconds, as `Date.now`: read when a watch is lost or could not be made, and while it is down. */
  clock: () => number;
  /** How the directory is watched: `fs.watch(dir, { persistent: false })` by default. Tests wrap it to reach the watcher. */
  watchDir?: (dir: string) => FSWatcher;
  /** See `WATCH_RETRY_MS` (the default). */
  retryMs?: number;
  /** An event named `name`, a file of the directory: whatever is known of it is stale. Called in the watch's callback. */
  onChange: (name: string) => void;
  /** The watch was lost or the directory itself changed: whatever is known of any file in it is stale. */
  onLost: () => void;
}

const defaultWatchDir = (dir: string): FSWatcher => watch(dir, { persistent: false });

/**
 * The watch: `fs.watch`, not persistent (it never keeps the process alive; `close()` ends it), started by
 * `startIfDue()`, which its owner calls before each lookup. Every event counts in `events` and is handed to
 * `onChange` with the name it gives.
 *
 * When the event is handled: inotify queues it inside the system call that makes the change (the write, rename,
 * unlink...), so the watch's descriptor is readable before that call returns, before any request that causally
 * follows the change can reach us; the first poll phase of the event loop that begins after the change reports
 * it, and the watch's callback calls `onChange` synchronously, in that poll phase. It is NOT true that every
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
 * What inotify does not report for this directory (its owner needs another check for these, as `DirectoryKv`'s
 * lstat after `maxTrustMs`): a write through a hard link from outside the directory, a write through a shared
 * mmap (once its mtime moves), the path to the directory changing above it (a parent renamed, a symbolic link on
 * the way re-pointed, a mount over it), a change made by another host on a network file system, and events lost
 * when the inotify queue overflows (libuv drops IN_Q_OVERFLOW without a word). The directory itself removed,
 * renamed or its mode changed is an event naming the directory itself: `onLost`, and the watch starts again on
 * whatever the path names now. An error, or a watch closed under us, is `onLost` too; `startIfDue()` at least
 * `retryMs` later tries to watch again (so does one after a watch that could not be made).
 */
export class DirWatch {
  private readonly clock: () => number;
  private readonly watchDir: (dir: string) => FSWatcher;
  private readonly retryMs: number;
  private readonly onChange: (name: string) => void;
  private readonly onLost: () => void;
  /** What inotify calls the directory itself in its events. */
  private readonly dirName: string;
  private watcher: FSWatcher | undefined;
  /** Events seen, watches started and lost: what was checked before the latest of them needs checking again. */
  private count = 0;
  /** When the watch is lost: the clock at which `startIfDue` tries again (undefined: never lost, start at once). */
  private retryAt: number | undefined;
  private closed = false;

  constructor(
    readonly dir: string,
    opts: DirWatchOptions,
  ) {
    const retryMs = opts.retryMs ?? WATCH_RETRY_MS;
    if (!Number.isSafeInteger(retryMs) || retryMs < 0) throw new RangeError(`retryMs must be a non-negative integer, not ${retryMs}`);
    this.retryMs = retryMs;
    this.clock = opts.clock;
    this.watchDir = opts.watchDir ?? defaultWatchDir;
    this.onChange = opts.onChange;
    this.onLost = opts.onLost;
    this.dirName = path.basename(dir);
  }

  /** Events seen, watches started and lost so far (see the file's comment). */
  get events(): number {
    return this.count;
  }

  /** Whether the directory is watched now. */
  get watching(): boolean {
    return this.watcher !== undefined;
  }

  /**
   * True when the watch vouches for what was checked while `events` was `checkedEvents`: the watch has been up
   * all along since, and no event at all has come.
   */
  vouchesFor(checkedEvents: number): boolean {
    return this.watcher !== undefined && checkedEvents === this.count;
  }

  /** Starts the watch unless it is up, closed for good, or lost less than `retryMs` ago. */
  startIfDue(): void {
    if (this.watcher === undefined && !this.closed) this.watchIfDue();
  }

  /** Ends the watch for good. Idempotent. What was learnt under it is not dropped: `vouchesFor` is false from now on. */
  close(): void {
    this.closed = true;
    const w = this.watcher;
    if (w === undefined) return;
    this.watcher = undefined;
    this.count++;
    w.close();
  }

  /** Starts the watch, unless it was lost less than `retryMs` ago (a clock stepped back retries at once). */
  private watchIfDue(): void {
    if (this.retryAt !== undefined) {
      const now = this.clock();
      if (now < this.retryAt && now >= this.retryAt - this.retryMs) return;
    }
    this.count++; // whatever was checked before the watch began needs checking under it
    let w: FSWatcher;
    try {
      w = this.watchDir(this.dir);
    } catch {
      this.retryAt = this.clock() + this.retryMs; // ENOENT, ENOSPC (inotify's limit on watches)...
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
    this.count++;
    if (typeof filename === 'string' && filename !== this.dirName) {
      this.onChange(filename);
      return;
    }
    // No name, or the directory's own (libuv names an event on the watched directory itself after it: removed,
    // renamed, mode changed; or a file of that name): watch again whatever the path names now.
    this.unwatch(w, true);
  }

  /** Lets `w` go and tells the owner (`onLost`); then watches again at once, or after `retryMs`. */
  private unwatch(w: FSWatcher, now: boolean): void {
    if (w !== this.watcher) return;
    this.watcher = undefined;
    this.count++;
    w.close(); // its 'close' then finds it let go already
    this.onLost();
    if (now) {
      this.retryAt = undefined;
      if (!this.closed) this.watchIfDue();
    } else {
      this.retryAt = this.clock() + this.retryMs;
    }
  }
}
