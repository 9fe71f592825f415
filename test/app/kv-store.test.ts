import { execFileSync } from 'node:child_process';
import { type FSWatcher, promises as fs, linkSync, renameSync, watch as fsWatch, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_CACHE_BYTES,
  DEFAULT_MAX_TRUST_MS,
  DEFAULT_RACY_WINDOW_MS,
  DirectoryKv,
  type DirectoryKvOptions,
  MAX_KEY_BYTES,
  WATCH_RETRY_MS,
  isPlainKey,
} from '../../src/app/kv-store.ts';

const NAME_255 = 'k'.repeat(255);
const NAME_256 = 'k'.repeat(256);
const E_127 = 'é'.repeat(127); // 254 bytes in UTF-8
const E_127_X = `${'é'.repeat(127)}x`; // 255 bytes in UTF-8
const E_128 = 'é'.repeat(128); // 256 bytes in UTF-8

/** Deterministic, non-repeating-per-4096 content so a wrong offset or length shows. */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) % 251;
  return b;
}

let root = '';
let dataDir = '';
let outsideFile = '';
let kv: DirectoryKv;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'kv-store-test-'));
  dataDir = path.join(root, 'data');
  await fs.mkdir(dataDir);
  outsideFile = path.join(root, 'outside');
  await fs.writeFile(outsideFile, 'outside-secret\n');

  // Created deliberately out of order, so readdir order is not accidentally sorted.
  await fs.writeFile(path.join(dataDir, 'john'), 'password\n');
  await fs.writeFile(path.join(dataDir, 'exact'), pattern(4096));
  await fs.writeFile(path.join(dataDir, 'Zed'), 'zed\n');
  await fs.writeFile(path.join(dataDir, 'big'), pattern(5000));
  await fs.writeFile(path.join(dataDir, 'alice'), 'alice-pw');
  await fs.writeFile(path.join(dataDir, 'empty'), '');
  await fs.writeFile(path.join(dataDir, NAME_255), 'long255');
  await fs.writeFile(path.join(dataDir, E_127), 'e127');
  await fs.writeFile(path.join(dataDir, E_127_X), 'e127x');

  // Reachable through the file system, but not plain keys.
  await fs.writeFile(path.join(dataDir, '.hidden'), 'hidden');
  await fs.mkdir(path.join(dataDir, 'a'));
  await fs.writeFile(path.join(dataDir, 'a', 'b'), 'nested');
  await fs.writeFile(path.join(dataDir, 'a\\b'), 'backslash');

  // Not regular files.
  await fs.symlink(outsideFile, path.join(dataDir, 'link-out'));
  await fs.symlink(path.join(dataDir, 'john'), path.join(dataDir, 'link-in'));
  await fs.symlink('john', path.join(dataDir, 'link-rel'));
  await fs.mkdir(path.join(dataDir, 'bob'));
  execFileSync('mkfifo', [path.join(dataDir, 'fifo')]);

  kv = await DirectoryKv.open(dataDir);
});

afterAll(async () => {
  kv.close();
  if (root !== '') await fs.rm(root, { recursive: true, force: true });
});

function text(v: Uint8Array | undefined): string | undefined {
  return v === undefined ? undefined : Buffer.from(v).toString('utf8');
}

describe('isPlainKey', () => {
  it('has a 255-byte bound', () => {
    expect(MAX_KEY_BYTES).toBe(255);
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['hidden', '.hidden'],
    ['dot-dot prefix', '..foo'],
    ['slash', 'a/b'],
    ['parent path', '../outside'],
    ['leading slash', '/etc/passwd'],
    ['trailing slash', 'john/'],
    ['backslash', 'a\\b'],
    ['NUL', 'nul\0x'],
    ['256 ASCII bytes', NAME_256],
    ['128 two-byte chars (256 bytes)', E_128],
    ['127 two-byte chars + 2 ASCII (256 bytes)', `${E_127}xx`],
  ])('refuses %s', (_label, key) => {
    expect(isPlainKey(key)).toBe(false);
  });

  it.each([
    ['simple', 'john'],
    ['dot inside', 'a.b'],
    ['trailing dot', 'john.'],
    ['dash and digits', 'user-42'],
    ['255 ASCII bytes', NAME_255],
    ['127 two-byte chars (254 bytes)', E_127],
    ['127 two-byte chars + 1 ASCII (255 bytes)', E_127_X],
    ['one char', 'x'],
  ])('accepts %s', (_label, key) => {
    expect(isPlainKey(key)).toBe(true);
  });
});

