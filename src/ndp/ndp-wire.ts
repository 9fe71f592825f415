// Neighbour discovery messages (RFC 4861 §4) as typed records, from and to the body of an ICMPv6 message:
// Router Solicitation and Advertisement, Neighbor Solicitation and Advertisement, Redirect, and their options
// (§4.6: link-layer addresses, prefix information, MTU; RFC 8106 recursive DNS servers). Parsing checks every
// length and the rules of §6.1.1, §6.1.2, §7.1.1 and §7.1.2 that the message alone can tell; the rules that need
// the IP header (hop limit 255, the source address) are `checkNdHeader`'s.

import { isIpv6Multicast, readIpv6, readMac, writeIpAddr, writeMac, type Ipv6Addr, type MacAddr } from '../net/addr.ts';
import {
  ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION, ICMPV6_REDIRECT, ICMPV6_ROUTER_ADVERTISEMENT,
  ICMPV6_ROUTER_SOLICITATION, type Icmpv6Message,
} from '../net/icmpv6-wire.ts';

export const OPT_SOURCE_LLA = 1;
export const OPT_TARGET_LLA = 2;
export const OPT_PREFIX_INFO = 3;
export const OPT_REDIRECTED_HEADER = 4;
export const OPT_MTU = 5;
export const OPT_RDNSS = 25;
/** RFC 7527 §4.2: a Nonce in a DAD solicitation tells our own looped-back solicitation from another host's. */
export const OPT_NONCE = 14;

/** RFC 4861 §4.6.2. */
export interface PrefixInfo {
  prefixLength: number;
  /** L: the prefix is on-link. */
  onLink: boolean;
  /** A: the prefix may be used for stateless address autoconfiguration (RFC 4862). */
  autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  preferredLifetime: number;
  prefix: Ipv6Addr;
}

/** The options of an ND message that we use; unknown ones are skipped by their length (§4.6). */
export interface NdOptions {
  sourceLla?: MacAddr;
  targetLla?: MacAddr;
  prefixes: PrefixInfo[];
  mtu?: number;
  /** RFC 8106 §5.1: DNS servers and their lifetime in seconds. */
  dns?: { lifetime: number; servers: Ipv6Addr[] };
  /** RFC 7527 §4.2: the Nonce option's bytes (6 or more). */
  nonce?: Uint8Array;
}

export type NdMessage =
  | { kind: 'rs'; options: NdOptions }
  | {
      kind: 'ra';
      curHopLimit: number;
      /** M: addresses from DHCPv6; O: other configuration from DHCPv6 (RFC 4861 §4.2). */
      managed: boolean;
      other: boolean;
      /** Seconds; 0: not a default router. */
      routerLifetime: number;
      /** Milliseconds; 0: unspecified. */
      reachableTime: number;
      retransTimer: number;
      options: NdOptions;
    }
  | { kind: 'ns'; target: Ipv6Addr; options: NdOptions }
  | { kind: 'na'; router: boolean; solicited: boolean; override: boolean; target: Ipv6Addr; options: NdOptions }
  | { kind: 'redirect'; target: Ipv6Addr; destination: Ipv6Addr; options: NdOptions };

/** Why an ND message was refused (the receiving layer counts it under this reason). */
export type NdParseFailure = 'code' | 'short' | 'option_length' | 'option_value' | 'target_multicast' | 'not_nd';

/** Most options read from one message: a message of many tiny options costs no more than this. */
export const MAX_ND_OPTIONS = 32;

function u32(b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}

