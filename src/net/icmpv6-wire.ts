// ICMPv6 messages (RFC 4443 §2.1): type, code, a checksum over the IPv6 pseudo-header and the message (§2.3,
// mandatory), 4 bytes that depend on the type, and the body. The neighbour discovery and MLD bodies are read in
// src/ndp; this file knows the common shape and the error and echo messages.

import { finish, sumBytes } from './checksum.ts';
import { encodeIcmpShape } from './icmp-wire.ts';

export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_MLD_QUERY = 130;
export const ICMPV6_ROUTER_SOLICITATION = 133;
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
export const ICMPV6_REDIRECT = 137;
export const ICMPV6_MLDV2_REPORT = 143;

/** Destination Unreachable codes (RFC 4443 §3.1). */
export const UNREACH6_NO_ROUTE = 0;
export const UNREACH6_ADDRESS = 3;
export const UNREACH6_PORT = 4;

/** RFC 4443 §2.4 (c): an error carries as much of the offending packet as fits in the minimum MTU. */
export const ICMPV6_ERROR_MAX = 1280 - 40;

export interface Icmpv6Message {
  type: number;
  code: number;
  /** The 4 bytes after the checksum: identifier and sequence for echo, the MTU for Packet Too Big, the pointer for Parameter Problem, flags for RA/NA. */
  rest: number;
  body: Uint8Array;
}

export type Icmpv6Parse = { ok: true; message: Icmpv6Message } | { ok: false; reason: 'short' | 'checksum' };

/**
 * Parses a message and checks its checksum against `pseudo` (the IPv6 pseudo-header sum of the packet's
 * addresses and Next Header 58, as `ipv6Pseudo` gives it; the length is added here).
 */
export function parseIcmpv6(b: Uint8Array, pseudo: number): Icmpv6Parse {
  if (b.length < 8) return { ok: false, reason: 'short' };
  if (finish(sumBytes(b, 0, b.length, pseudo + b.length)) !== 0) return { ok: false, reason: 'checksum' };
  return {
    ok: true,
    message: {
      type: b[0] ?? 0,
      code: b[1] ?? 0,
      rest: (((b[4] ?? 0) << 24) | ((b[5] ?? 0) << 16) | ((b[6] ?? 0) << 8) | (b[7] ?? 0)) >>> 0,
      body: b.subarray(8),
    },
  };
}

/** Encodes a message with its checksum over `pseudo` (see `parseIcmpv6`). */
export function encodeIcmpv6(m: Icmpv6Message, pseudo: number): Uint8Array {
  return encodeIcmpShape(m.type, m.code, m.rest, m.body, pseudo + 8 + m.body.length);
}

/** RFC 4443 §2.1: types 0–127 are errors, 128–255 informational; an error is never answered with an error (§2.4 (e)). */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}