describe('DirectoryKv.get', () => {
  it('finds a plain file', async () => {
    expect(text(await kv.get('john'))).toBe('password\n');
    expect(text(await kv.get('alice'))).toBe('alice-pw');
  });

  it('finds an empty file as present with an empty value', async () => {
    const v = await kv.get('empty');
    expect(v).toBeInstanceOf(Uint8Array);
    expect(v?.length).toBe(0);
  });

  it('reports a missing file as absent', async () => {
    expect(await kv.get('nobody')).toBeUndefined();
  });

  it('sanity: the refused targets really exist on disk', async () => {
    await expect(fs.readFile(path.join(dataDir, '.hidden'), 'utf8')).resolves.toBe('hidden');
    await expect(fs.readFile(path.join(dataDir, 'a/b'), 'utf8')).resolves.toBe('nested');
    await expect(fs.readFile(path.join(dataDir, '../outside'), 'utf8')).resolves.toBe('outside-secret\n');
    await expect(fs.readFile(path.join(dataDir, 'a\\b'), 'utf8')).resolves.toBe('backslash');
    await expect(fs.readFile(path.join(dataDir, 'link-out'), 'utf8')).resolves.toBe('outside-secret\n');
    await expect(fs.readFile(path.join(dataDir, 'link-in'), 'utf8')).resolves.toBe('password\n');
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['hidden file', '.hidden'],
    ['subdirectory path', 'a/b'],
    ['parent path', '../outside'],
    ['backslash name (file exists)', 'a\\b'],
    ['NUL', 'nul\0x'],
    ['NUL-truncated real name', 'john\0'],
    ['256-byte name', NAME_256],
    ['128 two-byte chars (256 bytes)', E_128],
  ])('refused key %s reads as absent', async (_label, key) => {
    expect(await kv.get(key)).toBeUndefined();
  });

  it('refuses an absolute path to an existing file outside the directory', async () => {
    expect(path.isAbsolute(outsideFile)).toBe(true);
    expect(await kv.get(outsideFile)).toBeUndefined();
  });

  it('finds a name of exactly 255 bytes', async () => {
    expect(Buffer.byteLength(NAME_255, 'utf8')).toBe(255);
    expect(text(await kv.get(NAME_255))).toBe('long255');
  });

  it('finds names of 254 and 255 UTF-8 bytes made of two-byte chars', async () => {
    expect(Buffer.byteLength(E_127, 'utf8')).toBe(254);
    expect(Buffer.byteLength(E_127_X, 'utf8')).toBe(255);
    expect(text(await kv.get(E_127))).toBe('e127');
    expect(text(await kv.get(E_127_X))).toBe('e127x');
  });

  it('refuses a name one byte past the bound', async () => {
    expect(Buffer.byteLength(NAME_256, 'utf8')).toBe(256);
    expect(Buffer.byteLength(E_128, 'utf8')).toBe(256);
    expect(await kv.get(NAME_256)).toBeUndefined();
    expect(await kv.get(E_128)).toBeUndefined();
  });

  it('does not follow a symlink to a file outside the directory', async () => {
    expect(await kv.get('link-out')).toBeUndefined();
  });

  it('does not follow a symlink to a file inside the directory (absolute or relative)', async () => {
    expect(await kv.get('link-in')).toBeUndefined();
    expect(await kv.get('link-rel')).toBeUndefined();
  });

  it('reports a directory named like a user as absent', async () => {
    expect(await kv.get('bob')).toBeUndefined();
    expect(await kv.get('a')).toBeUndefined();
  });

  it('reports a FIFO as absent without blocking', { timeout: 5000 }, async () => {
    const st = await fs.lstat(path.join(dataDir, 'fifo'));
    expect(st.isFIFO()).toBe(true);
    expect(await kv.get('fifo')).toBeUndefined();
  });

  it('returns exactly the first 4096 bytes of a larger file', async () => {
    const v = await kv.get('big');
    expect(v).toBeDefined();
    expect(v?.length).toBe(4096);
    expect(Buffer.from(v ?? new Uint8Array())).toEqual(pattern(5000).subarray(0, 4096));
  });

  it('returns all of a 4096-byte file', async () => {
    const v = await kv.get('exact');
    expect(v?.length).toBe(4096);
    expect(Buffer.from(v ?? new Uint8Array())).toEqual(pattern(4096));
  });

  it('honours a custom maxValueBytes', async () => {
    const small = await DirectoryKv.open(dataDir, 3);
    expect(text(await small.get('john'))).toBe('pas');
    expect(text(await small.get('Zed'))).toBe('zed');
    small.close();
  });

  it('sees a new, changed (same size, no mtime trick) and removed file on the very next lookup', async () => {
    expect(await kv.get('late')).toBeUndefined();
    await fs.writeFile(path.join(dataDir, 'late'), 'v1');
    try {
      expect(text(await kv.get('late'))).toBe('v1');
      await fs.writeFile(path.join(dataDir, 'late'), 'v2');
      expect(text(await kv.get('late'))).toBe('v2');
    } finally {
      await fs.rm(path.join(dataDir, 'late'));
    }
    expect(await kv.get('late')).toBeUndefined();
  });
});

describe('DirectoryKv.open', () => {
  it('rejects a missing directory', async () => {
    await expect(DirectoryKv.open(path.join(root, 'missing'))).rejects.toThrow('does not exist');
  });

  it('rejects a path that is a file', async () => {
    await expect(DirectoryKv.open(outsideFile)).rejects.toThrow('is not a directory');
  });

  it('resolves the directory to an absolute path', async () => {
    const rel = path.relative(process.cwd(), dataDir);
    const store = await DirectoryKv.open(rel);
    expect(store.dir).toBe(dataDir);
    expect(store.maxValueBytes).toBe(4096);
    expect(text(await store.get('john'))).toBe('password\n');
    store.close();
  });
});

describe('DirectoryKv.keys', () => {
  it('lists only regular files with plain names, sorted', async () => {
    expect(await kv.keys()).toEqual(['Zed', 'alice', 'big', 'empty', 'exact', 'john', NAME_255, E_127, E_127_X]);
  });
});

/** A fresh directory of its own for each test, so counters and eviction order are the test's alone. */
async function freshDir(): Promise<string> {
  return fs.mkdtemp(path.join(root, 'cache-'));
}

