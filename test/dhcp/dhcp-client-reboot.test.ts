// The DHCP client's address check (RFC 2131 §4.4.1 with RFC 5227), DHCPDECLINE, the wait after it, giving a bound
// address up, INIT-REBOOT (RFC 2131 §3.2, §4.4.2) and what it hands out to be remembered. Hand-moved clock; the
// client is fed and read only through its IO, which is how we know it never touches a file.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DhcpClient, DhcpClientOptions, DhcpSavedLease, Lease } from '../../src/dhcp/dhcp-client.ts';
import { clientWithIo, type DhcpIo } from './dhcp-io.ts';
import { DhcpMessageType as T, encodeDhcp, parseDhcp, type DhcpMessage, type DhcpOptions } from '../../src/dhcp/dhcp-wire.ts';
import { IPV4_BROADCAST, parseMac } from '../../src/net/addr.ts';
import { seededRandom } from '../../src/random.ts';
import { ip } from '../net/frames.ts';

const MAC = parseMac('02:00:00:aa:bb:cc') ?? 0;
const SQUATTER = parseMac('02:00:00:00:00:99') ?? 0;
const SERVER = ip('192.168.77.1');
const OTHER_SERVER = ip('192.168.77.9');
const ADDR = ip('192.168.77.100');
const ADDR2 = ip('192.168.77.101');
const CLIENT_ID = Uint8Array.from([1, 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]);

interface Sent {
  msg: DhcpMessage;
  dst: number;
  at: number;
}

/**
 * A client wired to recording IO, with the optional `check` (recorded; answered by the test, or at once when
 * `answerCheck` is given) and `persist` (recorded).
 */
function harness(options: Partial<DhcpClientOptions> = {}, answerCheck?: (l: Lease) => number | undefined) {
  const h = {
    at: 0,
    sent: [] as Sent[],
    logs: [] as string[],
    bound: [] as Lease[],
    lost: [] as string[],
    checks: [] as { lease: Lease; now: number }[],
    persisted: [] as (DhcpSavedLease | undefined)[],
  };
  let client: DhcpClient | undefined;
  const io: DhcpIo = {
    send(payload, dst) {
      const msg = parseDhcp(payload);
      if (msg === undefined) throw new Error('client sent an unparsable message');
      h.sent.push({ msg, dst, at: h.at });
    },
    bound: (lease) => h.bound.push(lease),
    lost: (reason) => h.lost.push(reason),
    log: (line) => h.logs.push(line),
    check: (lease, now) => {
      h.checks.push({ lease, now });
      if (answerCheck !== undefined) client?.addressChecked(lease.address, answerCheck(lease), now);
    },
    persist: (saved) => h.persisted.push(saved),
  };
  client = clientWithIo({ mac: MAC, random: seededRandom(1), hostname: 'mirage', ...options }, io);
  const c = client;
  const last = (): Sent => {
    const s = h.sent.at(-1);
    if (s === undefined) throw new Error('nothing sent');
    return s;
  };
  const at = <R>(now: number, f: () => R): R => {
    h.at = now;
    return f();
  };
  return {
    ...h,
    client: c,
    last,
    types: () => h.sent.map((s) => s.msg.options.messageType),
    start: (now: number, saved?: DhcpSavedLease) => at(now, () => c.start(now, saved)),
    poll: (now: number) => at(now, () => c.poll(now)),
    receive: (payload: Uint8Array, now: number) => at(now, () => c.receive(payload, now)),
    checked: (address: number, mac: number | undefined, now: number) => at(now, () => c.addressChecked(address, mac, now)),
    conflict: (address: number, mac: number, now: number) => at(now, () => c.addressConflict(address, mac, now)),
    release: (now: number) => at(now, () => c.release(now)),
    step(): number {
      const d = c.nextDeadline();
      if (d === undefined) throw new Error('no deadline');
      h.at = d;
      c.poll(d);
      return d;
    },
  };
}

const LEASE_OPTIONS: DhcpOptions = { subnetMask: ip('255.255.255.0'), routers: [ip('192.168.77.2')], leaseTime: 3600, serverId: SERVER };

function reply(req: DhcpMessage, type: number, options: DhcpOptions = {}, yiaddr = ADDR): Uint8Array {
  return encodeDhcp({
    op: 2, xid: req.xid, secs: 0, flags: req.flags, ciaddr: 0, yiaddr: type === T.NAK ? 0 : yiaddr, siaddr: 0, giaddr: 0, chaddr: MAC,
    options: type === T.NAK ? { messageType: type, serverId: SERVER, ...options } : { messageType: type, ...LEASE_OPTIONS, ...options },
  });
}

