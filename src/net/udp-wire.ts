// UDP datagrams (RFC 768): 8-byte header, checksum over the pseudo-header, header and data. The pseudo-header's
// sum of addresses and protocol comes from the network layer (`NetworkLayer.pseudoSum`); the length is added here.

import { finish, sumBytes } from './checksum.ts';

export const UDP_HEADER_LEN = 8;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

export type UdpParse = { ok: true; datagram: UdpDatagram } | { ok: false; reason: 'short' | 'length' | 'checksum' };

/**
 * Parses and verifies a datagram; a zero checksum means the sender computed none (RFC 768). A checksum the
 * device vouches for (`checksumTrusted`) is not checked again.
 */
export function parseUdp(b: Uint8Array, pseudo: number, checksumTrusted = false): UdpParse {
  if (b.length < UDP_HEADER_LEN) return { ok: false, reason: 'short' };
  const length = ((b[4] ?? 0) << 8) | (b[5] ?? 0);
  if (length < UDP_HEADER_LEN || length > b.length) return { ok: false, reason: 'length' };
  const sum = ((b[6] ?? 0) << 8) | (b[7] ?? 0);
  if (sum !== 0 && !checksumTrusted && finish(sumBytes(b, 0, length, pseudo + length)) !== 0) {
    return { ok: false, reason: 'checksum' };
  }
  return {
    ok: true,
    datagram: { srcPort: ((b[0] ?? 0) << 8) | (b[1] ?? 0), dstPort: ((b[2] ?? 0) << 8) | (b[3] ?? 0), payload: b.subarray(UDP_HEADER_LEN, length) },
  };
}

export function encodeUdp(d: UdpDatagram, pseudo: number): Uint8Array {
  const length = UDP_HEADER_LEN + d.payload.length;
  const b = new Uint8Array(length);
  b[0] = d.srcPort >>> 8;
  b[1] = d.srcPort;
  b[2] = d.dstPort >>> 8;
  b[3] = d.dstPort;
  b[4] = length >>> 8;
  b[5] = length;
  b.set(d.payload, UDP_HEADER_LEN);
  // RFC 768: a computed checksum of zero is sent as all ones.
  const c = finish(sumBytes(b, 0, length, pseudo + length)) || 0xffff;
  b[6] = c >>> 8;
  b[7] = c;
  return b;
}
