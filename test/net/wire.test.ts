// Byte fixtures both ways for every header the stack reads and writes.

import { PROTO_UDP } from '../../src/net/ip.ts';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ARP_REPLY, ARP_REQUEST, encodeArp, parseArp } from '../../src/arp/arp-wire.ts';
import { ipv4ToString, macToString, maskToPrefix, parseIpv4 as parseAddr, parseMac, prefixToMask, readMac, writeMac } from '../../src/net/addr.ts';
import { checksum, ipv4Pseudo } from '../../src/net/checksum.ts';
import { buildEthernet, parseEthernet } from '../../src/net/ethernet.ts';
import { encodeIcmp, parseIcmp } from '../../src/net/icmp-wire.ts';
import { buildIpv4, parseIpv4 } from '../../src/net/ipv4-wire.ts';
import { readPcap } from '../../src/net/pcap.ts';
import { encodeUdp, parseUdp } from '../../src/net/udp-wire.ts';
import { flip, hex, ip, mac } from './frames.ts';

const session = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/dnsmasq-kernel-session.pcap', import.meta.url))));

describe('addresses', () => {
  it('parses and prints IPv4 and MAC', () => {
    expect(parseAddr('192.168.77.2')).toBe(0xc0a84d02);
    expect(ipv4ToString(0xc0a84d02)).toBe('192.168.77.2');
    for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', '']) expect(parseAddr(bad)).toBeUndefined();
    expect(parseMac('02:00:5e:00:00:42')).toBe(0x02005e000042);
    expect(parseMac('02-00-5E-00-00-42')).toBe(0x02005e000042);
    expect(parseMac('02:00-5e:00:00:42')).toBeUndefined();
    expect(macToString(0xffffffffffff)).toBe('ff:ff:ff:ff:ff:ff');
    const b = new Uint8Array(6);
    writeMac(b, 0, 0xfedcba987654);
    expect(Array.from(b)).toEqual([0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54]);
    expect(readMac(b, 0)).toBe(0xfedcba987654);
    expect(prefixToMask(24)).toBe(0xffffff00);
    expect(prefixToMask(0)).toBe(0);
    expect(maskToPrefix(0xfffffff0)).toBe(28);
    expect(maskToPrefix(0xff00ff00)).toBeUndefined();
  });
});

describe('checksum (RFC 1071)', () => {
  it('matches the classic IPv4 header example and handles odd lengths', () => {
    const h = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    expect(checksum(h)).toBe(0xb861);
    expect(checksum(hex('01'))).toBe(0xfeff);
    expect(checksum(new Uint8Array(0))).toBe(0xffff);
  });
});

describe('Ethernet', () => {
  it('both ways', () => {
    const frame = hex('ffffffffffff 02005e000042 0806 aabb');
    expect(parseEthernet(frame)).toEqual({ dst: 0xffffffffffff, src: 0x02005e000042, ethertype: 0x0806 });
    expect(buildEthernet({ dst: 0xffffffffffff, src: 0x02005e000042, ethertype: 0x0806 }, hex('aabb'))).toEqual(frame);
    expect(parseEthernet(frame.subarray(0, 13))).toBeUndefined();
  });
});

describe('ARP', () => {
  const req = hex('0001 0800 06 04 0001 02005e000042 c0a84d45 000000000000 c0a84d02');
  it('both ways', () => {
    const p = { op: ARP_REQUEST, sha: mac('02:00:5e:00:00:42'), spa: ip('192.168.77.69'), tha: 0, tpa: ip('192.168.77.2') } as const;
    expect(parseArp(req)).toEqual(p);
    expect(encodeArp(p)).toEqual(req);
  });
  it('refuses other hardware or protocol types, other sizes and opcodes', () => {
    for (const [i, v] of [[1, 6], [3, 0xdd], [4, 8], [5, 16], [7, 3]] as const) {
      const bad = req.slice();
      bad[i] = v;
      expect(parseArp(bad)).toBeUndefined();
    }
    expect(parseArp(req.subarray(0, 27))).toBeUndefined();
  });
  it('reads the kernel’s request and reply from the recorded session, and writes them back identically', () => {
    const arps = session.map((r) => r.frame).filter((f) => f[12] === 0x08 && f[13] === 0x06);
    expect(arps.length).toBeGreaterThan(3);
    for (const f of arps) {
      const p = parseArp(f.subarray(14));
      expect(p).toBeDefined();
      if (p === undefined) continue;
      expect([ARP_REQUEST, ARP_REPLY]).toContain(p.op);
      expect(encodeArp(p)).toEqual(f.subarray(14, 42));
    }
  });
});