/** Resolves after a whole turn of the event loop, poll phase included, however it is called (two check phases). */
async function loopTurn(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** hits, misses and evictions: the same with the watch as without (`watchHits` is a part of `hits`). */
function counts(store: DirectoryKv): { hits: number; misses: number; evictions: number } {
  const { hits, misses, evictions } = store.stats;
  return { hits, misses, evictions };
}

// Every test of the cache runs twice: without the watch, each lookup takes an lstat; with it, a cached lookup
// takes none, and `maxTrustMs` is an hour so that only the watch's events can keep the store right.
describe.each([{ watch: false }, { watch: true }])('DirectoryKv cache (watch: $watch)', ({ watch }) => {
  const opened: DirectoryKv[] = [];
  /** With the watch, a change is seen once the loop has handled its event: at most a turn later (see DirectoryKv). */
  const settle = (): Promise<void> => (watch ? loopTurn() : Promise.resolve());
  const watchOpts: DirectoryKvOptions = watch ? { watch, maxTrustMs: 3_600_000 } : { watch };

  /** `DirectoryKv.open` with this run's watch options; closed after the test. */
  async function openStore(dir: string, maxValueBytes = 4096, opts: DirectoryKvOptions = {}): Promise<DirectoryKv> {
    const store = await DirectoryKv.open(dir, maxValueBytes, { ...watchOpts, ...opts });
    opened.push(store);
    return store;
  }

  afterEach(() => {
    for (const store of opened.splice(0)) {
      if (watch) {
        expect(store.stats.watchHits).toBeLessThanOrEqual(store.stats.hits);
      } else {
        expect(store.stats.watchHits).toBe(0);
        expect(store.watching).toBe(false);
      }
      store.close();
    }
  });

  /** A clock a minute ahead: every file looks older than the racy window, so every read is cached. */
  const later = (): number => Date.now() + 60_000;

  /**
   * A store that caches a file however recently it changed. Its tests give every write a distinct mtime (see
   * `writeStamped`), since two writes within one clock tick can leave mtime and ctime equal: exactly what the racy
   * window guards against in real use (tested on its own below).
   */
  function openEager(dir: string, maxCacheBytes?: number, maxValueBytes = 4096): Promise<DirectoryKv> {
    return openStore(dir, maxValueBytes, { clock: later, ...(maxCacheBytes === undefined ? {} : { maxCacheBytes }) });
  }

  let mtimeSeq = 0;
  /** Writes `content` to `file` in place (same inode if it exists) and gives it an mtime no other write had. */
  async function writeStamped(file: string, content: string | Buffer): Promise<void> {
    await fs.writeFile(file, content);
    const t = new Date(1_600_000_000_000 + ++mtimeSeq * 1000);
    await fs.utimes(file, t, t);
  }

  it('exports its defaults', async () => {
    expect(DEFAULT_MAX_CACHE_BYTES).toBe(1024 * 1024);
    expect(DEFAULT_RACY_WINDOW_MS).toBeGreaterThanOrEqual(2000);
    expect(DEFAULT_MAX_TRUST_MS).toBe(1000);
    const store = await openStore(dataDir, 4096, {});
    expect(store.maxCacheBytes).toBe(DEFAULT_MAX_CACHE_BYTES);
  });

  it('serves a second lookup from the cache, with the same bytes', async () => {
    const dir = await freshDir();
    await writeStamped(path.join(dir, 'alice'), 'alice-pw');
    const store = await openEager(dir);
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(counts(store)).toEqual({ hits: 0, misses: 1, evictions: 0 });
    expect(store.cachedKeys()).toEqual(['alice']);
    expect(store.cachedBytes).toBe(8);
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(counts(store)).toEqual({ hits: 2, misses: 1, evictions: 0 });
  });

  it('hands out copies: a caller wiping its value does not change the cache', async () => {
    const dir = await freshDir();
    await writeStamped(path.join(dir, 'alice'), 'alice-pw');
    const store = await openEager(dir);
    const first = await store.get('alice');
    first?.fill(0);
    const second = await store.get('alice');
    expect(text(second)).toBe('alice-pw');
    second?.fill(0);
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(store.stats.hits).toBe(2);
  });

  it('caches an empty value as present', async () => {
    const dir = await freshDir();
    await writeStamped(path.join(dir, 'empty'), '');
    const store = await openEager(dir);
    expect((await store.get('empty'))?.length).toBe(0);
    const v = await store.get('empty');
    expect(v).toBeInstanceOf(Uint8Array);
    expect(v?.length).toBe(0);
    expect(store.stats.hits).toBe(1);
  });

  it('caches only the first maxValueBytes of a larger file, copied to its own exact size', async () => {
    const dir = await freshDir();
    await writeStamped(path.join(dir, 'big'), pattern(5000));
    const store = await openEager(dir);
    expect((await store.get('big'))?.length).toBe(4096);
    expect(store.cachedBytes).toBe(4096);
    const v = await store.get('big');
    expect(store.stats.hits).toBe(1);
    expect(v?.byteLength).toBe(4096);
    expect(v?.buffer.byteLength).toBe(4096);
    expect(Buffer.from(v ?? new Uint8Array())).toEqual(pattern(5000).subarray(0, 4096));
  });

  it('sees an edit in place of the same size (same inode, new mtime)', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'aaaa');
    const ino = (await fs.lstat(file)).ino;
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('aaaa');
    expect(text(await store.get('john'))).toBe('aaaa');
    expect(store.stats.hits).toBe(1);
    await writeStamped(file, 'bbbb');
    await settle();
    expect((await fs.lstat(file)).ino).toBe(ino);
    expect(text(await store.get('john'))).toBe('bbbb');
    expect(counts(store)).toEqual({ hits: 1, misses: 2, evictions: 0 });
    expect(text(await store.get('john'))).toBe('bbbb');
    expect(store.stats.hits).toBe(2);
    expect(store.cachedBytes).toBe(4);
  });

  it('sees an edit in place whose mtime is put back: ctime still moves', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'aaaa');
    const before = await fs.lstat(file, { bigint: true });
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('aaaa');
    await new Promise((r) => setTimeout(r, 30)); // past a clock tick, so the new ctime differs
    await fs.writeFile(file, 'bbbb');
    await fs.utimes(file, new Date(Number(before.atimeMs)), new Date(Number(before.mtimeMs)));
    await settle();
    const after = await fs.lstat(file, { bigint: true });
    expect(after.mtimeNs).toBe(before.mtimeNs);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);
    expect(text(await store.get('john'))).toBe('bbbb');
  });

  it('sees an edit in place of a different size', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'short');
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('short');
    await fs.appendFile(file, '-and-longer');
    await settle();
    expect(text(await store.get('john'))).toBe('short-and-longer');
    expect(text(await store.get('john'))).toBe('short-and-longer');
  });

  it('sees an atomic replace by rename (as npm run passwd does)', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'old-pw');
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('old-pw');
    expect(text(await store.get('john'))).toBe('old-pw');
    const temp = path.join(dir, '.passwd-tmp');
    await writeStamped(temp, 'new-pw'); // same size
    await fs.rename(temp, file);
    await settle();
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(counts(store)).toEqual({ hits: 2, misses: 2, evictions: 0 });
  });

  it('returns but does not cache what it read when the file changed between its lstat and its open', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'old-pw');
    let swap = true;
    // The clock is read on a miss after the lstat and before the open: the moment to swap the file.
    const clock = (): number => {
      if (swap) {
        swap = false;
        writeFileSync(path.join(dir, '.tmp'), 'new-pw');
        renameSync(path.join(dir, '.tmp'), file);
      }
      return later();
    };
    const store = await openStore(dir, 4096, { clock });
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(swap).toBe(false);
    expect(store.cachedKeys()).toEqual([]);
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.cachedKeys()).toEqual(['john']);
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(counts(store)).toEqual({ hits: 1, misses: 2, evictions: 0 });
  });

  it('sees a removal, and drops the cached value', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'pw');
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual(['john']);
    await fs.rm(file);
    await settle();
    expect(await store.get('john')).toBeUndefined();
    expect(store.cachedKeys()).toEqual([]);
    expect(store.cachedBytes).toBe(0);
  });

  it('sees a symlink put in its place (to a file inside or outside) as absent', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'pw');
    await writeStamped(path.join(dir, 'other'), 'pw');
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('pw');
    const temp = path.join(dir, '.link-tmp');
    await fs.symlink('other', temp);
    await fs.rename(temp, file);
    await settle();
    await expect(fs.readFile(file, 'utf8')).resolves.toBe('pw'); // following it would find a value
    expect(await store.get('john')).toBeUndefined();
    expect(store.cachedKeys()).toEqual([]);
    await fs.rm(file);
    await fs.symlink(outsideFile, file);
    await settle();
    expect(await store.get('john')).toBeUndefined();
  });

  it('sees a directory or a FIFO put in its place as absent', { timeout: 5000 }, async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'pw');
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('pw');
    await fs.rm(file);
    await fs.mkdir(file);
    await settle();
    expect(await store.get('john')).toBeUndefined();
    await writeStamped(path.join(dir, 'bob'), 'pw');
    expect(text(await store.get('bob'))).toBe('pw');
    await fs.rm(path.join(dir, 'bob'));
    execFileSync('mkfifo', [path.join(dir, 'bob')]);
    await settle();
    expect(await store.get('bob')).toBeUndefined();
    expect(store.cachedKeys()).toEqual([]);
  });

  it('holds at most maxCacheEntries values, empty ones too (they cost no bytes)', async () => {
    const dir = await freshDir();
    for (const k of ['a', 'b', 'c', 'd', 'e']) await writeStamped(path.join(dir, k), '');
    const store = await openStore(dir, 4096, { racyWindowMs: 0, maxCacheEntries: 3 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) expect(text(await store.get(k))).toBe('');
    expect(store.cachedKeys()).toEqual(['c', 'd', 'e']);
    expect(store.stats.evictions).toBe(2);
    await expect(DirectoryKv.open(dir, 4096, { maxCacheEntries: 0 })).rejects.toThrow(RangeError);
  });

  it('evicts the least recently used values to stay within maxCacheBytes', async () => {
    const dir = await freshDir();
    for (const k of ['a', 'b', 'c', 'd']) await writeStamped(path.join(dir, k), `${k}${k}${k}${k}`);
    const store = await openEager(dir, 10);
    const check = async (key: string): Promise<void> => {
      expect(text(await store.get(key))).toBe(key.repeat(4));
      expect(store.cachedBytes).toBeLessThanOrEqual(10);
    };
    await check('a');
    await check('b');
    expect(store.cachedKeys()).toEqual(['a', 'b']);
    expect(store.stats.evictions).toBe(0);
    await check('c'); // 12 bytes > 10: the oldest goes
    expect(store.cachedKeys()).toEqual(['b', 'c']);
    expect(store.stats.evictions).toBe(1);
    await check('b'); // a hit makes b the most recent
    expect(store.cachedKeys()).toEqual(['c', 'b']);
    await check('d');
    expect(store.cachedKeys()).toEqual(['b', 'd']);
    expect(store.stats.evictions).toBe(2);
    await check('a'); // evicted earlier: read again
    expect(counts(store)).toEqual({ hits: 1, misses: 5, evictions: 3 });
    expect(store.cachedBytes).toBe(8);
  });

  it('returns a value larger than the bound but never caches it; one exactly the bound is cached', async () => {
    const dir = await freshDir();
    await writeStamped(path.join(dir, 'small'), 'ss');
    await writeStamped(path.join(dir, 'large'), 'x'.repeat(11));
    await writeStamped(path.join(dir, 'exact'), 'y'.repeat(10));
    const store = await openEager(dir, 10);
    expect(text(await store.get('small'))).toBe('ss');
    expect(text(await store.get('large'))).toBe('x'.repeat(11));
    expect(text(await store.get('large'))).toBe('x'.repeat(11));
    expect(store.cachedKeys()).toEqual(['small']); // nothing evicted for a value that would not fit anyway
    expect(counts(store)).toEqual({ hits: 0, misses: 3, evictions: 0 });
    expect(text(await store.get('exact'))).toBe('y'.repeat(10));
    expect(store.cachedKeys()).toEqual(['exact']);
    expect(store.cachedBytes).toBe(10);
    expect(store.stats.evictions).toBe(1);
  });

  it('caches nothing with maxCacheBytes 0, not even an empty value', async () => {
    const dir = await freshDir();
    await writeStamped(path.join(dir, 'empty'), '');
    await writeStamped(path.join(dir, 'john'), 'pw');
    const store = await openEager(dir, 0);
    for (let i = 0; i < 3; i++) {
      expect((await store.get('empty'))?.length).toBe(0);
      expect(text(await store.get('john'))).toBe('pw');
    }
    expect(counts(store)).toEqual({ hits: 0, misses: 6, evictions: 0 });
    expect(store.cachedKeys()).toEqual([]);
  });

  it('rejects a bad maxCacheBytes or racyWindowMs', async () => {
    await expect(DirectoryKv.open(dataDir, 4096, { maxCacheBytes: -1 })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { maxCacheBytes: 1.5 })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { maxCacheBytes: Number.NaN })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { racyWindowMs: -1 })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { maxTrustMs: -1 })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { maxTrustMs: 0.5 })).rejects.toThrow(RangeError);
  });

  it('does not cache a file changed within the racy window, so a same-tick edit of the same size shows', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await fs.writeFile(file, 'aaaa');
    const store = await openStore(dir); // the default window
    const before = await fs.lstat(file, { bigint: true });
    expect(text(await store.get('john'))).toBe('aaaa');
    expect(text(await store.get('john'))).toBe('aaaa');
    expect(counts(store)).toEqual({ hits: 0, misses: 2, evictions: 0 });
    expect(store.cachedKeys()).toEqual([]);
    await fs.writeFile(file, 'bbbb'); // very likely the same mtime and ctime as before: only a read can tell
    const after = await fs.lstat(file, { bigint: true });
    expect(after.ino).toBe(before.ino);
    expect(text(await store.get('john'))).toBe('bbbb');
  });

  it('caches a file exactly when its ctime is at least the racy window before the lookup', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await fs.writeFile(file, 'pw');
    const ctimeNs = (await fs.lstat(file, { bigint: true })).ctimeNs;
    const ctimeCeilMs = Number((ctimeNs + 999_999n) / 1_000_000n); // the first whole ms at or after ctime
    let nowMs = ctimeCeilMs + DEFAULT_RACY_WINDOW_MS - 1;
    const store = await openStore(dir, 4096, { clock: () => nowMs });
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual([]);
    nowMs = ctimeCeilMs + DEFAULT_RACY_WINDOW_MS;
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual(['john']);
    expect(text(await store.get('john'))).toBe('pw');
    expect(counts(store)).toEqual({ hits: 1, misses: 2, evictions: 0 });
  });

  it('does not cache a file whose ctime is in the future (a clock stepped back)', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const store = await openStore(dir, 4096, { racyWindowMs: 0, clock: () => Date.now() - 60_000 });
    expect(text(await store.get('john'))).toBe('pw');
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.stats.hits).toBe(0);
  });

  it('caches a file once it is older than the racy window (wall clock against real ctimes)', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    // Date.now, moved on by hand instead of waiting: the clock and the file system's ctimes must agree in units.
    let ahead = 0;
    const store = await openStore(dir, 4096, { racyWindowMs: 50, clock: () => Date.now() + ahead });
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual([]);
    ahead = 120;
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual(['john']);
    expect(text(await store.get('john'))).toBe('pw');
    expect(counts(store)).toEqual({ hits: 1, misses: 2, evictions: 0 });
  });

  it('always agrees with the disk, and stays within its bound, across random changes (property)', async () => {
    const KEYS = ['k0', 'k1', 'k2'];
    const BOUND = 12;
    const key = fc.constantFrom(...KEYS);
    const MAX_VALUE = 16; // some values longer than BOUND, some truncated
    const content = fc.string({ unit: fc.constantFrom('a', 'b', 'c'), minLength: 0, maxLength: 20 });
    const op = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key }),
      fc.record({ kind: fc.constant('get' as const), key }),
      fc.record({ kind: fc.constant('edit' as const), key, content }),
      fc.record({ kind: fc.constant('replace' as const), key, content }),
      fc.record({ kind: fc.constant('remove' as const), key }),
      fc.record({ kind: fc.constant('symlink' as const), key }),
    );
    let watchHits = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60 }), async (ops) => {
        const dir = await freshDir();
        const store = await openEager(dir, BOUND, MAX_VALUE);
        try {
          const model = new Map<string, string>();
          for (const o of ops) {
            const file = path.join(dir, o.key);
            if (o.kind === 'get') {
              await settle(); // a no-op without the watch: each lookup right after the change
              const v = await store.get(o.key);
              const want = model.get(o.key);
              expect(text(v)).toBe(want === undefined ? undefined : want.slice(0, MAX_VALUE));
              expect(store.cachedBytes).toBeLessThanOrEqual(BOUND);
            } else if (o.kind === 'edit') {
              if (model.has(o.key)) {
                await writeStamped(file, o.content);
                model.set(o.key, o.content);
              }
            } else if (o.kind === 'replace') {
              await fs.rm(file, { recursive: true, force: true }).catch(() => {});
              const temp = path.join(dir, `.tmp-${o.key}`);
              await writeStamped(temp, o.content);
              await fs.rename(temp, file);
              model.set(o.key, o.content);
            } else if (o.kind === 'remove') {
              await fs.rm(file, { force: true });
              model.delete(o.key);
            } else {
              await fs.rm(file, { force: true });
              await fs.symlink(KEYS[0] ?? 'k0', file);
              model.delete(o.key);
            }
          }
          const { hits, misses } = store.stats;
          expect(hits + misses).toBeLessThanOrEqual(ops.filter((o) => o.kind === 'get').length);
          watchHits += store.stats.watchHits;
        } finally {
          store.close();
          await fs.rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
    if (watch) expect(watchHits).toBeGreaterThan(0); // the watch did serve lookups, so it was what was tested
  });
});

