// ICMP messages (RFC 792): type, code, checksum over the whole message, 4 bytes of "rest of header", data.

import { checksum } from './checksum.ts';

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
  const b = new Uint8Array(8 + m.data.length);
  b[0] = m.type;
  b[1] = m.code;
  b[4] = m.rest >>> 24;
  b[5] = m.rest >>> 16;
  b[6] = m.rest >>> 8;
  b[7] = m.rest;
  b.set(m.data, 8);
  const c = checksum(b);
  b[2] = c >>> 8;
  b[3] = c;
  return b;
}

/** True for the types that report errors (never answered with another error, RFC 1122 §3.2.2). */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACHABLE || type === ICMP_REDIRECT || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM || type === 4;
}
