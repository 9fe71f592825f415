// ICMP messages (RFC 792): type, code, checksum over the whole message, 4 bytes of "rest of header", data.

import { checksum, finish, sumBytes } from './checksum.ts';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

export const UNREACH_PROTOCOL = 2;
export const UNREACH_PORT = 3;

export interface IcmpMessage {
  type: number;
  code: number;
  /** The 4 bytes after the checksum: identifier and sequence number for echo. */
  rest: number;
  data: Uint8Array;
}

/** Parses an ICMP message, checking its checksum; `undefined` when short or corrupt. */
export function parseIcmp(b: Uint8Array): IcmpMessage | undefined {
  if (b.length < 8 || checksum(b) !== 0) return undefined;
  return {
    type: b[0] ?? 0,
    code: b[1] ?? 0,
    rest: (((b[4] ?? 0) << 24) | ((b[5] ?? 0) << 16) | ((b[6] ?? 0) << 8) | (b[7] ?? 0)) >>> 0,
    data: b.subarray(8),
  };
}

export function encodeIcmp(m: IcmpMessage): Uint8Array {
  return encodeIcmpShape(m.type, m.code, m.rest, m.data, 0);
}

/**
 * The shape ICMPv4 and ICMPv6 share: type, code, checksum, 4 bytes, body. The checksum covers the message and
 * `prefixSum` (nothing for ICMPv4; the IPv6 pseudo-header with the message's length for ICMPv6, RFC 4443 §2.3).
 */
export function encodeIcmpShape(type: number, code: number, rest: number, body: Uint8Array, prefixSum: number): Uint8Array {
  const b = new Uint8Array(8 + body.length);
  b[0] = type;
  b[1] = code;
  b[4] = rest >>> 24;
  b[5] = rest >>> 16;
  b[6] = rest >>> 8;
  b[7] = rest;
  b.set(body, 8);
  const c = finish(sumBytes(b, 0, b.length, prefixSum));
  b[2] = c >>> 8;
  b[3] = c;
  return b;
}

/** True for the types that report errors (never answered with another error, RFC 1122 §3.2.2). */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACHABLE || type === ICMP_REDIRECT || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM || type === 4;
}
