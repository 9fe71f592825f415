// The TCP features that make a stack hold up: SYN cookies, timestamps and PAWS, SACK blocks, delayed ACK,
// Nagle, keep-alive, throttled challenge ACKs, the zero-window bound and the shared memory budget.

import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../src/net/tcp/seq.ts';
import type { TcpConnection } from '../../../src/net/tcp/tcp-connection.ts';
import { SynCookies } from '../../../src/net/tcp/syn-cookies.ts';
import { SynFloodGuard } from '../../../src/net/tcp/syn-flood.ts';
import { sipKey } from '../../../src/net/siphash.ts';
import { ACK, FIN, PSH, RST, SYN } from '../../../src/net/tcp/tcp-wire.ts';
import { OUR_IP, PEER_IP, ip } from '../frames.ts';
import { RawPeer, handshake } from './raw-peer.ts';

const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

function listening(opts: ConstructorParameters<typeof RawPeer>[0] = {}) {
  const p = new RawPeer(opts);
  const accepted: TcpConnection[] = [];
  p.stack.tcp.listen(80, (c) => accepted.push(c));
  return { p, accepted };
}

describe('SYN cookies (RFC 4987 §3.6)', () => {
  it('a cookie round-trips the peer options and rejects forgeries and old cookies', () => {
    const c = new SynCookies(Buffer.alloc(16, 7));
    const { iss, options } = c.make(OUR_IP, 80, PEER_IP, 5000, 12345, { mss: 1460, windowScale: 7, sackPermitted: true }, 1_000_000, 3);
    expect(options).toEqual({ mss: 1460, windowScale: 3, sackPermitted: true });
    expect(c.check(OUR_IP, 80, PEER_IP, 5000, 12345, iss, 1_000_000)).toEqual({ mss: 1460, windowScale: 7, sackPermitted: true });
    expect(c.check(OUR_IP, 80, PEER_IP, 5000, 12345, iss, 1_000_000 + 64_000)).toBeDefined();
    expect(c.check(OUR_IP, 80, PEER_IP, 5000, 12345, iss, 1_000_000 + 3 * 64_000)).toBeUndefined();
    expect(c.check(OUR_IP, 80, PEER_IP, 5001, 12345, iss, 1_000_000)).toBeUndefined();
    expect(c.check(OUR_IP, 80, PEER_IP, 5000, 12346, iss, 1_000_000)).toBeUndefined();
    expect(c.check(OUR_IP, 80, PEER_IP, 5000, 12345, iss ^ 1, 1_000_000)).toBeUndefined();
    const plain = c.make(OUR_IP, 80, PEER_IP, 5000, 1, { mss: 1300, windowScale: undefined, sackPermitted: false }, 0, 3);
    expect(plain.options).toEqual({ mss: 1460 });
    expect(c.check(OUR_IP, 80, PEER_IP, 5000, 1, plain.iss, 0)).toEqual({ mss: 1220 });
  });

  it('with the backlog full, a SYN gets a cookie, no state is kept, and the returning ACK makes the connection', () => {
    const { p, accepted } = listening({ tcp: { maxSynBacklog: 1 } });
    p.send({ flags: SYN, seq: 1 }, 5001); // fills the backlog
    p.one();
    p.send({ flags: SYN, seq: 700, options: { mss: 1400, windowScale: 5, sackPermitted: true } }, 5002);
    const cookie = p.one();
    expect(cookie.flags).toBe(SYN | ACK);
    expect(cookie.options).toMatchObject({ mss: 1460, windowScale: expect.any(Number), sackPermitted: true });
    expect(p.stack.tcp.connectionCount).toBe(1); // only the first, real embryo
    expect(p.stack.counters.get('tcp.syn_cookie_sent')).toBe(1);
    p.send({ flags: ACK | PSH, seq: 701, ack: seqAdd(cookie.seq, 1), payload: new TextEncoder().encode('GET') }, 5002);
    expect(accepted).toHaveLength(1);
    const conn = accepted[0];
    expect(conn?.state).toBe('ESTABLISHED');
    expect(conn?.info().sndMss).toBe(1220); // the largest table MSS not above the 1400 offered
    expect(conn?.sackEnabled).toBe(true);
    expect(conn?.info().sndShift).toBe(5);
    expect(new TextDecoder().decode(conn?.read())).toBe('GET');
  });

  it('a forged cookie ACK is answered with RST and makes nothing', () => {
    const { p, accepted } = listening({ tcp: { maxSynBacklog: 0 } });
    p.send({ flags: SYN, seq: 700 }, 5002);
    const cookie = p.one();
    p.send({ flags: ACK, seq: 701, ack: seqAdd(cookie.seq, 2) }, 5002);
    expect(p.one().flags).toBe(RST);
    expect(accepted).toHaveLength(0);
    expect(p.stack.counters.get('tcp.syn_cookie_bad')).toBe(1);
  });

  it('a flood from one source is dropped past its cookie budget; another source still gets cookies, and a real client in', () => {
    const { p, accepted } = listening({ tcp: { maxSynBacklog: 0, synFlood: { perSecond: 100, slots: 4096 } } });
    p.now = 1000;
    for (let i = 0; i < 1000; i++) p.send({ flags: SYN, seq: i }, 1024 + i); // all within one ms, from PEER_IP
    expect(p.out().filter((s) => s.flags === (SYN | ACK))).toHaveLength(100);
    expect(p.stack.counters.get('tcp.syn_flood_dropped')).toBe(900);
    // Another address of the link is not held to the first one's budget (its SYN-ACK waits for ARP).
    p.send({ flags: SYN, seq: 5 }, 40_000, 80, ip('192.168.77.77'));
    p.out();
    expect(p.stack.counters.get('tcp.syn_cookie_sent')).toBe(101);
    expect(p.stack.counters.get('tcp.syn_flood_dropped')).toBe(900);
    // A second later the budget has refilled: a real client's handshake (by cookie) goes through.
    p.now = 2000;
    handshake(p, 42, 60_001);
    expect(accepted).toHaveLength(1);
  });

  it('budgets per source in a fixed table: a source refills at its rate; forged sources spread over the slots', () => {
    const key = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i * 17));
    const guard = new SynFloodGuard(key, { perSecond: 2, slots: 4096 });
    const a = ip('192.168.77.1');
    expect([guard.allow(a, 0), guard.allow(a, 0), guard.allow(a, 0)]).toEqual([true, true, false]);
    expect(guard.allow(a, 499)).toBe(false);
    expect(guard.allow(a, 501)).toBe(true); // half a second: one more token
    expect(guard.allow(0xfd770000000000000000000000000001n, 0)).toBe(true); // IPv6 has budgets too
    // 100 000 forged IPv4 sources, one SYN each within a second: hardly any share a slot past its budget.
    const spread = new SynFloodGuard(key, { perSecond: 100, slots: 4096 });
    let refused = 0;
    for (let i = 0; i < 100_000; i++) if (!spread.allow((0x0a000000 + i * 7919) >>> 0, i / 100)) refused++;
    expect(refused).toBeLessThan(100);
    expect(() => new SynFloodGuard(key, { perSecond: 1, slots: 1000 })).toThrow(RangeError);
  });

  it('10 000 SYNs from addresses that never answer leave a bounded table, and a real client still gets in', () => {
    const { p, accepted } = listening({ tcp: { maxSynBacklog: 64 }, arp: { maxPendingAddresses: 32 } });
    for (let i = 0; i < 10_000; i++) {
      p.now = i / 10;
      // From 192.168.77.100–249: addresses nobody on the link answers ARP for.
      p.send({ flags: SYN, seq: i }, 1024 + (i % 60_000), 80, ip(`192.168.77.${100 + (i % 150)}`));
      p.out();
    }
    expect(p.stack.tcp.connectionCount).toBeLessThanOrEqual(64);
    expect(p.stack.counters.get('tcp.syn_cookie_sent')).toBeGreaterThan(9000);
    expect(p.stack.arp.pendingAddresses).toBeLessThanOrEqual(32);
    p.advanceTo(p.now + 200_000); // embryos give up on their own timers (SYN-ACK retries with backoff)
    p.out();
    expect(p.stack.tcp.connectionCount).toBe(0);
    p.reannounce();
    handshake(p, 42, 60_001);
    expect(accepted).toHaveLength(1);
  });
});

