import { describe, expect, it } from 'vitest';
import { MAC_BROADCAST, type IpAddr, type Ipv4Addr } from '../../src/net/addr.ts';
import { Counters } from '../../src/net/counters.ts';
import { buildEthernet, ETHERTYPE_IPV4 } from '../../src/net/ethernet.ts';
import { ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_REDIRECT, UNREACH_PORT, UNREACH_PROTOCOL, encodeIcmp } from '../../src/net/icmp-wire.ts';
import { Reassembler } from '../../src/net/ipv4-reassembly.ts';
import { PROTO_ICMP, PROTO_UDP, buildIpv4, type Ipv4Header } from '../../src/net/ipv4-wire.ts';
import { flip, GW_IP, GW_MAC, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, decode, echoRequest, ip, ipFrame, isAt, staticStack, udpFrame, whoHas } from './frames.ts';

/** A stack that already knows the peer's and the gateway's MAC. */
function ready(extra: Parameters<typeof staticStack>[0] = {}) {
  const s = staticStack(extra);
  s.stack.receive(whoHas(OUR_IP), 0);
  s.stack.receive(whoHas(OUR_IP, { mac: GW_MAC, ip: GW_IP }), 0);
  s.stack.takeFrames();
  return s;
}

const bytes = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function fragments(payload: Uint8Array, size: number, id = 77, protocol = PROTO_ICMP): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const part = payload.subarray(off, Math.min(payload.length, off + size));
    out.push(ipFrame({ protocol, id, fragmentOffset: off, moreFragments: off + size < payload.length }, part));
  }
  return out;
}

describe('ICMP echo (RFC 792)', () => {
  it('answers with the same identifier, sequence and data, TTL 64', () => {
    const { stack } = ready();
    const data = bytes(56);
    stack.receive(echoRequest(data, 0xabcd0007), 1);
    const [r] = stack.takeFrames().map(decode);
    expect(r).toMatchObject({ dst: PEER_MAC, src: OUR_MAC, ip: { src: OUR_IP, dst: PEER_IP, ttl: 64, protocol: PROTO_ICMP }, icmp: { type: ICMP_ECHO_REPLY, code: 0, rest: 0xabcd0007 } });
    expect(r?.icmp?.data).toEqual(data);
  });

  it('answers payloads up to the MTU, and larger ones fragmented', () => {
    const { stack } = ready();
    stack.receive(echoRequest(bytes(1500 - 28)), 1);
    const [full] = stack.takeFrames().map(decode);
    expect(full?.ip?.totalLength).toBe(1500);
    const big = new Uint8Array(8 + 3000);
    big.set(encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 5, data: bytes(3000) }));
    for (const f of fragments(big, 1480)) stack.receive(f, 2);
    const out = stack.takeFrames().map(decode);
    expect(out.length).toBe(3);
    expect(out.map((d) => [d.ip?.fragmentOffset, d.ip?.moreFragments])).toEqual([[0, true], [1480, true], [2960, false]]);
    const whole = new Uint8Array(3008);
    for (const d of out) whole.set(d.payload, d.ip?.fragmentOffset ?? 0);
    expect(whole.subarray(8)).toEqual(bytes(3000));
  });

  it('ignores echo to a broadcast address, redirects, and corrupt messages', () => {
    const { stack } = ready();
    stack.receive(echoRequest(bytes(8), 1, { dst: ip('192.168.77.255') }, MAC_BROADCAST), 1);
    stack.receive(echoRequest(bytes(8), 1, { dst: ip('255.255.255.255') }, MAC_BROADCAST), 1);
    stack.receive(ipFrame({ protocol: PROTO_ICMP }, encodeIcmp({ type: ICMP_REDIRECT, code: 1, rest: GW_IP, data: bytes(28) })), 1);
    const corrupt = echoRequest(bytes(8));
    flip(corrupt, corrupt.length - 1, 0xff);
    stack.receive(corrupt, 1);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('icmp.rx_broadcast_echo_ignored')).toBe(2);
    expect(stack.counters.get('icmp.rx_redirect_ignored')).toBe(1);
    expect(stack.counters.get('icmp.rx_malformed')).toBe(1);
  });
});

