// The IPv6 header (RFC 8200 §3) and its extension headers (§4): parsed with every length checked, the chain of
// extension headers walked with a bound on their number and total length, and written back. Parsing never
// throws; a packet it refuses says why (for the counters) and, where RFC 8200 asks for an ICMPv6 Parameter
// Problem, with which code and pointer (RFC 4443 §3.4).

import { readIpv6, writeIpAddr, type Ipv6Addr } from './addr.ts';

export const IPV6_HEADER_LEN = 40;
/** RFC 8200 §5: every link carries packets of 1280 bytes. */
export const IPV6_MIN_MTU = 1280;

/** Next Header values (IANA): the extension headers, "no next header", and ICMPv6. */
export const NH_HOP_BY_HOP = 0;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ICMPV6 = 58;
export const NH_NONE = 59;
export const NH_DEST_OPTIONS = 60;

/** Hop-by-Hop option types we know (RFC 8200 §4.2; RFC 2711 Router Alert, which MLD uses). */
export const OPT_PAD1 = 0;
export const OPT_PADN = 1;
export const OPT_ROUTER_ALERT = 5;

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  /** The Payload Length field: bytes after the fixed header, extension headers included. */
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Ipv6Addr;
  dst: Ipv6Addr;
}

/** What a Fragment header (RFC 8200 §4.5) says. */
export interface Ipv6Fragment {
  /** Fragment Offset, in bytes. */
  offset: number;
  moreFragments: boolean;
  id: number;
  /** The Next Header of the fragmentable part. */
  nextHeader: number;
}

/** Bounds on the extension header chain: a long chain costs work and hides the upper layer (RFC 8883, RFC 7112). */
export interface Ipv6ChainLimits {
  /** Extension headers in one packet. */
  maxExtensionHeaders: number;
  /** Bytes of extension headers in one packet. */
  maxExtensionBytes: number;
  /** TLV options inside one Hop-by-Hop or Destination Options header. */
  maxOptions: number;
}

export const defaultIpv6ChainLimits: Ipv6ChainLimits = { maxExtensionHeaders: 8, maxExtensionBytes: 512, maxOptions: 16 };

/** Why a packet was refused (the receiving layer counts it under this reason). */
export type Ipv6ParseFailure =
  | 'short' | 'version' | 'payload_length' | 'ext_truncated' | 'ext_too_many' | 'ext_too_long' | 'hop_by_hop_not_first'
  | 'option_unknown' | 'too_many_options' | 'routing_header' | 'fragment_length' | 'no_next_header';

/** ICMPv6 Parameter Problem codes (RFC 4443 §3.4). */
export const PARAM_ERRONEOUS_FIELD = 0;
export const PARAM_UNRECOGNIZED_NEXT_HEADER = 1;
export const PARAM_UNRECOGNIZED_OPTION = 2;

/** The Parameter Problem a refused packet is owed: its code, and the byte offset of the offending field. */
export interface ParameterProblem {
  code: number;
  pointer: number;
  /** RFC 8200 §4.2: an option type whose top bits are 11 is answered only when the destination is not multicast. */
  unlessMulticast: boolean;
}

export type Ipv6Parse =
  | {
      ok: true;
      header: Ipv6Header;
      /** The upper-layer protocol (or, for a fragment, the Next Header of the fragmentable part). */
      protocol: number;
      /** Offset of the Next Header field that names `protocol` (for a Parameter Problem about it). */
      protocolPointer: number;
      /** The upper-layer payload (or the fragment's data), Ethernet padding cut off. */
      payload: Uint8Array;
      /** Offset of `payload` in the packet: the fixed header and the extension headers before it. */
      payloadOffset: number;
      /** Present for a real fragment; an atomic fragment (offset 0, M = 0, RFC 6946) is parsed through. */
      fragment?: Ipv6Fragment;
      /** A Router Alert option was present (RFC 2711): MLD messages carry one. */
      routerAlert: boolean;
    }
  | { ok: false; reason: Ipv6ParseFailure; problem?: ParameterProblem };

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

function u32(b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}

/**
 * Validates the fixed header (version 6, Payload Length within the frame; bytes past it, Ethernet padding, cut
 * off) and walks the extension headers up to the upper layer or a fragment.
 */
