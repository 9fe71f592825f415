// The stack with DHCP and address conflict detection (RFC 5227) on a scripted wire: a DHCP server, and a host
// that already holds (or probes for, or later claims) the address we are given. Hand-moved clock, frames only.

import { describe, expect, it } from 'vitest';
import { ARP_REPLY, ARP_REQUEST } from '../../src/arp/arp-wire.ts';
import type { DhcpSavedLease } from '../../src/dhcp/dhcp-client.ts';
import { DhcpMessageType as T, encodeDhcp, parseDhcp, type DhcpMessage } from '../../src/dhcp/dhcp-wire.ts';
import { MAC_BROADCAST, type Ipv4Addr } from '../../src/net/addr.ts';
import { Stack, type StackOptions } from '../../src/stack/stack.ts';
import { seededRandom } from '../../src/random.ts';
import { GW_IP, OUR_MAC, PEER_IP, PEER_MAC, arpFrame, decode, ip, mac, udpFrame, whoHas, type Decoded } from './frames.ts';

const A = ip('192.168.77.50');
const B = ip('192.168.77.51');
const SQUATTER = mac('02:00:00:00:00:99');
const SERVER = GW_IP;

interface Out {
  at: number;
  f: Decoded;
  dhcp?: DhcpMessage | undefined;
}

/** A DHCP stack on a scripted wire; every frame it sends is decoded and kept with its time. */
function lab(extra: Partial<StackOptions> = {}, saved?: DhcpSavedLease) {
  const logs: string[] = [];
  const saves: (DhcpSavedLease | undefined)[] = [];
  const addresses: (Ipv4Addr | undefined)[] = [];
  const stack = new Stack({
    mac: OUR_MAC, mtu: 1500, random: seededRandom(5), log: (l) => logs.push(l),
    dhcpState: { saved, save: (s) => saves.push(s) },
    onAddress: (c) => addresses.push(c?.address),
    ...extra,
  });
  const out: Out[] = [];
  let now = 0;
  const collect = (): void => {
    for (const frame of stack.takeFrames()) {
      const f = decode(frame);
      out.push({ at: now, f, dhcp: f.udp !== undefined ? parseDhcp(f.udp.payload) : undefined });
    }
  };
  const l = {
    stack, logs, saves, addresses, out,
    get now() {
      return now;
    },
    start() {
      stack.start(0);
      collect();
    },
    /** One frame in at `t` (the clock is first run up to `t`). */
    rx(frame: Uint8Array, t: number) {
      l.runUntil(t);
      now = t;
      stack.receive(frame, t);
      collect();
    },
    /** Polls at every deadline up to `t`. */
    runUntil(t: number) {
      for (let d = stack.nextDeadline(); d !== undefined && d <= t; d = stack.nextDeadline()) {
        now = Math.max(now, d);
        stack.poll(now);
        collect();
      }
      now = Math.max(now, t);
    },
    /** Polls deadline after deadline until `pred` holds (at most `limit` ms ahead). */
    runUntilTrue(pred: () => boolean, limit = 120_000) {
      const end = now + limit;
      while (!pred()) {
        const d = stack.nextDeadline();
        if (d === undefined || d > end) throw new Error(`not within ${limit} ms; logs:\n${logs.join('\n')}`);
        now = Math.max(now, d);
        stack.poll(now);
        collect();
      }
    },
    lastDhcp(): DhcpMessage {
      const m = out.filter((o) => o.dhcp !== undefined).at(-1)?.dhcp;
      if (m === undefined) throw new Error('no DHCP message sent');
      return m;
    },
    probes: (target: Ipv4Addr) => out.filter((o) => o.f.arp?.op === ARP_REQUEST && o.f.arp.spa === 0 && o.f.arp.tpa === target),
    announcements: (a: Ipv4Addr) => out.filter((o) => o.f.arp?.op === ARP_REQUEST && o.f.arp.spa === a && o.f.arp.tpa === a),
  };
  return l;
}

/** The scripted server's answer to `req`, broadcast. */
function server(req: DhcpMessage, type: number, yiaddr: Ipv4Addr): Uint8Array {
  const payload = encodeDhcp({
    op: 2, xid: req.xid, secs: 0, flags: 0x8000, ciaddr: 0, yiaddr: type === T.NAK ? 0 : yiaddr, siaddr: 0, giaddr: 0, chaddr: OUR_MAC,
    options: type === T.NAK
      ? { messageType: type, serverId: SERVER }
      : { messageType: type, serverId: SERVER, leaseTime: 3600, subnetMask: ip('255.255.255.0'), routers: [GW_IP] },
  });
  return udpFrame({ srcPort: 67, dstPort: 68, payload }, { src: SERVER, dst: ip('255.255.255.255') }, MAC_BROADCAST);
}