function parseOptions(b: Uint8Array, start: number): NdOptions | NdParseFailure {
  const o: NdOptions = { prefixes: [] };
  let i = start;
  let n = 0;
  while (i < b.length) {
    if (i + 2 > b.length) return 'option_length';
    const type = b[i] ?? 0;
    const len = (b[i + 1] ?? 0) * 8;
    // §4.6: a length of 0 is invalid and the whole message is discarded (§6.1.1, §7.1.1).
    if (len === 0 || i + len > b.length) return 'option_length';
    if (++n > MAX_ND_OPTIONS) return 'option_length';
    if (type === OPT_SOURCE_LLA || type === OPT_TARGET_LLA) {
      // RFC 2464 §6: on Ethernet the option is 8 bytes, the MAC in its first 6 bytes of data.
      if (len !== 8) return 'option_value';
      if (type === OPT_SOURCE_LLA) o.sourceLla = readMac(b, i + 2);
      else o.targetLla = readMac(b, i + 2);
    } else if (type === OPT_PREFIX_INFO) {
      if (len !== 32) return 'option_value';
      const prefixLength = b[i + 2] ?? 0;
      if (prefixLength > 128) return 'option_value';
      const flags = b[i + 3] ?? 0;
      o.prefixes.push({
        prefixLength,
        onLink: (flags & 0x80) !== 0,
        autonomous: (flags & 0x40) !== 0,
        validLifetime: u32(b, i + 4),
        preferredLifetime: u32(b, i + 8),
        prefix: readIpv6(b, i + 16),
      });
    } else if (type === OPT_MTU) {
      if (len !== 8) return 'option_value';
      o.mtu = u32(b, i + 4);
    } else if (type === OPT_NONCE) {
      o.nonce = b.slice(i + 2, i + len);
    } else if (type === OPT_RDNSS) {
      // RFC 8106 §5.1: length 3 + 2 per server, at least one server.
      if (len < 24 || (len - 8) % 16 !== 0) return 'option_value';
      const servers: Ipv6Addr[] = [];
      for (let j = i + 8; j < i + len; j += 16) servers.push(readIpv6(b, j));
      o.dns = { lifetime: u32(b, i + 4), servers };
    }
    i += len;
  }
  return o;
}

/** The ND message in an ICMPv6 message, or why it is not a valid one; `not_nd` for other types. */
export function parseNd(m: Icmpv6Message): { ok: true; message: NdMessage } | { ok: false; reason: NdParseFailure } {
  const b = m.body;
  const r = m.rest;
  const fail = (reason: NdParseFailure): { ok: false; reason: NdParseFailure } => ({ ok: false, reason });
  const withOptions = (start: number, f: (o: NdOptions) => NdMessage): { ok: true; message: NdMessage } | { ok: false; reason: NdParseFailure } => {
    if (b.length < start) return fail('short');
    const o = parseOptions(b, start);
    return typeof o === 'string' ? fail(o) : { ok: true, message: f(o) };
  };
  const isNd = m.type >= ICMPV6_ROUTER_SOLICITATION && m.type <= ICMPV6_REDIRECT;
  if (!isNd) return fail('not_nd');
  // §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1: ICMP Code is 0.
  if (m.code !== 0) return fail('code');
  switch (m.type) {
    case ICMPV6_ROUTER_SOLICITATION:
      return withOptions(0, (options) => ({ kind: 'rs', options }));
    case ICMPV6_ROUTER_ADVERTISEMENT:
      return withOptions(8, (options) => ({
        kind: 'ra',
        curHopLimit: r >>> 24,
        managed: ((r >>> 16) & 0x80) !== 0,
        other: ((r >>> 16) & 0x40) !== 0,
        routerLifetime: r & 0xffff,
        reachableTime: u32(b, 0),
        retransTimer: u32(b, 4),
        options,
      }));
    case ICMPV6_NEIGHBOR_SOLICITATION: {
      if (b.length < 16) return fail('short');
      const target = readIpv6(b, 0);
      if (isIpv6Multicast(target)) return fail('target_multicast'); // §7.1.1
      return withOptions(16, (options) => ({ kind: 'ns', target, options }));
    }
    case ICMPV6_NEIGHBOR_ADVERTISEMENT: {
      if (b.length < 16) return fail('short');
      const target = readIpv6(b, 0);
      if (isIpv6Multicast(target)) return fail('target_multicast'); // §7.1.2
      return withOptions(16, (options) => ({
        kind: 'na', router: (r & 0x8000_0000) !== 0, solicited: (r & 0x4000_0000) !== 0, override: (r & 0x2000_0000) !== 0, target, options,
      }));
    }
    default: {
      if (b.length < 32) return fail('short');
      const target = readIpv6(b, 0);
      const destination = readIpv6(b, 16);
      if (isIpv6Multicast(destination)) return fail('target_multicast'); // §8.1
      return withOptions(32, (options) => ({ kind: 'redirect', target, destination, options }));
    }
  }
}