describe('timestamps (RFC 7323 §3–5)', () => {
  it('are agreed when offered, echoed on every segment, and measure the RTT', () => {
    const { p, accepted } = listening();
    p.now = 1000;
    p.send({ flags: SYN, seq: 10, options: { mss: 1460, timestamp: { value: 555, echo: 0 } } });
    const sa = p.one();
    expect(sa.options.timestamp?.echo).toBe(555);
    const ourTs = sa.options.timestamp?.value ?? 0;
    p.now = 1030;
    p.send({ flags: ACK, seq: 11, ack: seqAdd(sa.seq, 1), options: { timestamp: { value: 560, echo: ourTs } } });
    const conn = accepted[0];
    expect(conn?.timestampsEnabled).toBe(true);
    expect(conn?.srttMs).toBe(30);
    conn?.write(bytes(10));
    p.poll();
    expect(p.one().options.timestamp).toEqual({ value: ourTs + 30, echo: 560 });
  });

  it('PAWS drops a segment with an old timestamp and answers with an ACK', () => {
    const { p, accepted } = listening();
    p.send({ flags: SYN, seq: 10, options: { mss: 1460, timestamp: { value: 1000, echo: 0 } } });
    const sa = p.one();
    p.send({ flags: ACK, seq: 11, ack: seqAdd(sa.seq, 1), options: { timestamp: { value: 1001, echo: 0 } } });
    p.send({ flags: ACK | PSH, seq: 11, ack: seqAdd(sa.seq, 1), payload: bytes(5), options: { timestamp: { value: 900, echo: 0 } } });
    expect(p.one().flags).toBe(ACK);
    expect(accepted[0]?.readable).toBe(0);
    expect(p.stack.counters.get('tcp.rx_paws')).toBe(1);
  });

  it('are not used when the peer did not offer them', () => {
    const { p, accepted } = listening();
    handshake(p);
    expect(accepted[0]?.timestampsEnabled).toBe(false);
  });
});

