// The neighbour cache (RFC 4861 §7.3) with a hand-moved clock: every state transition and timer, the queue of
// packets waiting for resolution, and the bounds.

import { describe, expect, it } from 'vitest';
import { parseIpv6 } from '../../src/net/addr.ts';
import { Counters } from '../../src/net/counters.ts';
import { NeighborCache, type NeighborOptions } from '../../src/ndp/neighbor-cache.ts';

const v6 = (s: string): bigint => parseIpv6(s) ?? 0n;
const A = v6('fd77::1');
const B = v6('fd77::2');
const MAC_A = 0x02_00_00_00_00_01;
const MAC_B = 0x02_00_00_00_00_02;

type Sent =
  | { kind: 'solicit'; target: bigint; mac: number | undefined; at: number }
  | { kind: 'transmit'; mac: number; packet: number; at: number }
  | { kind: 'unreachable'; address: bigint; dropped: number; at: number };

function cache(options: Partial<NeighborOptions> = {}) {
  const sent: Sent[] = [];
  const counters = new Counters();
  // random() = 0.5: ReachableTime is exactly BaseReachableTime.
  const c = new NeighborCache(
    {
      solicit: (target, mac, now) => sent.push({ kind: 'solicit', target, mac, at: now }),
      transmit: (mac, packet, now) => sent.push({ kind: 'transmit', mac, packet: packet instanceof Uint8Array ? packet[0] ?? -1 : -2, at: now }),
      unreachable: (address, dropped, now) => sent.push({ kind: 'unreachable', address, dropped, at: now }),
    },
    counters, () => 0.5, options,
  );
  /** Polls at every deadline up to `until`. */
  const run = (until: number): void => {
    for (let d = c.nextDeadline(); d !== undefined && d <= until; d = c.nextDeadline()) c.poll(d);
  };
  const take = (): Sent[] => sent.splice(0);
  return { c, counters, run, take };
}
const pkt = (n: number): Uint8Array => Uint8Array.of(n);
const na = (address: bigint, mac: number | undefined, flags: { solicited?: boolean; override?: boolean; isRouter?: boolean } = {}) => ({
  address, mac, solicited: flags.solicited ?? true, override: flags.override ?? true, isRouter: flags.isRouter ?? false,
});