/** DISCOVER (0) → OFFER (100) → REQUEST → ACK (300): CHECKING. */
function acked(options: Partial<DhcpClientOptions> = {}) {
  const h = harness(options);
  h.start(0);
  h.receive(reply(h.last().msg, T.OFFER), 100);
  h.receive(reply(h.last().msg, T.ACK), 300);
  return h;
}

const SAVED: DhcpSavedLease = { address: ADDR, server: SERVER, expiresAt: 1_000_000 };

describe('DhcpClient: checking the acked address', () => {
  it('asks io.check before using it; nothing is bound, remembered or logged as bound until the answer', () => {
    const h = acked();
    expect(h.client.state).toBe('checking');
    expect(h.checks).toEqual([{ lease: expect.objectContaining({ address: ADDR, server: SERVER, leaseSeconds: 3600, obtainedAt: 100 }), now: 300 }]);
    expect(h.bound).toEqual([]);
    expect(h.persisted).toEqual([]);
    expect(h.client.lease).toBeUndefined();
    expect(h.client.nextDeadline()).toBeUndefined(); // the checker has the deadlines
    expect(h.logs.some((l) => l.includes('bound to'))).toBe(false);
    // Duplicates of the ACK change nothing.
    h.receive(reply(h.sent[1]?.msg ?? h.last().msg, T.ACK), 310);
    expect(h.checks).toHaveLength(1);
  });

  it('free → BOUND: bound, logged, remembered with the lease end', () => {
    const h = acked();
    h.checked(ADDR, undefined, 5000);
    expect(h.client.state).toBe('bound');
    expect(h.bound.map((l) => l.address)).toEqual([ADDR]);
    expect(h.logs.at(-1)).toBe('DHCP offer received and bound to 192.168.77.100 nm 255.255.255.0 gw [192.168.77.2]');
    expect(h.persisted).toEqual([{ address: ADDR, server: SERVER, expiresAt: 100 + 3600_000 }]);
    expect(h.client.nextDeadline()).toBe(100 + 1800_000); // T1 still counts from the REQUEST
  });

  it('an answer for another address, or outside CHECKING, is ignored', () => {
    const h = acked();
    h.checked(ADDR2, undefined, 5000);
    h.checked(ADDR2, SQUATTER, 5000);
    expect(h.client.state).toBe('checking');
    h.checked(ADDR, undefined, 5000);
    h.checked(ADDR, SQUATTER, 5001); // too late: bound already
    expect(h.client.state).toBe('bound');
    expect(h.types()).not.toContain(T.DECLINE);
  });

  it('an answer from within io.check works (a checker that decides at once)', () => {
    const h = harness({}, () => undefined);
    h.start(0);
    h.receive(reply(h.last().msg, T.OFFER), 100);
    h.receive(reply(h.last().msg, T.ACK), 300);
    expect(h.client.state).toBe('bound');
    expect(h.bound).toHaveLength(1);
  });

  it('a client without io.check binds at once (as before)', () => {
    const sent: DhcpMessage[] = [];
    const bound: Lease[] = [];
    const c = clientWithIo({ mac: MAC, random: seededRandom(1) }, {
      send: (p) => sent.push(parseDhcp(p) ?? (undefined as never)), bound: (l) => bound.push(l), lost: () => {}, log: () => {},
    });
    c.start(0);
    c.receive(reply(sent[0] as DhcpMessage, T.OFFER), 10);
    c.receive(reply(sent[1] as DhcpMessage, T.ACK), 20);
    expect(c.state).toBe('bound');
    expect(bound).toHaveLength(1);
  });

  it('release while checking sends nothing (the interface never had the address) and stops', () => {
    const h = acked();
    const n = h.sent.length;
    h.release(1000);
    expect(h.sent).toHaveLength(n);
    expect(h.client.state).toBe('stopped');
    h.checked(ADDR, undefined, 2000);
    expect(h.bound).toEqual([]);
  });
});

