import { execFileSync } from 'node:child_process';
import { promises as fs, lstatSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RACY_WINDOW_MS, lstatStamp, pastRacyWindow, racyWindowNs, sameStamp, stampOf, type Stamp } from '../../src/app/file-stamp.ts';

const BASE: Stamp = { dev: 1n, ino: 2n, size: 3n, mtimeNs: 4n, ctimeNs: 5n };

describe('sameStamp', () => {
  it('is true for equal stamps, even as different objects', () => {
    expect(sameStamp(BASE, { ...BASE })).toBe(true);
  });

  it.each(['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs'] as const)('is false when only %s differs', (field) => {
    expect(sameStamp(BASE, { ...BASE, [field]: BASE[field] + 1n })).toBe(false);
  });
});

describe('the racy window', () => {
  it('is 3 s by default, compared in nanoseconds', () => {
    expect(DEFAULT_RACY_WINDOW_MS).toBe(3000);
    expect(racyWindowNs(DEFAULT_RACY_WINDOW_MS)).toBe(3_000_000_000n);
    expect(racyWindowNs(0)).toBe(0n);
  });

  const at = (ctimeNs: bigint): Stamp => ({ ...BASE, ctimeNs });
  const nowMs = 1_700_000_000_000;
  const nowNs = BigInt(nowMs) * 1_000_000n;
  const window = racyWindowNs(50);

  it('a version whose ctime is at least the window before now is past it', () => {
    expect(pastRacyWindow(at(nowNs - window), nowMs, window)).toBe(true); // exactly the window
    expect(pastRacyWindow(at(nowNs - window - 1n), nowMs, window)).toBe(true);
    expect(pastRacyWindow(at(0n), nowMs, window)).toBe(true);
  });

  it('a version changed within the window is not, by even one nanosecond', () => {
    expect(pastRacyWindow(at(nowNs - window + 1n), nowMs, window)).toBe(false);
    expect(pastRacyWindow(at(nowNs), nowMs, window)).toBe(false);
  });

  it('with a window of 0, a ctime of now is past it and one in the future (a clock stepped back) is not', () => {
    expect(pastRacyWindow(at(nowNs), nowMs, 0n)).toBe(true);
    expect(pastRacyWindow(at(nowNs + 1n), nowMs, 0n)).toBe(false);
  });

  it('takes a fractional clock down to its whole millisecond', () => {
    expect(pastRacyWindow(at(nowNs - window), nowMs + 0.999, window)).toBe(true);
    expect(pastRacyWindow(at(nowNs - window + 1n), nowMs + 0.999, window)).toBe(false);
  });
});

describe('lstatStamp', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'file-stamp-test-'));
    await fs.writeFile(path.join(dir, 'file'), 'content');
    await fs.mkdir(path.join(dir, 'subdir'));
    await fs.symlink('file', path.join(dir, 'link'));
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('is the stamp of a regular file, as its lstat gives it', () => {
    const file = path.join(dir, 'file');
    const stamp = lstatStamp(file);
    expect(stamp).toEqual(stampOf(lstatSync(file, { bigint: true })));
    expect(stamp?.size).toBe(7n);
  });

  it.each([
    ['absent', 'missing'],
    ['a directory', 'subdir'],
    ['a symbolic link to a regular file', 'link'],
    ['a FIFO', 'fifo'],
    ['below a regular file (ENOTDIR)', 'file/below'],
  ])('is undefined for %s', (_what, name) => {
    expect(lstatStamp(path.join(dir, name))).toBeUndefined();
  });
});
