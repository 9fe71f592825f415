// IPv6 through the whole stack, two of our stacks on a simulated wire with a hand-moved clock: duplicate address
// detection, MLDv2 reports and router solicitations at start, neighbour resolution, TCP over IPv6, SLAAC from
// dnsmasq's recorded router advertisement, and the ICMPv6 errors we owe.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eui64, ipv6ToString, parseIpv6 as parseIpv6Text, solicitedNode, withInterfaceId } from '../../src/net/addr.ts';
import { ARP_REQUEST, encodeArp } from '../../src/arp/arp-wire.ts';
import { buildEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../src/net/ethernet.ts';
import {
  ICMPV6_DEST_UNREACHABLE, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_MLDV2_REPORT, ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION,
  ICMPV6_MLD_QUERY, ICMPV6_PARAMETER_PROBLEM, ICMPV6_ROUTER_SOLICITATION, UNREACH6_PORT, encodeIcmpv6, parseIcmpv6,
} from '../../src/net/icmpv6-wire.ts';
import { PROTO_UDP } from '../../src/net/ip.ts';
import { NH_FRAGMENT, NH_ICMPV6, buildIpv6, encodeFragmentHeader, ipv6Pseudo, parseIpv6 } from '../../src/net/ipv6-wire.ts';
import { readPcap } from '../../src/net/pcap.ts';
import { parseMldv2Report } from '../../src/ndp/mld-wire.ts';
import { TcpSocket } from '../../src/net/tcp/tcp-socket.ts';
import { encodeUdp } from '../../src/net/udp-wire.ts';
import type { StackOptions } from '../../src/stack/stack.ts';
import { OUR_IP, OUR_MAC, PEER_IP, PEER_MAC } from './frames.ts';
import { Net, readAll } from './tcp/harness.ts';

const v6 = (s: string): bigint => parseIpv6Text(s) ?? 0n;
const ipv6 = (seed: number): Partial<StackOptions> => ({
  ipv6: { secret: Uint8Array.from({ length: 16 }, (_, i) => i + seed), ndp: { addresses: { iid: 'eui64' } } },
});
const LL_A = withInterfaceId(v6('fe80::'), eui64(OUR_MAC));
const LL_B = withInterfaceId(v6('fe80::'), eui64(PEER_MAC));

/** The ICMPv6 messages of IPv6 frames sent by `side`, checked: every one parses and its checksum is right. */
function icmpv6Sent(net: Net, side: 'a' | 'b') {
  return net.log.filter((w) => w.from === side && w.frame[12] === 0x86 && w.frame[13] === 0xdd).flatMap((w) => {
    const ip = parseIpv6(w.frame.subarray(14));
    if (!ip.ok) throw new Error('we sent an IPv6 packet we cannot parse');
    if (ip.protocol !== NH_ICMPV6 || ip.fragment !== undefined) return [];
    const m = parseIcmpv6(ip.payload, ipv6Pseudo(ip.header.src, ip.header.dst, NH_ICMPV6));
    if (!m.ok) throw new Error(`we sent a bad ICMPv6 checksum to ${ipv6ToString(ip.header.dst)}`);
    return [{ ip, m: m.message, dstMac: w.frame.subarray(0, 6) }];
  });
}

function upNet(): Net {
  const net = new Net(ipv6(1), ipv6(2));
  net.advance(3000); // DAD (up to 1 s delay, 1 s wait) on both
  return net;
}

describe('IPv6 in the stack', () => {
  it('at start: joins its solicited-node group (MLDv2), detects its link-local address, announces it, solicits routers', () => {
    const net = upNet();
    expect(net.a.ndp?.isAssigned(LL_A)).toBe(true);
    const sent = icmpv6Sent(net, 'a');
    const types = sent.map((x) => x.m.type);
    expect(types[0]).toBe(ICMPV6_MLDV2_REPORT); // join before DAD
    const dad = sent.find((x) => x.m.type === ICMPV6_NEIGHBOR_SOLICITATION);
    expect(dad?.ip.header).toMatchObject({ src: 0n, dst: solicitedNode(LL_A), hopLimit: 255 });
    expect(sent.find((x) => x.m.type === ICMPV6_NEIGHBOR_ADVERTISEMENT)?.ip.header).toMatchObject({ src: LL_A, dst: v6('ff02::1'), hopLimit: 255 });
    const rs = sent.find((x) => x.m.type === ICMPV6_ROUTER_SOLICITATION);
    expect(rs?.ip.header).toMatchObject({ src: LL_A, dst: v6('ff02::2'), hopLimit: 255 });
    const mld = sent[0];
    expect(mld?.ip.header).toMatchObject({ dst: v6('ff02::16'), hopLimit: 1 });
    expect(mld?.ip.routerAlert).toBe(true);
    expect(Array.from(mld?.dstMac ?? [])).toEqual([0x33, 0x33, 0, 0, 0, 0x16]);
    // RFC 3810 §6.1: the join is reported twice (robustness 2), the same record both times.
    const joins = sent.filter((x) => x.m.type === ICMPV6_MLDV2_REPORT).map((x) => Array.from(x.m.body));
    expect(joins).toHaveLength(2);
    expect(joins[1]).toEqual(joins[0]);
  });

  it('resolves the neighbour and carries TCP over IPv6, byte-exact', async () => {
    const net = upNet();
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(LL_A, 80));
    net.run();
    await client.established();
    expect(net.b.ndp?.cache.state(LL_A)).toBe('REACHABLE');
    expect(net.a.ndp?.cache.lookup(LL_B)).toBe(PEER_MAC);
    const server = servers[0];
    if (server === undefined) throw new Error('not accepted');
    expect(server.remote.address).toBe(ipv6ToString(LL_B));
    expect(client.conn.info().sndMss).toBe(1440); // 1500 − 40 − 20
    const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff);
    const w = client.write(data).then(() => client.shutdownWrite());
    const got = await readAll(net, server);
    await w;
    expect(Buffer.compare(Buffer.from(got), Buffer.from(data))).toBe(0);
  });

  it('answers a ping, and a UDP datagram to a closed port with port unreachable; an unknown protocol with a parameter problem', () => {
    const net = upNet();
    const echo = encodeIcmpv6({ type: ICMPV6_ECHO_REQUEST, code: 0, rest: 0x12340001, body: Uint8Array.of(1, 2, 3) }, ipv6Pseudo(LL_B, LL_A, NH_ICMPV6));
    const frame = (next: number, payload: Uint8Array): Uint8Array =>
      buildEthernet({ dst: OUR_MAC, src: PEER_MAC, ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: next, hopLimit: 64, src: LL_B, dst: LL_A }, payload));
    const before = net.log.length;
    net.a.receive(frame(NH_ICMPV6, echo), net.now);
    net.a.receive(frame(PROTO_UDP, encodeUdp({ srcPort: 5000, dstPort: 9, payload: Uint8Array.of(7) }, ipv6Pseudo(LL_B, LL_A, PROTO_UDP))), net.now);
    net.a.receive(frame(253, Uint8Array.of(0, 0, 0, 0)), net.now);
    net.run();
    const answers = icmpv6Sent(net, 'a').slice(-3);
    expect(net.log.length).toBeGreaterThan(before);
    expect(answers.map((x) => [x.m.type, x.m.code])).toEqual([[ICMPV6_ECHO_REPLY, 0], [ICMPV6_DEST_UNREACHABLE, UNREACH6_PORT], [ICMPV6_PARAMETER_PROBLEM, 1]]);
    expect(answers[0]?.m).toMatchObject({ rest: 0x12340001, body: Uint8Array.of(1, 2, 3) });
    expect(answers[2]?.m.rest).toBe(6); // the pointer: the Next Header field of the fixed header
    expect(answers.every((x) => x.ip.header.dst === LL_B && x.ip.header.src === LL_A)).toBe(true);
  });

  it('reassembles a fragmented 3000-byte ping and answers it in fragments, which the other stack reassembles (RFC 8200 §4.5)', () => {
    const net = upNet();
    const echo = encodeIcmpv6({ type: ICMPV6_ECHO_REQUEST, code: 0, rest: 0x00070001, body: Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff) }, ipv6Pseudo(LL_B, LL_A, NH_ICMPV6));
    for (let off = 0; off < echo.length; off += 1448) {
      const part = echo.subarray(off, Math.min(echo.length, off + 1448));
      const frag = encodeFragmentHeader({ nextHeader: NH_ICMPV6, offset: off, moreFragments: off + 1448 < echo.length, id: 0x5361 });
      const body = new Uint8Array([...frag, ...part]);
      net.a.receive(buildEthernet({ dst: OUR_MAC, src: PEER_MAC, ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: NH_FRAGMENT, hopLimit: 64, src: LL_B, dst: LL_A }, body)), net.now);
    }
    net.run();
    expect(net.a.counters.get('ip6.reassembled')).toBe(1);
    expect(net.a.counters.get('icmp6.tx_echo_reply')).toBe(1);
    expect(net.a.counters.get('ip6.tx_fragment')).toBe(3);
    expect(net.b.counters.get('ip6.reassembled')).toBe(1);
    expect(net.log.filter((w) => w.from === 'a').every((w) => w.frame.length <= 1514)).toBe(true);
  });

  it("forms a SLAAC address from dnsmasq's recorded router advertisement, and uses it once DAD passed", () => {
    const net = upNet();
    const frames = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/linux-dnsmasq-ipv6.pcap', import.meta.url)))).map((r) => r.frame);
    const ra = frames.find((f) => {
      const ip = parseIpv6(f.subarray(14));
      return ip.ok && ip.protocol === NH_ICMPV6 && ip.payload[0] === 134 && ip.header.dst === v6('ff02::1');
    });
    if (ra === undefined) throw new Error('no RA in the fixture');
    net.a.receive(ra, net.now); // to all nodes: the 33:33:00:00:00:01 frame is taken
    const slaac = withInterfaceId(v6('fd77::'), eui64(OUR_MAC));
    expect(net.a.ndp?.addresses.isTentative(slaac)).toBe(true);
    net.advance(3000);
    expect(net.a.ndp?.isAssigned(slaac)).toBe(true);
    expect(net.a.ndp?.routers.defaultRouters(net.now)).toEqual([v6('fe80::ff:fe00:7702')]);
    expect(net.a.ndp?.selectSource(v6('fd77::2'))).toBe(slaac);
    expect(net.a.ndp?.nextHop(v6('2001:db8::1'), net.now)).toBe(v6('fe80::ff:fe00:7702')); // off-link: via the router
    expect(net.a.ndp?.nextHop(v6('fd77::2'), net.now)).toBe(v6('fd77::2')); // on-link by the prefix
  });

  it('takes no multicast frame for a group it has not joined, and no IPv6 at all without IPv6', () => {
    const net = upNet();
    const other = buildEthernet({ dst: 0x3333_ff00_0099, src: PEER_MAC, ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: 59, hopLimit: 255, src: LL_B, dst: v6('ff02::1:ff00:99') }, new Uint8Array(0)));
    const before = net.a.counters.get('eth.rx_multicast');
    net.a.receive(other, net.now);
    expect(net.a.counters.get('eth.rx_multicast')).toBe(before + 1);
    const v4only = new Net();
    v4only.a.receive(buildEthernet({ dst: OUR_MAC, src: PEER_MAC, ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: 59, hopLimit: 64, src: LL_B, dst: LL_A }, new Uint8Array(0))), 0);
    expect(v4only.a.counters.get('eth.rx_unknown_type')).toBe(1);
  });

  it('with IPv4 off (--ipv4 off): no DHCP, no IPv4 or ARP frame sent, ARP for the old address unanswered; TCP over IPv6 works', async () => {
    const net = new Net({ ...ipv6(1), ipv4: 'off' }, ipv6(2));
    net.advance(3000);
    expect(net.a.ipv4Mode).toBe('off');
    expect(net.a.dhcp).toBeUndefined();
    expect(net.a.ipv4.config).toBeUndefined();
    const arp = encodeArp({ op: ARP_REQUEST, sha: PEER_MAC, spa: PEER_IP, tha: 0, tpa: OUR_IP });
    net.a.receive(buildEthernet({ dst: 0xffff_ffff_ffff, src: PEER_MAC, ethertype: ETHERTYPE_ARP }, arp), net.now);
    net.run();
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(LL_A, 80));
    net.run();
    await client.established();
    expect(servers).toHaveLength(1);
    const ours = net.log.filter((w) => w.from === 'a').map((w) => ((w.frame[12] ?? 0) << 8) | (w.frame[13] ?? 0));
    expect(ours.length).toBeGreaterThan(3);
    expect(ours.filter((t) => t === ETHERTYPE_IPV4 || t === ETHERTYPE_ARP)).toEqual([]);
    expect(ours.every((t) => t === ETHERTYPE_IPV6)).toBe(true);
  });

  it('with a static address and --gateway6, sends off-link traffic to that router; without one, none (tx_no_route)', () => {
    const offLink = v6('2001:db8::1'); // a documentation address: these frames only cross the simulated wire
    const staticA = (gateway?: bigint): Partial<StackOptions> => ({
      ipv6: { secret: new Uint8Array(16), static: { address: v6('fd77::10'), prefixLength: 64, gateway }, ndp: { addresses: { iid: 'eui64' } } },
    });
    const synsTo = (net: Net) => net.log.filter((w) => w.from === 'a' && w.frame[12] === 0x86 && w.frame[13] === 0xdd).flatMap((w) => {
      const ip = parseIpv6(w.frame.subarray(14));
      return ip.ok && ip.protocol === 6 && ip.header.dst === offLink ? [w.frame.subarray(0, 6)] : [];
    });
    const routed = new Net(staticA(LL_B), ipv6(2));
    routed.advance(3000);
    routed.a.tcp.connect(offLink, 80);
    routed.run();
    const syns = synsTo(routed);
    expect(syns.length).toBeGreaterThan(0);
    expect(syns.every((mac) => Array.from(mac).join() === [2, 0, 0, 0, 0, 1].join())).toBe(true); // PEER_MAC: B is the router
    const unrouted = new Net(staticA(), ipv6(2));
    unrouted.advance(3000);
    const before = unrouted.a.counters.get('ip6.tx_no_route');
    unrouted.a.tcp.connect(offLink, 80);
    unrouted.run();
    expect(synsTo(unrouted)).toEqual([]);
    expect(unrouted.a.counters.get('ip6.tx_no_route')).toBeGreaterThan(before);
  });

  it('answers an MLDv2 General Query after a random delay within its Maximum Response Delay, not at once (RFC 3810 §6.2)', () => {
    const net = upNet();
    net.advance(5000); // the start-up reports and their repetitions are over
    const reports = (): number => icmpv6Sent(net, 'a').filter((x) => x.m.type === ICMPV6_MLDV2_REPORT).length;
    const before = reports();
    // Maximum Response Code 10000 ms, the unspecified group (general), S/QRV/QQIC and no sources: 20 bytes of body.
    const body = new Uint8Array(20);
    const query = encodeIcmpv6({ type: ICMPV6_MLD_QUERY, code: 0, rest: 10_000 << 16, body }, ipv6Pseudo(LL_B, v6('ff02::1'), NH_ICMPV6));
    net.a.receive(buildEthernet({ dst: 0x333300000001, src: PEER_MAC, ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: NH_ICMPV6, hopLimit: 1, src: LL_B, dst: v6('ff02::1') }, query)), net.now);
    net.run();
    expect(reports()).toBe(before);
    net.advance(10_000);
    const after = icmpv6Sent(net, 'a').filter((x) => x.m.type === ICMPV6_MLDV2_REPORT).slice(before);
    expect(after).toHaveLength(1);
    expect(parseMldv2Report(after[0]?.m ?? { type: 0, code: 0, rest: 0, body: new Uint8Array(0) })?.map((r) => r.group)).toEqual([solicitedNode(LL_A)]);
  });
});