describe('neighbour cache (RFC 4861 §7.3)', () => {
  it('INCOMPLETE: solicits by multicast every RetransTimer, queues packets, sends them when the NA comes → REACHABLE', () => {
    const { c, take, run } = cache();
    c.sendVia(A, pkt(1), 0);
    c.sendVia(A, pkt(2), 10);
    expect(c.state(A)).toBe('INCOMPLETE');
    expect(take()).toEqual([{ kind: 'solicit', target: A, mac: undefined, at: 0 }]);
    run(1000);
    expect(take()).toEqual([{ kind: 'solicit', target: A, mac: undefined, at: 1000 }]);
    c.learn(na(A, MAC_A), 1500);
    expect(c.state(A)).toBe('REACHABLE');
    expect(take()).toEqual([{ kind: 'transmit', mac: MAC_A, packet: 1, at: 1500 }, { kind: 'transmit', mac: MAC_A, packet: 2, at: 1500 }]);
  });

  it('INCOMPLETE: gives up after MAX_MULTICAST_SOLICIT, reporting the packets dropped', () => {
    const { c, take, run, counters } = cache();
    c.sendVia(A, pkt(1), 0);
    run(10_000);
    expect(take()).toEqual([
      { kind: 'solicit', target: A, mac: undefined, at: 0 },
      { kind: 'solicit', target: A, mac: undefined, at: 1000 },
      { kind: 'solicit', target: A, mac: undefined, at: 2000 },
      { kind: 'unreachable', address: A, dropped: 1, at: 3000 },
    ]);
    expect(c.state(A)).toBeUndefined();
    expect(counters.get('nd.unreachable')).toBe(1);
  });

  it('an unsolicited NA, or one without the address, leaves an INCOMPLETE entry STALE or as it was', () => {
    const { c, take } = cache();
    c.sendVia(A, pkt(1), 0);
    take();
    c.learn(na(A, undefined), 10);
    expect(c.state(A)).toBe('INCOMPLETE');
    c.learn(na(A, MAC_A, { solicited: false }), 20);
    expect(c.state(A)).toBe('STALE');
    expect(take()).toEqual([{ kind: 'transmit', mac: MAC_A, packet: 1, at: 20 }]);
  });

  it('REACHABLE → STALE after ReachableTime; a packet then → DELAY; after DELAY_FIRST_PROBE_TIME → PROBE (unicast)', () => {
    const { c, take, run } = cache();
    c.sendVia(A, pkt(1), 0);
    c.learn(na(A, MAC_A), 100);
    take();
    expect(c.reachableTime).toBe(30_000);
    run(30_099);
    expect(c.state(A)).toBe('REACHABLE');
    run(30_100);
    expect(c.state(A)).toBe('STALE');
    c.sendVia(A, pkt(2), 40_000);
    expect(c.state(A)).toBe('DELAY');
    expect(take()).toEqual([{ kind: 'transmit', mac: MAC_A, packet: 2, at: 40_000 }]); // sent at once, not queued
    run(44_999);
    expect(c.state(A)).toBe('DELAY');
    run(45_000);
    expect(c.state(A)).toBe('PROBE');
    expect(take()).toEqual([{ kind: 'solicit', target: A, mac: MAC_A, at: 45_000 }]);
  });

  it('DELAY → REACHABLE on confirmation; PROBE → REACHABLE on a solicited NA', () => {
    const { c, run } = cache();
    c.learn({ address: A, mac: MAC_A, solicited: false, override: true }, 0); // an NS with SLLA: STALE
    expect(c.state(A)).toBe('STALE');
    c.sendVia(A, pkt(1), 10);
    c.confirm(A, 20); // TCP saw new data acknowledged
    expect(c.state(A)).toBe('REACHABLE');
    run(30_020);
    c.sendVia(A, pkt(2), 40_000);
    run(45_000);
    expect(c.state(A)).toBe('PROBE');
    c.learn(na(A, MAC_A), 45_500);
    expect(c.state(A)).toBe('REACHABLE');
  });

  it('PROBE: gives up after MAX_UNICAST_SOLICIT probes', () => {
    const { c, take, run } = cache();
    c.learn({ address: A, mac: MAC_A, solicited: false, override: true }, 0);
    c.sendVia(A, pkt(1), 0);
    take();
    run(20_000);
    expect(take()).toEqual([
      { kind: 'solicit', target: A, mac: MAC_A, at: 5000 },
      { kind: 'solicit', target: A, mac: MAC_A, at: 6000 },
      { kind: 'solicit', target: A, mac: MAC_A, at: 7000 },
      { kind: 'unreachable', address: A, dropped: 0, at: 8000 },
    ]);
    expect(c.state(A)).toBeUndefined();
  });

  it('an NA without Override naming another address: REACHABLE → STALE, the address kept (§7.2.5)', () => {
    const { c } = cache();
    c.sendVia(A, pkt(1), 0);
    c.learn(na(A, MAC_A), 10);
    c.learn(na(A, MAC_B, { override: false }), 20);
    expect(c.state(A)).toBe('STALE');
    expect(c.lookup(A)).toBe(MAC_A);
    c.learn(na(A, MAC_B, { override: false }), 30); // not REACHABLE: ignored
    expect([c.state(A), c.lookup(A)]).toEqual(['STALE', MAC_A]);
    c.learn(na(A, MAC_B, { override: true, solicited: false }), 40); // Override: updated, STALE
    expect([c.state(A), c.lookup(A)]).toEqual(['STALE', MAC_B]);
  });

  it('an NS or RA with another source address updates the entry and makes it STALE; an NA for no entry is ignored', () => {
    const { c } = cache();
    c.learn(na(B, MAC_B), 0);
    expect(c.state(B)).toBeUndefined(); // §7.2.5: no entry, no entry made
    c.sendVia(A, pkt(1), 0);
    c.learn(na(A, MAC_A), 10);
    c.learn({ address: A, mac: MAC_B, solicited: false, override: true }, 20);
    expect([c.state(A), c.lookup(A)]).toEqual(['STALE', MAC_B]);
  });

  it('the router flag is kept from NAs (§7.2.5) and RAs', () => {
    const { c } = cache();
    c.sendVia(A, pkt(1), 0);
    c.learn(na(A, MAC_A, { isRouter: true }), 10);
    expect(c.list()).toEqual([{ address: A, mac: MAC_A, state: 'REACHABLE', isRouter: true }]);
    c.learn(na(A, MAC_A, { isRouter: false }), 20);
    expect(c.list()[0]?.isRouter).toBe(false);
  });

  it('a full queue drops its oldest packet for the new one (§7.2.2)', () => {
    const { c, take, counters } = cache({ maxQueuedPerNeighbor: 2 });
    for (const n of [1, 2, 3]) c.sendVia(A, pkt(n), 0);
    take();
    c.learn(na(A, MAC_A), 10);
    expect(take().map((s) => (s.kind === 'transmit' ? s.packet : -1))).toEqual([2, 3]);
    expect(counters.get('nd.drop_queue_full')).toBe(1);
  });

  it('bounds resolutions (the oldest given up), entries (the least recently used evicted), and multicast solicitations', () => {
    const inc = cache({ maxIncomplete: 2 });
    for (const [i, a] of [v6('fd77::10'), v6('fd77::11'), v6('fd77::12')].entries()) inc.c.sendVia(a, pkt(i), i);
    expect(inc.c.size).toBe(2);
    expect(inc.take().filter((s) => s.kind === 'unreachable')).toEqual([{ kind: 'unreachable', address: v6('fd77::10'), dropped: 1, at: 2 }]);
    const ent = cache({ maxEntries: 2 });
    ent.c.learn({ address: A, mac: MAC_A, solicited: false, override: true }, 0);
    ent.c.learn({ address: B, mac: MAC_B, solicited: false, override: true }, 1);
    ent.c.sendVia(A, pkt(1), 2); // A used last
    ent.c.learn({ address: v6('fd77::3'), mac: MAC_B, solicited: false, override: true }, 3);
    expect([ent.c.state(A), ent.c.state(B)]).toEqual(['DELAY', undefined]);
    const limited = cache({ maxSolicitsPerSecond: 2, maxIncomplete: 100 });
    for (let i = 0; i < 10; i++) limited.c.sendVia(v6(`fd77::${100 + i}`), pkt(i), 0);
    expect(limited.take().filter((s) => s.kind === 'solicit')).toHaveLength(2);
    expect(limited.counters.get('nd.tx_solicit_limited')).toBe(8);
  });

  it('takes Reachable Time and Retrans Timer from a router advertisement (§6.3.4)', () => {
    const { c, take, run } = cache();
    c.setTimes(10_000, 500);
    expect(c.reachableTime).toBe(10_000);
    c.sendVia(A, pkt(1), 0);
    run(600);
    expect(take().map((s) => s.at)).toEqual([0, 500]);
    c.setTimes(0, 0); // unspecified: unchanged
    expect(c.reachableTime).toBe(10_000);
  });
});
