// IPv6, ICMPv6, neighbour discovery and MLDv2 codecs: frames the Linux kernel and dnsmasq sent on a link
// (test/fixtures/linux-dnsmasq-ipv6.pcap, recorded by scripts/record-ipv6-fixture.sh) decode as tshark reads
// them and encode back to the same bytes; hand-built packets hit every extension-header rule of RFC 8200; and
// random or mutated packets never throw.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  eui64, inIpv6Prefix, ipv6MulticastMac, ipv6ToString, isIpv6LinkLocal, parseIpv6 as parseIpv6Text, solicitedNode, withInterfaceId,
} from '../../src/net/addr.ts';
import {
  ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_MLDV2_REPORT, ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION,
  ICMPV6_ROUTER_ADVERTISEMENT, ICMPV6_ROUTER_SOLICITATION, encodeIcmpv6, parseIcmpv6,
} from '../../src/net/icmpv6-wire.ts';
import {
  IPV6_HEADER_LEN, NH_DEST_OPTIONS, NH_FRAGMENT, NH_HOP_BY_HOP, NH_ICMPV6, NH_NONE, NH_ROUTING, PARAM_ERRONEOUS_FIELD,
  PARAM_UNRECOGNIZED_NEXT_HEADER, PARAM_UNRECOGNIZED_OPTION, buildIpv6, encodeFragmentHeader, encodeRouterAlertHeader, ipv6Pseudo,
  parseIpv6, writeIpv6Header,
} from '../../src/net/ipv6-wire.ts';
import { readPcap } from '../../src/net/pcap.ts';
import { CHANGE_TO_EXCLUDE, mldv2Report, parseMldQuery, parseMldv2Report } from '../../src/ndp/mld-wire.ts';
import { checkNdHeader, neighborAdvertisement, neighborSolicitation, parseNd, routerSolicitation, type NdMessage } from '../../src/ndp/ndp-wire.ts';
import { mac } from './frames.ts';

const v6 = (s: string): bigint => {
  const a = parseIpv6Text(s);
  if (a === undefined) throw new Error(`bad address ${s}`);
  return a;
};

const frames = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/linux-dnsmasq-ipv6.pcap', import.meta.url)))).map((r) => r.frame);
/** The IPv6 packet of each captured frame (EtherType 0x86dd). */
const packets = frames.filter((f) => f[12] === 0x86 && f[13] === 0xdd).map((f) => f.subarray(14));

const ROUTER_MAC = mac('02:00:00:00:77:02');
const HOST_MAC = mac('02:00:00:00:77:01');
const HOST_LL = v6('fe80::ff:fe00:7701');
const ROUTER_LL = v6('fe80::ff:fe00:7702');

function icmp(p: Uint8Array) {
  const ip = parseIpv6(p);
  if (!ip.ok || ip.protocol !== NH_ICMPV6 || ip.fragment !== undefined) return undefined;
  const m = parseIcmpv6(ip.payload, ipv6Pseudo(ip.header.src, ip.header.dst, NH_ICMPV6));
  if (!m.ok) throw new Error(`bad ICMPv6 checksum in a captured packet: ${m.reason}`);
  return { ip, m: m.message };
}

function nd(p: Uint8Array): { ip: ReturnType<typeof icmp>; nd: NdMessage } | undefined {
  const x = icmp(p);
  if (x === undefined) return undefined;
  const r = parseNd(x.m);
  return r.ok ? { ip: x, nd: r.message } : undefined;
}

