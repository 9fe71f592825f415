// The DHCPv6 client's memory across restarts, for Confirm (RFC 8415 §18.2.3): one small JSON file per MAC beside
// the DHCPv4 one, written and removed the same way (lease-file.ts),
//
//   {"version":1,"mac":"02:00:5e:00:00:42","server":"00:01:00:01:…","iaid":1442,"t1":"…","t2":"…",
//    "addresses":[{"address":"fd77::1a2","preferredEnd":"…","validEnd":"…"}]}
//
// Times are wall-clock ISO text here and the stack's clock in the client; null means forever.

import path from 'node:path';
import { ipv6ToString, macToString, parseIpv6, type MacAddr } from '../net/addr.ts';
import type { Dhcpv6Lease, LeasedAddress } from './dhcpv6-lease.ts';
import { MAX_DUID_LEN, MAX_IA_ADDRS, duidToHex } from './dhcpv6-wire.ts';
import { readStateRecord, stackTime, wallTime, writeStateRecord, type LeaseClocks } from './lease-file.ts';

/** The DHCPv6 state file of `mac` in `dir`: dhcpv6-lease-02-00-5e-00-00-42.json. */
export function dhcpv6LeaseFilePath(dir: string, mac: MacAddr): string {
  return path.join(dir, `dhcpv6-lease-${macToString(mac).replaceAll(':', '-')}.json`);
}

export type Dhcpv6LeaseFileRead = { kind: 'none' } | { kind: 'ok'; saved: Dhcpv6Lease } | { kind: 'bad'; reason: string };

export function readDhcpv6LeaseFile(file: string, mac: MacAddr, clocks: LeaseClocks): Dhcpv6LeaseFileRead {
  const read = readStateRecord(file, mac);
  if (read.kind !== 'ok') return read;
  const r = read.record;
  const time = (t: unknown): number | undefined => (t === null ? Infinity : stackTime(t, clocks));
  const server = typeof r.server === 'string' ? duidFromHex(r.server) : undefined;
  const iaid = typeof r.iaid === 'number' && Number.isInteger(r.iaid) && r.iaid >= 0 && r.iaid <= 0xffffffff ? r.iaid : undefined;
  const t1At = time(r.t1);
  const t2At = time(r.t2);
  const list = Array.isArray(r.addresses) ? (r.addresses as unknown[]).slice(0, MAX_IA_ADDRS) : [];
  const addresses: LeasedAddress[] = [];
  for (const a of list) {
    if (typeof a !== 'object' || a === null) continue;
    const o = a as Record<string, unknown>;
    const address = typeof o.address === 'string' ? parseIpv6(o.address) : undefined;
    const preferredUntil = time(o.preferredEnd);
    const validUntil = time(o.validEnd);
    if (address !== undefined && preferredUntil !== undefined && validUntil !== undefined) addresses.push({ address, preferredUntil, validUntil });
  }
  if (server === undefined || iaid === undefined || t1At === undefined || t2At === undefined || addresses.length === 0) {
    return { kind: 'bad', reason: 'server, iaid, t1, t2 or addresses missing or malformed' };
  }
  return { kind: 'ok', saved: { server, iaid, addresses, t1At, t2At, dns: [] } };
}

/** Remembers `saved` for `mac` in `file` atomically; undefined removes the file. Throws on failure. */
export function writeDhcpv6LeaseFile(file: string, mac: MacAddr, saved: Dhcpv6Lease | undefined, clocks: LeaseClocks): void {
  const time = (t: number): string | null => (t === Infinity ? null : wallTime(t, clocks));
  writeStateRecord(file, mac, saved === undefined ? undefined : {
    server: duidToHex(saved.server),
    iaid: saved.iaid,
    t1: time(saved.t1At),
    t2: time(saved.t2At),
    addresses: saved.addresses.map((a) => ({ address: ipv6ToString(a.address), preferredEnd: time(a.preferredUntil), validEnd: time(a.validUntil) })),
  });
}

function duidFromHex(text: string): Uint8Array | undefined {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > MAX_DUID_LEN || !parts.every((p) => /^[0-9a-f]{2}$/i.test(p))) return undefined;
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}
