// The IPv4 header (RFC 791 §3.1): parsed with every length and the checksum checked, and written back.

import { readIpv4, writeIpv4, type Ipv4Addr } from './addr.ts';
import { checksum } from './checksum.ts';

export const IPV4_MIN_HEADER = 20;
export { PROTO_ICMP, PROTO_TCP, PROTO_UDP } from './ip.ts';

export interface Ipv4Header {
  headerLength: number;
  tos: number;
  totalLength: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes (the wire carries units of 8). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: Ipv4Addr;
  dst: Ipv4Addr;
}

export type Ipv4Parse = { ok: true; header: Ipv4Header; payload: Uint8Array } | { ok: false; reason: Ipv4ParseFailure };

/** Why a packet is not a valid IPv4 datagram (counted as `ip.rx_bad_<reason>`). */
export type Ipv4ParseFailure = 'short' | 'version' | 'header_length' | 'total_length' | 'checksum' | 'reserved_flag';

/**
 * Validates version, header length, total length and header checksum. Bytes past the total length
 * (Ethernet padding of short frames) are cut off; options are skipped, never interpreted.
 */
export function parseIpv4(b: Uint8Array): Ipv4Parse {
  if (b.length < IPV4_MIN_HEADER) return { ok: false, reason: 'short' };
  const v = b[0] ?? 0;
  if (v >>> 4 !== 4) return { ok: false, reason: 'version' };
  const headerLength = (v & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER || headerLength > b.length) return { ok: false, reason: 'header_length' };
  const totalLength = ((b[2] ?? 0) << 8) | (b[3] ?? 0);
  if (totalLength < headerLength || totalLength > b.length) return { ok: false, reason: 'total_length' };
  if (checksum(b, 0, headerLength) !== 0) return { ok: false, reason: 'checksum' };
  const flagsFrag = ((b[6] ?? 0) << 8) | (b[7] ?? 0);
  const header: Ipv4Header = {
    headerLength,
    tos: b[1] ?? 0,
    totalLength,
    id: ((b[4] ?? 0) << 8) | (b[5] ?? 0),
    dontFragment: (flagsFrag & 0x4000) !== 0,
    moreFragments: (flagsFrag & 0x2000) !== 0,
    fragmentOffset: (flagsFrag & 0x1fff) * 8,
    ttl: b[8] ?? 0,
    protocol: b[9] ?? 0,
    src: readIpv4(b, 12),
    dst: readIpv4(b, 16),
  };
  if ((flagsFrag & 0x8000) !== 0) return { ok: false, reason: 'reserved_flag' };
  return { ok: true, header, payload: b.subarray(headerLength, totalLength) };
}

export interface Ipv4Out {
  tos?: number;
  id: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  fragmentOffset?: number;
  ttl: number;
  protocol: number;
  src: Ipv4Addr;
  dst: Ipv4Addr;
}

/** Writes a 20-byte header (no options) for a packet of `totalLength` bytes at `off`, checksum included. */
export function writeIpv4Header(b: Uint8Array, off: number, h: Ipv4Out, totalLength: number): void {
  b[off] = 0x45;
  b[off + 1] = h.tos ?? 0;
  b[off + 2] = totalLength >>> 8;
  b[off + 3] = totalLength;
  b[off + 4] = h.id >>> 8;
  b[off + 5] = h.id;
  const ff = (h.dontFragment ? 0x4000 : 0) | (h.moreFragments ? 0x2000 : 0) | ((h.fragmentOffset ?? 0) / 8);
  b[off + 6] = ff >>> 8;
  b[off + 7] = ff;
  b[off + 8] = h.ttl;
  b[off + 9] = h.protocol;
  b[off + 10] = 0;
  b[off + 11] = 0;
  writeIpv4(b, off + 12, h.src);
  writeIpv4(b, off + 16, h.dst);
  const c = checksum(b, off, IPV4_MIN_HEADER);
  b[off + 10] = c >>> 8;
  b[off + 11] = c;
}

/** A whole packet: header and a copy of the payload. */
export function buildIpv4(h: Ipv4Out, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(IPV4_MIN_HEADER + payload.length);
  writeIpv4Header(b, 0, h, b.length);
  b.set(payload, IPV4_MIN_HEADER);
  return b;
}