describe('ICMP errors (RFC 1122 §3.2.2)', () => {
  it('port unreachable for UDP to a closed port, quoting header and 8 bytes', () => {
    const { stack } = ready();
    const frame = udpFrame({ srcPort: 5000, dstPort: 9, payload: bytes(20) });
    stack.receive(frame, 1);
    const [r] = stack.takeFrames().map(decode);
    expect(r?.icmp).toMatchObject({ type: ICMP_DEST_UNREACHABLE, code: UNREACH_PORT });
    expect(r?.icmp?.data).toEqual(frame.subarray(14, 14 + 28));
  });

  it('protocol unreachable for a protocol we do not speak', () => {
    const { stack } = ready();
    stack.receive(ipFrame({ protocol: 132 }, bytes(12)), 1);
    expect(stack.takeFrames().map(decode)[0]?.icmp).toMatchObject({ type: ICMP_DEST_UNREACHABLE, code: UNREACH_PROTOCOL });
  });

  it('never about broadcasts or from a zero source', () => {
    const { stack } = ready();
    stack.receive(udpFrame({ srcPort: 1, dstPort: 9, payload: bytes(4) }, { dst: ip('255.255.255.255') }, MAC_BROADCAST), 1);
    stack.receive(udpFrame({ srcPort: 1, dstPort: 9, payload: bytes(4) }, { src: 0 }), 1);
    expect(stack.takeFrames()).toEqual([]);
  });

  it('rate-limits errors with a token bucket', () => {
    const { stack } = ready({ icmp: { errorBurst: 3, errorsPerSecond: 2 } });
    const closed = udpFrame({ srcPort: 1, dstPort: 9, payload: bytes(4) });
    for (let i = 0; i < 10; i++) stack.receive(closed, 1000);
    expect(stack.takeFrames()).toHaveLength(3);
    expect(stack.counters.get('icmp.tx_rate_limited')).toBe(7);
    stack.receive(closed, 1499);
    expect(stack.takeFrames()).toHaveLength(0);
    stack.receive(closed, 1500);
    expect(stack.takeFrames()).toHaveLength(1);
  });
});

describe('UDP (RFC 768)', () => {
  it('delivers to a bound port and sends with a checksum', () => {
    const { stack } = ready();
    const got: Array<[IpAddr, number, number[]]> = [];
    stack.udp.bind(7, (d) => {
      got.push([d.src, d.srcPort, Array.from(d.payload)]);
      stack.udp.send({ srcPort: 7, dst: d.src, dstPort: d.srcPort, payload: d.payload }, d.now);
    });
    stack.receive(udpFrame({ srcPort: 4444, dstPort: 7, payload: Uint8Array.of(1, 2, 3) }), 1);
    expect(got).toEqual([[PEER_IP, 4444, [1, 2, 3]]]);
    const [r] = stack.takeFrames().map(decode);
    expect(r?.udp).toEqual({ srcPort: 7, dstPort: 4444, payload: Uint8Array.of(1, 2, 3) });
    expect(r?.payload[6] !== 0 || r?.payload[7] !== 0).toBe(true);
  });

  it('drops a bad checksum without answering', () => {
    const { stack } = ready();
    const f = udpFrame({ srcPort: 4444, dstPort: 7, payload: Uint8Array.of(1, 2, 3) });
    flip(f, f.length - 1, 1);
    stack.receive(f, 1);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('udp.rx_bad_checksum')).toBe(1);
  });
});

describe('IPv4 acceptance and routing (RFC 791, RFC 1122 §3.3)', () => {
  it('drops datagrams for other addresses, and from broadcast or our own source', () => {
    const { stack } = ready();
    stack.receive(echoRequest(bytes(8), 1, { dst: ip('192.168.77.11') }), 1);
    stack.receive(echoRequest(bytes(8), 1, { src: ip('255.255.255.255') }), 1);
    stack.receive(echoRequest(bytes(8), 1, { src: OUR_IP }), 1);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('ip.rx_not_for_us')).toBe(1);
    expect(stack.counters.get('ip.rx_bad_source')).toBe(2);
  });

  it('drops frames for other MACs and unknown EtherTypes, counting each', () => {
    const { stack } = ready();
    stack.receive(echoRequest(bytes(8), 1, {}, PEER_MAC), 1);
    stack.receive(buildEthernet({ dst: OUR_MAC, src: PEER_MAC, ethertype: 0x86dd }, bytes(40)), 1);
    stack.receive(new Uint8Array(10), 1);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('eth.rx_not_for_us')).toBe(1);
    expect(stack.counters.get('eth.rx_unknown_type')).toBe(1);
    expect(stack.counters.get('eth.rx_short')).toBe(1);
  });

  it('sends off-link through the gateway, on-link directly, broadcasts to the link broadcast', () => {
    const { stack } = ready();
    const dsts: Array<[number, number]> = [];
    for (const d of [ip('10.1.2.3'), PEER_IP, ip('192.168.77.255'), ip('255.255.255.255')]) {
      stack.udp.send({ srcPort: 1, dst: d, dstPort: 2, payload: bytes(4) }, 1);
      const [r] = stack.takeFrames().map(decode);
      dsts.push([r?.dst ?? -1, r?.ip?.dst ?? -1]);
    }
    expect(dsts).toEqual([[GW_MAC, ip('10.1.2.3')], [PEER_MAC, PEER_IP], [MAC_BROADCAST, ip('192.168.77.255')], [MAC_BROADCAST, ip('255.255.255.255')]]);
  });

  it('without a gateway, off-link is no route', () => {
    const { stack } = staticStack({ ipv4: { address: OUR_IP, prefix: 24 } });
    expect(stack.udp.send({ srcPort: 1, dst: ip('10.0.0.1'), dstPort: 2, payload: bytes(1) }, 1)).toBe(false);
    expect(stack.counters.get('ip.tx_no_route')).toBe(1);
  });

  it('accepts padding after the datagram (short Ethernet frames)', () => {
    const { stack } = ready();
    const f = echoRequest(new Uint8Array(0));
    const padded = new Uint8Array(60);
    padded.set(f);
    stack.receive(padded, 1);
    expect(stack.takeFrames().map(decode)[0]?.icmp?.type).toBe(ICMP_ECHO_REPLY);
  });
});

