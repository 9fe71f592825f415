// ICMP and ICMPv6 errors read for the transport that caused them: the quoted datagram (its addresses, protocol and
// first transport bytes) and what the error means for it. RFC 1122 §4.2.3.9 and RFC 5461: protocol and port
// unreachable from the destination are "hard" (a handshake gives up on them); net and host unreachable, time
// exceeded, parameter problems and the rest are "soft". "Fragmentation needed" (RFC 1191 §4) and "packet too big"
// (RFC 4443 §3.2) carry the MTU. Source quench is ignored (RFC 6633). Pure functions; anything that does not hold
// together is undefined.

import { readIpv4, readIpv6, type IpAddr } from './addr.ts';
import type { IcmpMessage } from './icmp-wire.ts';
import { ICMP_DEST_UNREACHABLE, ICMP_PARAMETER_PROBLEM, ICMP_TIME_EXCEEDED } from './icmp-wire.ts';
import type { Icmpv6Message } from './icmpv6-wire.ts';
import { ICMPV6_DEST_UNREACHABLE, ICMPV6_PACKET_TOO_BIG, ICMPV6_PARAMETER_PROBLEM, ICMPV6_TIME_EXCEEDED, UNREACH6_PORT } from './icmpv6-wire.ts';
import type { TransportError } from './ip.ts';
import { NH_DEST_OPTIONS, NH_FRAGMENT, NH_HOP_BY_HOP, PARAM_UNRECOGNIZED_NEXT_HEADER } from './ipv6-wire.ts';

/** RFC 792 destination unreachable codes. */
const UNREACH4: Record<number, string> = {
  0: 'net unreachable', 1: 'host unreachable', 2: 'protocol unreachable', 3: 'port unreachable', 4: 'fragmentation needed',
  5: 'source route failed', 6: 'destination network unknown', 7: 'destination host unknown', 9: 'network administratively prohibited',
  10: 'host administratively prohibited', 11: 'network unreachable for TOS', 12: 'host unreachable for TOS', 13: 'communication administratively prohibited',
};
const UNREACH6: Record<number, string> = {
  0: 'no route to destination', 1: 'communication administratively prohibited', 2: 'beyond scope of source address', 3: 'address unreachable',
  4: 'port unreachable', 5: 'source address failed policy', 6: 'reject route to destination',
};
/** Extension headers a quoted IPv6 datagram of ours may carry, walked to its transport header (at most this many). */
const MAX_QUOTED_EXTENSIONS = 4;

/** An ICMPv4 error as a TransportError, or undefined (not an error for a transport, or a quote too short). */
export function icmpv4TransportError(m: IcmpMessage, reporter: IpAddr, now: number): TransportError | undefined {
  let kind: TransportError['kind'];
  let hard = false;
  let mtu = 0;
  let description: string;
  if (m.type === ICMP_DEST_UNREACHABLE) {
    description = UNREACH4[m.code] ?? `destination unreachable (code ${m.code})`;
    if (m.code === 4) {
      kind = 'too-big';
      mtu = m.rest & 0xffff; // RFC 1191 §4: the next-hop MTU in the low 16 bits
    } else {
      kind = 'unreachable';
      hard = m.code === 2 || m.code === 3;
    }
  } else if (m.type === ICMP_TIME_EXCEEDED) {
    kind = 'time-exceeded';
    description = 'time exceeded';
  } else if (m.type === ICMP_PARAMETER_PROBLEM) {
    kind = 'parameter-problem';
    description = 'parameter problem';
  } else return undefined;
  const q = m.data;
  if (q.length < 20 || (q[0] ?? 0) >> 4 !== 4) return undefined;
  const ihl = ((q[0] ?? 0) & 0x0f) * 4;
  if (ihl < 20 || q.length < ihl + 8) return undefined;
  return {
    kind, hard, mtu, description, now, reporter,
    quotedLength: ((q[2] ?? 0) << 8) | (q[3] ?? 0),
    protocol: q[9] ?? 0, src: readIpv4(q, 12), dst: readIpv4(q, 16), transport: q.subarray(ihl),
  };
}

/** An ICMPv6 error as a TransportError, or undefined. */
export function icmpv6TransportError(m: Icmpv6Message, reporter: IpAddr, now: number): TransportError | undefined {
  let kind: TransportError['kind'];
  let hard = false;
  let mtu = 0;
  let description: string;
  if (m.type === ICMPV6_DEST_UNREACHABLE) {
    kind = 'unreachable';
    hard = m.code === UNREACH6_PORT;
    description = UNREACH6[m.code] ?? `destination unreachable (code ${m.code})`;
  } else if (m.type === ICMPV6_PACKET_TOO_BIG) {
    kind = 'too-big';
    mtu = m.rest >>> 0;
    description = 'packet too big';
  } else if (m.type === ICMPV6_TIME_EXCEEDED) {
    kind = 'time-exceeded';
    description = 'time exceeded';
  } else if (m.type === ICMPV6_PARAMETER_PROBLEM) {
    kind = 'parameter-problem';
    // An unrecognized Next Header is IPv6's protocol unreachable (RFC 4443 §3.4).
    hard = m.code === PARAM_UNRECOGNIZED_NEXT_HEADER;
    description = hard ? 'unrecognized next header' : 'parameter problem';
  } else return undefined;
  const q = m.body;
  if (q.length < 48 || (q[0] ?? 0) >> 4 !== 6) return undefined;
  let next = q[6] ?? 0;
  let off = 40;
  for (let i = 0; i < MAX_QUOTED_EXTENSIONS && (next === NH_HOP_BY_HOP || next === NH_DEST_OPTIONS || next === NH_FRAGMENT); i++) {
    if (q.length < off + 8) return undefined;
    const len = next === NH_FRAGMENT ? 8 : ((q[off + 1] ?? 0) + 1) * 8;
    next = q[off] ?? 0;
    off += len;
  }
  if (q.length < off + 8) return undefined;
  return {
    kind, hard, mtu, description, now, reporter, quotedLength: 40 + (((q[4] ?? 0) << 8) | (q[5] ?? 0)),
    protocol: next, src: readIpv6(q, 8), dst: readIpv6(q, 24), transport: q.subarray(off),
  };
}
