// Address Conflict Detection (RFC 5227) on its own, with a hand-moved clock: probe timing, the verdicts, the
// defence; and the ARP layer's side of it: which packets it reports as conflicts.

import { describe, expect, it } from 'vitest';
import { Acd, defaultAcdOptions, type AcdOptions } from '../../src/arp/acd.ts';
import { Arp, type ArpConflict } from '../../src/arp/arp.ts';
import { ARP_REPLY, ARP_REQUEST, encodeArp, parseArp, type ArpPacket } from '../../src/arp/arp-wire.ts';
import { parseMac } from '../../src/net/addr.ts';
import { Counters } from '../../src/net/counters.ts';
import { ETHERTYPE_ARP, type LinkRxContext } from '../../src/net/ethernet.ts';
import { seededRandom } from '../../src/random.ts';
import { ip } from '../net/frames.ts';

const A = ip('192.168.77.50');
const B = ip('192.168.77.51');
const OUR_MAC = parseMac('02:00:5e:00:00:42') ?? 0;
const OTHER = parseMac('02:00:00:00:00:99') ?? 0;

type Event =
  | { kind: 'probe'; address: number; at: number }
  | { kind: 'announce'; address: number; at: number }
  | { kind: 'probed'; address: number; conflictWith: number | undefined; at: number }
  | { kind: 'gaveUp'; address: number; by: number; at: number };

function harness(options: Partial<AcdOptions> = {}, seed = 1) {
  let at = 0;
  const events: Event[] = [];
  const logs: string[] = [];
  const counters = new Counters();
  const raw = new Acd((l) => logs.push(l), seededRandom(seed), counters, options);
  /** Takes ACD's events after each call, stamped with the time of the call. */
  const drain = (): void => {
    for (const e of raw.takeEvents()) {
      if (e.kind === 'probed') events.push({ kind: 'probed', address: e.address, conflictWith: e.conflictWith, at });
      else if (e.kind === 'gave-up') events.push({ kind: 'gaveUp', address: e.address, by: e.by, at });
      else events.push({ kind: e.kind, address: e.address, at });
    }
  };
  const acd = {
    probe: (address: number, now: number): void => {
      raw.probe(address, now);
      drain();
    },
    poll: (now: number): void => {
      raw.poll(now);
      drain();
    },
    conflict: (c: ArpConflict, now: number): void => {
      raw.conflict(c, now);
      drain();
    },
    cancelProbe: (): void => raw.cancelProbe(),
    defend: (...args: Parameters<Acd['defend']>): void => raw.defend(...args),
    nextDeadline: (): number | undefined => raw.nextDeadline(),
    get tentative(): number | undefined {
      return raw.tentative;
    },
    get defendedAddress(): number | undefined {
      return raw.defendedAddress;
    },
  };
  return {
    acd,
    events,
    logs,
    counters,
    probe(address: number, now: number) {
      at = now;
      acd.probe(address, now);
    },
    poll(now: number) {
      at = now;
      acd.poll(now);
    },
    conflict(c: Partial<ArpConflict> & { address: number }, now: number) {
      at = now;
      acd.conflict({ mac: OTHER, kind: 'sender', op: ARP_REPLY, tentative: true, ...c }, now);
    },
    /** Polls at each deadline until there is none; returns the times polled. */
    run(): number[] {
      const times: number[] = [];
      for (let d = acd.nextDeadline(); d !== undefined; d = acd.nextDeadline()) {
        at = d;
        acd.poll(d);
        times.push(d);
        if (times.length > 100) throw new Error('runaway');
      }
      return times;
    },
  };
}

