import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryKv, MAX_KEY_BYTES, isPlainKey } from '../../src/app/kv-store.ts';

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

  it('reads the directory on each lookup (no cache)', async () => {
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
