// A read-only key/value store over one directory (Mirage's kv_ro): one regular file per key.
// A key that is not a plain file name of that directory is simply absent; nothing outside the
// directory is ever opened, not even through a symbolic link.

import { constants, promises as fs } from 'node:fs';
import path from 'node:path';

export interface KvRo {
  /** The value's first `maxValueBytes` bytes, or `undefined` when the key is absent. */
  get(key: string): Promise<Uint8Array | undefined>;
}

export const MAX_KEY_BYTES = 255;

/** True when `key` can name a file directly inside the store's directory. */
export function isPlainKey(key: string): boolean {
  if (key.length === 0 || key === '.' || key === '..' || key.startsWith('.')) return false;
  if (/[/\\\0]/.test(key)) return false;
  return Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES;
}

export class DirectoryKv implements KvRo {
  private constructor(
    readonly dir: string,
    readonly maxValueBytes: number,
  ) {}

  /** Opens the store; rejects with a message fit for the command line when `dir` is not a readable directory. */
  static async open(dir: string, maxValueBytes = 4096): Promise<DirectoryKv> {
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
    return new DirectoryKv(abs, maxValueBytes);
  }

  /** Every key present now (for start-up messages; the store is read on each lookup, not cached). */
  async keys(): Promise<string[]> {
    const entries = await fs.readdir(this.dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && isPlainKey(e.name)).map((e) => e.name).sort();
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    if (!isPlainKey(key)) return undefined;
    let fh: fs.FileHandle | undefined;
    try {
      // O_NOFOLLOW refuses a symbolic link; O_NONBLOCK keeps a FIFO from blocking the open.
      fh = await fs.open(path.join(this.dir, key), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const st = await fh.stat();
      if (!st.isFile()) return undefined;
      const buf = new Uint8Array(this.maxValueBytes);
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return buf.subarray(0, n);
    } catch {
      return undefined;
    } finally {
      await fh?.close().catch(() => {});
    }
  }
}