describe('DhcpClient: DHCPDECLINE (RFC 2131 §4.4.1)', () => {
  it('in use → DECLINE: broadcast, ciaddr 0, requested IP, server id, client id, a message, nothing else', () => {
    const h = acked();
    const request = h.sent[1]?.msg;
    h.checked(ADDR, SQUATTER, 4000);
    const { msg, dst, at } = h.last();
    expect(dst).toBe(IPV4_BROADCAST);
    expect(at).toBe(4000);
    expect(msg).toMatchObject({ op: 1, xid: request?.xid, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, flags: 0, secs: 0, chaddr: MAC });
    expect(msg.options).toEqual({
      messageType: T.DECLINE, requestedIp: ADDR, serverId: SERVER, clientId: CLIENT_ID, message: 'address in use by 02:00:00:00:00:99',
    });
    expect(h.logs.at(-1)).toBe('DHCP: conflict on 192.168.77.100 from 02:00:00:00:00:99 (declined)');
    expect(h.client.state).toBe('declined');
    expect(h.bound).toEqual([]);
    expect(h.lost).toEqual([]); // it was never used
    expect(h.persisted).toEqual([undefined]);
  });

  it('waits 10 s (RFC 2131 §4.4.1) before discovering again, ignoring everything meanwhile', () => {
    const h = acked();
    h.checked(ADDR, SQUATTER, 4000);
    expect(h.client.nextDeadline()).toBe(14_000);
    const n = h.sent.length;
    h.receive(reply(h.sent[1]?.msg ?? h.last().msg, T.ACK), 5000);
    h.poll(13_999);
    expect(h.sent).toHaveLength(n);
    h.client.start(13_999); // already running: no early restart
    expect(h.sent).toHaveLength(n);
    h.poll(14_000);
    expect(h.client.state).toBe('selecting');
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
    expect(h.last().msg.xid).not.toBe(h.sent[0]?.msg.xid);
    expect(h.logs.at(-1)).toBe('DHCP: start discovery');
    // And the next address goes through the check again.
    h.receive(reply(h.last().msg, T.OFFER, {}, ADDR2), 14_100);
    h.receive(reply(h.last().msg, T.ACK, {}, ADDR2), 14_200);
    expect(h.checks.map((c) => c.lease.address)).toEqual([ADDR, ADDR2]);
    h.checked(ADDR2, undefined, 18_000);
    expect(h.bound.map((l) => l.address)).toEqual([ADDR2]);
  });

  it('declineDelayMs shortens the wait', () => {
    const h = acked({ declineDelayMs: 500 });
    h.checked(ADDR, SQUATTER, 4000);
    expect(h.client.nextDeadline()).toBe(4500);
  });

  it('after maxConflicts conflicts in a row, waits conflictRateLimitMs (RFC 5227 §2.1.1); a usable address resets the count', () => {
    const h = harness({ maxConflicts: 3, declineDelayMs: 1000, conflictRateLimitMs: 60_000 });
    h.start(0);
    const waits: number[] = [];
    const round = (ok: boolean): void => {
      const now = h.last().at;
      h.receive(reply(h.last().msg, T.OFFER), now + 10);
      h.receive(reply(h.last().msg, T.ACK), now + 20);
      h.checked(ADDR, ok ? undefined : SQUATTER, now + 30);
      if (!ok) {
        waits.push((h.client.nextDeadline() ?? NaN) - (now + 30));
        h.step();
      }
    };
    for (let i = 0; i < 4; i++) round(false);
    expect(waits).toEqual([1000, 1000, 60_000, 60_000]);
    round(true);
    expect(h.client.state).toBe('bound');
    h.conflict(ADDR, SQUATTER, h.last().at + 100);
    expect((h.client.nextDeadline() ?? NaN) - (h.last().at)).toBe(1000);
  });
});

describe('DhcpClient: giving a bound address up (RFC 5227 §2.4 (b))', () => {
  it('stops using it, DECLINEs it with a new xid, forgets it, discovers after the wait', () => {
    const h = acked();
    h.checked(ADDR, undefined, 4000);
    const xid = h.client.xid;
    h.conflict(ADDR, SQUATTER, 60_000);
    expect(h.lost).toEqual(['conflict']);
    expect(h.client.lease).toBeUndefined();
    const { msg, dst } = h.last();
    expect(dst).toBe(IPV4_BROADCAST);
    expect(msg.xid).not.toBe(xid);
    expect(msg).toMatchObject({ ciaddr: 0, flags: 0 });
    expect(msg.options).toEqual({
      messageType: T.DECLINE, requestedIp: ADDR, serverId: SERVER, clientId: CLIENT_ID, message: 'address in use by 02:00:00:00:00:99',
    });
    expect(h.persisted.at(-1)).toBeUndefined();
    expect(h.client.state).toBe('declined');
    expect(h.client.nextDeadline()).toBe(70_000);
  });

  it('ignores a conflict for another address, or when not bound', () => {
    const h = acked();
    h.conflict(ADDR, SQUATTER, 1000); // checking: not ours yet
    h.checked(ADDR, undefined, 4000);
    h.conflict(ADDR2, SQUATTER, 5000);
    expect(h.client.state).toBe('bound');
    expect(h.types()).not.toContain(T.DECLINE);
  });

  it('renewing: also gives up', () => {
    const h = acked();
    h.checked(ADDR, undefined, 4000);
    h.poll(100 + 1800_000);
    expect(h.client.state).toBe('renewing');
    h.conflict(ADDR, SQUATTER, 100 + 1800_001);
    expect(h.lost).toEqual(['conflict']);
    expect(h.client.state).toBe('declined');
  });
});