describe('receiving: SACK blocks, delayed ACK', () => {
  function sackConn() {
    const { p, accepted } = listening();
    p.send({ flags: SYN, seq: 1000, options: { mss: 1000, sackPermitted: true } });
    const sa = p.one();
    p.send({ flags: ACK, seq: 1001, ack: seqAdd(sa.seq, 1) });
    const conn = accepted[0];
    if (conn === undefined) throw new Error('no conn');
    return { p, conn, ack: seqAdd(sa.seq, 1) };
  }

  it('reports out-of-order data in SACK blocks, the newest first (RFC 2018 §4)', () => {
    const { p, ack } = sackConn();
    p.send({ flags: ACK, seq: 1101, ack, payload: bytes(100) });
    expect(p.one().options.sack).toEqual([[1101, 1201]]);
    p.send({ flags: ACK, seq: 1301, ack, payload: bytes(100) });
    expect(p.one().options.sack).toEqual([[1301, 1401], [1101, 1201]]);
    p.send({ flags: ACK, seq: 1201, ack, payload: bytes(100) });
    expect(p.one().options.sack).toEqual([[1101, 1401]]);
    p.send({ flags: ACK, seq: 1001, ack, payload: bytes(100) });
    const all = p.one();
    expect(all.ack).toBe(1401);
    expect(all.options.sack).toBeUndefined();
  });

  it('acknowledges every second segment at once and a lone one after the delay', () => {
    const { p, ack } = sackConn();
    p.send({ flags: ACK, seq: 1001, ack, payload: bytes(100) });
    expect(p.out()).toEqual([]);
    p.send({ flags: ACK, seq: 1101, ack, payload: bytes(100) });
    expect(p.one().ack).toBe(1201);
    p.send({ flags: ACK, seq: 1201, ack, payload: bytes(100) });
    expect(p.out()).toEqual([]);
    p.advanceTo(p.now + 39);
    expect(p.out()).toEqual([]);
    p.advanceTo(p.now + 1);
    expect(p.one().ack).toBe(1301);
  });

  it('piggybacks a pending delayed ACK on data it sends', () => {
    const { p, conn, ack } = sackConn();
    p.send({ flags: ACK, seq: 1001, ack, payload: bytes(100) });
    conn.write(bytes(20));
    p.poll();
    const s = p.one();
    expect(s.payload.length).toBe(20);
    expect(s.ack).toBe(1101);
    p.advanceTo(p.now + 100);
    expect(p.out()).toEqual([]);
  });
});

