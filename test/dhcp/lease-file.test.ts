// The DHCP state file (the driver side of INIT-REBOOT): format, atomic replacement, clock conversion, every
// malformed case; and the `--dhcp-state FILE` flag.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { USAGE, parseCli } from '../../src/cli.ts';
import { DEFAULT_LEASE_DIR, defaultLeaseFilePath, readLeaseFile, writeLeaseFile, type LeaseClocks } from '../../src/dhcp/lease-file.ts';
import { parseIpv4, parseMac } from '../../src/net/addr.ts';

const MAC = parseMac('02:00:5e:00:00:42') ?? 0;
const ADDR = parseIpv4('192.168.77.50') ?? 0;
const SERVER = parseIpv4('192.168.77.2') ?? 0;
const WALL = Date.parse('2030-01-01T00:00:00.000Z');

const clocks = (wall: number, stack: number): LeaseClocks => ({ wall: () => wall, stack: () => stack });

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'lease-file-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('lease file', () => {
  it('defaults to /var/lib/mirage-direct-ts/dhcp-lease-<mac>.json', () => {
    expect(DEFAULT_LEASE_DIR).toBe('/var/lib/mirage-direct-ts');
    expect(defaultLeaseFilePath(MAC)).toBe('/var/lib/mirage-direct-ts/dhcp-lease-02-00-5e-00-00-42.json');
  });

  it('writes one JSON line with the lease end in wall-clock time, creating the directory', () => {
    const file = path.join(dir, 'a/b/state.json');
    writeLeaseFile(file, MAC, { address: ADDR, server: SERVER, expiresAt: 5000 + 3600_000 }, clocks(WALL, 5000));
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(JSON.parse(text)).toEqual({
      version: 1, mac: '02:00:5e:00:00:42', address: '192.168.77.50', server: '192.168.77.2', leaseEnd: '2030-01-01T01:00:00.000Z',
    });
    expect(readdirSync(path.dirname(file))).toEqual(['state.json']); // no temporary file left
  });

  it('reads it back in another run’s clock: the time left is what counts', () => {
    const file = path.join(dir, 'state.json');
    writeLeaseFile(file, MAC, { address: ADDR, server: SERVER, expiresAt: 5000 + 3600_000 }, clocks(WALL, 5000));
    // 1000 s later, in a process whose clock started anew at 100.
    const r = readLeaseFile(file, MAC, clocks(WALL + 1000_000, 100));
    expect(r).toEqual({ kind: 'ok', saved: { address: ADDR, server: SERVER, expiresAt: 100 + 2600_000 }, leaseEnd: new Date(WALL + 3600_000) });
    // Past its end the lease still reads, with an end in the past: the client decides it has expired.
    const late = readLeaseFile(file, MAC, clocks(WALL + 7200_000, 100));
    expect(late.kind === 'ok' && late.saved.expiresAt).toBe(100 - 3600_000);
  });

  it('replaces an older file whole, and undefined removes it (twice is fine)', () => {
    const file = path.join(dir, 'state.json');
    writeLeaseFile(file, MAC, { address: ADDR, server: SERVER, expiresAt: 1000 }, clocks(WALL, 0));
    writeLeaseFile(file, MAC, { address: ADDR + 1, server: SERVER, expiresAt: 2000 }, clocks(WALL, 0));
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ address: '192.168.77.51', leaseEnd: '2030-01-01T00:00:02.000Z' });
    writeLeaseFile(file, MAC, undefined, clocks(WALL, 0));
    expect(readdirSync(dir)).toEqual([]);
    writeLeaseFile(file, MAC, undefined, clocks(WALL, 0));
    expect(readLeaseFile(file, MAC, clocks(WALL, 0))).toEqual({ kind: 'none' });
  });

  it('a failed write throws, leaves the old file as it was and no temporary file', () => {
    const file = path.join(dir, 'state.json');
    mkdirSync(file); // rename onto a directory fails
    expect(() => writeLeaseFile(file, MAC, { address: ADDR, server: SERVER, expiresAt: 1000 }, clocks(WALL, 0))).toThrow();
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('keeps an infinite lease (0xffffffff s) as a far-away date', () => {
    const file = path.join(dir, 'state.json');
    writeLeaseFile(file, MAC, { address: ADDR, server: SERVER, expiresAt: 0xffffffff * 1000 }, clocks(WALL, 0));
    const r = readLeaseFile(file, MAC, clocks(WALL, 0));
    expect(r.kind === 'ok' && r.saved.expiresAt).toBe(0xffffffff * 1000);
  });

  it.each([
    ['not JSON', '{"version":', 'not JSON'],
    ['not an object', '[1,2]', 'unknown version'],
    ['null', 'null', 'not a JSON object'],
    ['another version', JSON.stringify({ version: 2 }), 'unknown version'],
    ['another MAC', JSON.stringify({ version: 1, mac: '02:00:00:00:00:01', address: '1.2.3.4', server: '1.2.3.4', leaseEnd: '2030-01-01T00:00:00Z' }), 'for MAC 02:00:00:00:00:01'],
    ['a bad address', JSON.stringify({ version: 1, mac: '02:00:5e:00:00:42', address: '1.2.3', server: '1.2.3.4', leaseEnd: '2030-01-01T00:00:00Z' }), 'malformed'],
    ['no server', JSON.stringify({ version: 1, mac: '02:00:5e:00:00:42', address: '1.2.3.4', leaseEnd: '2030-01-01T00:00:00Z' }), 'malformed'],
    ['a bad date', JSON.stringify({ version: 1, mac: '02:00:5e:00:00:42', address: '1.2.3.4', server: '1.2.3.4', leaseEnd: 'soon' }), 'malformed'],
    ['too large', ' '.repeat(5000), 'larger than 4096 bytes'],
  ])('refuses %s', (_name, content, reason) => {
    const file = path.join(dir, 'state.json');
    writeFileSync(file, content);
    const r = readLeaseFile(file, MAC, clocks(WALL, 0));
    expect(r.kind).toBe('bad');
    expect(r.kind === 'bad' && r.reason).toContain(reason);
  });

  it('a file that cannot be read is bad, not an exception', () => {
    const r = readLeaseFile(dir, MAC, clocks(WALL, 0)); // a directory
    expect(r.kind).toBe('bad');
  });
});

describe('--dhcp-state FILE', () => {
  it('is taken for the direct stack with DHCP, and absent by default', () => {
    const r = parseCli(['--dhcp-state', '/tmp/x.json']);
    expect(r.kind === 'run' && r.config.dhcpState).toBe('/tmp/x.json');
    const d = parseCli([]);
    expect(d.kind === 'run' && d.config.dhcpState).toBeUndefined();
    expect(USAGE).toContain('--dhcp-state FILE');
    expect(USAGE).toContain('/var/lib/mirage-direct-ts/dhcp-lease-MAC.json');
  });

  it.each([
    [['--dhcp-state', ''], '--dhcp-state must name a file'],
    [['--dhcp-state', 'x', '--ipv4', '192.168.77.10/24'], '--dhcp-state is for DHCP, not with --ipv4'],
    [['--stack', 'socket', '--dhcp-state', 'x'], '--dhcp-state is for the direct stack, not --stack socket'],
  ])('refuses %j', (args, message) => {
    expect(parseCli(args)).toEqual({ kind: 'error', message });
  });
});
