// The stack with its DHCP client against a scripted server on the wire: bound, announced, released.

import { describe, expect, it } from 'vitest';
import { DhcpMessageType, encodeDhcp, parseDhcp } from '../../src/dhcp/dhcp-wire.ts';
import { MAC_BROADCAST } from '../../src/net/addr.ts';
import { Stack } from '../../src/stack/stack.ts';
import { seededRandom } from '../../src/random.ts';
import { GW_IP, GW_MAC, OUR_MAC, decode, ip, isAt, udpFrame } from './frames.ts';

const OFFERED = ip('192.168.77.50');

function reply(type: number, xid: number): Uint8Array {
  const payload = encodeDhcp({
    op: 2, xid, secs: 0, flags: 0x8000, ciaddr: 0, yiaddr: OFFERED, siaddr: 0, giaddr: 0, chaddr: OUR_MAC,
    options: { messageType: type, serverId: GW_IP, leaseTime: 3600, subnetMask: ip('255.255.255.0'), routers: [GW_IP] },
  });
  return udpFrame({ srcPort: 67, dstPort: 68, payload }, { src: GW_IP, dst: ip('255.255.255.255') }, MAC_BROADCAST);
}

describe('stack with DHCP', () => {
  it('binds, announces, and on stop sends the RELEASE once the server’s MAC is resolved', () => {
    const logs: string[] = [];
    // Probing off (RFC 5227 probing before the address is used is tested in stack-acd.test.ts).
    const stack = new Stack({ mac: OUR_MAC, mtu: 1500, random: seededRandom(3), log: (l) => logs.push(l), acd: { probeNum: 0 } });
    stack.start(0);
    const discover = parseDhcp(decode(stack.takeFrames()[0] ?? new Uint8Array()).udp?.payload ?? new Uint8Array());
    expect(discover?.options.messageType).toBe(DhcpMessageType.DISCOVER);
    const xid = discover?.xid ?? 0;
    stack.receive(reply(DhcpMessageType.OFFER, xid), 10);
    expect(parseDhcp(decode(stack.takeFrames()[0] ?? new Uint8Array()).udp?.payload ?? new Uint8Array())?.options.messageType).toBe(DhcpMessageType.REQUEST);
    stack.receive(reply(DhcpMessageType.ACK, xid), 20);
    expect(stack.ipv4.config).toEqual({ address: OFFERED, prefix: 24, gateway: GW_IP });
    expect(stack.takeFrames().map(decode)[0]?.arp).toMatchObject({ spa: OFFERED, tpa: OFFERED });

    stack.stop(100);
    const asked = stack.takeFrames().map(decode);
    expect(asked).toEqual([expect.objectContaining({ arp: expect.objectContaining({ tpa: GW_IP }) })]);
    expect(stack.busy).toBe(true);
    stack.receive(isAt({ mac: GW_MAC, ip: GW_IP }, { mac: OUR_MAC, ip: OFFERED }), 110);
    const release = stack.takeFrames().map(decode)[0];
    expect(release).toMatchObject({ dst: GW_MAC, ip: { src: OFFERED, dst: GW_IP } });
    expect(parseDhcp(release?.udp?.payload ?? new Uint8Array())).toMatchObject({ ciaddr: OFFERED, options: { messageType: DhcpMessageType.RELEASE } });
    expect(stack.busy).toBe(false);
  });
});
