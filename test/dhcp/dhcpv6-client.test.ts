// The DHCPv6 client with a hand-moved clock and a scripted server: SOLICIT (its random delay and RFC 8415 §15
// schedule), ADVERTISE selection, REQUEST, REPLY, RENEW at T1, REBIND at T2, expiry, Confirm of a saved lease,
// Decline after a DAD conflict, Release, Information-request; answers that are not ours are ignored.

import { describe, expect, it } from 'vitest';
import { Dhcpv6Client, type Dhcpv6Event, type Dhcpv6Lease } from '../../src/dhcp/dhcpv6-client.ts';
import {
  DHCPV6_INFINITY, Dhcpv6Option as O, Dhcpv6Status, Dhcpv6Type as T, duidLl, encodeDhcpv6, parseDhcpv6, type Dhcpv6IaAddress, type Dhcpv6Message,
} from '../../src/dhcp/dhcpv6-wire.ts';
import { parseIpv6, parseMac } from '../../src/net/addr.ts';
import { Counters } from '../../src/net/counters.ts';
import { seededRandom } from '../../src/random.ts';

const MAC = parseMac('02:00:00:aa:bb:cc') ?? 0;
const v6 = (s: string): bigint => parseIpv6(s) ?? 0n;
const ADDR = v6('fd77::1a2');
const ADDR2 = v6('fd77::1b3');
const DNS = v6('fd77::2');
const SERVER = Uint8Array.from([0, 1, 0, 1, 0x2f, 0x11, 0x22, 0x33, 2, 0, 0xc0, 0xa8, 0x4d, 2]);
const OTHER_SERVER = Uint8Array.from([0, 3, 0, 1, 2, 0, 0, 0, 0, 9]);

interface Sent {
  m: Dhcpv6Message;
  at: number;
}

function harness(seed = 1) {
  const counters = new Counters();
  const logs: string[] = [];
  const c = new Dhcpv6Client({ mac: MAC, random: seededRandom(seed) }, counters, (l) => logs.push(l));
  const h = {
    c,
    counters,
    logs,
    now: 0,
    sent: [] as Sent[],
    events: [] as Dhcpv6Event[],
    /** Collects what the client asked for since the last call. */
    drain(): void {
      for (const e of c.takeEvents()) {
        if (e.kind === 'send') {
          const p = parseDhcpv6(e.payload);
          if (!p.ok) throw new Error(`the client sent a message it cannot parse: ${p.reason}`);
          h.sent.push({ m: p.message, at: h.now });
        } else h.events.push(e);
      }
    },
    /** Moves the clock to `t`, polling at every deadline on the way. */
    until(t: number): void {
      for (let i = 0; i < 10_000; i++) {
        const d = c.nextDeadline();
        if (d === undefined || d > t) break;
        h.now = Math.max(h.now, d);
        c.poll(h.now);
        h.drain();
      }
      h.now = t;
      c.poll(t);
      h.drain();
    },
    /** The next message of `type` sent from now on (moving the clock), and the time it went out. */
    next(type: number, within = 4_000_000): Sent {
      const from = h.sent.length;
      const end = h.now + within;
      while (h.now < end) {
        const found = h.sent.slice(from).find((s) => s.m.type === type);
        if (found !== undefined) return found;
        const d = c.nextDeadline();
        if (d === undefined) break;
        h.until(Math.max(d, h.now));
      }
      const found = h.sent.slice(from).find((s) => s.m.type === type);
      if (found === undefined) throw new Error(`no message of type ${type} sent (sent: ${h.sent.slice(from).map((s) => s.m.type).join(',')})`);
      return found;
    },
    answer(to: Sent, m: Partial<Dhcpv6Message> & { type: number }): void {
      c.receive(encodeDhcpv6({ xid: to.m.xid, clientId: to.m.clientId, serverId: SERVER, iaNa: [], ...m }), h.now);
      h.drain();
    },
    kinds(): string[] {
      return h.events.map((e) => e.kind);
    },
    /** The router sets M: the first Solicit. */
    solicit(): Sent {
      c.routerFlags(true, false, h.now);
      h.drain();
      return h.next(T.SOLICIT);
    },
    /** Soliciting, answered by a preference-255 Advertise of ADDR: the Request that follows at once. */
    requested(): Sent {
      h.answer(h.solicit(), { type: T.ADVERTISE, iaNa: [ia([leased()])], preference: 255 });
      const req = h.sent.at(-1);
      if (req?.m.type !== T.REQUEST) throw new Error('no request after a preference-255 advertise');
      return req;
    },
  };
  return h;
}

