// Building and reading frames in tests, with the stack's own codecs (each has its own byte fixture test).

import { ipv4Pseudo } from '../../src/net/checksum.ts';
import { ARP_REPLY, ARP_REQUEST, encodeArp, parseArp, type ArpPacket } from '../../src/arp/arp-wire.ts';
import { MAC_BROADCAST, parseIpv4 as parseAddr, parseMac, type Ipv4Addr, type MacAddr } from '../../src/net/addr.ts';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN, buildEthernet, parseEthernet } from '../../src/net/ethernet.ts';
import { parseIpv6, type Ipv6Header } from '../../src/net/ipv6-wire.ts';
import { ICMP_ECHO_REQUEST, encodeIcmp, parseIcmp, type IcmpMessage } from '../../src/net/icmp-wire.ts';
import { PROTO_ICMP, PROTO_UDP, buildIpv4, parseIpv4, type Ipv4Header, type Ipv4Out } from '../../src/net/ipv4-wire.ts';
import { Stack, type StackOptions } from '../../src/stack/stack.ts';
import { encodeUdp, parseUdp, type UdpDatagram } from '../../src/net/udp-wire.ts';
import { seededRandom } from '../../src/random.ts';

export function ip(s: string): Ipv4Addr {
  const a = parseAddr(s);
  if (a === undefined) throw new Error(`bad ip ${s}`);
  return a;
}

export function mac(s: string): MacAddr {
  const m = parseMac(s);
  if (m === undefined) throw new Error(`bad mac ${s}`);
  return m;
}

export const OUR_MAC = mac('02:00:5e:00:00:42');
export const PEER_MAC = mac('02:00:00:00:00:01');
export const GW_MAC = mac('02:00:00:00:00:02');
export const OUR_IP = ip('192.168.77.10');
export const PEER_IP = ip('192.168.77.1');
export const GW_IP = ip('192.168.77.2');

export function staticStack(extra: Partial<StackOptions> = {}): { stack: Stack; logs: string[] } {
  const logs: string[] = [];
  const stack = new Stack({
    mac: OUR_MAC,
    mtu: 1500,
    random: seededRandom(1),
    log: (l) => logs.push(l),
    ipv4: { address: OUR_IP, prefix: 24, gateway: GW_IP },
    ...extra,
    // One announcement (sent and discarded below) unless a test asks for more.
    arp: { announceCount: 1, ...extra.arp },
  });
  stack.start(0);
  stack.takeFrames(); // the first announcement
  return { stack, logs };
}

export function arpFrame(p: ArpPacket, dst: MacAddr = MAC_BROADCAST, src: MacAddr = p.sha): Uint8Array {
  return buildEthernet({ dst, src, ethertype: ETHERTYPE_ARP }, encodeArp(p));
}

export function whoHas(target: Ipv4Addr, from: { mac: MacAddr; ip: Ipv4Addr } = { mac: PEER_MAC, ip: PEER_IP }): Uint8Array {
  return arpFrame({ op: ARP_REQUEST, sha: from.mac, spa: from.ip, tha: 0, tpa: target });
}

export function isAt(sender: { mac: MacAddr; ip: Ipv4Addr }, to: { mac: MacAddr; ip: Ipv4Addr } = { mac: OUR_MAC, ip: OUR_IP }): Uint8Array {
  return arpFrame({ op: ARP_REPLY, sha: sender.mac, spa: sender.ip, tha: to.mac, tpa: to.ip }, to.mac);
}

export function ipFrame(h: Partial<Ipv4Out> & { protocol: number }, payload: Uint8Array, dstMac: MacAddr = OUR_MAC, srcMac: MacAddr = PEER_MAC): Uint8Array {
  const packet = buildIpv4({ id: 1, ttl: 64, src: PEER_IP, dst: OUR_IP, ...h }, payload);
  return buildEthernet({ dst: dstMac, src: srcMac, ethertype: ETHERTYPE_IPV4 }, packet);
}

export function echoRequest(data: Uint8Array, rest = 0x12340001, h: Partial<Ipv4Out> = {}, dstMac?: MacAddr): Uint8Array {
  return ipFrame({ protocol: PROTO_ICMP, ...h }, encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest, data }), dstMac);
}

export function udpFrame(d: UdpDatagram, h: Partial<Ipv4Out> = {}, dstMac?: MacAddr): Uint8Array {
  const src = h.src ?? PEER_IP;
  const dst = h.dst ?? OUR_IP;
  return ipFrame({ protocol: PROTO_UDP, ...h }, encodeUdp(d, ipv4Pseudo(src, dst, PROTO_UDP)), dstMac);
}

export interface Decoded {
  dst: MacAddr;
  src: MacAddr;
  arp?: ArpPacket;
  ip?: Ipv4Header;
  /** An IPv6 frame: its header (the upper layer is the test's to read). */
  ip6?: Ipv6Header;
  icmp?: IcmpMessage;
  udp?: UdpDatagram;
  payload: Uint8Array;
}

/** Decodes a frame the stack sent, failing the test on anything malformed. */
export function decode(frame: Uint8Array): Decoded {
  const eth = parseEthernet(frame);
  if (eth === undefined) throw new Error('short frame');
  const body = frame.subarray(ETH_HEADER_LEN);
  if (eth.ethertype === ETHERTYPE_ARP) {
    const arp = parseArp(body);
    if (arp === undefined) throw new Error('malformed ARP');
    return { dst: eth.dst, src: eth.src, arp, payload: body };
  }
  if (eth.ethertype === ETHERTYPE_IPV6) {
    const p6 = parseIpv6(body);
    if (!p6.ok) throw new Error(`malformed IPv6: ${p6.reason}`);
    return { dst: eth.dst, src: eth.src, ip6: p6.header, payload: p6.payload };
  }
  const p = parseIpv4(body);
  if (!p.ok) throw new Error(`malformed IPv4: ${p.reason}`);
  const out: Decoded = { dst: eth.dst, src: eth.src, ip: p.header, payload: p.payload };
  if (p.header.protocol === PROTO_ICMP && p.header.fragmentOffset === 0 && !p.header.moreFragments) {
    const icmp = parseIcmp(p.payload);
    if (icmp === undefined) throw new Error('malformed ICMP');
    out.icmp = icmp;
  }
  if (p.header.protocol === PROTO_UDP && p.header.fragmentOffset === 0 && !p.header.moreFragments) {
    const u = parseUdp(p.payload, ipv4Pseudo(p.header.src, p.header.dst, PROTO_UDP));
    if (!u.ok) throw new Error(`malformed UDP: ${u.reason}`);
    out.udp = u.datagram;
  }
  return out;
}

export function hex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-fA-F]/g, '');
  return Uint8Array.from({ length: clean.length / 2 }, (_, i) => parseInt(clean.slice(i * 2, i * 2 + 2), 16));
}

/** Flips bits of one byte (an index past the end is an error in the test). */
export function flip(b: Uint8Array, i: number, mask = 1): void {
  const v = b[i];
  if (v === undefined) throw new Error(`no byte ${i}`);
  b[i] = v ^ mask;
}
