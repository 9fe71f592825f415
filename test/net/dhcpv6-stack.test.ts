// Stateful DHCPv6 through the whole stack, with a hand-moved clock: dnsmasq's recorded router advertisement (M
// set) starts the client; its Solicit leaves as a real frame (multicast MAC, link-local source, ports 546 → 547,
// a right UDP checksum); dnsmasq's recorded Advertise and Reply, given our transaction ids, lease an address,
// which is detected (DAD) before use, then chosen as source; a conflict declines it; shutdown releases it.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Dhcpv6Lease } from '../../src/dhcp/dhcpv6-client.ts';
import { Dhcpv6Type as T, encodeDhcpv6, parseDhcpv6, type Dhcpv6Message } from '../../src/dhcp/dhcpv6-wire.ts';
import { eui64, ipv6ToString, isIpv6LinkLocal, parseIpv6 as parseIpv6Text, withInterfaceId } from '../../src/net/addr.ts';
import { buildEthernet, ETHERTYPE_IPV6 } from '../../src/net/ethernet.ts';
import { encodeIcmpv6 } from '../../src/net/icmpv6-wire.ts';
import { PROTO_UDP } from '../../src/net/ip.ts';
import { NH_ICMPV6, buildIpv6, ipv6Pseudo, parseIpv6 } from '../../src/net/ipv6-wire.ts';
import { readPcap } from '../../src/net/pcap.ts';
import { encodeUdp, parseUdp } from '../../src/net/udp-wire.ts';
import { neighborAdvertisement } from '../../src/ndp/ndp-wire.ts';
import type { StackOptions } from '../../src/stack/stack.ts';
import { OUR_MAC, mac } from './frames.ts';
import { Net } from './tcp/harness.ts';

const v6 = (s: string): bigint => parseIpv6Text(s) ?? 0n;
const LL_A = withInterfaceId(v6('fe80::'), eui64(OUR_MAC));
const SERVER_MAC = mac('02:00:c0:a8:4d:02');
const SERVER_LL = v6('fe80::c0ff:fea8:4d02');

/** dnsmasq's frames from the fixture: its multicast RA (M set), its Advertise and its Reply to our Request. */
function recorded(): { ra: Uint8Array; advertise: Dhcpv6Message; reply: Dhcpv6Message } {
  const frames = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/dnsmasq-dhcpv6.pcap', import.meta.url)))).map((r) => r.frame);
  let ra: Uint8Array | undefined;
  const fromServer: Dhcpv6Message[] = [];
  for (const f of frames) {
    const ip = parseIpv6(f.subarray(14));
    if (!ip.ok) continue;
    if (ip.protocol === NH_ICMPV6 && ip.payload[0] === 134 && ip.header.dst === v6('ff02::1') && isIpv6LinkLocal(ip.header.src)) ra = f;
    if (ip.protocol === PROTO_UDP && (ip.payload[0] ?? 0) * 256 + (ip.payload[1] ?? 0) === 547) {
      const p = parseDhcpv6(ip.payload.subarray(8));
      if (p.ok) fromServer.push(p.message);
    }
  }
  const advertise = fromServer.find((m) => m.type === T.ADVERTISE);
  const reply = fromServer.find((m) => m.type === T.REPLY && m.iaNa.length > 0);
  if (ra === undefined || advertise === undefined || reply === undefined) throw new Error('the fixture lacks the RA, Advertise or Reply');
  expect(ra[14 + 40 + 5]! & 0x80).toBe(0x80); // M
  return { ra, advertise, reply };
}

/** Our DHCPv6 messages on the wire, each checked: multicast MAC, link-local source, UDP 546 → 547, checksum right. */
function dhcpv6Sent(net: Net): Dhcpv6Message[] {
  return net.log.filter((w) => w.from === 'a' && w.frame[12] === 0x86 && w.frame[13] === 0xdd).flatMap((w) => {
    const ip = parseIpv6(w.frame.subarray(14));
    if (!ip.ok || ip.protocol !== PROTO_UDP) return [];
    const udp = parseUdp(ip.payload, ipv6Pseudo(ip.header.src, ip.header.dst, PROTO_UDP), false);
    if (!udp.ok) throw new Error('we sent a UDP datagram with a bad checksum');
    if (udp.datagram.dstPort !== 547) return [];
    expect(udp.datagram.srcPort).toBe(546);
    expect(Array.from(w.frame.subarray(0, 6))).toEqual([0x33, 0x33, 0, 1, 0, 2]);
    expect(ip.header.src).toBe(LL_A);
    expect(ip.header.dst).toBe(v6('ff02::1:2'));
    const p = parseDhcpv6(udp.datagram.payload);
    if (!p.ok) throw new Error(p.reason);
    return [p.message];
  });
}

/** A server message to us: dnsmasq's, with the transaction id, client id and IAID of `to`. */
function answer(net: Net, to: Dhcpv6Message, m: Dhcpv6Message): void {
  const iaid = to.iaNa[0]?.iaid ?? 0;
  const payload = encodeDhcpv6({ ...m, xid: to.xid, clientId: to.clientId, iaNa: m.iaNa.map((ia) => ({ ...ia, iaid })) });
  const udp = encodeUdp({ srcPort: 547, dstPort: 546, payload }, ipv6Pseudo(SERVER_LL, LL_A, PROTO_UDP));
  net.a.receive(buildEthernet({ dst: OUR_MAC, src: SERVER_MAC, ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: PROTO_UDP, hopLimit: 64, src: SERVER_LL, dst: LL_A }, udp)), net.now);
  net.run();
}