const ia = (addresses: Dhcpv6IaAddress[], t1 = 1800, t2 = 2880, iaid = MAC % 2 ** 32) => ({ iaid, t1, t2, addresses });
const leased = (address = ADDR, preferred = 3600, valid = 7200): Dhcpv6IaAddress => ({ address, preferred, valid });

/** Solicit, advertise, request, reply: bound with ADDR (T1 1800 s, T2 2880 s, valid 7200 s). */
function bound(seed = 1) {
  const h = harness(seed);
  const req = h.requested();
  h.answer(req, { type: T.REPLY, iaNa: [ia([leased()])], dnsServers: [DNS] });
  return { h, req };
}

describe('DHCPv6 client: acquiring a lease', () => {
  it('waits a random delay up to 1 s, then solicits with our DUID-LL, an IA_NA, the ORO and elapsed time 0', () => {
    const h = harness();
    h.c.routerFlags(true, false, 0);
    h.drain();
    expect(h.sent).toHaveLength(0);
    const sol = h.next(T.SOLICIT);
    expect(sol.at).toBeGreaterThanOrEqual(0);
    expect(sol.at).toBeLessThanOrEqual(1000);
    expect(sol.m.clientId).toEqual(duidLl(MAC));
    expect(Array.from(sol.m.clientId ?? [])).toEqual([0, 3, 0, 1, 2, 0, 0, 0xaa, 0xbb, 0xcc]);
    expect(sol.m.iaNa).toEqual([{ iaid: MAC % 2 ** 32, t1: 0, t2: 0, addresses: [] }]);
    expect(sol.m.oro).toEqual([O.DNS_SERVERS, O.SOL_MAX_RT]);
    expect(sol.m.elapsed).toBe(0);
    expect(sol.m.serverId).toBeUndefined();
    expect(h.c.state).toBe('soliciting');
  });

  it('retransmits SOLICIT by RFC 8415 §15: first RT in (1, 1.1] s, then doubling ±10 %, the same xid, elapsed time growing', () => {
    const h = harness(7);
    h.c.routerFlags(true, false, 0);
    h.drain();
    const times: number[] = [];
    for (let i = 0; i < 6; i++) times.push(h.next(T.SOLICIT).at);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(gaps[0]).toBeGreaterThan(1000);
    expect(gaps[0]).toBeLessThanOrEqual(1100);
    for (let i = 1; i < gaps.length; i++) {
      const prev = gaps[i - 1] ?? 0;
      expect(gaps[i]).toBeGreaterThanOrEqual(prev * 1.9 - 1);
      expect(gaps[i]).toBeLessThanOrEqual(prev * 2.1 + 1);
    }
    const xids = new Set(h.sent.map((s) => s.m.xid));
    expect(xids.size).toBe(1);
    const last = h.sent.at(-1);
    expect(last?.m.elapsed).toBe(Math.floor(((times.at(-1) ?? 0) - (times[0] ?? 0)) / 10));
  });

  it('caps the SOLICIT interval at SOL_MAX_RT (3600 s ±10 %), or at the SOL_MAX_RT a server sets', () => {
    const h = harness(3);
    h.c.routerFlags(true, false, 0);
    h.drain();
    for (let i = 0; i < 16; i++) h.next(T.SOLICIT, 10_000_000);
    const ts = h.sent.map((s) => s.at);
    const lastGap = (ts.at(-1) ?? 0) - (ts.at(-2) ?? 0);
    expect(lastGap).toBeGreaterThanOrEqual(3600_000 * 0.9);
    expect(lastGap).toBeLessThanOrEqual(3600_000 * 1.1);
    // An Advertise without addresses is ignored, but its SOL_MAX_RT is taken (§18.2.9) for the next exchange.
    const h2 = harness(4);
    const sol = h2.solicit();
    h2.answer(sol, { type: T.ADVERTISE, status: { code: Dhcpv6Status.NO_ADDRS_AVAIL, message: 'none left' }, solMaxRt: 120 });
    expect(h2.c.state).toBe('soliciting');
    expect(h2.counters.get('dhcp6.rx_ignored')).toBe(1);
  });

  it('collects Advertises during the first RT and requests from the one with the highest preference', () => {
    const h = harness();
    const sol = h.solicit();
    h.c.receive(encodeDhcpv6({ type: T.ADVERTISE, xid: sol.m.xid, clientId: sol.m.clientId, serverId: OTHER_SERVER, iaNa: [ia([leased(ADDR2)])], preference: 10 }), h.now);
    h.answer(sol, { type: T.ADVERTISE, iaNa: [ia([leased()])], preference: 50 });
    h.drain();
    expect(h.sent.filter((s) => s.m.type === T.REQUEST)).toHaveLength(0); // still collecting
    const req = h.next(T.REQUEST);
    expect(req.at).toBeLessThanOrEqual(sol.at + 1100);
    expect(req.m.serverId).toEqual(SERVER);
    expect(req.m.iaNa[0]?.addresses.map((a) => a.address)).toEqual([ADDR]);
    expect(req.m.xid).not.toBe(sol.m.xid);
    expect(req.m.elapsed).toBe(0);
  });

  it('takes the first Advertise at once once it is retransmitting', () => {
    const h = harness();
    h.c.routerFlags(true, false, 0);
    h.drain();
    h.next(T.SOLICIT);
    const again = h.next(T.SOLICIT);
    h.answer(again, { type: T.ADVERTISE, iaNa: [ia([leased()])] });
    expect(h.sent.at(-1)?.m.type).toBe(T.REQUEST);
    expect(h.sent.at(-1)?.at).toBe(h.now);
  });

  it('on REPLY: bound, the lease with absolute times counted from the REQUEST, DNS servers, persisted', () => {
    const { h, req } = bound();
    expect(h.c.state).toBe('bound');
    const lease = h.c.lease;
    expect(lease?.addresses).toEqual([{ address: ADDR, preferredUntil: req.at + 3600_000, validUntil: req.at + 7200_000 }]);
    expect(lease?.t1At).toBe(req.at + 1800_000);
    expect(lease?.t2At).toBe(req.at + 2880_000);
    expect(h.c.dnsServers).toEqual([DNS]);
    expect(h.kinds()).toEqual(['persist', 'bound']);
    expect(h.c.nextDeadline()).toBe(req.at + 1800_000);
    expect(h.logs.some((l) => l.includes('leased fd77::1a2'))).toBe(true);
  });

  it('ignores answers with another xid, another client id, no server id, or bytes that do not parse (counted)', () => {
    const h = harness();
    const sol = h.solicit();
    const adv = { type: T.ADVERTISE, iaNa: [ia([leased()])], preference: 255 };
    h.c.receive(encodeDhcpv6({ ...adv, xid: sol.m.xid ^ 1, clientId: sol.m.clientId, serverId: SERVER }), h.now);
    h.c.receive(encodeDhcpv6({ ...adv, xid: sol.m.xid, clientId: OTHER_SERVER, serverId: SERVER }), h.now);
    h.c.receive(encodeDhcpv6({ ...adv, xid: sol.m.xid, clientId: sol.m.clientId }), h.now);
    h.c.receive(Uint8Array.of(2, 0, 0), h.now);
    h.c.receive(Uint8Array.of(2, 0, 0, 0, 0, 1, 0, 200), h.now);
    h.drain();
    expect(h.c.state).toBe('soliciting');
    expect(h.counters.get('dhcp6.rx_ignored')).toBe(3);
    expect(h.counters.get('dhcp6.rx_bad')).toBe(2);
  });

  it('after REQ_MAX_RC (10) unanswered REQUESTs, solicits again', () => {
    const h = harness();
    const sol = h.solicit();
    h.answer(sol, { type: T.ADVERTISE, iaNa: [ia([leased()])], preference: 255 });
    h.until(h.now + 300_000);
    expect(h.sent.filter((s) => s.m.type === T.REQUEST)).toHaveLength(10);
    expect(h.c.state).toBe('soliciting');
    // REQ_MAX_RT: no interval past 30 s (+10 %).
    const reqs = h.sent.filter((s) => s.m.type === T.REQUEST).map((s) => s.at);
    expect(Math.max(...reqs.slice(1).map((t, i) => t - (reqs[i] ?? 0)))).toBeLessThanOrEqual(33_000);
  });

  it('a REPLY with NoAddrsAvail in the IA_NA, or NotOnLink: solicits again', () => {
    for (const reply of [
      { iaNa: [{ ...ia([]), status: { code: Dhcpv6Status.NO_ADDRS_AVAIL, message: '' } }] },
      { status: { code: Dhcpv6Status.NOT_ON_LINK, message: 'moved' } },
    ]) {
      const h = harness();
      const req = h.requested();
      h.answer(req, { type: T.REPLY, ...reply });
      expect(h.c.state).toBe('soliciting');
      expect(h.c.lease).toBeUndefined();
    }
  });

  it('T1 = T2 = 0 (left to the client): 0.5 and 0.8 of the shortest preferred lifetime; T1 > T2 discards the IA_NA', () => {
    const h = harness();
    const req = h.requested();
    h.answer(req, { type: T.REPLY, iaNa: [ia([leased()], 3000, 2000)] });
    expect(h.c.state).toBe('soliciting');
    const again = harness();
    const r2 = again.requested();
    again.answer(r2, { type: T.REPLY, iaNa: [ia([leased(ADDR, 1000, 2000)], 0, 0)] });
    expect(again.c.lease?.t1At).toBe(r2.at + 500_000);
    expect(again.c.lease?.t2At).toBe(r2.at + 800_000);
  });

  it('T1 = T2 = 0 with every address deprecated (preferred 0): T1 and T2 from the valid lifetime, not at once', () => {
    const h = harness();
    const req = h.requested();
    h.answer(req, { type: T.REPLY, iaNa: [ia([leased(ADDR, 0, 1000)], 0, 0)] });
    expect(h.c.state).toBe('bound');
    expect(h.c.lease?.t1At).toBe(req.at + 500_000);
    expect(h.c.lease?.t2At).toBe(req.at + 800_000);
    expect(h.c.nextDeadline()).toBe(req.at + 500_000); // no Renew now
  });

  it('an infinite lease: no renewal deadline at all', () => {
    const h = harness();
    const req = h.requested();
    const inf = DHCPV6_INFINITY;
    h.answer(req, { type: T.REPLY, iaNa: [ia([leased(ADDR, inf, inf)], inf, inf)] });
    expect(h.c.state).toBe('bound');
    expect(h.c.nextDeadline()).toBeUndefined();
  });
});