/** DISCOVER → OFFER(address) → REQUEST → ACK, from `t`. */
function lease(l: ReturnType<typeof lab>, address: Ipv4Addr, t: number): void {
  expect(l.lastDhcp().options.messageType).toBe(T.DISCOVER);
  l.rx(server(l.lastDhcp(), T.OFFER, address), t);
  expect(l.lastDhcp().options).toMatchObject({ messageType: T.REQUEST, requestedIp: address });
  l.rx(server(l.lastDhcp(), T.ACK, address), t + 10);
}

/** The conflicting host's frames. */
const replyFromSquatter = (a: Ipv4Addr): Uint8Array =>
  arpFrame({ op: ARP_REPLY, sha: SQUATTER, spa: a, tha: OUR_MAC, tpa: 0 }, OUR_MAC); // Linux's answer to a probe
const probeFromOther = (a: Ipv4Addr): Uint8Array => arpFrame({ op: ARP_REQUEST, sha: SQUATTER, spa: 0, tha: 0, tpa: a });
const announceFromSquatter = (a: Ipv4Addr): Uint8Array => arpFrame({ op: ARP_REQUEST, sha: SQUATTER, spa: a, tha: 0, tpa: a });

function expectDecline(o: Out | undefined, address: Ipv4Addr): void {
  expect(o?.f).toMatchObject({ dst: MAC_BROADCAST, src: OUR_MAC, ip: { src: 0, dst: 0xffffffff }, udp: { srcPort: 68, dstPort: 67 } });
  expect(o?.dhcp).toMatchObject({ ciaddr: 0, yiaddr: 0 });
  expect(o?.dhcp?.options).toMatchObject({ messageType: T.DECLINE, requestedIp: address, serverId: SERVER });
}

