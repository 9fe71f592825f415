// Multicast Listener Discovery version 2 (RFC 3810): the reports a host sends for the groups it listens to
// (§5.2), so that a bridge that snoops MLD forwards neighbour solicitations for our addresses to us, and the
// queries (§5.1) that ask for them again.

import { readIpv6, writeIpAddr, type Ipv6Addr } from '../net/addr.ts';
import { ICMPV6_MLD_QUERY, ICMPV6_MLDV2_REPORT, type Icmpv6Message } from '../net/icmpv6-wire.ts';

/** Multicast address record types (RFC 3810 §5.2.12). */
export const MODE_IS_INCLUDE = 1;
export const MODE_IS_EXCLUDE = 2;
export const CHANGE_TO_INCLUDE = 3;
export const CHANGE_TO_EXCLUDE = 4;

export interface MldRecord {
  type: number;
  group: Ipv6Addr;
  sources: Ipv6Addr[];
}

/** A Version 2 Multicast Listener Report (§5.2) of `records`; with no sources each is 20 bytes. */
export function mldv2Report(records: readonly MldRecord[]): Icmpv6Message {
  const size = records.reduce((n, r) => n + 20 + 16 * r.sources.length, 0);
  const body = new Uint8Array(size);
  let i = 0;
  for (const r of records) {
    body[i] = r.type;
    body[i + 1] = 0; // aux data length
    body[i + 2] = r.sources.length >>> 8;
    body[i + 3] = r.sources.length;
    writeIpAddr(body, i + 4, r.group);
    i += 20;
    for (const s of r.sources) {
      writeIpAddr(body, i, s);
      i += 16;
    }
  }
  // The 4 bytes after the checksum: 2 reserved, then the number of records.
  return { type: ICMPV6_MLDV2_REPORT, code: 0, rest: records.length & 0xffff, body };
}

/** The records of a report, or undefined when its lengths do not add up. */
export function parseMldv2Report(m: Icmpv6Message): MldRecord[] | undefined {
  if (m.type !== ICMPV6_MLDV2_REPORT) return undefined;
  const n = m.rest & 0xffff;
  const b = m.body;
  const out: MldRecord[] = [];
  let i = 0;
  for (let k = 0; k < n; k++) {
    if (i + 20 > b.length) return undefined;
    const aux = (b[i + 1] ?? 0) * 4;
    const ns = ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0);
    const end = i + 20 + 16 * ns + aux;
    if (end > b.length) return undefined;
    const sources: Ipv6Addr[] = [];
    for (let s = 0; s < ns; s++) sources.push(readIpv6(b, i + 20 + 16 * s));
    out.push({ type: b[i] ?? 0, group: readIpv6(b, i + 4), sources });
    i = end;
  }
  return out;
}

/** A Multicast Listener Query (MLDv1, RFC 2710 §3; or MLDv2, RFC 3810 §5.1): which group, and how soon to answer. */
export interface MldQuery {
  /** ms; MLDv2 codes of 32768 and more are in the floating-point form of §5.1.3. */
  maxResponseMs: number;
  /** The unspecified address: a general query. */
  group: Ipv6Addr;
  version: 1 | 2;
}

export function parseMldQuery(m: Icmpv6Message): MldQuery | undefined {
  if (m.type !== ICMPV6_MLD_QUERY || m.code !== 0 || m.body.length < 16) return undefined;
  const code = m.rest >>> 16;
  const version = m.body.length >= 20 ? 2 : 1;
  const maxResponseMs = version === 2 && code >= 0x8000 ? ((code & 0x0fff) | 0x1000) << (((code >>> 12) & 0x7) + 3) : code;
  return { maxResponseMs, group: readIpv6(m.body, 0), version };
}