describe('DHCPv6 client: keeping a lease', () => {
  it('RENEWs at T1 to its server, retransmits from 10 s; a REPLY extends the lease', () => {
    const { h, req } = bound();
    const renew = h.next(T.RENEW);
    expect(renew.at).toBe(req.at + 1800_000);
    expect(renew.m.serverId).toEqual(SERVER);
    expect(renew.m.iaNa[0]?.addresses.map((a) => a.address)).toEqual([ADDR]);
    expect(h.c.state).toBe('renewing');
    const again = h.next(T.RENEW);
    expect(again.at - renew.at).toBeGreaterThanOrEqual(9000);
    expect(again.at - renew.at).toBeLessThanOrEqual(11_000);
    expect(again.m.xid).toBe(renew.m.xid);
    h.events = [];
    h.answer(again, { type: T.REPLY, iaNa: [ia([leased()])] });
    expect(h.c.state).toBe('bound');
    expect(h.c.lease?.t1At).toBe(again.at + 1800_000);
    expect(h.kinds()).toEqual(['persist', 'bound']);
  });

  it('REBINDs at T2 without a server id; any server may answer, and then it is the lease server', () => {
    const { h, req } = bound();
    const rebind = h.next(T.REBIND, 3_000_000);
    expect(rebind.at).toBe(req.at + 2880_000);
    expect(rebind.m.serverId).toBeUndefined();
    expect(h.sent.filter((s) => s.m.type === T.RENEW).length).toBeGreaterThan(3);
    h.c.receive(encodeDhcpv6({ type: T.REPLY, xid: rebind.m.xid, clientId: rebind.m.clientId, serverId: OTHER_SERVER, iaNa: [ia([leased()])] }), h.now);
    h.drain();
    expect(h.c.state).toBe('bound');
    expect(h.c.lease?.server).toEqual(OTHER_SERVER);
  });

  it('unanswered to the end of the valid lifetime: the addresses are lost and it solicits again', () => {
    const { h, req } = bound();
    h.events = [];
    h.until(req.at + 7200_000 - 1);
    expect(h.c.state).toBe('rebinding');
    expect(h.kinds()).toEqual([]);
    // From T2 (2880 s) to the end (7200 s): 10, 20, 40 … s, capped at REB_MAX_RT 600 s: about a dozen REBINDs.
    const rebinds = h.sent.filter((s) => s.m.type === T.REBIND).length;
    expect(rebinds).toBeGreaterThanOrEqual(8);
    expect(rebinds).toBeLessThanOrEqual(16);
    h.until(req.at + 7200_000);
    expect(h.kinds()).toEqual(['persist', 'lost']);
    expect(h.events[0]).toEqual({ kind: 'persist', saved: undefined });
    expect(h.c.state).toBe('soliciting');
    expect(h.c.lease).toBeUndefined();
  });

  it('NoBinding in reply to RENEW: a REQUEST for the IA again', () => {
    const { h } = bound();
    const renew = h.next(T.RENEW);
    h.answer(renew, { type: T.REPLY, iaNa: [{ ...ia([]), status: { code: Dhcpv6Status.NO_BINDING, message: '' } }] });
    const req = h.sent.at(-1);
    expect(req?.m.type).toBe(T.REQUEST);
    expect(req?.m.iaNa[0]?.addresses.map((a) => a.address)).toEqual([ADDR]);
  });

  it('a RENEW reply withdrawing the only address (valid 0): lost, solicits', () => {
    const { h } = bound();
    const renew = h.next(T.RENEW);
    h.events = [];
    h.answer(renew, { type: T.REPLY, iaNa: [ia([leased(ADDR, 0, 0)])] });
    expect(h.kinds()).toEqual(['persist', 'lost']);
    expect(h.c.state).toBe('soliciting');
  });

  it('an address DAD finds in use: lost, DECLINEd (up to 4 times), then a new SOLICIT', () => {
    const { h } = bound();
    h.events = [];
    h.c.addressConflict(ADDR, h.now);
    h.drain();
    expect(h.kinds()).toEqual(['persist', 'lost']);
    const dec = h.sent.at(-1);
    expect(dec?.m.type).toBe(T.DECLINE);
    expect(dec?.m.serverId).toEqual(SERVER);
    expect(dec?.m.iaNa[0]?.addresses.map((a) => a.address)).toEqual([ADDR]);
    h.until(h.now + 20_000);
    expect(h.sent.filter((s) => s.m.type === T.DECLINE)).toHaveLength(4);
    expect(h.c.state).toBe('soliciting');
    // A conflict on an address not leased changes nothing.
    const other = bound();
    other.h.c.addressConflict(ADDR2, other.h.now);
    expect(other.h.c.state).toBe('bound');
  });

  it('release: a RELEASE naming the server and the address, once; the lease forgotten; stopped', () => {
    const { h } = bound();
    h.events = [];
    h.c.release(h.now);
    h.drain();
    const rel = h.sent.at(-1);
    expect(rel?.m.type).toBe(T.RELEASE);
    expect(rel?.m.serverId).toEqual(SERVER);
    expect(rel?.m.iaNa[0]?.addresses.map((a) => a.address)).toEqual([ADDR]);
    expect(h.kinds()).toEqual(['persist', 'lost']);
    expect(h.c.state).toBe('stopped');
    expect(h.c.nextDeadline()).toBeUndefined();
    h.c.routerFlags(true, true, h.now);
    h.until(h.now + 10_000);
    expect(h.sent.at(-1)).toBe(rel);
  });
});