describe('stack: probing the DHCP address before using it (RFC 5227 §2.1)', () => {
  it('no conflict: 3 probes 1–2 s apart, 2 s more, then configured, announced, remembered', () => {
    const l = lab();
    l.start();
    lease(l, A, 10);
    expect(l.stack.dhcp?.state).toBe('checking');
    expect(l.stack.ipv4.config).toBeUndefined();
    expect(l.logs).toContain('ACD: probing 192.168.77.50');
    // Unconfigured while probing: a who-has for A is not answered.
    l.rx(whoHas(A), 30);
    expect(l.out.filter((o) => o.f.arp?.op === ARP_REPLY)).toEqual([]);

    l.runUntilTrue(() => l.stack.ipv4.config !== undefined);
    const probes = l.probes(A);
    expect(probes.map((p) => p.f)).toEqual(
      [0, 1, 2].map(() => expect.objectContaining({ dst: MAC_BROADCAST, src: OUR_MAC, arp: { op: ARP_REQUEST, sha: OUR_MAC, spa: 0, tha: 0, tpa: A } })),
    );
    const [t1, t2, t3] = probes.map((p) => p.at) as [number, number, number];
    expect(t1 - 20).toBeGreaterThanOrEqual(0);
    expect(t1 - 20).toBeLessThanOrEqual(1000);
    for (const gap of [t2 - t1, t3 - t2]) {
      expect(gap).toBeGreaterThanOrEqual(1000);
      expect(gap).toBeLessThanOrEqual(2000);
    }
    expect(l.now).toBe(t3 + 2000);
    expect(l.stack.ipv4.config).toEqual({ address: A, prefix: 24, gateway: GW_IP });
    expect(l.announcements(A).map((o) => o.at)).toEqual([t3 + 2000]);
    l.runUntil(t3 + 2000 + 2000);
    expect(l.announcements(A).map((o) => o.at)).toEqual([t3 + 2000, t3 + 4000]); // the two of §2.3
    expect(l.saves).toEqual([{ address: A, server: SERVER, expiresAt: 10 + 3600_000 }]);
    const i = (s: string): number => l.logs.findIndex((x) => x.startsWith(s));
    expect(i('ACD: probing 192.168.77.50')).toBeLessThan(i('DHCP offer received and bound to 192.168.77.50'));
    expect(i('DHCP offer received and bound to')).toBeLessThan(i('ARP: sending gratuitous from 192.168.77.50'));
    // Now it answers.
    l.rx(whoHas(A), l.now + 10);
    expect(l.out.at(-1)?.f.arp).toMatchObject({ op: ARP_REPLY, spa: A, tpa: PEER_IP, tha: PEER_MAC });
  });

  it('a host holding the address answers a probe: DECLINE, 10 s, discovery, another address', () => {
    const l = lab();
    l.start();
    lease(l, A, 10);
    l.runUntilTrue(() => l.probes(A).length === 1);
    const t = l.now + 5;
    l.rx(replyFromSquatter(A), t);
    expectDecline(l.out.at(-1), A);
    expect(l.out.at(-1)?.at).toBe(t);
    expect(l.logs).toContain('DHCP: conflict on 192.168.77.50 from 02:00:00:00:00:99 (declined)');
    expect(l.stack.ipv4.config).toBeUndefined();
    expect(l.addresses).toEqual([]); // never configured
    expect(l.stack.counters.get('arp.conflict')).toBe(1);
    expect(l.saves).toEqual([undefined]);

    l.runUntil(t + 9_999);
    expect(l.probes(A)).toHaveLength(1); // probing stopped
    expect(l.out.at(-1)?.dhcp?.options.messageType).toBe(T.DECLINE); // and nothing else yet
    l.runUntil(t + 10_000);
    expect(l.out.at(-1)).toMatchObject({ at: t + 10_000, dhcp: { options: { messageType: T.DISCOVER } } });

    lease(l, B, t + 10_100);
    l.runUntilTrue(() => l.stack.ipv4.config !== undefined);
    expect(l.stack.ipv4.config?.address).toBe(B);
    expect(l.probes(B)).toHaveLength(3);
    expect(l.saves).toEqual([undefined, { address: B, server: SERVER, expiresAt: t + 10_100 + 3600_000 }]);
  });

  it('another host probing for the same address is a conflict (§2.1.1), even before our first probe', () => {
    const l = lab({ dhcp: { declineDelayMs: 2000 } });
    l.start();
    lease(l, A, 10);
    l.rx(probeFromOther(A), 21);
    expect(l.probes(A)).toEqual([]);
    expectDecline(l.out.at(-1), A);
    l.runUntil(21 + 2000);
    expect(l.lastDhcp().options.messageType).toBe(T.DISCOVER);
  });

  it('a host merely asking who has the address is no conflict', () => {
    const l = lab();
    l.start();
    lease(l, A, 10);
    l.rx(whoHas(A, { mac: SQUATTER, ip: PEER_IP }), 500);
    l.runUntilTrue(() => l.stack.ipv4.config !== undefined);
    expect(l.stack.ipv4.config?.address).toBe(A);
    expect(l.out.some((o) => o.dhcp?.options.messageType === T.DECLINE)).toBe(false);
  });

  it('shortened timing (StackOptions.acd) is used', () => {
    const l = lab({ acd: { probeWaitMs: 0, probeMinMs: 200, probeMaxMs: 200, announceWaitMs: 300 } });
    l.start();
    lease(l, A, 10);
    l.runUntilTrue(() => l.stack.ipv4.config !== undefined);
    expect(l.probes(A).map((o) => o.at)).toEqual([20, 220, 420]);
    expect(l.now).toBe(720);
  });

  it('stopping while probing sends nothing more: no probe, no RELEASE', () => {
    const l = lab();
    l.start();
    lease(l, A, 10);
    const n = l.out.length;
    l.stack.stop(30);
    l.runUntil(60_000);
    expect(l.out.slice(n).filter((o) => o.f.arp !== undefined || o.dhcp !== undefined)).toEqual([]);
    expect(l.stack.dhcp?.state).toBe('stopped');
  });
});

