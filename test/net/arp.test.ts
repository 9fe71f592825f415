import { describe, expect, it } from 'vitest';
import { ARP_REPLY, ARP_REQUEST } from '../../src/arp/arp-wire.ts';
import { MAC_BROADCAST } from '../../src/net/addr.ts';
import { PROTO_UDP } from '../../src/net/ipv4-wire.ts';
import { GW_IP, GW_MAC, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, arpFrame, decode, ip, isAt, mac, staticStack, whoHas } from './frames.ts';

const send = (s: ReturnType<typeof staticStack>['stack'], dst: number, now: number, n = 4): void => {
  s.udp.send({ srcPort: 1000, dst, dstPort: 2000, payload: new Uint8Array(n) }, now);
};

describe('ARP (RFC 826)', () => {
  it('answers who-has for our address with a unicast reply, and learns the asker', () => {
    const { stack } = staticStack();
    stack.receive(whoHas(OUR_IP), 10);
    const out = stack.takeFrames().map(decode);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ dst: PEER_MAC, src: OUR_MAC, arp: { op: ARP_REPLY, sha: OUR_MAC, spa: OUR_IP, tha: PEER_MAC, tpa: PEER_IP } });
    expect(stack.arp.lookup(PEER_IP)).toBe(PEER_MAC);
  });

  it('ignores who-has for other addresses and does not learn from them', () => {
    const { stack } = staticStack();
    stack.receive(whoHas(ip('192.168.77.99')), 10);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.arp.lookup(PEER_IP)).toBeUndefined();
  });

  it('updates an entry it has from any ARP packet (the merge rule), even one not for us', () => {
    const { stack } = staticStack();
    stack.receive(whoHas(OUR_IP), 10);
    stack.takeFrames();
    const moved = mac('02:00:00:00:00:99');
    stack.receive(whoHas(ip('192.168.77.99'), { mac: moved, ip: PEER_IP }), 20);
    expect(stack.arp.lookup(PEER_IP)).toBe(moved);
  });

  it('drops malformed packets and senders with our own, zero or multicast MAC, counting them', () => {
    const { stack } = staticStack();
    stack.receive(arpFrame({ op: ARP_REQUEST, sha: OUR_MAC, spa: PEER_IP, tha: 0, tpa: OUR_IP }), 1);
    stack.receive(arpFrame({ op: ARP_REQUEST, sha: mac('01:00:5e:00:00:01'), spa: PEER_IP, tha: 0, tpa: OUR_IP }), 1);
    stack.receive(whoHas(OUR_IP).subarray(0, 30), 1);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('arp.rx_bad_sender')).toBe(2);
    expect(stack.counters.get('arp.rx_malformed')).toBe(1);
  });

  it('announces a new address with gratuitous requests, sender = target (RFC 5227 §3), twice 2 s apart', () => {
    const logs: string[] = [];
    const { stack } = staticStack({ log: (l) => logs.push(l), arp: { announceCount: 2 } });
    // staticStack consumed the first announcement at t=0; the second is due at 2000.
    expect(stack.nextDeadline()).toBe(2000);
    stack.poll(1999);
    expect(stack.takeFrames()).toEqual([]);
    stack.poll(2000);
    const out = stack.takeFrames().map(decode);
    expect(out).toEqual([expect.objectContaining({ dst: MAC_BROADCAST, arp: { op: ARP_REQUEST, sha: OUR_MAC, spa: OUR_IP, tha: 0, tpa: OUR_IP } })]);
    stack.poll(10_000);
    expect(stack.takeFrames()).toEqual([]);
    expect(logs.filter((l) => l === `ARP: sending gratuitous from 192.168.77.10`)).toHaveLength(2);
  });

  it('queues packets while resolving, sends them in order once answered', () => {
    const { stack } = staticStack();
    send(stack, PEER_IP, 100, 1);
    send(stack, PEER_IP, 101, 2);
    const req = stack.takeFrames().map(decode);
    expect(req).toEqual([expect.objectContaining({ dst: MAC_BROADCAST, arp: { op: ARP_REQUEST, sha: OUR_MAC, spa: OUR_IP, tha: 0, tpa: PEER_IP } })]);
    stack.receive(isAt({ mac: PEER_MAC, ip: PEER_IP }), 150);
    const out = stack.takeFrames().map(decode);
    expect(out.map((d) => [d.dst, d.ip?.protocol, d.udp?.payload.length])).toEqual([
      [PEER_MAC, PROTO_UDP, 1],
      [PEER_MAC, PROTO_UDP, 2],
    ]);
  });

  it('retries an unanswered request, then drops what waited and counts it', () => {
    const { stack } = staticStack({ arp: { retryIntervalMs: 1000, maxRequests: 3 } });
    send(stack, PEER_IP, 0);
    send(stack, PEER_IP, 0);
    expect(stack.takeFrames()).toHaveLength(1);
    for (const t of [999, 1000, 1999, 2000, 2999]) {
      stack.poll(t);
      expect(stack.takeFrames().length).toBe(t === 1000 || t === 2000 ? 1 : 0);
    }
    stack.poll(3000);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('arp.drop_unresolved')).toBe(2);
    expect(stack.arp.pendingAddresses).toBe(0);
  });

  it('bounds the queue per address and the number of addresses being resolved, evicting the oldest', () => {
    const { stack } = staticStack({ arp: { maxQueuedPerAddress: 3, maxPendingAddresses: 2 } });
    for (let i = 0; i < 5; i++) send(stack, PEER_IP, 0);
    expect(stack.counters.get('arp.drop_queue_full')).toBe(2);
    send(stack, ip('192.168.77.20'), 0);
    send(stack, ip('192.168.77.21'), 0);
    // The oldest resolution (the peer's, three packets) made room for the newest.
    expect(stack.counters.get('arp.pending_evicted')).toBe(1);
    expect(stack.counters.get('arp.drop_unresolved')).toBe(3);
    expect(stack.arp.pendingAddresses).toBe(2);
    stack.takeFrames();
    stack.receive(isAt({ mac: GW_MAC, ip: ip('192.168.77.21') }), 1);
    expect(stack.takeFrames().map((f) => decode(f).dst)).toEqual([GW_MAC]);
  });

  it('a flood of packets for absent hosts cannot lock a real neighbour out, nor storm the link', () => {
    const { stack } = staticStack({ arp: { maxPendingAddresses: 8, maxRequestsPerSecond: 50 } });
    // 1000 packets to 150 absent neighbours over one second.
    for (let i = 0; i < 1000; i++) send(stack, ip(`192.168.77.${100 + (i % 150)}`), i);
    const storm = stack.takeFrames().length;
    expect(storm).toBeLessThanOrEqual(50 + 50); // the bucket, plus what refills in that second
    expect(stack.counters.get('arp.tx_request_limited')).toBeGreaterThan(0);
    expect(stack.arp.pendingAddresses).toBeLessThanOrEqual(8);
    // The peer asks now: its packet gets out as soon as it answers.
    send(stack, PEER_IP, 2000);
    stack.receive(isAt({ mac: PEER_MAC, ip: PEER_IP }), 2001);
    expect(stack.takeFrames().map(decode).some((d) => d.dst === PEER_MAC && d.ip !== undefined)).toBe(true);
  });

  it('ages entries out, and refreshes an entry in use with a unicast request before it expires', () => {
    const { stack } = staticStack({ arp: { cacheTtlMs: 60_000, refreshBeforeMs: 5_000, retryIntervalMs: 1_000 } });
    stack.receive(whoHas(OUR_IP), 0); // learn the peer at t=0
    stack.receive(whoHas(OUR_IP, { mac: GW_MAC, ip: GW_IP }), 0);
    stack.takeFrames();
    send(stack, PEER_IP, 1000); // the peer's entry is in use; the gateway's is not
    expect(stack.takeFrames().map((f) => decode(f).dst)).toEqual([PEER_MAC]);
    stack.poll(54_999);
    expect(stack.takeFrames()).toEqual([]);
    stack.poll(55_000);
    const refresh = stack.takeFrames().map(decode);
    expect(refresh).toEqual([expect.objectContaining({ dst: PEER_MAC, arp: expect.objectContaining({ op: ARP_REQUEST, tpa: PEER_IP }) })]);
    // The peer answers: the entry lives another minute; the unused gateway entry expires.
    stack.receive(isAt({ mac: PEER_MAC, ip: PEER_IP }), 55_500);
    stack.poll(60_000);
    expect(stack.arp.lookup(GW_IP)).toBeUndefined();
    expect(stack.arp.lookup(PEER_IP)).toBe(PEER_MAC);
    stack.poll(115_500);
    expect(stack.arp.lookup(PEER_IP)).toBeUndefined();
    expect(stack.counters.get('arp.expired')).toBe(2);
  });

  it('bounds the cache: the entry closest to expiry makes room', () => {
    const { stack } = staticStack({ arp: { maxEntries: 2 } });
    stack.receive(whoHas(OUR_IP, { mac: mac('02:00:00:00:00:11'), ip: ip('192.168.77.11') }), 0);
    stack.receive(whoHas(OUR_IP, { mac: mac('02:00:00:00:00:12'), ip: ip('192.168.77.12') }), 10);
    stack.receive(whoHas(OUR_IP, { mac: mac('02:00:00:00:00:13'), ip: ip('192.168.77.13') }), 20);
    expect(stack.arp.size).toBe(2);
    expect(stack.arp.lookup(ip('192.168.77.11'))).toBeUndefined();
    expect(stack.counters.get('arp.evicted')).toBe(1);
  });

  it('notices another host claiming our address and neither learns nor answers it', () => {
    const { stack, logs } = staticStack();
    stack.receive(arpFrame({ op: ARP_REQUEST, sha: PEER_MAC, spa: OUR_IP, tha: 0, tpa: OUR_IP }), 5);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('arp.conflict')).toBe(1);
    expect(logs.some((l) => l.includes('conflict'))).toBe(true);
  });
});