describe('sending: Nagle, keep-alive, zero window, challenge ACKs, memory', () => {
  it('Nagle holds a small segment while data is unacknowledged; noDelay sends it', () => {
    for (const noDelay of [false, true]) {
      const { p, accepted } = listening();
      const s = handshake(p);
      const conn = accepted[0];
      if (conn === undefined) throw new Error('no conn');
      conn.noDelay = noDelay;
      conn.write(bytes(10));
      p.poll();
      expect(p.out()).toHaveLength(1);
      conn.write(bytes(10));
      p.poll();
      expect(p.out()).toHaveLength(noDelay ? 1 : 0);
      p.send({ flags: ACK, seq: s.peerNxt, ack: seqAdd(s.ourNxt, noDelay ? 20 : 10) });
      expect(p.out()).toHaveLength(noDelay ? 0 : 1);
    }
  });

  it('once the application closes, the short last segment leaves at once with the FIN, Nagle or not (as Linux)', () => {
    const { p, accepted } = listening();
    const s = handshake(p);
    const conn = accepted[0];
    if (conn === undefined) throw new Error('no conn');
    expect(conn.noDelay).toBe(false);
    conn.write(bytes(10));
    p.poll();
    expect(p.out()).toHaveLength(1);
    conn.write(bytes(10));
    p.poll();
    expect(p.out()).toHaveLength(0); // held: 10 bytes unacknowledged
    conn.shutdownWrite();
    p.poll();
    const last = p.out();
    expect(last.map((x) => x.payload.length)).toEqual([10]);
    expect((last[0]?.flags ?? 0) & FIN).toBe(FIN);
    expect(last[0]?.seq).toBe(seqAdd(s.ourNxt, 10));
  });

  it('keep-alive probes an idle peer and gives up after the configured probes', () => {
    const { p, accepted } = listening({ tcp: { keepAliveIdleMs: 10_000, keepAliveIntervalMs: 1000, keepAliveProbes: 3 } });
    const s = handshake(p);
    const conn = accepted[0];
    p.advanceTo(9_999);
    expect(p.out()).toEqual([]);
    p.advanceTo(10_000);
    const probe = p.one();
    expect(probe).toMatchObject({ flags: ACK, seq: seqAdd(s.ourNxt, -1) });
    // The peer answers: the idle clock starts over.
    p.send({ flags: ACK, seq: s.peerNxt, ack: s.ourNxt });
    p.advanceTo(19_999);
    expect(p.out()).toEqual([]);
    p.advanceTo(23_000);
    expect(p.out()).toHaveLength(3);
    p.advanceTo(24_000);
    expect(conn?.state).toBe('CLOSED');
    expect(conn?.error).toBe('timeout');
  });

  it('a peer that keeps its window shut is given up after zeroWindowTimeoutMs, probed until then', () => {
    const { p, accepted } = listening({ tcp: { zeroWindowTimeoutMs: 30_000 } });
    p.send({ flags: SYN, seq: 1, window: 0 });
    const sa = p.one();
    p.send({ flags: ACK, seq: 2, ack: seqAdd(sa.seq, 1), window: 0 });
    const conn = accepted[0];
    if (conn === undefined) throw new Error('no conn');
    conn.write(bytes(100));
    p.poll();
    expect(p.out()).toEqual([]);
    let probes = 0;
    for (let t = 0; t < 40_000 && conn.state !== 'CLOSED'; t += 500) {
      p.advanceTo(t);
      for (const s of p.out()) {
        if (s.payload.length === 1) {
          probes++;
          p.send({ flags: ACK, seq: 2, ack: seqAdd(sa.seq, 1), window: 0 }); // still shut
        }
      }
    }
    expect(probes).toBeGreaterThanOrEqual(3);
    expect(conn.state).toBe('CLOSED');
    expect(p.stack.counters.get('tcp.zero_window_timeout')).toBe(1);
  });

  it('challenge ACKs are throttled across connections (RFC 5961 §7)', () => {
    const { p, accepted } = listening({ tcp: { maxChallengeAcksPerSecond: 10 } });
    const s = handshake(p);
    for (let i = 0; i < 100; i++) p.send({ flags: RST, seq: seqAdd(s.peerNxt, 100 + i) });
    expect(p.out()).toHaveLength(10);
    expect(p.stack.counters.get('tcp.challenge_ack_limited')).toBe(90);
    expect(accepted[0]?.state).toBe('ESTABLISHED');
  });

  it('buffers of all connections share one budget: the window shrinks instead of memory growing', () => {
    const { p, accepted } = listening({ tcp: { maxBufferBytes: 64 * 1024 } });
    const peers = [40001, 40002, 40003].map((port) => ({ port, ...handshake(p, 1000, port) }));
    expect(accepted).toHaveLength(3);
    // Each peer sends 40 KB that nobody reads.
    for (const q of peers) {
      for (let off = 0; off < 40_000; off += 1000) {
        p.send({ flags: ACK, seq: seqAdd(q.peerNxt, off), ack: q.ourNxt, payload: bytes(1000) }, q.port);
      }
    }
    expect(p.stack.tcp.budget.inUse).toBeLessThanOrEqual(64 * 1024);
    const held = accepted.reduce((n, c) => n + c.readable, 0);
    expect(held).toBeLessThanOrEqual(64 * 1024);
    expect(held).toBeGreaterThan(32 * 1024);
    // Buffers that were well used keep their memory while the connection lives (a bulk transfer must not
    // free and regrow them on every read); closing gives everything back.
    for (const c of accepted) c.read();
    expect(p.stack.tcp.budget.inUse).toBeLessThanOrEqual(64 * 1024);
    for (const c of accepted) c.abort();
    expect(p.stack.tcp.budget.inUse).toBe(0);
  });

  it('a connection that used little of a large buffer gives it back when it empties', () => {
    const { p, accepted } = listening();
    const s = handshake(p);
    const conn = accepted[0];
    if (conn === undefined) throw new Error('no conn');
    p.send({ flags: ACK, seq: s.peerNxt, ack: s.ourNxt, payload: bytes(1000) });
    expect(p.stack.tcp.budget.inUse).toBe(4096);
    conn.read();
    expect(p.stack.tcp.budget.inUse).toBe(0);
  });
});