describe('fragment reassembly', () => {
  const echo = (n: number): Uint8Array => encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 9, data: bytes(n) });

  it('reassembles fragments in any order, with duplicates', () => {
    const { stack } = ready();
    const frags = fragments(echo(4000), 1000);
    for (const f of [frags[3], frags[1], frags[1], frags[4], frags[0], frags[2]]) if (f) stack.receive(f, 5);
    const out = stack.takeFrames().map(decode);
    expect(out.length).toBe(3);
    expect(stack.counters.get('ip.reassembled')).toBe(1);
    expect(stack.counters.get('ip.frag_duplicate')).toBe(1);
  });

  it('an overlap with different bytes discards the datagram; an identical overlap is harmless', () => {
    const { stack } = ready();
    const payload = echo(2000);
    const [a, b] = fragments(payload, 1008, 50);
    const forged = payload.slice(1000, 2008);
    flip(forged, 0, 0xff);
    stack.receive(a ?? new Uint8Array(), 1);
    stack.receive(ipFrame({ protocol: PROTO_ICMP, id: 50, fragmentOffset: 1000, moreFragments: false }, forged), 1);
    stack.receive(b ?? new Uint8Array(), 1);
    expect(stack.counters.get('ip.frag_overlap')).toBe(1);
    expect(stack.takeFrames()).toEqual([]);
    // Same again, but the overlapping bytes agree: reassembled, data intact.
    stack.receive(ipFrame({ protocol: PROTO_ICMP, id: 51, fragmentOffset: 0, moreFragments: true }, payload.subarray(0, 1008)), 2);
    stack.receive(ipFrame({ protocol: PROTO_ICMP, id: 51, fragmentOffset: 1000, moreFragments: false }, payload.subarray(1000)), 2);
    const out = stack.takeFrames().map(decode);
    expect(out.length).toBe(2);
    expect(out[0]?.payload.subarray(8, 100)).toEqual(bytes(2000).subarray(0, 92));
  });

  it('keeps its own copy of each fragment: frames read into one reused Buffer still reassemble', () => {
    const { stack } = ready();
    const rx = Buffer.alloc(2048);
    for (const f of fragments(echo(3000), 1480)) {
      rx.fill(0xee);
      rx.set(f);
      stack.receive(rx.subarray(0, f.length), 5);
    }
    const out = stack.takeFrames().map(decode);
    expect(out.length).toBe(3);
    expect(stack.counters.get('icmp.rx_malformed')).toBe(0);
  });

  it('gives up an incomplete datagram after the timeout', () => {
    const { stack } = ready({ ip: { reassembly: { timeoutMs: 30_000 } } });
    const frags = fragments(echo(2000), 1000);
    stack.receive(frags[0] ?? new Uint8Array(), 100);
    expect(stack.nextDeadline()).toBe(30_100);
    stack.poll(30_099);
    expect(stack.ipv4.reassembly.inProgress).toBe(1);
    stack.poll(30_100);
    expect(stack.ipv4.reassembly.inProgress).toBe(0);
    expect(stack.counters.get('ip.reassembly_timeout')).toBe(1);
    for (const f of frags.slice(1)) stack.receive(f, 30_200);
    expect(stack.takeFrames()).toEqual([]);
  });

  it('refuses a datagram over 65535 bytes and misaligned fragments', () => {
    const c = new Counters();
    const r = new Reassembler(c);
    const h = (o: Partial<Ipv4Header>): Ipv4Header => ({ headerLength: 20, tos: 0, totalLength: 0, id: 1, dontFragment: false, moreFragments: true, fragmentOffset: 0, ttl: 64, protocol: 17, src: 1, dst: 2, ...o });
    expect(r.add(h({ fragmentOffset: 65000 }), new Uint8Array(1000), 0)).toBeUndefined();
    expect(c.get('ip.frag_too_big')).toBe(1);
    expect(r.add(h({}), new Uint8Array(13), 0)).toBeUndefined();
    expect(c.get('ip.frag_bad_length')).toBe(1);
    // Exactly at the limit: 65515 bytes of payload.
    expect(r.add(h({ fragmentOffset: 0 }), new Uint8Array(65000), 0)).toBeUndefined();
    expect(r.add(h({ fragmentOffset: 65000, moreFragments: false }), new Uint8Array(515), 0)?.length).toBe(65515);
  });

  it('holds at most maxDatagrams and maxBytes, dropping the oldest', () => {
    const c = new Counters();
    const r = new Reassembler(c, { maxDatagrams: 2, maxBytes: 3000 });
    const h = (id: number, off = 0, mf = true): Ipv4Header => ({ headerLength: 20, tos: 0, totalLength: 0, id, dontFragment: false, moreFragments: mf, fragmentOffset: off, ttl: 64, protocol: 17, src: 1, dst: 2 });
    r.add(h(1), new Uint8Array(1000), 0);
    r.add(h(2), new Uint8Array(1000), 0);
    r.add(h(3), new Uint8Array(1000), 0);
    expect(r.inProgress).toBe(2);
    expect(c.get('ip.reassembly_evicted')).toBe(1);
    expect(r.bytesHeld).toBe(2000);
    r.add(h(3, 1000), new Uint8Array(1600), 0);
    expect(r.bytesHeld).toBeLessThanOrEqual(3000);
    expect(c.get('ip.reassembly_evicted')).toBe(2);
    // Datagram 1 is gone: its last fragment alone completes nothing.
    expect(r.add(h(1, 1000, false), new Uint8Array(10), 0)).toBeUndefined();
  });

  it('a last fragment that disagrees with what came before discards the datagram', () => {
    const c = new Counters();
    const r = new Reassembler(c);
    const h = (off: number, mf: boolean): Ipv4Header => ({ headerLength: 20, tos: 0, totalLength: 0, id: 9, dontFragment: false, moreFragments: mf, fragmentOffset: off, ttl: 64, protocol: 17, src: 1, dst: 2 });
    r.add(h(1000, true), new Uint8Array(1000), 0);
    expect(r.add(h(0, false), new Uint8Array(800), 0)).toBeUndefined();
    expect(c.get('ip.frag_inconsistent')).toBe(1);
    expect(r.inProgress).toBe(0);
  });
});

