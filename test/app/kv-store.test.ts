import { execFileSync } from 'node:child_process';
import { promises as fs, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_CACHE_BYTES, DEFAULT_RACY_WINDOW_MS, DirectoryKv, MAX_KEY_BYTES, isPlainKey } from '../../src/app/kv-store.ts';

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
  });
});

describe('DirectoryKv.keys', () => {
  it('lists only regular files with plain names, sorted', async () => {
    expect(await kv.keys()).toEqual(['Zed', 'alice', 'big', 'empty', 'exact', 'john', NAME_255, E_127, E_127_X]);
  });
});

describe('DirectoryKv cache', () => {
  /** A fresh directory of its own for each test, so counters and eviction order are the test's alone. */
  async function freshDir(): Promise<string> {
    return fs.mkdtemp(path.join(root, 'cache-'));
  }

  /** A clock a minute ahead: every file looks older than the racy window, so every read is cached. */
  const later = (): number => Date.now() + 60_000;

  /**
   * A store that caches a file however recently it changed. Its tests give every write a distinct mtime (see
   * `writeStamped`), since two writes within one clock tick can leave mtime and ctime equal: exactly what the racy
   * window guards against in real use (tested on its own below).
   */
  function openEager(dir: string, maxCacheBytes?: number, maxValueBytes = 4096): Promise<DirectoryKv> {
    return DirectoryKv.open(dir, maxValueBytes, { clock: later, ...(maxCacheBytes === undefined ? {} : { maxCacheBytes }) });
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
    const store = await DirectoryKv.open(dataDir);
    expect(store.maxCacheBytes).toBe(DEFAULT_MAX_CACHE_BYTES);
  });

  it('serves a second lookup from the cache, with the same bytes', async () => {
    const dir = await freshDir();
    await writeStamped(path.join(dir, 'alice'), 'alice-pw');
    const store = await openEager(dir);
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(store.stats).toEqual({ hits: 0, misses: 1, evictions: 0 });
    expect(store.cachedKeys()).toEqual(['alice']);
    expect(store.cachedBytes).toBe(8);
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(text(await store.get('alice'))).toBe('alice-pw');
    expect(store.stats).toEqual({ hits: 2, misses: 1, evictions: 0 });
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
    expect((await fs.lstat(file)).ino).toBe(ino);
    expect(text(await store.get('john'))).toBe('bbbb');
    expect(store.stats).toEqual({ hits: 1, misses: 2, evictions: 0 });
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
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.stats).toEqual({ hits: 2, misses: 2, evictions: 0 });
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
    const store = await DirectoryKv.open(dir, 4096, { clock });
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(swap).toBe(false);
    expect(store.cachedKeys()).toEqual([]);
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.cachedKeys()).toEqual(['john']);
    expect(text(await store.get('john'))).toBe('new-pw');
    expect(store.stats).toEqual({ hits: 1, misses: 2, evictions: 0 });
  });

  it('sees a removal, and drops the cached value', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await writeStamped(file, 'pw');
    const store = await openEager(dir);
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual(['john']);
    await fs.rm(file);
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
    await expect(fs.readFile(file, 'utf8')).resolves.toBe('pw'); // following it would find a value
    expect(await store.get('john')).toBeUndefined();
    expect(store.cachedKeys()).toEqual([]);
    await fs.rm(file);
    await fs.symlink(outsideFile, file);
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
    expect(await store.get('john')).toBeUndefined();
    await writeStamped(path.join(dir, 'bob'), 'pw');
    expect(text(await store.get('bob'))).toBe('pw');
    await fs.rm(path.join(dir, 'bob'));
    execFileSync('mkfifo', [path.join(dir, 'bob')]);
    expect(await store.get('bob')).toBeUndefined();
    expect(store.cachedKeys()).toEqual([]);
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
    expect(store.stats).toEqual({ hits: 1, misses: 5, evictions: 3 });
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
    expect(store.stats).toEqual({ hits: 0, misses: 3, evictions: 0 });
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
    expect(store.stats).toEqual({ hits: 0, misses: 6, evictions: 0 });
    expect(store.cachedKeys()).toEqual([]);
  });

  it('rejects a bad maxCacheBytes or racyWindowMs', async () => {
    await expect(DirectoryKv.open(dataDir, 4096, { maxCacheBytes: -1 })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { maxCacheBytes: 1.5 })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { maxCacheBytes: Number.NaN })).rejects.toThrow(RangeError);
    await expect(DirectoryKv.open(dataDir, 4096, { racyWindowMs: -1 })).rejects.toThrow(RangeError);
  });

  it('does not cache a file changed within the racy window, so a same-tick edit of the same size shows', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'john');
    await fs.writeFile(file, 'aaaa');
    const store = await DirectoryKv.open(dir); // the default window
    const before = await fs.lstat(file, { bigint: true });
    expect(text(await store.get('john'))).toBe('aaaa');
    expect(text(await store.get('john'))).toBe('aaaa');
    expect(store.stats).toEqual({ hits: 0, misses: 2, evictions: 0 });
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
    const store = await DirectoryKv.open(dir, 4096, { clock: () => nowMs });
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual([]);
    nowMs = ctimeCeilMs + DEFAULT_RACY_WINDOW_MS;
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual(['john']);
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.stats).toEqual({ hits: 1, misses: 2, evictions: 0 });
  });

  it('does not cache a file whose ctime is in the future (a clock stepped back)', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const store = await DirectoryKv.open(dir, 4096, { racyWindowMs: 0, clock: () => Date.now() - 60_000 });
    expect(text(await store.get('john'))).toBe('pw');
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.stats.hits).toBe(0);
  });

  it('caches a file once it is older than the racy window (real time)', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'john'), 'pw');
    const store = await DirectoryKv.open(dir, 4096, { racyWindowMs: 50 });
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual([]);
    await new Promise((r) => setTimeout(r, 120));
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.cachedKeys()).toEqual(['john']);
    expect(text(await store.get('john'))).toBe('pw');
    expect(store.stats).toEqual({ hits: 1, misses: 2, evictions: 0 });
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
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60 }), async (ops) => {
        const dir = await freshDir();
        try {
          const store = await openEager(dir, BOUND, MAX_VALUE);
          const model = new Map<string, string>();
          for (const o of ops) {
            const file = path.join(dir, o.key);
            if (o.kind === 'get') {
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
        } finally {
          await fs.rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});