describe('ACD: probing (RFC 5227 §2.1.1)', () => {
  it('has the RFC’s constants by default', () => {
    expect(defaultAcdOptions).toEqual({
      probeWaitMs: 1000, probeNum: 3, probeMinMs: 1000, probeMaxMs: 2000, announceWaitMs: 2000, defendIntervalMs: 10_000,
    });
  });

  it('waits 0–1 s, sends 3 probes 1–2 s apart, waits 2 s more, then declares the address free', () => {
    const firsts: number[] = [];
    const gaps: number[] = [];
    for (let seed = 1; seed <= 200; seed++) {
      const h = harness({}, seed);
      h.probe(A, 10_000);
      expect(h.logs).toEqual(['ACD: probing 192.168.77.50']);
      h.run();
      const probes = h.events.filter((e) => e.kind === 'probe');
      expect(probes.map((e) => e.address)).toEqual([A, A, A]);
      const [p1, p2, p3] = probes.map((e) => e.at) as [number, number, number];
      firsts.push(p1 - 10_000);
      gaps.push(p2 - p1, p3 - p2);
      expect(h.events.at(-1)).toEqual({ kind: 'probed', address: A, conflictWith: undefined, at: p3 + 2000 });
      expect(h.events).toHaveLength(4);
      expect(h.acd.nextDeadline()).toBeUndefined();
      expect(h.acd.tentative).toBeUndefined();
      expect(h.counters.get('acd.probe')).toBe(3);
    }
    for (const f of firsts) {
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThanOrEqual(1000);
    }
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(1000);
      expect(g).toBeLessThanOrEqual(2000);
    }
    // Random, and spread over the ranges.
    expect(Math.min(...firsts)).toBeLessThan(200);
    expect(Math.max(...firsts)).toBeGreaterThan(800);
    expect(Math.min(...gaps)).toBeLessThan(1200);
    expect(Math.max(...gaps)).toBeGreaterThan(1800);
  });

  it('sends nothing and decides nothing before each deadline', () => {
    const h = harness();
    h.probe(A, 0);
    const d1 = h.acd.nextDeadline() ?? NaN;
    h.poll(d1 - 0.5);
    expect(h.events).toEqual([]);
    h.poll(d1);
    expect(h.events).toEqual([{ kind: 'probe', address: A, at: d1 }]);
    h.run();
    const last = h.events.filter((e) => e.kind === 'probe').at(-1)?.at ?? NaN;
    expect(h.events.at(-1)?.at).toBe(last + 2000); // the verdict exactly ANNOUNCE_WAIT after the last probe
  });

  it('a late poll sends one probe and keeps the spacing from then on', () => {
    const h = harness();
    h.probe(A, 0);
    h.poll(50_000);
    expect(h.events).toEqual([{ kind: 'probe', address: A, at: 50_000 }]);
    const next = h.acd.nextDeadline() ?? NaN;
    expect(next - 50_000).toBeGreaterThanOrEqual(1000);
    expect(next - 50_000).toBeLessThanOrEqual(2000);
  });

  it.each([
    ['before the first probe', 0],
    ['between probes', 2],
    ['during ANNOUNCE_WAIT', 3],
  ])('a reply from another host using the address is a conflict %s', (_when, probesFirst) => {
    const h = harness();
    h.probe(A, 0);
    while (h.events.filter((e) => e.kind === 'probe').length < probesFirst) h.poll(h.acd.nextDeadline() ?? NaN);
    const t = (h.events.at(-1)?.at ?? 0) + 10;
    h.conflict({ address: A, kind: 'sender', op: ARP_REPLY }, t);
    expect(h.events.at(-1)).toEqual({ kind: 'probed', address: A, conflictWith: OTHER, at: t });
    expect(h.acd.nextDeadline()).toBeUndefined();
    expect(h.run()).toEqual([]); // no more probes
    expect(h.counters.get('acd.conflict')).toBe(1);
  });

  it('a request from a host using the address, or a probe for it from another MAC, is a conflict too', () => {
    const h = harness();
    h.probe(A, 0);
    h.conflict({ address: A, kind: 'sender', op: ARP_REQUEST }, 5);
    expect(h.events).toEqual([{ kind: 'probed', address: A, conflictWith: OTHER, at: 5 }]);
    const g = harness();
    g.probe(A, 0);
    g.poll(g.acd.nextDeadline() ?? NaN);
    g.conflict({ address: A, kind: 'probe', op: ARP_REQUEST }, 1500);
    expect(g.events.at(-1)).toEqual({ kind: 'probed', address: A, conflictWith: OTHER, at: 1500 });
  });

  it('ignores conflicts about other addresses, and about our configured one while probing', () => {
    const h = harness();
    h.probe(A, 0);
    h.conflict({ address: B }, 5);
    h.conflict({ address: A, tentative: false }, 6);
    expect(h.events).toEqual([]);
    h.run();
    expect(h.events.at(-1)).toMatchObject({ kind: 'probed', address: A, conflictWith: undefined });
  });

  it('probeNum 0 turns probing off: the verdict comes at once, nothing is sent', () => {
    const h = harness({ probeNum: 0 });
    h.probe(A, 7);
    expect(h.events).toEqual([{ kind: 'probed', address: A, conflictWith: undefined, at: 7 }]);
    expect(h.logs).toEqual([]);
    expect(h.acd.nextDeadline()).toBeUndefined();
  });

  it('shortened timing is honoured (for tests and fast labs)', () => {
    const h = harness({ probeWaitMs: 0, probeMinMs: 100, probeMaxMs: 100, announceWaitMs: 200, probeNum: 2 });
    h.probe(A, 0);
    h.run();
    expect(h.events.map((e) => [e.kind, e.at])).toEqual([['probe', 0], ['probe', 100], ['probed', 300]]);
  });

  it('cancelProbe abandons without a verdict', () => {
    const h = harness();
    h.probe(A, 0);
    h.acd.cancelProbe();
    expect(h.run()).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('refuses inconsistent timing', () => {
    expect(() => harness({ probeMinMs: 2000, probeMaxMs: 1000 })).toThrow(RangeError);
    expect(() => harness({ probeNum: -1 })).toThrow(RangeError);
  });
});

describe('ACD: defending a bound address (RFC 5227 §2.4)', () => {
  const bound = { tentative: false, kind: 'sender' as const };

  it('(b) defends once with one announcement and keeps the address; a second conflict within 10 s gives it up', () => {
    const h = harness();
    h.acd.defend(A, 'give-up');
    h.conflict({ address: A, ...bound }, 1000);
    expect(h.events).toEqual([{ kind: 'announce', address: A, at: 1000 }]);
    expect(h.logs).toEqual(['ACD: defended 192.168.77.50 against 02:00:00:00:00:99']);
    expect(h.acd.defendedAddress).toBe(A);
    h.conflict({ address: A, ...bound }, 1000 + 9999);
    expect(h.events.at(-1)).toEqual({ kind: 'gaveUp', address: A, by: OTHER, at: 10_999 });
    expect(h.events.filter((e) => e.kind === 'announce')).toHaveLength(1);
    expect(h.logs.at(-1)).toBe('ACD: 192.168.77.50 claimed again by 02:00:00:00:00:99 within 10 s: giving it up');
    expect(h.acd.defendedAddress).toBeUndefined();
    h.conflict({ address: A, ...bound }, 11_000); // no longer ours: nothing
    expect(h.events).toHaveLength(2);
    expect(h.counters.get('acd.defend')).toBe(1);
    expect(h.counters.get('acd.give_up')).toBe(1);
  });

  it('conflicts DEFEND_INTERVAL or more apart are each defended', () => {
    const h = harness();
    h.acd.defend(A, 'give-up');
    for (const t of [0, 10_000, 20_000, 35_000]) h.conflict({ address: A, ...bound }, t);
    expect(h.events).toEqual([0, 10_000, 20_000, 35_000].map((at) => ({ kind: 'announce', address: A, at })));
  });

  it('(c) forever: never gives up, at most one defence per DEFEND_INTERVAL', () => {
    const h = harness({ defendIntervalMs: 5000 });
    h.acd.defend(A, 'forever');
    for (const t of [0, 100, 4999, 5000, 5001]) h.conflict({ address: A, ...bound }, t);
    expect(h.events).toEqual([{ kind: 'announce', address: A, at: 0 }, { kind: 'announce', address: A, at: 5000 }]);
    expect(h.counters.get('acd.defend_limited')).toBe(3);
  });

  it('a probe for our address is no conflict (the ARP layer answers it), nor is another address', () => {
    const h = harness();
    h.acd.defend(A, 'give-up');
    h.conflict({ address: A, tentative: false, kind: 'probe' }, 0);
    h.conflict({ address: B, ...bound }, 0);
    expect(h.events).toEqual([]);
  });

  it('defends nothing once told so', () => {
    const h = harness();
    h.acd.defend(A, 'give-up');
    h.acd.defend(undefined, 'give-up');
    h.conflict({ address: A, ...bound }, 0);
    expect(h.events).toEqual([]);
  });
});

describe('ARP layer: reporting conflicts, not acting on them', () => {
  const OUR = ip('192.168.77.10');
  const PEER_IP = ip('192.168.77.1');

  const at = (now: number): LinkRxContext => ({ now, linkBroadcast: false, checksumTrusted: false });

  function arp() {
    const sent: { dst: number; p: ArpPacket }[] = [];
    const conflicts: ArpConflict[] = [];
    const counters = new Counters();
    const watch = { tentative: undefined as number | undefined, conflict: (c: ArpConflict) => conflicts.push(c) };
    const a = new Arp(OUR_MAC, (dst, ethertype, payload) => {
      if (ethertype !== ETHERTYPE_ARP || !(payload instanceof Uint8Array)) throw new Error('not ARP');
      const p = parseArp(payload);
      if (p === undefined) throw new Error('bad ARP');
      sent.push({ dst, p });
    }, counters, () => {}, watch);
    return { a, sent, conflicts, counters, watch };
  }
  const pkt = (p: Partial<ArpPacket>): Uint8Array => encodeArp({ op: ARP_REQUEST, sha: OTHER, spa: PEER_IP, tha: 0, tpa: OUR, ...p });

  it('sends probes and announcements in the RFC 5227 §2.1.1 / §3 shapes', () => {
    const { a, sent } = arp();
    a.sendProbe(A);
    a.announce(A);
    expect(sent).toEqual([
      { dst: 0xffffffffffff, p: { op: ARP_REQUEST, sha: OUR_MAC, spa: 0, tha: 0, tpa: A } },
      { dst: 0xffffffffffff, p: { op: ARP_REQUEST, sha: OUR_MAC, spa: A, tha: 0, tpa: A } },
    ]);
  });

  it('while watching a tentative address: reports sender = it (request or reply) and probes for it, answers none', () => {
    const { a, sent, conflicts, counters, watch } = arp();
    watch.tentative = A;
    a.receive(pkt({ op: ARP_REPLY, spa: A, tha: OUR_MAC, tpa: 0 }), at(1)); // a reply to our probe
    a.receive(pkt({ op: ARP_REQUEST, spa: A, tpa: PEER_IP }), at(2)); // a request from a host using A
    a.receive(pkt({ op: ARP_REQUEST, spa: 0, tpa: A }), at(3)); // another host probing for A
    expect(conflicts).toEqual([
      { address: A, mac: OTHER, kind: 'sender', op: ARP_REPLY, tentative: true },
      { address: A, mac: OTHER, kind: 'sender', op: ARP_REQUEST, tentative: true },
      { address: A, mac: OTHER, kind: 'probe', op: ARP_REQUEST, tentative: true },
    ]);
    expect(counters.get('arp.conflict')).toBe(3);
    expect(sent).toEqual([]);
    expect(a.lookup(A)).toBeUndefined();
  });

  it('does not report: our own probe looped back, a who-has for the tentative address from a configured host, other probes', () => {
    const { a, conflicts, watch } = arp();
    watch.tentative = A;
    a.receive(pkt({ sha: OUR_MAC, spa: 0, tpa: A }), at(1));
    a.receive(pkt({ spa: PEER_IP, tpa: A }), at(2)); // someone merely asks who has A
    a.receive(pkt({ spa: 0, tpa: B }), at(3));
    a.receive(pkt({ op: ARP_REPLY, spa: 0, tpa: A }), at(4)); // not a probe: a reply
    expect(conflicts).toEqual([]);
    watch.tentative = undefined;
    a.receive(pkt({ op: ARP_REPLY, spa: A }), at(5));
    expect(conflicts).toEqual([]);
  });

  it('for the configured address: reports a sender using it, and answers a probe for it normally', () => {
    const { a, sent, conflicts } = arp();
    a.setAddress(OUR, 0);
    sent.length = 0;
    a.receive(pkt({ spa: OUR, tpa: OUR }), at(1)); // another host announcing our address
    expect(conflicts).toEqual([{ address: OUR, mac: OTHER, kind: 'sender', op: ARP_REQUEST, tentative: false }]);
    a.receive(pkt({ spa: 0, tpa: OUR }), at(2)); // a probe for our address: we answer, the prober sees the conflict
    expect(conflicts).toHaveLength(1);
    expect(sent).toEqual([{ dst: OTHER, p: { op: ARP_REPLY, sha: OUR_MAC, spa: OUR, tha: OTHER, tpa: 0 } }]);
  });

  it('with nobody defending the address (a static one), ACD logs the conflict', () => {
    const logs: string[] = [];
    const counters = new Counters();
    const acd = new Acd((l) => logs.push(l), seededRandom(1), counters);
    const a = new Arp(OUR_MAC, () => {}, counters, (l) => logs.push(l), acd);
    a.setAddress(OUR, 0);
    a.receive(pkt({ spa: OUR }), at(1));
    expect(logs.at(-1)).toBe('ARP: conflict: 192.168.77.10 is also claimed by 02:00:00:00:00:99');
  });
});