export function parseIpv6(b: Uint8Array, limits: Ipv6ChainLimits = defaultIpv6ChainLimits): Ipv6Parse {
  if (b.length < IPV6_HEADER_LEN) return { ok: false, reason: 'short' };
  const w0 = u32(b, 0);
  if (w0 >>> 28 !== 6) return { ok: false, reason: 'version' };
  const payloadLength = u16(b, 4);
  // RFC 8200 §3: a Payload Length of zero is a jumbogram (RFC 2675), which no Ethernet link carries.
  if (payloadLength === 0 && b.length > IPV6_HEADER_LEN && b[6] === NH_HOP_BY_HOP) return { ok: false, reason: 'payload_length' };
  if (IPV6_HEADER_LEN + payloadLength > b.length) return { ok: false, reason: 'payload_length' };
  const end = IPV6_HEADER_LEN + payloadLength;
  const header: Ipv6Header = {
    trafficClass: (w0 >>> 20) & 0xff,
    flowLabel: w0 & 0xfffff,
    payloadLength,
    nextHeader: b[6] ?? 0,
    hopLimit: b[7] ?? 0,
    src: readIpv6(b, 8),
    dst: readIpv6(b, 24),
  };
  let nh = header.nextHeader;
  let nhPointer = 6;
  let off = IPV6_HEADER_LEN;
  let count = 0;
  let routerAlert = false;
  for (;;) {
    if (nh !== NH_HOP_BY_HOP && nh !== NH_ROUTING && nh !== NH_FRAGMENT && nh !== NH_DEST_OPTIONS) break;
    if (++count > limits.maxExtensionHeaders) return { ok: false, reason: 'ext_too_many' };
    // RFC 8200 §4.1: Hop-by-Hop options only immediately after the IPv6 header; elsewhere, an unrecognized Next Header.
    if (nh === NH_HOP_BY_HOP && off !== IPV6_HEADER_LEN) {
      return { ok: false, reason: 'hop_by_hop_not_first', problem: { code: PARAM_UNRECOGNIZED_NEXT_HEADER, pointer: nhPointer, unlessMulticast: false } };
    }
    if (off + 8 > end) return { ok: false, reason: 'ext_truncated' };
    if (nh === NH_FRAGMENT) {
      const ofm = u16(b, off + 2);
      const frag: Ipv6Fragment = { offset: ofm & 0xfff8, moreFragments: (ofm & 1) === 1, id: u32(b, off + 4), nextHeader: b[off] ?? 0 };
      const dataOffset = off + 8;
      if (frag.offset === 0 && !frag.moreFragments) {
        // RFC 6946: an atomic fragment is processed as if it had no Fragment header.
        nhPointer = off;
        nh = frag.nextHeader;
        off = dataOffset;
        continue;
      }
      // RFC 8200 §4.5: every fragment but the last carries a multiple of 8 bytes.
      if (frag.moreFragments && (end - dataOffset) % 8 !== 0) {
        return { ok: false, reason: 'fragment_length', problem: { code: PARAM_ERRONEOUS_FIELD, pointer: 4, unlessMulticast: false } };
      }
      return { ok: true, header, protocol: frag.nextHeader, protocolPointer: off, payload: b.subarray(dataOffset, end), payloadOffset: dataOffset, fragment: frag, routerAlert };
    }
    const len = ((b[off + 1] ?? 0) + 1) * 8;
    if (off + len > end) return { ok: false, reason: 'ext_truncated' };
    if (off + len - IPV6_HEADER_LEN > limits.maxExtensionBytes) return { ok: false, reason: 'ext_too_long' };
    if (nh === NH_ROUTING) {
      // RFC 8200 §4.4 (and RFC 5095 for type 0): with segments left, a routing type we do not process (we process
      // none: a host is never an intermediate node) is a Parameter Problem about the Routing Type field.
      if ((b[off + 3] ?? 0) !== 0) return { ok: false, reason: 'routing_header', problem: { code: PARAM_ERRONEOUS_FIELD, pointer: off + 2, unlessMulticast: false } };
    } else {
      const opts = walkOptions(b, off + 2, off + len, limits.maxOptions);
      if (typeof opts === 'string') return { ok: false, reason: opts };
      if (opts.problem !== undefined) return { ok: false, reason: 'option_unknown', problem: opts.problem };
      if (opts.drop) return { ok: false, reason: 'option_unknown' };
      routerAlert ||= opts.routerAlert;
    }
    nhPointer = off;
    nh = b[off] ?? 0;
    off += len;
  }
  if (nh === NH_NONE) return { ok: false, reason: 'no_next_header' };
  return { ok: true, header, protocol: nh, protocolPointer: nhPointer, payload: b.subarray(off, end), payloadOffset: off, routerAlert };
}

