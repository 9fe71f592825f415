// The DHCP client's memory across restarts, for INIT-REBOOT (RFC 2131 §3.2): one small JSON file per MAC,
//
//   {"version":1,"mac":"02:00:5e:00:00:42","address":"192.168.77.50","server":"192.168.77.2","leaseEnd":"2030-01-01T00:00:00.000Z"}
//
// written atomically (a temporary file in the same directory, fsync, rename) after each ACK, removed once the lease
// is gone (released at shutdown, NAKed, expired, declined). This is the driver side: the sans-I/O client only
// hands `DhcpSavedLease` records in and out, in the stack's monotonic clock; lease ends are kept here in wall-clock
// time, so that they survive the process.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ipv4ToString, macToString, parseIpv4, type MacAddr } from '../net/addr.ts';
import type { DhcpSavedLease } from './dhcp-client.ts';

/** Where the state files live unless `--dhcp-state FILE` says otherwise (FHS: variable state of a program). */
export const DEFAULT_LEASE_DIR = '/var/lib/mirage-direct-ts';
/** A state file larger than this is not ours. */
const MAX_FILE_BYTES = 4096;

/** The default state file of `mac`: /var/lib/mirage-direct-ts/dhcp-lease-02-00-5e-00-00-42.json. */
export function defaultLeaseFilePath(mac: MacAddr): string {
  return path.join(DEFAULT_LEASE_DIR, `dhcp-lease-${macToString(mac).replaceAll(':', '-')}.json`);
}

/** The two clocks a lease end is converted between: wall-clock ms since the epoch, and the stack's clock. */
export interface LeaseClocks {
  wall: () => number;
  stack: () => number;
}

export type LeaseFileRead =
  | { kind: 'none' }
  | { kind: 'ok'; saved: DhcpSavedLease; leaseEnd: Date }
  | { kind: 'bad'; reason: string };

/** Reads the state file of `mac`; never throws. A file for another MAC, or anything malformed, is `bad`. */
export function readLeaseFile(file: string, mac: MacAddr, clocks: LeaseClocks): LeaseFileRead {
  const read = readStateRecord(file, mac);
  if (read.kind !== 'ok') return read;
  const r = read.record;
  const address = typeof r.address === 'string' ? parseIpv4(r.address) : undefined;
  const server = typeof r.server === 'string' ? parseIpv4(r.server) : undefined;
  const end = typeof r.leaseEnd === 'string' ? Date.parse(r.leaseEnd) : NaN;
  if (address === undefined || server === undefined || !Number.isFinite(end)) {
    return { kind: 'bad', reason: 'address, server or leaseEnd missing or malformed' };
  }
  return { kind: 'ok', saved: { address, server, expiresAt: clocks.stack() + (end - clocks.wall()) }, leaseEnd: new Date(end) };
}

/**
 * Remembers `saved` for `mac` in `file` (creating its directory), atomically: readers see the old file or the
 * new one, never a part. `undefined` removes the file. Throws on failure (the caller logs it and goes on).
 */
export function writeLeaseFile(file: string, mac: MacAddr, saved: DhcpSavedLease | undefined, clocks: LeaseClocks): void {
  writeStateRecord(file, mac, saved === undefined ? undefined : {
    address: ipv4ToString(saved.address),
    server: ipv4ToString(saved.server),
    leaseEnd: wallTime(saved.expiresAt, clocks),
  });
}

/** A time of the stack's clock as wall-clock ISO text; what lies beyond a Date (an infinite lease) is the last one. */
export function wallTime(at: number, clocks: LeaseClocks): string {
  const d = new Date(clocks.wall() + (at - clocks.stack()));
  return (Number.isFinite(d.getTime()) ? d : new Date(8.64e15)).toISOString();
}

/** Wall-clock ISO text back in the stack's clock, or undefined when it is not a time. */
export function stackTime(text: unknown, clocks: LeaseClocks): number | undefined {
  const end = typeof text === 'string' ? Date.parse(text) : NaN;
  return Number.isFinite(end) ? clocks.stack() + (end - clocks.wall()) : undefined;
}

export type StateRecordRead = { kind: 'none' } | { kind: 'ok'; record: Record<string, unknown> } | { kind: 'bad'; reason: string };

/** A state file's JSON object, checked for its version and MAC; never throws. */
export function readStateRecord(file: string, mac: MacAddr): StateRecordRead {
  let text: string;
  try {
    if (statSync(file).size > MAX_FILE_BYTES) return { kind: 'bad', reason: `larger than ${MAX_FILE_BYTES} bytes` };
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { kind: 'none' };
    return { kind: 'bad', reason: err instanceof Error ? err.message : String(err) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'bad', reason: 'not JSON' };
  }
  if (typeof json !== 'object' || json === null) return { kind: 'bad', reason: 'not a JSON object' };
  const r = json as Record<string, unknown>;
  if (r.version !== 1) return { kind: 'bad', reason: 'unknown version' };
  if (r.mac !== macToString(mac)) return { kind: 'bad', reason: `for MAC ${String(r.mac)}, not ${macToString(mac)}` };
  return { kind: 'ok', record: r };
}

/** Writes `{version, mac, ...fields}` to `file` atomically (temporary file, fsync, rename), or removes it for undefined. */
export function writeStateRecord(file: string, mac: MacAddr, fields: Record<string, unknown> | undefined): void {
  if (fields === undefined) {
    rmSync(file, { force: true });
    return;
  }
  const record = { version: 1, mac: macToString(mac), ...fields };
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // A fresh name opened exclusively ('wx': never through a link planted in the directory, which the service's
  // own user owns once it has dropped root, while this may still run as root at start).
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  // The rename itself survives a power cut once the directory is synced; best effort.
  try {
    const d = openSync(dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    // not every file system lets a directory be opened or synced
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code;
}