describe('DhcpClient: what is remembered', () => {
  it('each renewal ACK updates it without a new check; release, NAK and expiry forget it', () => {
    const h = acked();
    h.checked(ADDR, undefined, 4000);
    const T1 = 100 + 1800_000;
    h.poll(T1);
    h.receive(reply(h.last().msg, T.ACK, { leaseTime: 7200 }), T1 + 50);
    expect(h.checks).toHaveLength(1);
    expect(h.persisted.at(-1)).toEqual({ address: ADDR, server: SERVER, expiresAt: T1 + 7200_000 });
    h.release(T1 + 100);
    expect(h.persisted.at(-1)).toBeUndefined();

    const n = acked();
    n.checked(ADDR, undefined, 4000);
    n.poll(T1);
    n.receive(reply(n.last().msg, T.NAK), T1 + 10);
    expect(n.persisted).toEqual([expect.objectContaining({ address: ADDR }), undefined]);

    const e = acked();
    e.checked(ADDR, undefined, 4000);
    e.poll(100 + 3600_000);
    expect(e.lost).toEqual(['expired']);
    expect(e.persisted.at(-1)).toBeUndefined();
  });

  it('a renewal that moves us to another address drops the old one and checks the new one', () => {
    const h = acked();
    h.checked(ADDR, undefined, 4000);
    h.poll(100 + 1800_000);
    h.receive(reply(h.last().msg, T.ACK, {}, ADDR2), 100 + 1800_010);
    expect(h.lost).toEqual(['address changed']);
    expect(h.client.state).toBe('checking');
    expect(h.checks.map((c) => c.lease.address)).toEqual([ADDR, ADDR2]);
  });

  it('the client and ACD do no I/O of their own: no file, process or network module in their import graph', () => {
    const seen = new Set<string>();
    const builtins: string[] = [];
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
        const spec = m[1] ?? '';
        if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec));
        else builtins.push(`${path.basename(file)} → ${spec}`);
      }
    };
    const root = path.resolve(import.meta.dirname, '../../src');
    walk(path.join(root, 'dhcp/dhcp-client.ts'));
    walk(path.join(root, 'arp/acd.ts'));
    expect(seen.size).toBeGreaterThan(3);
    // random.ts's systemRandom draws from node:crypto; the client is handed a Random and never calls it.
    expect(builtins).toEqual(['random.ts → node:crypto']);
    expect(builtins.filter((b) => /\b(fs|child_process|net|dgram|http|https|worker_threads)\b/.test(b))).toEqual([]);
  });
});