describe('IPv6 addresses', () => {
  it('parses RFC 4291 §2.2 text and prints RFC 5952 text', () => {
    expect(ipv6ToString(v6('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(ipv6ToString(v6('2001:0db8:0000:0000:0000:0000:0000:0001'))).toBe('2001:db8::1');
    expect(ipv6ToString(v6('::'))).toBe('::');
    expect(ipv6ToString(v6('::1'))).toBe('::1');
    expect(ipv6ToString(v6('2001:db8::'))).toBe('2001:db8::');
    expect(ipv6ToString(v6('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1'); // one zero group stays
    expect(ipv6ToString(v6('2001:0:0:1:0:0:0:1'))).toBe('2001:0:0:1::1'); // the longer run
    expect(ipv6ToString(v6('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1'); // the first of equal runs
    expect(v6('::ffff:192.0.2.1')).toBe(0xffff_c000_0201n);
    for (const bad of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3:4:5:6:7', '::1.2.3', '1.2.3.4::', 'fe80::1%eth0']) {
      expect(parseIpv6Text(bad), bad).toBeUndefined();
    }
  });

  it('derives the kernel’s own link-local address, solicited-node group and multicast MAC', () => {
    expect(withInterfaceId(v6('fe80::'), eui64(HOST_MAC))).toBe(HOST_LL); // the kernel's EUI-64 address in the capture
    expect(isIpv6LinkLocal(HOST_LL)).toBe(true);
    expect(isIpv6LinkLocal(v6('fd77::2'))).toBe(false);
    expect(ipv6ToString(solicitedNode(v6('fd77::ff:fe00:7701')))).toBe('ff02::1:ff00:7701');
    expect(ipv6MulticastMac(v6('ff02::1:ff00:7701'))).toBe(mac('33:33:ff:00:77:01'));
    expect(inIpv6Prefix(v6('fd77::ff:fe00:7701'), v6('fd77::'), 64)).toBe(true);
    expect(inIpv6Prefix(v6('fd78::1'), v6('fd77::'), 64)).toBe(false);
  });
});

describe('IPv6 and ICMPv6 from the Linux kernel and dnsmasq', () => {
  it('every captured packet parses, every ICMPv6 checksum is right', () => {
    expect(packets.length).toBeGreaterThan(25);
    for (const p of packets) {
      const ip = parseIpv6(p);
      expect(ip.ok).toBe(true);
      if (ip.ok && ip.fragment === undefined && ip.protocol === NH_ICMPV6) expect(icmp(p)).toBeDefined();
    }
  });

  it('writes the fixed header back to the same 40 bytes', () => {
    for (const p of packets) {
      const ip = parseIpv6(p);
      if (!ip.ok) throw new Error('unparsed');
      const b = new Uint8Array(IPV6_HEADER_LEN);
      writeIpv6Header(b, 0, ip.header, ip.header.payloadLength);
      expect(b).toEqual(p.subarray(0, IPV6_HEADER_LEN));
    }
  });

  it("reads dnsmasq's router advertisement as tshark does", () => {
    const ra = packets.map(nd).find((x) => x?.nd.kind === 'ra');
    expect(ra?.nd).toEqual({
      kind: 'ra', curHopLimit: 64, managed: false, other: true, routerLifetime: 1800, reachableTime: 0, retransTimer: 0,
      options: {
        sourceLla: ROUTER_MAC, mtu: 1500,
        prefixes: [{ prefixLength: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 3600, prefix: v6('fd77::') }],
      },
    });
    if (ra?.ip === undefined) throw new Error('no RA');
    expect(checkNdHeader(ra.nd, ra.ip.ip.header.hopLimit, ra.ip.ip.header.src, ra.ip.ip.header.dst)).toBeUndefined();
    expect(checkNdHeader(ra.nd, 64, ra.ip.ip.header.src, ra.ip.ip.header.dst)).toBe('hop_limit');
    expect(checkNdHeader(ra.nd, 255, v6('fd77::2'), ra.ip.ip.header.dst)).toBe('source');
  });

  it('re-encodes the kernel’s neighbour solicitations, advertisements and router solicitations byte for byte', () => {
    let checked = 0;
    for (const p of packets) {
      const x = nd(p);
      if (x === undefined || x.ip === undefined) continue;
      const h = x.ip.ip.header;
      const n = x.nd;
      let again;
      if (n.kind === 'ns') {
        again = neighborSolicitation(n.target, {
          ...(n.options.sourceLla !== undefined ? { sourceLla: n.options.sourceLla } : {}), ...(n.options.nonce !== undefined ? { nonce: n.options.nonce } : {}),
        });
      }
      else if (n.kind === 'na') again = neighborAdvertisement(n.target, n, { ...(n.options.targetLla !== undefined ? { targetLla: n.options.targetLla } : {}) });
      else if (n.kind === 'rs') again = routerSolicitation({ ...(n.options.sourceLla !== undefined ? { sourceLla: n.options.sourceLla } : {}) });
      else continue;
      expect(encodeIcmpv6(again, ipv6Pseudo(h.src, h.dst, NH_ICMPV6))).toEqual(x.ip.ip.payload);
      expect(checkNdHeader(n, h.hopLimit, h.src, h.dst)).toBeUndefined();
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(6);
    const dad = packets.map(nd).find((x) => x?.nd.kind === 'ns' && x.ip?.ip.header.src === 0n);
    expect(dad?.nd).toMatchObject({ kind: 'ns', target: HOST_LL, options: { prefixes: [] } }); // DAD: from ::, no SLLA
    if (dad?.nd.kind !== 'ns') throw new Error('no DAD');
    expect(dad.nd.options.sourceLla).toBeUndefined();
    expect(dad.nd.options.nonce?.length).toBe(6); // Linux sends the RFC 7527 nonce
    const answer = packets.map(nd).find((x) => x?.nd.kind === 'na' && x.nd.target === HOST_LL);
    expect(answer?.nd).toEqual({ kind: 'na', router: false, solicited: true, override: true, target: HOST_LL, options: { targetLla: HOST_MAC, prefixes: [] } });
  });

  it('reads and re-encodes the MLDv2 reports, with their Router Alert hop-by-hop header', () => {
    const reports = packets.map((p) => ({ p, x: icmp(p) })).filter(({ x }) => x?.m.type === ICMPV6_MLDV2_REPORT);
    expect(reports.length).toBeGreaterThanOrEqual(4);
    for (const { p, x } of reports) {
      if (x === undefined) continue;
      expect(x.ip.routerAlert).toBe(true);
      expect(x.ip.header.hopLimit).toBe(1);
      expect(x.ip.header.nextHeader).toBe(NH_HOP_BY_HOP);
      const records = parseMldv2Report(x.m);
      expect(records).toBeDefined();
      expect(encodeIcmpv6(mldv2Report(records ?? []), ipv6Pseudo(x.ip.header.src, x.ip.header.dst, NH_ICMPV6))).toEqual(x.ip.payload);
      // The whole packet: our Router Alert header and the report after it.
      const hbh = encodeRouterAlertHeader(NH_ICMPV6);
      const whole = buildIpv6({ nextHeader: NH_HOP_BY_HOP, hopLimit: 1, src: x.ip.header.src, dst: x.ip.header.dst }, new Uint8Array([...hbh, ...x.ip.payload]));
      expect(whole).toEqual(p);
    }
    const joins = reports.flatMap(({ x }) => (x === undefined ? [] : parseMldv2Report(x.m) ?? []));
    expect(joins).toContainEqual({ type: CHANGE_TO_EXCLUDE, group: v6('ff02::1:ff00:7701'), sources: [] });
  });

  it('reads the fragments of a 3000-byte ping: offsets, More Fragments, one id per datagram', () => {
    const frags = packets.map((p) => parseIpv6(p)).flatMap((r) => (r.ok && r.fragment !== undefined ? [r] : []));
    expect(frags.map((f) => [f.fragment?.offset, f.fragment?.moreFragments])).toEqual([[0, true], [1448, true], [2896, false], [0, true], [1448, true], [2896, false]]);
    expect(new Set(frags.slice(0, 3).map((f) => f.fragment?.id)).size).toBe(1);
    expect(frags.every((f) => f.protocol === NH_ICMPV6)).toBe(true);
    expect(frags[0]?.payload.length).toBe(1448);
  });

  it('answers nothing wrong: echo requests and replies pair up', () => {
    const echoes = packets.map(icmp).filter((x) => x?.m.type === ICMPV6_ECHO_REQUEST || x?.m.type === ICMPV6_ECHO_REPLY);
    expect(echoes.length).toBeGreaterThanOrEqual(6);
    const types = new Set(packets.map(icmp).map((x) => x?.m.type));
    for (const t of [ICMPV6_ROUTER_SOLICITATION, ICMPV6_ROUTER_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION, ICMPV6_NEIGHBOR_ADVERTISEMENT]) expect(types).toContain(t);
  });
});

/** A packet from the host to the router with `ext` (extension headers, then `upper`) after the fixed header. */
function packet(nextHeader: number, ext: number[], dst = v6('fd77::2')): Uint8Array {
  return buildIpv6({ nextHeader, hopLimit: 64, src: v6('fd77::ff:fe00:7701'), dst }, Uint8Array.from(ext));
}
const UPPER = [0x80, 0, 0, 0, 0, 0, 0, 0]; // 8 bytes of something (as an ICMPv6 header would be)

describe('extension headers (RFC 8200 §4)', () => {
  it('walks hop-by-hop, destination options and a routing header with no segments left to the upper layer', () => {
    const r = parseIpv6(packet(NH_HOP_BY_HOP, [NH_DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0, NH_ROUTING, 0, 0, 1, 0, 0, 0, 0, NH_ICMPV6, 0, 2, 0, 0, 0, 0, 0, ...UPPER]));
    expect(r).toMatchObject({ ok: true, protocol: NH_ICMPV6, payloadOffset: 64, protocolPointer: 56 });
  });

  it('skips Pad1 and PadN, notes a Router Alert', () => {
    expect(parseIpv6(packet(NH_HOP_BY_HOP, [NH_ICMPV6, 0, 0, 0, 1, 2, 0, 0, ...UPPER]))).toMatchObject({ ok: true, routerAlert: false });
    expect(parseIpv6(packet(NH_HOP_BY_HOP, [...encodeRouterAlertHeader(NH_ICMPV6), ...UPPER]))).toMatchObject({ ok: true, routerAlert: true });
  });

  it('acts on an unknown option by the two top bits of its type (§4.2)', () => {
    const withOption = (type: number, dst?: bigint): ReturnType<typeof parseIpv6> => parseIpv6(packet(NH_DEST_OPTIONS, [NH_ICMPV6, 0, type, 2, 0, 0, 1, 0, ...UPPER], dst));
    expect(withOption(0x1e)).toMatchObject({ ok: true }); // 00: skip
    expect(withOption(0x5e)).toEqual({ ok: false, reason: 'option_unknown' }); // 01: discard quietly
    expect(withOption(0x9e)).toEqual({ ok: false, reason: 'option_unknown', problem: { code: PARAM_UNRECOGNIZED_OPTION, pointer: 42, unlessMulticast: false } });
    expect(withOption(0xde)).toEqual({ ok: false, reason: 'option_unknown', problem: { code: PARAM_UNRECOGNIZED_OPTION, pointer: 42, unlessMulticast: true } });
  });

  it('refuses a hop-by-hop header that is not first, pointing at the Next Header naming it', () => {
    expect(parseIpv6(packet(NH_DEST_OPTIONS, [NH_HOP_BY_HOP, 0, 1, 4, 0, 0, 0, 0, NH_ICMPV6, 0, 1, 4, 0, 0, 0, 0, ...UPPER]))).toEqual({
      ok: false, reason: 'hop_by_hop_not_first', problem: { code: PARAM_UNRECOGNIZED_NEXT_HEADER, pointer: 40, unlessMulticast: false },
    });
  });

  it('refuses a routing header with segments left, type 0 (RFC 5095) or any other, pointing at the Routing Type', () => {
    for (const type of [0, 2, 4]) {
      expect(parseIpv6(packet(NH_ROUTING, [NH_ICMPV6, 2, type, 1, 0, 0, 0, 0, ...new Array<number>(16).fill(0), ...UPPER]))).toEqual({
        ok: false, reason: 'routing_header', problem: { code: PARAM_ERRONEOUS_FIELD, pointer: 42, unlessMulticast: false },
      });
    }
  });

  it('bounds the chain: its length in headers and in bytes, and options per header', () => {
    const chain = (n: number): number[] => Array.from({ length: n }, (_, i) => [i === n - 1 ? NH_ICMPV6 : NH_DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0]).flat();
    expect(parseIpv6(packet(NH_DEST_OPTIONS, [...chain(8), ...UPPER])).ok).toBe(true);
    expect(parseIpv6(packet(NH_DEST_OPTIONS, [...chain(9), ...UPPER]))).toEqual({ ok: false, reason: 'ext_too_many' });
    const big = [NH_ICMPV6, 65, 1, 0x80, ...new Array<number>(0x80).fill(0)];
    big.push(...new Array<number>(66 * 8 - big.length).fill(0).map((_, i) => (i % 2 === 0 ? 1 : 0)));
    expect(parseIpv6(packet(NH_DEST_OPTIONS, [...big.slice(0, 66 * 8), ...UPPER]))).toEqual({ ok: false, reason: 'ext_too_long' });
    const manyOptions = [NH_ICMPV6, 5, ...Array.from({ length: 23 }, () => [1, 0]).flat(), 1, 0];
    expect(parseIpv6(packet(NH_DEST_OPTIONS, [...manyOptions, ...UPPER]))).toEqual({ ok: false, reason: 'too_many_options' });
  });

  it('refuses truncated headers and options, a bad version, a Payload Length past the frame; cuts Ethernet padding', () => {
    expect(parseIpv6(packet(NH_DEST_OPTIONS, [NH_ICMPV6, 1, 1, 4, 0, 0, 0, 0]))).toEqual({ ok: false, reason: 'ext_truncated' });
    expect(parseIpv6(packet(NH_DEST_OPTIONS, [NH_ICMPV6, 0, 1, 9, 0, 0, 0, 0]))).toEqual({ ok: false, reason: 'ext_truncated' });
    const p = packet(NH_ICMPV6, UPPER);
    expect(parseIpv6(p.subarray(0, 39))).toEqual({ ok: false, reason: 'short' });
    const v4 = p.slice();
    v4[0] = 0x45;
    expect(parseIpv6(v4)).toEqual({ ok: false, reason: 'version' });
    expect(parseIpv6(p.subarray(0, 47))).toEqual({ ok: false, reason: 'payload_length' });
    const padded = new Uint8Array([...p, 0, 0, 0, 0]);
    expect(parseIpv6(padded)).toMatchObject({ ok: true, payload: Uint8Array.from(UPPER) });
    expect(parseIpv6(packet(NH_NONE, []))).toEqual({ ok: false, reason: 'no_next_header' });
  });

  it('reads a fragment, parses an atomic fragment through (RFC 6946), refuses a fragment not a multiple of 8 (§4.5)', () => {
    const frag = (offset: number, more: boolean, data: number[]): ReturnType<typeof parseIpv6> =>
      parseIpv6(packet(NH_FRAGMENT, [...encodeFragmentHeader({ nextHeader: NH_ICMPV6, offset, moreFragments: more, id: 0x1234 }), ...data]));
    expect(frag(8, true, UPPER)).toMatchObject({ ok: true, protocol: NH_ICMPV6, fragment: { offset: 8, moreFragments: true, id: 0x1234 }, payloadOffset: 48 });
    const atomic = frag(0, false, UPPER);
    expect(atomic).toMatchObject({ ok: true, protocol: NH_ICMPV6, payloadOffset: 48 });
    expect(atomic.ok && atomic.fragment).toBe(undefined);
    expect(frag(0, true, [1, 2, 3])).toEqual({ ok: false, reason: 'fragment_length', problem: { code: PARAM_ERRONEOUS_FIELD, pointer: 4, unlessMulticast: false } });
  });
});

describe('neighbour discovery messages (RFC 4861 §4, §6.1, §7.1)', () => {
  const check = (m: ReturnType<typeof encodeIcmpv6>): ReturnType<typeof parseNd> => {
    const parsed = parseIcmpv6(m, 0);
    if (!parsed.ok) throw new Error('bad checksum');
    return parseNd(parsed.message);
  };

  it('refuses a zero-length option, a multicast target, a non-zero code and short messages', () => {
    const ns = neighborSolicitation(HOST_LL, { sourceLla: ROUTER_MAC });
    expect(check(encodeIcmpv6(ns, 0))).toMatchObject({ ok: true });
    const zeroLen = { ...ns, body: new Uint8Array([...ns.body.subarray(0, 16), 1, 0, 0, 0, 0, 0, 0, 0]) };
    expect(check(encodeIcmpv6(zeroLen, 0))).toEqual({ ok: false, reason: 'option_length' });
    const past = { ...ns, body: new Uint8Array([...ns.body.subarray(0, 16), 1, 2, 0, 0, 0, 0, 0, 0]) };
    expect(check(encodeIcmpv6(past, 0))).toEqual({ ok: false, reason: 'option_length' });
    expect(check(encodeIcmpv6(neighborSolicitation(v6('ff02::1'), {}), 0))).toEqual({ ok: false, reason: 'target_multicast' });
    expect(check(encodeIcmpv6({ ...ns, code: 1 }, 0))).toEqual({ ok: false, reason: 'code' });
    expect(check(encodeIcmpv6({ ...ns, body: ns.body.subarray(0, 15) }, 0))).toEqual({ ok: false, reason: 'short' });
    expect(check(encodeIcmpv6({ type: ICMPV6_ECHO_REQUEST, code: 0, rest: 0, body: new Uint8Array(0) }, 0))).toEqual({ ok: false, reason: 'not_nd' });
  });

  it('applies the header rules: DAD from :: to a solicited-node group without SLLA; a solicited NA not to multicast', () => {
    const ns: NdMessage = { kind: 'ns', target: HOST_LL, options: { prefixes: [] } };
    expect(checkNdHeader(ns, 255, 0n, solicitedNode(HOST_LL))).toBeUndefined();
    expect(checkNdHeader(ns, 255, 0n, v6('ff02::1'))).toBe('destination');
    expect(checkNdHeader({ ...ns, options: { prefixes: [], sourceLla: HOST_MAC } }, 255, 0n, solicitedNode(HOST_LL))).toBe('options');
    expect(checkNdHeader(ns, 254, ROUTER_LL, solicitedNode(HOST_LL))).toBe('hop_limit');
    const na: NdMessage = { kind: 'na', router: false, solicited: true, override: true, target: HOST_LL, options: { prefixes: [] } };
    expect(checkNdHeader(na, 255, HOST_LL, v6('ff02::1'))).toBe('destination');
    expect(checkNdHeader({ ...na, solicited: false }, 255, HOST_LL, v6('ff02::1'))).toBeUndefined();
  });

  it('reads RDNSS (RFC 8106) and refuses a prefix option of the wrong length', () => {
    const rdnss = [25, 3, 0, 0, 0, 0, 0x0e, 0x10, ...Array.from(new Uint8Array(16), (_, i) => (i === 0 ? 0xfd : i === 1 ? 0x77 : i === 15 ? 2 : 0))];
    const ra = { type: ICMPV6_ROUTER_ADVERTISEMENT, code: 0, rest: 0x4000_0708, body: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, ...rdnss]) };
    expect(check(encodeIcmpv6(ra, 0))).toMatchObject({ ok: true, message: { kind: 'ra', routerLifetime: 1800, options: { dns: { lifetime: 3600, servers: [v6('fd77::2')] } } } });
    const badPrefix = { ...ra, body: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 64, 0xc0, 0, 0, 0, 0]) };
    expect(check(encodeIcmpv6(badPrefix, 0))).toEqual({ ok: false, reason: 'option_value' });
  });

  it('reads MLD queries of both versions', () => {
    expect(parseMldQuery({ type: 130, code: 0, rest: 10_000 << 16, body: new Uint8Array(16) })).toEqual({ maxResponseMs: 10_000, group: 0n, version: 1 });
    expect(parseMldQuery({ type: 130, code: 0, rest: 0x8000_0000, body: new Uint8Array(20) })).toEqual({ maxResponseMs: 0x1000 << 3, group: 0n, version: 2 });
  });
});

describe('IPv6 receive-path codecs never throw', () => {
  const seeds = packets;
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat()).map(([seed, edits, cut]) => {
    const b = seed.slice();
    for (const [pos, v] of edits) b[pos % b.length] = v;
    return cut % 3 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
  });

  it('on random and mutated packets, and what they accept decodes on', () => {
    let reachedNd = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 300 })), (p) => {
        const ip = parseIpv6(p);
        if (!ip.ok || ip.protocol !== NH_ICMPV6) return;
        const m = parseIcmpv6(ip.payload, ipv6Pseudo(ip.header.src, ip.header.dst, NH_ICMPV6));
        if (!m.ok) return;
        const n = parseNd(m.message);
        if (n.ok) {
          reachedNd++;
          checkNdHeader(n.message, ip.header.hopLimit, ip.header.src, ip.header.dst);
        }
        parseMldv2Report(m.message);
        parseMldQuery(m.message);
      }),
      { numRuns: 3000 },
    );
    expect(reachedNd).toBeGreaterThan(10); // mutations mostly break the checksum; some ND messages still decode
  });
});