describe('DirectoryKv watch', () => {
  const opened: DirectoryKv[] = [];
  afterEach(() => {
    for (const store of opened.splice(0)) store.close();
  });

  /** A clock that stands still unless a test moves it, a minute ahead so every file is older than the racy window. */
  function manualClock(): { now: () => number; advance: (ms: number) => void } {
    let t = Date.now() + 60_000;
    return { now: () => t, advance: (ms) => (t += ms) };
  }

  /** `fs.watch` as the store would call it, keeping each watcher it makes for the test to reach. */
  function recordingWatch(): { watchers: FSWatcher[]; watchDir: (dir: string) => FSWatcher } {
    const watchers: FSWatcher[] = [];
    return {
      watchers,
      watchDir: (dir) => {
        const w = fsWatch(dir, { persistent: false });
        watchers.push(w);
        return w;
      },
    };
  }

  async function openWatched(dir: string, opts: DirectoryKvOptions): Promise<DirectoryKv> {
    const store = await DirectoryKv.open(dir, 4096, opts);
    opened.push(store);
    return store;
  }

  /** Polls `probe` (every 5 ms, up to 1 s) until it returns `want`; returns what it returned last. */
  async function eventually<T>(probe: () => Promise<T>, want: T): Promise<T> {
    const end = Date.now() + 1000;
    let got = await probe();
    while (got !== want && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5));
      got = await probe();
    }
    return got;
  }

  /**
   * `dir/john` ('old-pw', an mtime in the past), also reachable as `root/<name>` by a hard link from outside the
   * directory: writes through that link change the file without any event on the directory's watch.
   */
  async function withOutsideLink(): Promise<{ dir: string; file: string; outside: string }> {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await fs.writeFile(file, 'old-pw');
    const outside = `${dir}-john-link`;
    linkSync(file, outside);
    return { dir, file, outside };
  }

  /** An edit in place through the outside link, with an mtime of its own so that the stamp surely moves. */
  async function editOutside(outside: string, content: string): Promise<void> {
    await fs.writeFile(outside, content);
    const t = new Date(1_500_000_000_000 + Math.floor(Math.random() * 1e9));
    await fs.utimes(outside, t, t);
  }

  it('starts watching at the first lookup and serves repeated lookups of a cached key with no lstat', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'alice'), 'alice-pw');
    const clock = manualClock();
    const store = await openWatched(dir, { clock: clock.now });
    expect(store.watching).toBe(false); // lazily: a store only opened, as `npm run passwd` does, never watches
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(store.watching).toBe(true);
    for (let i = 0; i < 5; i++) expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(store.stats).toEqual({ hits: 5, misses: 1, evictions: 0, watchHits: 5 });
  });

  it('really takes no lstat within maxTrustMs, and takes one again after it (a change the watch cannot see)', async () => {
    const { dir, outside } = await withOutsideLink();
    const clock = manualClock();
    const store = await openWatched(dir, { clock: clock.now, maxTrustMs: 500 });
    expect(text(await store.get('john'))).toBe('old-pw');
    await editOutside(outside, 'new-pw');
    await loopTurn();
    // No event came (the write was through a name outside the directory), and no lstat was taken: the old value.
    expect(text(await store.get('john'))).toBe('old-pw');
    clock.advance(500); // exactly maxTrustMs after the lstat: still trusted
    expect(text(await store.get('john'))).toBe('old-pw');
    expect(store.stats).toEqual({ hits: 2, misses: 1, evictions: 0, watchHits: 2 });
    clock.advance(1); // past it: the lookup takes an lstat, which sees the new stamp
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.stats).toEqual({ hits: 2, misses: 2, evictions: 0, watchHits: 2 });
  });

  it('after maxTrustMs an unchanged entry is checked by one lstat, then trusted again for as long', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const clock = manualClock();
    const store = await openWatched(dir, { clock: clock.now });
    expect(store.maxTrustMs).toBe(DEFAULT_MAX_TRUST_MS);
    await store.get('john');
    await store.get('john');
    expect(store.stats).toEqual({ hits: 1, misses: 1, evictions: 0, watchHits: 1 });
    clock.advance(DEFAULT_MAX_TRUST_MS + 1);
    expect(text(await store.get('john'))).toBe('pw'); // an lstat hit
    expect(store.stats).toEqual({ hits: 2, misses: 1, evictions: 0, watchHits: 1 });
    clock.advance(DEFAULT_MAX_TRUST_MS); // from that lstat, not from the first read
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.stats).toEqual({ hits: 3, misses: 1, evictions: 0, watchHits: 2 });
  });

  it('a clock stepped back does not stretch the trust: the lookup takes an lstat', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const clock = manualClock();
    const store = await openWatched(dir, { clock: clock.now });
    await store.get('john');
    clock.advance(-10_000);
    await store.get('john');
    expect(store.stats).toEqual({ hits: 1, misses: 1, evictions: 0, watchHits: 0 });
  });

  /** Each change as a helper makes it, the value the key must then have, and whether the new file can be cached. */
  const changes: [string, (dir: string, file: string) => Promise<void>, string | undefined][] = [
    ['an edit in place of the same size', async (_dir, file) => fs.writeFile(file, 'new-pw'), 'new-pw'],
    [
      'an edit in place with the mtime put back',
      async (_dir, file) => {
        const before = await fs.lstat(file);
        await fs.writeFile(file, 'new-pw');
        await fs.utimes(file, before.atime, before.mtime);
      },
      'new-pw',
    ],
    [
      'an atomic replace by rename',
      async (dir, file) => {
        await fs.writeFile(path.join(dir, '.tmp'), 'new-pw');
        await fs.rename(path.join(dir, '.tmp'), file);
      },
      'new-pw',
    ],
    ['a removal', async (_dir, file) => fs.rm(file), undefined],
    [
      'a symlink swapped in (to a file inside)',
      async (dir, file) => {
        await fs.writeFile(path.join(dir, 'other'), 'new-pw');
        await fs.symlink('other', path.join(dir, '.lnk'));
        await fs.rename(path.join(dir, '.lnk'), file);
      },
      undefined,
    ],
    [
      'a directory put in its place',
      async (_dir, file) => {
        await fs.rm(file);
        await fs.mkdir(file);
      },
      undefined,
    ],
  ];

  it.each(changes)('sees %s once the event is handled, with no lstat to tell it, and caches nothing stale', async (_label, change, want) => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await fs.writeFile(file, 'old-pw');
    const t = new Date(1_500_000_000_000);
    await fs.utimes(file, t, t);
    // The clock stands still and the trust is an hour: nothing but the watch's event can make the change show.
    const clock = manualClock();
    const store = await openWatched(dir, { clock: clock.now, maxTrustMs: 3_600_000 });
    expect(text(await store.get('john'))).toBe('old-pw');
    expect(text(await store.get('john'))).toBe('old-pw');
    expect(store.stats.watchHits).toBe(1);
    await change(dir, file);
    expect(await eventually(async () => text(await store.get('john')), want)).toBe(want);
    // ...and stays so: the old value is not back in the cache, whatever the lookups in between did.
    for (let i = 0; i < 5; i++) expect(text(await store.get('john'))).toBe(want);
    if (want === undefined) expect(store.cachedKeys()).toEqual([]);
    expect(store.watching).toBe(true);
  });

  it('sees a change made synchronously by this process once the event loop has turned (not in the same turn)', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await fs.writeFile(file, 'old-pw');
    const store = await openWatched(dir, { clock: manualClock().now, maxTrustMs: 3_600_000 });
    await store.get('john');
    writeFileSync(path.join(dir, '.tmp'), 'new-pw');
    renameSync(path.join(dir, '.tmp'), file);
    // The event is queued, but this turn has not reached the poll phase that reads it: the window DirectoryKv
    // documents. Without the watch this lookup would take an lstat and see the change.
    expect(text(await store.get('john'))).toBe('old-pw');
    await loopTurn();
    expect(text(await store.get('john'))).toBe('new-pw');
  });

  it('sees an edit through a hard link inside the directory under the other name too (any event checks all)', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'a'), 'old-pw');
    const t = new Date(1_500_000_000_000);
    await fs.utimes(path.join(dir, 'a'), t, t);
    linkSync(path.join(dir, 'a'), path.join(dir, 'b'));
    const store = await openWatched(dir, { clock: manualClock().now, maxTrustMs: 3_600_000 });
    expect(text(await store.get('a'))).toBe('old-pw');
    expect(text(await store.get('b'))).toBe('old-pw');
    await fs.writeFile(path.join(dir, 'a'), 'new-pw'); // an event names 'a' only
    await loopTurn();
    expect(text(await store.get('b'))).toBe('new-pw');
    expect(text(await store.get('a'))).toBe('new-pw');
  });

  it('trusts a value read while an event came only after an lstat has checked it', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const clock = manualClock();
    let poke = false;
    // Read on a miss between the lstat and the open: an event (another file) then arrives during the read.
    const now = (): number => {
      if (poke) {
        poke = false;
        writeFileSync(path.join(dir, 'other'), 'x');
      }
      return clock.now();
    };
    const store = await openWatched(dir, { clock: now });
    await store.get('other'); // starts the watch
    poke = true;
    expect(text(await store.get('john'))).toBe('pw');
    expect(poke).toBe(false);
    expect(store.cachedKeys()).toContain('john');
    await store.get('john'); // checked by lstat, not served on the watch's word
    expect(store.stats.watchHits).toBe(0);
    await store.get('john');
    expect(store.stats.watchHits).toBe(1);
  });

  it('with watch: false never watches, and every cached lookup takes an lstat (as before)', async () => {
    const { dir, outside } = await withOutsideLink();
    const store = await openWatched(dir, { clock: manualClock().now, watch: false });
    for (let i = 0; i < 3; i++) expect(text(await store.get('john'))).toBe('old-pw');
    expect(store.watching).toBe(false);
    await editOutside(outside, 'new-pw');
    expect(text(await store.get('john'))).toBe('new-pw'); // the lstat sees what no event told
    expect(store.stats).toEqual({ hits: 2, misses: 2, evictions: 0, watchHits: 0 });
  });

  it('on a watcher error drops the cache, takes an lstat per lookup, and watches again WATCH_RETRY_MS later', async () => {
    const { dir, outside } = await withOutsideLink();
    const clock = manualClock();
    const rec = recordingWatch();
    const store = await openWatched(dir, { clock: clock.now, watchDir: rec.watchDir, maxTrustMs: 3_600_000 });
    await store.get('john');
    await store.get('john');
    expect(store.stats.watchHits).toBe(1);
    expect(rec.watchers.length).toBe(1);
    rec.watchers[0]?.emit('error', new Error('simulated'));
    expect(store.watching).toBe(false);
    expect(store.cachedKeys()).toEqual([]);
    expect(store.cachedBytes).toBe(0);
    expect(text(await store.get('john'))).toBe('old-pw'); // read again
    expect(text(await store.get('john'))).toBe('old-pw'); // an lstat hit
    await editOutside(outside, 'new-pw');
    expect(text(await store.get('john'))).toBe('new-pw'); // right at once: the lstat sees it
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.stats.watchHits).toBe(1);
    clock.advance(WATCH_RETRY_MS - 1);
    await store.get('john');
    expect(rec.watchers.length).toBe(1);
    clock.advance(1);
    expect(text(await store.get('john'))).toBe('new-pw'); // watches again, then checks this entry by lstat
    expect(store.watching).toBe(true);
    expect(rec.watchers.length).toBe(2);
    expect(store.stats.watchHits).toBe(1);
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.stats.watchHits).toBe(2);
  });

  it('treats a watcher closed under it as lost, too', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const clock = manualClock();
    const rec = recordingWatch();
    const store = await openWatched(dir, { clock: clock.now, watchDir: rec.watchDir });
    await store.get('john');
    rec.watchers[0]?.close();
    await loopTurn(); // 'close' is emitted on the next tick
    expect(store.watching).toBe(false);
    expect(store.cachedKeys()).toEqual([]);
    await store.get('john');
    await store.get('john');
    expect(store.stats.watchHits).toBe(0);
  });

  it('keeps trying (at most once per WATCH_RETRY_MS) when the watch cannot be made, serving by lstat meanwhile', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const clock = manualClock();
    let tries = 0;
    const watchDir = (): FSWatcher => {
      tries++;
      throw Object.assign(new Error('ENOSPC: inotify watch limit reached'), { code: 'ENOSPC' });
    };
    const store = await openWatched(dir, { clock: clock.now, watchDir });
    for (let i = 0; i < 5; i++) expect(text(await store.get('john'))).toBe('pw');
    expect(tries).toBe(1);
    expect(store.watching).toBe(false);
    expect(store.stats).toEqual({ hits: 4, misses: 1, evictions: 0, watchHits: 0 });
    clock.advance(WATCH_RETRY_MS);
    await store.get('john');
    expect(tries).toBe(2);
  });

  it('stays right when its directory is removed and made again, and watches the new one', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'old-pw');
    const clock = manualClock();
    const store = await openWatched(dir, { clock: clock.now, maxTrustMs: 3_600_000 });
    await store.get('john');
    await store.get('john');
    expect(store.stats.watchHits).toBe(1);
    await fs.rm(dir, { recursive: true });
    await loopTurn();
    expect(await store.get('john')).toBeUndefined();
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'john'), 'new-pw');
    await loopTurn();
    expect(text(await store.get('john'))).toBe('new-pw');
    clock.advance(WATCH_RETRY_MS);
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.watching).toBe(true); // on the new directory: its events count
    const before = store.stats.watchHits;
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.stats.watchHits).toBe(before + 1);
    await fs.writeFile(path.join(dir, 'john'), 'newer-pw');
    await loopTurn();
    expect(text(await store.get('john'))).toBe('newer-pw');
  });

  it('watches again at once when the directory itself changes (its mode), and the cache starts over', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const rec = recordingWatch();
    const store = await openWatched(dir, { clock: manualClock().now, watchDir: rec.watchDir, maxTrustMs: 3_600_000 });
    await store.get('john');
    await fs.chmod(dir, 0o750);
    await loopTurn();
    expect(rec.watchers.length).toBe(2);
    expect(store.watching).toBe(true);
    expect(store.cachedKeys()).toEqual([]);
    expect(text(await store.get('john'))).toBe('pw');
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.stats.watchHits).toBe(1);
    // The new watch (made inside the old one's callback, on the same inode) does get the events that follow.
    await fs.writeFile(path.join(dir, 'john'), 'new-pw');
    await loopTurn();
    expect(text(await store.get('john'))).toBe('new-pw');
  });

  it('close() ends the watch for good; lookups go on with an lstat each', async () => {
    const { dir, outside } = await withOutsideLink();
    const clock = manualClock();
    const rec = recordingWatch();
    const store = await openWatched(dir, { clock: clock.now, watchDir: rec.watchDir });
    await store.get('john');
    await store.get('john');
    expect(store.stats.watchHits).toBe(1);
    let closed = false;
    rec.watchers[0]?.on('close', () => (closed = true));
    store.close();
    store.close(); // idempotent
    expect(store.watching).toBe(false);
    await loopTurn();
    expect(closed).toBe(true);
    await editOutside(outside, 'new-pw');
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(text(await store.get('john'))).toBe('new-pw');
    clock.advance(10 * WATCH_RETRY_MS);
    await store.get('john');
    expect(rec.watchers.length).toBe(1); // never again
    expect(store.stats.watchHits).toBe(1);
  });

  it('never keeps the process alive: a process that made a watching store and did not close it exits', { timeout: 20_000 }, () => {
    const dir = path.join(root, 'data');
    const script = `
      const { DirectoryKv } = await import(${JSON.stringify(path.resolve('src/app/kv-store.ts'))});
      const store = await DirectoryKv.open(${JSON.stringify(dir)});
      await store.get('john');
      console.log(String(store.watching));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 15_000, encoding: 'utf8' });
    expect(out.trim()).toBe('true');
  });
});