describe('sending fragmented', () => {
  it('splits a large UDP datagram at multiples of 8 and never with DF', () => {
    const { stack } = ready();
    stack.udp.send({ srcPort: 1, dst: PEER_IP, dstPort: 2, payload: bytes(4000) }, 1);
    const out = stack.takeFrames().map(decode);
    expect(out.map((d) => d.ip?.totalLength)).toEqual([1500, 1500, 20 + 4008 - 2960]);
    expect(out.every((d) => d.ip?.dontFragment === false)).toBe(true);
    expect(stack.ipv4.send(PEER_IP, PROTO_UDP, bytes(2000), 1, { dontFragment: true })).toBe(false);
    const raw = buildIpv4({ id: 1, ttl: 1, protocol: 1, src: 1, dst: 2 }, bytes(4));
    expect(buildEthernet({ dst: 1, src: 2, ethertype: ETHERTYPE_IPV4 }, raw).length).toBe(38);
  });

  it('a learned address still answers after the gateway ARP', () => {
    const { stack } = staticStack();
    stack.udp.send({ srcPort: 1, dst: ip('8.8.8.8'), dstPort: 2, payload: bytes(4) }, 1);
    expect(stack.takeFrames().map(decode)[0]?.arp?.tpa).toBe(GW_IP);
    stack.receive(isAt({ mac: GW_MAC, ip: GW_IP }), 2);
    expect(stack.takeFrames().map(decode)[0]).toMatchObject({ dst: GW_MAC, ip: { dst: ip('8.8.8.8') } });
  });
});