describe('DHCPv6 client: restart and other configuration', () => {
  const saved = (now: number): Dhcpv6Lease => ({
    server: SERVER, iaid: MAC % 2 ** 32, t1At: now + 1000_000, t2At: now + 2000_000, dns: [],
    addresses: [{ address: ADDR, preferredUntil: now + 3000_000, validUntil: now + 4000_000 }],
  });

  it('a saved lease is CONFIRMed (no server id); Success: bound with the saved lifetimes', () => {
    const h = harness();
    h.c.restore(saved(0));
    h.c.routerFlags(true, false, 0);
    h.drain();
    const cnf = h.next(T.CONFIRM);
    expect(cnf.at).toBeLessThanOrEqual(1000);
    expect(cnf.m.serverId).toBeUndefined();
    expect(cnf.m.iaNa[0]?.addresses).toEqual([{ address: ADDR, preferred: 0, valid: 0 }]);
    h.answer(cnf, { type: T.REPLY, status: { code: Dhcpv6Status.SUCCESS, message: 'all addresses still on link' } });
    expect(h.c.state).toBe('bound');
    expect(h.c.lease?.t1At).toBe(1000_000);
    expect(h.kinds()).toEqual(['persist', 'bound']);
  });

  it('NotOnLink: the saved lease forgotten, SOLICIT; no answer in 10 s: the saved lease used as it is', () => {
    const h = harness();
    h.c.restore(saved(0));
    h.c.routerFlags(true, false, 0);
    h.drain();
    const cnf = h.next(T.CONFIRM);
    h.answer(cnf, { type: T.REPLY, status: { code: Dhcpv6Status.NOT_ON_LINK, message: '' } });
    expect(h.c.state).toBe('soliciting');
    expect(h.events).toEqual([{ kind: 'persist', saved: undefined }]);

    const quiet = harness();
    quiet.c.restore(saved(0));
    quiet.c.routerFlags(true, false, 0);
    quiet.until(9_999);
    expect(quiet.c.state).toBe('confirming');
    const cnfs = quiet.sent.filter((s) => s.m.type === T.CONFIRM).map((s) => s.at);
    expect(cnfs.length).toBeGreaterThanOrEqual(3); // 1, 2, 4 s (CNF_MAX_RT 4 s)
    quiet.until(10_000);
    expect(quiet.c.state).toBe('bound');
    expect(quiet.c.lease?.addresses[0]?.address).toBe(ADDR);
  });

  it('an expired saved lease is not confirmed: forgotten, SOLICIT', () => {
    const h = harness();
    h.c.restore(saved(-5000_000));
    h.c.routerFlags(true, false, 0);
    h.drain();
    expect(h.events).toEqual([{ kind: 'persist', saved: undefined }]);
    expect(h.next(T.SOLICIT).m.type).toBe(T.SOLICIT);
  });

  it('O without M: an INFORMATION-REQUEST; its reply gives DNS servers and the refresh time (at least 600 s)', () => {
    const h = harness();
    h.c.routerFlags(false, true, 0);
    h.drain();
    const inf = h.next(T.INFORMATION_REQUEST);
    expect(inf.m.iaNa).toEqual([]);
    expect(inf.m.oro).toEqual([O.DNS_SERVERS, O.INFORMATION_REFRESH_TIME, O.INF_MAX_RT]);
    h.answer(inf, { type: T.REPLY, dnsServers: [DNS], informationRefreshTime: 60 });
    expect(h.c.state).toBe('informed');
    expect(h.c.dnsServers).toEqual([DNS]);
    expect(h.events).toEqual([{ kind: 'information', dns: [DNS] }]);
    expect(h.c.nextDeadline()).toBe(h.now + 600_000);
    const again = h.next(T.INFORMATION_REQUEST, 700_000);
    expect(again.at).toBeGreaterThanOrEqual(inf.at + 600_000);
    // M appearing later: stateful from then on.
    h.c.routerFlags(true, true, h.now);
    expect(h.c.state).toBe('soliciting');
  });

  it('neither M nor O: nothing at all', () => {
    const h = harness();
    h.c.routerFlags(false, false, 0);
    h.until(100_000);
    expect(h.sent).toHaveLength(0);
    expect(h.c.nextDeadline()).toBeUndefined();
  });
});