/**
 * The TLV options of a Hop-by-Hop or Destination Options header (RFC 8200 §4.2), from `start` to `end`: Pad1 and
 * PadN skipped, Router Alert noted, an unknown option handled by the two top bits of its type (00 skip, 01
 * discard, 10 discard and report, 11 discard and report unless the destination is multicast).
 */
function walkOptions(b: Uint8Array, start: number, end: number, maxOptions: number):
  { routerAlert: boolean; drop: boolean; problem?: ParameterProblem } | 'ext_truncated' | 'too_many_options' {
  let i = start;
  let n = 0;
  let routerAlert = false;
  while (i < end) {
    const type = b[i] ?? 0;
    if (type === OPT_PAD1) {
      i++;
      continue;
    }
    if (++n > maxOptions) return 'too_many_options';
    if (i + 2 > end) return 'ext_truncated';
    const len = b[i + 1] ?? 0;
    if (i + 2 + len > end) return 'ext_truncated';
    if (type === OPT_ROUTER_ALERT && len === 2) routerAlert = true;
    else if (type !== OPT_PADN) {
      const action = type >>> 6;
      if (action === 1) return { routerAlert, drop: true };
      if (action >= 2) return { routerAlert, drop: true, problem: { code: PARAM_UNRECOGNIZED_OPTION, pointer: i, unlessMulticast: action === 3 } };
    }
    i += 2 + len;
  }
  return { routerAlert, drop: false };
}

export interface Ipv6Out {
  trafficClass?: number;
  flowLabel?: number;
  nextHeader: number;
  hopLimit: number;
  src: Ipv6Addr;
  dst: Ipv6Addr;
}

/** Writes the 40-byte fixed header at `off` for `payloadLength` bytes that follow it. */
export function writeIpv6Header(b: Uint8Array, off: number, h: Ipv6Out, payloadLength: number): void {
  const w0 = ((6 << 28) | ((h.trafficClass ?? 0) << 20) | ((h.flowLabel ?? 0) & 0xfffff)) >>> 0;
  b[off] = w0 >>> 24;
  b[off + 1] = w0 >>> 16;
  b[off + 2] = w0 >>> 8;
  b[off + 3] = w0;
  b[off + 4] = payloadLength >>> 8;
  b[off + 5] = payloadLength;
  b[off + 6] = h.nextHeader;
  b[off + 7] = h.hopLimit;
  writeIpAddr(b, off + 8, h.src);
  writeIpAddr(b, off + 24, h.dst);
}

/** A whole packet: the fixed header and a copy of `payload` (which may begin with extension headers). */
export function buildIpv6(h: Ipv6Out, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(IPV6_HEADER_LEN + payload.length);
  writeIpv6Header(b, 0, h, payload.length);
  b.set(payload, IPV6_HEADER_LEN);
  return b;
}

/** An 8-byte Fragment header (RFC 8200 §4.5). */
export function encodeFragmentHeader(f: Ipv6Fragment): Uint8Array {
  const b = new Uint8Array(8);
  b[0] = f.nextHeader;
  const ofm = (f.offset & 0xfff8) | (f.moreFragments ? 1 : 0);
  b[2] = ofm >>> 8;
  b[3] = ofm;
  b[4] = f.id >>> 24;
  b[5] = f.id >>> 16;
  b[6] = f.id >>> 8;
  b[7] = f.id;
  return b;
}

/** A Hop-by-Hop Options header holding one Router Alert option of `value` (RFC 2711; MLD uses 0), padded to 8 bytes. */
export function encodeRouterAlertHeader(nextHeader: number, value = 0): Uint8Array {
  return Uint8Array.of(nextHeader, 0, OPT_ROUTER_ALERT, 2, value >>> 8, value & 0xff, OPT_PADN, 0);
}

/**
 * The IPv6 pseudo-header sum of addresses and Next Header (RFC 8200 §8.1), without the upper-layer length: the
 * transport adds its length to it, as for IPv4 (a 32-bit length under 2^16 sums as the 16-bit one does).
 */
export function ipv6Pseudo(src: Ipv6Addr, dst: Ipv6Addr, nextHeader: number): number {
  let sum = nextHeader;
  for (const a of [src, dst]) for (let i = 0; i < 8; i++) sum += Number((a >> BigInt(112 - 16 * i)) & 0xffffn);
  return sum;
}