function stack(extra: { saved?: Dhcpv6Lease[] } = {}) {
  const logs: string[] = [];
  const saved = extra.saved ?? [];
  const opts: Partial<StackOptions> = {
    log: (l) => logs.push(l),
    ipv6: {
      secret: new Uint8Array(16), ndp: { addresses: { iid: 'eui64' } },
      dhcpv6State: { saved: undefined, save: (l) => l !== undefined && saved.push(l) },
    },
  };
  const net = new Net(opts, { ipv6: { secret: new Uint8Array(16), dhcpv6: false } });
  net.advance(3000); // link-local DAD
  return { net, logs, saved };
}

/** Up to a bound lease: RA, Solicit, Advertise, Request, Reply. */
function leased() {
  const s = stack();
  const { net } = s;
  const { ra, advertise, reply } = recorded();
  net.a.receive(ra, net.now);
  net.run();
  expect(net.a.dhcp6?.state).toBe('soliciting');
  net.advance(1200);
  const solicit = dhcpv6Sent(net).find((m) => m.type === T.SOLICIT);
  if (solicit === undefined) throw new Error('no Solicit');
  answer(net, solicit, advertise); // preference 255: the Request goes at once
  const request = dhcpv6Sent(net).find((m) => m.type === T.REQUEST);
  if (request === undefined) throw new Error('no Request');
  answer(net, request, reply);
  const address = reply.iaNa[0]?.addresses[0]?.address ?? 0n;
  return { ...s, address, request };
}

describe('DHCPv6 in the stack', () => {
  it('leases an address from the recorded exchange, detects it, then uses it as the source for the prefix', () => {
    const { net, logs, saved, address, request } = leased();
    expect(request.serverId?.length).toBeGreaterThan(2);
    expect(net.a.dhcp6?.state).toBe('bound');
    expect(net.a.ndp?.addresses.isTentative(address)).toBe(true); // DAD first (RFC 8415 §18.2.10.1)
    expect(saved.at(-1)?.addresses[0]?.address).toBe(address);
    net.advance(3000);
    expect(net.a.ndp?.isAssigned(address)).toBe(true);
    expect(net.a.ndp?.selectSource(v6('fd77::1'))).toBe(address);
    expect(net.a.ndp?.addresses.list().find((a) => a.address === address)).toMatchObject({ origin: 'dhcpv6', prefixLength: 128, state: 'preferred' });
    expect(logs).toContain(`DHCPv6: bound to ${ipv6ToString(address)}`);
    // The prefix is on-link by the RA (L set, A clear: no SLAAC address beside the leased one).
    expect(net.a.ndp?.nextHop(v6('fd77::1'), net.now)).toBe(v6('fd77::1'));
    expect(net.a.ndp?.addresses.list().filter((a) => a.origin === 'slaac')).toEqual([]);
    expect(net.a.counters.get('dhcp6.rx')).toBe(2);
  });

  it('renews at T1 (6 h from dnsmasq) with a frame of its own', () => {
    const { net } = leased();
    net.advance(21600_000 + 1000);
    expect(net.a.dhcp6?.state).toBe('renewing');
    expect(dhcpv6Sent(net).at(-1)?.type).toBe(T.RENEW);
  });

  it('a neighbour advertisement for the tentative leased address: not used, DECLINEd to the server', () => {
    const { net, logs, address } = leased();
    const na = encodeIcmpv6(neighborAdvertisement(address, { router: false, solicited: false, override: true }, { targetLla: mac('02:00:00:00:99:99') }), ipv6Pseudo(v6('fe80::99'), v6('ff02::1'), NH_ICMPV6));
    net.a.receive(buildEthernet({ dst: mac('33:33:00:00:00:01'), src: mac('02:00:00:00:99:99'), ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: NH_ICMPV6, hopLimit: 255, src: v6('fe80::99'), dst: v6('ff02::1') }, na)), net.now);
    net.run();
    expect(net.a.ndp?.addresses.list().some((a) => a.address === address)).toBe(false);
    const decline = dhcpv6Sent(net).at(-1);
    expect(decline?.type).toBe(T.DECLINE);
    expect(decline?.iaNa[0]?.addresses.map((a) => a.address)).toEqual([address]);
    expect(net.a.dhcp6?.state).toBe('declining');
    expect(logs.some((l) => l.includes('declining'))).toBe(true);
  });

  it('at shutdown: a RELEASE of the address, sent from the link-local address while it still holds', () => {
    const { net, address } = leased();
    net.advance(3000);
    net.a.stop(net.now);
    net.run();
    const release = dhcpv6Sent(net).at(-1);
    expect(release?.type).toBe(T.RELEASE);
    expect(release?.iaNa[0]?.addresses.map((a) => a.address)).toEqual([address]);
  });
});