/** Why a received ND message must be discarded for what its IP header says (RFC 4861 §6.1, §7.1, §8.1). */
export type NdHeaderFailure = 'hop_limit' | 'source' | 'destination' | 'options';

/**
 * The checks that need the IP header: the hop limit is 255 (the message was not forwarded, so it came from the
 * link); an RA comes from a link-local address; an RS or NS from the unspecified address carries no source
 * link-layer address, and such an NS goes to a solicited-node group; a solicited NA is not sent to a multicast
 * group.
 */
export function checkNdHeader(m: NdMessage, hopLimit: number, src: Ipv6Addr, dst: Ipv6Addr): NdHeaderFailure | undefined {
  if (hopLimit !== 255) return 'hop_limit';
  switch (m.kind) {
    case 'ra':
    case 'redirect':
      if (src >> 118n !== 0x3fan) return 'source'; // §6.1.2, §8.1: link-local source
      return undefined;
    case 'rs':
      if (src === 0n && m.options.sourceLla !== undefined) return 'options';
      return undefined;
    case 'ns':
      if (src === 0n) {
        if (m.options.sourceLla !== undefined) return 'options';
        if (dst >> 24n !== 0xff02_0000_0000_0000_0000_0001_ffn) return 'destination'; // §7.1.1: a solicited-node group
      }
      return undefined;
    case 'na':
      if (m.solicited && isIpv6Multicast(dst)) return 'destination';
      return undefined;
  }
}

/** Options to write into a message we send. */
export interface NdOptionsOut {
  sourceLla?: MacAddr;
  targetLla?: MacAddr;
  /** RFC 7527 §4.2: 6 bytes (or 6 + a multiple of 8) for a DAD solicitation. */
  nonce?: Uint8Array;
}

function optionsBytes(o: NdOptionsOut): Uint8Array {
  const nonceLen = o.nonce === undefined ? 0 : Math.ceil((o.nonce.length + 2) / 8) * 8;
  const llas: Array<[number, MacAddr]> = [];
  if (o.sourceLla !== undefined) llas.push([OPT_SOURCE_LLA, o.sourceLla]);
  if (o.targetLla !== undefined) llas.push([OPT_TARGET_LLA, o.targetLla]);
  const b = new Uint8Array(8 * llas.length + nonceLen);
  llas.forEach(([type, mac], k) => {
    b[8 * k] = type;
    b[8 * k + 1] = 1;
    writeMac(b, 8 * k + 2, mac);
  });
  if (o.nonce !== undefined) {
    const at = 8 * llas.length;
    b[at] = OPT_NONCE;
    b[at + 1] = nonceLen / 8;
    b.set(o.nonce, at + 2);
  }
  return b;
}

/** The ICMPv6 message (without checksum: `encodeIcmpv6` adds it) of a Router Solicitation (§4.1). */
export function routerSolicitation(o: NdOptionsOut): Icmpv6Message {
  return { type: ICMPV6_ROUTER_SOLICITATION, code: 0, rest: 0, body: optionsBytes(o) };
}

/** A Neighbor Solicitation for `target` (§4.3). */
export function neighborSolicitation(target: Ipv6Addr, o: NdOptionsOut): Icmpv6Message {
  const opts = optionsBytes(o);
  const body = new Uint8Array(16 + opts.length);
  writeIpAddr(body, 0, target);
  body.set(opts, 16);
  return { type: ICMPV6_NEIGHBOR_SOLICITATION, code: 0, rest: 0, body };
}

/** A Neighbor Advertisement for `target` (§4.4), with its R, S and O flags. */
export function neighborAdvertisement(target: Ipv6Addr, flags: { router: boolean; solicited: boolean; override: boolean }, o: NdOptionsOut): Icmpv6Message {
  const opts = optionsBytes(o);
  const body = new Uint8Array(16 + opts.length);
  writeIpAddr(body, 0, target);
  body.set(opts, 16);
  const rest = ((flags.router ? 0x8000_0000 : 0) | (flags.solicited ? 0x4000_0000 : 0) | (flags.override ? 0x2000_0000 : 0)) >>> 0;
  return { type: ICMPV6_NEIGHBOR_ADVERTISEMENT, code: 0, rest, body };
}