describe('IPv4', () => {
  const header = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
  it('both ways', () => {
    const packet = new Uint8Array(0x73);
    packet.set(header);
    const p = parseIpv4(packet);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.header).toMatchObject({ headerLength: 20, totalLength: 0x73, id: 0, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: 17, src: ip('192.168.0.1'), dst: ip('192.168.0.199') });
    expect(p.payload.length).toBe(0x73 - 20);
    const again = buildIpv4({ id: 0, dontFragment: true, ttl: 64, protocol: 17, src: ip('192.168.0.1'), dst: ip('192.168.0.199') }, p.payload);
    expect(again).toEqual(packet);
  });
  it('cuts Ethernet padding off and skips options', () => {
    const padded = new Uint8Array(46);
    padded.set(buildIpv4({ id: 7, ttl: 1, protocol: 1, src: 1, dst: 2 }, hex('0800f7ff00000000')));
    const p = parseIpv4(padded);
    expect(p.ok && p.payload.length).toBe(8);
    const withOptions = hex('4600 0020 0001 0000 4001 0000 0a000001 0a000002 01010100 0800f7ff00000000');
    const c = checksum(withOptions, 0, 24);
    withOptions[10] = c >> 8;
    withOptions[11] = c & 0xff;
    const q = parseIpv4(withOptions);
    expect(q.ok && q.header.headerLength).toBe(24);
    expect(q.ok && Array.from(q.payload)).toEqual([8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
  });
  it.each([
    ['version', (b: Uint8Array) => (b[0] = 0x65)],
    ['header_length', (b: Uint8Array) => (b[0] = 0x44)],
    ['total_length', (b: Uint8Array) => (b[3] = 0xff)],
    ['checksum', (b: Uint8Array) => (b[8] = 63)],
  ])('refuses a bad %s', (reason, mutate) => {
    const b = buildIpv4({ id: 1, ttl: 64, protocol: 17, src: 1, dst: 2 }, new Uint8Array(8));
    mutate(b);
    expect(parseIpv4(b)).toEqual({ ok: false, reason });
  });
});

describe('ICMP', () => {
  it('both ways, with the kernel’s echo request from the recorded session', () => {
    const echo = session.map((r) => r.frame).find((f) => f[23] === 1 && f[34] === 8);
    expect(echo).toBeDefined();
    if (echo === undefined) return;
    const ipp = parseIpv4(echo.subarray(14));
    expect(ipp.ok).toBe(true);
    if (!ipp.ok) return;
    const m = parseIcmp(ipp.payload);
    expect(m?.type).toBe(8);
    if (m === undefined) return;
    expect(encodeIcmp(m)).toEqual(ipp.payload);
    const corrupt = ipp.payload.slice();
    flip(corrupt, corrupt.length - 1, 1);
    expect(parseIcmp(corrupt)).toBeUndefined();
  });
  it('a hand fixture', () => {
    const bytes = hex('0000 fffd 0001 0001');
    expect(parseIcmp(bytes)).toEqual({ type: 0, code: 0, rest: 0x00010001, data: new Uint8Array(0) });
    expect(encodeIcmp({ type: 0, code: 0, rest: 0x00010001, data: new Uint8Array(0) })).toEqual(bytes);
  });
});

describe('UDP', () => {
  const src = ip('192.168.77.2');
  const dst = ip('255.255.255.255');
  it('both ways, with dnsmasq’s OFFER from the recorded session', () => {
    const offer = session.map((r) => r.frame).find((f) => f[23] === 17 && f[34] === 0 && f[35] === 67);
    expect(offer).toBeDefined();
    if (offer === undefined) return;
    const ipp = parseIpv4(offer.subarray(14));
    if (!ipp.ok) throw new Error('bad ip');
    const u = parseUdp(ipp.payload, ipv4Pseudo(ipp.header.src, ipp.header.dst, PROTO_UDP));
    expect(u.ok).toBe(true);
    if (!u.ok) return;
    expect(u.datagram).toMatchObject({ srcPort: 67, dstPort: 68 });
    expect(encodeUdp(u.datagram, ipv4Pseudo(ipp.header.src, ipp.header.dst, PROTO_UDP))).toEqual(ipp.payload);
  });
  it('a hand fixture; zero checksum means none; bad checksum and lengths refused', () => {
    const d = encodeUdp({ srcPort: 68, dstPort: 67, payload: hex('01020304') }, ipv4Pseudo(src, dst, PROTO_UDP));
    expect(Array.from(d.subarray(0, 6))).toEqual([0, 68, 0, 67, 0, 12]);
    expect(parseUdp(d, ipv4Pseudo(src, dst, PROTO_UDP))).toEqual({ ok: true, datagram: { srcPort: 68, dstPort: 67, payload: hex('01020304') } });
    const none = d.slice();
    none[6] = 0;
    none[7] = 0;
    expect(parseUdp(none, ipv4Pseudo(src, dst, PROTO_UDP)).ok).toBe(true);
    const bad = d.slice();
    flip(bad, 9, 0xff);
    expect(parseUdp(bad, ipv4Pseudo(src, dst, PROTO_UDP))).toEqual({ ok: false, reason: 'checksum' });
    expect(parseUdp(d, ipv4Pseudo(src, ip('1.2.3.4'), PROTO_UDP))).toEqual({ ok: false, reason: 'checksum' });
    const long = d.slice();
    long[5] = 13;
    expect(parseUdp(long, ipv4Pseudo(src, dst, PROTO_UDP))).toEqual({ ok: false, reason: 'length' });
    expect(parseUdp(d.subarray(0, 7), ipv4Pseudo(src, dst, PROTO_UDP))).toEqual({ ok: false, reason: 'short' });
  });
});