describe('DhcpClient: INIT-REBOOT (RFC 2131 §3.2, §4.4.2)', () => {
  it('with a saved lease, REQUESTs that address again: broadcast, ciaddr 0, requested IP, no server id', () => {
    const h = harness();
    h.start(0, SAVED);
    expect(h.client.state).toBe('rebooting');
    expect(h.logs).toEqual(['DHCP: reboot: asking for 192.168.77.100 again']);
    expect(h.sent).toHaveLength(1);
    const { msg, dst } = h.last();
    expect(dst).toBe(IPV4_BROADCAST);
    expect(msg).toMatchObject({ op: 1, xid: h.client.xid, ciaddr: 0, yiaddr: 0, flags: 0x8000, secs: 0, chaddr: MAC });
    expect(msg.options).toEqual({
      messageType: T.REQUEST, requestedIp: ADDR, clientId: CLIENT_ID, parameterRequestList: [1, 3, 6, 15, 26, 51, 54, 58, 59], maxMessageSize: 1500, hostname: 'mirage',
    });
  });

  it('ACK (from any server) → the check → BOUND, remembered anew', () => {
    const h = harness();
    h.start(0, SAVED);
    h.receive(reply(h.last().msg, T.ACK, { serverId: OTHER_SERVER, leaseTime: 600 }), 50);
    expect(h.client.state).toBe('checking');
    expect(h.checks[0]?.lease).toMatchObject({ address: ADDR, server: OTHER_SERVER, obtainedAt: 0 });
    h.checked(ADDR, undefined, 5000);
    expect(h.client.state).toBe('bound');
    expect(h.persisted).toEqual([{ address: ADDR, server: OTHER_SERVER, expiresAt: 600_000 }]);
    expect(h.types()).toEqual([T.REQUEST]); // no DISCOVER at all
  });

  it('ACK, then the address is in use → DECLINE to the server of the ACK, and INIT later', () => {
    const h = harness({ declineDelayMs: 2000 });
    h.start(0, SAVED);
    h.receive(reply(h.last().msg, T.ACK, { serverId: OTHER_SERVER }), 50);
    h.checked(ADDR, SQUATTER, 4000);
    expect(h.last().msg.options).toMatchObject({ messageType: T.DECLINE, requestedIp: ADDR, serverId: OTHER_SERVER });
    expect(h.persisted).toEqual([undefined]);
    h.poll(6000);
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
  });

  it('NAK → forget the saved lease, INIT at once', () => {
    const h = harness();
    h.start(0, SAVED);
    const xid = h.client.xid;
    h.receive(reply(h.last().msg, T.NAK, { message: 'wrong network' }), 30);
    expect(h.logs).toContain('DHCP: NAK received: wrong network');
    expect(h.persisted).toEqual([undefined]);
    expect(h.client.state).toBe('selecting');
    expect(h.last()).toMatchObject({ at: 30, dst: IPV4_BROADCAST });
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
    expect(h.last().msg.options.requestedIp).toBeUndefined();
    expect(h.client.xid).not.toBe(xid);
  });

  it('ignores replies for another xid or MAC, and OFFERs', () => {
    const h = harness();
    h.start(0, SAVED);
    const req = h.last().msg;
    h.receive(reply({ ...req, xid: (req.xid + 1) >>> 0 }, T.ACK), 10);
    h.receive(reply(req, T.OFFER), 20);
    expect(h.client.state).toBe('rebooting');
    expect(h.checks).toEqual([]);
  });

  it('no answer: retransmits with backoff (same xid), then after rebootAttempts goes to INIT, keeping the saved lease', () => {
    const h = harness();
    h.start(0, SAVED);
    const xid = h.client.xid;
    const d1 = h.step();
    expect(d1).toBeGreaterThanOrEqual(3000);
    expect(d1).toBeLessThanOrEqual(5000);
    expect(h.last().msg).toMatchObject({ xid, secs: Math.floor(d1 / 1000) });
    expect(h.last().msg.options).toMatchObject({ messageType: T.REQUEST, requestedIp: ADDR });
    const d2 = h.step();
    expect(d2 - d1).toBeGreaterThanOrEqual(7000);
    expect(d2 - d1).toBeLessThanOrEqual(9000);
    expect(h.types()).toEqual([T.REQUEST, T.REQUEST, T.DISCOVER]);
    expect(h.logs).toEqual(['DHCP: reboot: asking for 192.168.77.100 again', 'DHCP: no answer to REQUEST for 192.168.77.100', 'DHCP: start discovery']);
    expect(h.client.state).toBe('selecting');
    expect(h.persisted).toEqual([]);
  });

  it('rebootAttempts is an option', () => {
    const h = harness({ rebootAttempts: 4 });
    h.start(0, SAVED);
    for (let i = 0; i < 4; i++) h.step();
    expect(h.types()).toEqual([T.REQUEST, T.REQUEST, T.REQUEST, T.REQUEST, T.DISCOVER]);
  });

  it('an expired saved lease is forgotten and discovery starts', () => {
    const h = harness();
    h.start(2_000_000, SAVED);
    expect(h.logs).toEqual(['DHCP: the saved lease of 192.168.77.100 has expired', 'DHCP: start discovery']);
    expect(h.persisted).toEqual([undefined]);
    expect(h.types()).toEqual([T.DISCOVER]);
  });

  it('release while rebooting just stops', () => {
    const h = harness();
    h.start(0, SAVED);
    h.release(100);
    expect(h.types()).toEqual([T.REQUEST]);
    expect(h.client.state).toBe('stopped');
    expect(h.client.nextDeadline()).toBeUndefined();
  });
});