describe('stack: defending the bound address (RFC 5227 §2.4 (b))', () => {
  function bound() {
    const l = lab({ dhcp: { declineDelayMs: 3000 } });
    l.start();
    lease(l, A, 10);
    l.runUntilTrue(() => l.stack.ipv4.config !== undefined);
    l.runUntil(l.now + 5000); // the announcements are out
    return l;
  }

  it('a conflicting ARP: one announcement, the address is kept', () => {
    const l = bound();
    const before = l.announcements(A).length;
    const t = l.now + 100;
    l.rx(announceFromSquatter(A), t);
    expect(l.announcements(A)).toHaveLength(before + 1);
    expect(l.out.at(-1)).toMatchObject({ at: t, f: { dst: MAC_BROADCAST, arp: { op: ARP_REQUEST, sha: OUR_MAC, spa: A, tha: 0, tpa: A } } });
    expect(l.logs).toContain('ACD: defended 192.168.77.50 against 02:00:00:00:00:99');
    expect(l.stack.ipv4.config?.address).toBe(A);
    // 10 s later another one is defended again.
    l.rx(replyFromSquatter(A), t + 10_000);
    expect(l.announcements(A)).toHaveLength(before + 2);
    expect(l.stack.ipv4.config?.address).toBe(A);
  });

  it('a second conflict within 10 s: the address is given up and DECLINEd, discovery after the wait', () => {
    const l = bound();
    const t = l.now + 100;
    l.rx(announceFromSquatter(A), t);
    const announced = l.announcements(A).length;
    l.rx(announceFromSquatter(A), t + 5000);
    expect(l.announcements(A)).toHaveLength(announced); // no second defence
    expect(l.stack.ipv4.config).toBeUndefined();
    expect(l.addresses).toEqual([A, undefined]);
    expectDecline(l.out.at(-1), A);
    expect(l.logs.slice(-3)).toEqual([
      'ACD: 192.168.77.50 claimed again by 02:00:00:00:00:99 within 10 s: giving it up',
      'DHCP: address given up (conflict)',
      'DHCP: conflict on 192.168.77.50 from 02:00:00:00:00:99 (declined)',
    ]);
    expect(l.saves.at(-1)).toBeUndefined();
    l.runUntil(t + 5000 + 3000);
    expect(l.lastDhcp().options.messageType).toBe(T.DISCOVER);
    // Unconfigured: the squatter's address is no longer answered for by us.
    l.rx(whoHas(A), l.now + 10);
    expect(l.out.at(-1)?.f.arp?.op).not.toBe(ARP_REPLY);
  });
});

describe('stack: INIT-REBOOT from the remembered lease (RFC 2131 §3.2)', () => {
  const SAVED: DhcpSavedLease = { address: A, server: SERVER, expiresAt: 3000_000 };

  it('asks for the address again, probes it, binds it; no DISCOVER', () => {
    const l = lab({}, SAVED);
    l.start();
    expect(l.logs).toEqual(['DHCP: reboot: asking for 192.168.77.50 again']);
    const req = l.out[0];
    expect(req?.f).toMatchObject({ dst: MAC_BROADCAST, ip: { src: 0, dst: 0xffffffff } });
    expect(req?.dhcp).toMatchObject({ ciaddr: 0 });
    expect(req?.dhcp?.options).toMatchObject({ messageType: T.REQUEST, requestedIp: A });
    expect(req?.dhcp?.options.serverId).toBeUndefined();
    l.rx(server(l.lastDhcp(), T.ACK, A), 15);
    l.runUntilTrue(() => l.stack.ipv4.config !== undefined);
    expect(l.probes(A)).toHaveLength(3);
    expect(l.out.filter((o) => o.dhcp !== undefined).map((o) => o.dhcp?.options.messageType)).toEqual([T.REQUEST]);
    expect(l.saves).toEqual([{ address: A, server: SERVER, expiresAt: 3600_000 }]);
  });

  it('NAK: forgets it and discovers', () => {
    const l = lab({}, SAVED);
    l.start();
    l.rx(server(l.lastDhcp(), T.NAK, A), 15);
    expect(l.saves).toEqual([undefined]);
    expect(l.lastDhcp().options.messageType).toBe(T.DISCOVER);
  });

  it('the address held by another host: ACK, conflict, DECLINE, another address', () => {
    const l = lab({ dhcp: { declineDelayMs: 1000 } }, SAVED);
    l.start();
    l.rx(server(l.lastDhcp(), T.ACK, A), 15);
    l.runUntilTrue(() => l.probes(A).length === 1);
    l.rx(replyFromSquatter(A), l.now + 1);
    expectDecline(l.out.at(-1), A);
    l.runUntil(l.now + 1000);
    lease(l, B, l.now + 10);
    l.runUntilTrue(() => l.stack.ipv4.config !== undefined);
    expect(l.stack.ipv4.config?.address).toBe(B);
  });
});

describe('stack: a static address', () => {
  it('is not probed, and a conflict is only counted and logged (as before)', () => {
    const logs: string[] = [];
    const stack = new Stack({ mac: OUR_MAC, mtu: 1500, random: seededRandom(1), log: (x) => logs.push(x), ipv4: { address: A, prefix: 24 } });
    stack.start(0);
    expect(stack.takeFrames().map(decode).map((f) => f.arp?.spa)).toEqual([A]); // the first announcement, no probe
    stack.receive(announceFromSquatter(A), 100);
    stack.receive(announceFromSquatter(A), 200);
    expect(stack.takeFrames()).toEqual([]);
    expect(stack.counters.get('arp.conflict')).toBe(2);
    expect(stack.ipv4.config?.address).toBe(A);
    expect(logs.filter((x) => x.startsWith('ARP: conflict'))).toHaveLength(2);
    expect(stack.acd.nextDeadline()).toBeUndefined();
  });
});
