// Packet-level tests of the TCP state machine (RFC 9293 §3.10) against a hand-driven peer, with time
// moved by hand: handshakes, FIN and RST in every state, TIME_WAIT, the backlog, closed ports.

import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import { describe, expect, it } from 'vitest';
import { MAC_BROADCAST } from '../../../src/net/addr.ts';
import { ETHERTYPE_IPV4, buildEthernet } from '../../../src/net/ethernet.ts';
import { PROTO_TCP, buildIpv4 } from '../../../src/net/ipv4-wire.ts';
import { seqAdd } from '../../../src/net/tcp/seq.ts';
import type { TcpConnection } from '../../../src/net/tcp/tcp-connection.ts';
import { ACK, FIN, PSH, RST, SYN, encodeTcp } from '../../../src/net/tcp/tcp-wire.ts';
import { OUR_IP, PEER_IP, PEER_MAC, ip } from '../frames.ts';
import { RawPeer, handshake } from './raw-peer.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function listening(opts: ConstructorParameters<typeof RawPeer>[0] = {}): { p: RawPeer; accepted: TcpConnection[] } {
  const p = new RawPeer(opts);
  const accepted: TcpConnection[] = [];
  p.stack.tcp.listen(80, (c) => accepted.push(c));
  return { p, accepted };
}

function established() {
  const { p, accepted } = listening({ tcp: { timeWaitMs: 60_000 } });
  const s = handshake(p);
  const conn = accepted[0];
  if (conn === undefined) throw new Error('not accepted');
  return { p, conn, ...s };
}

describe('three-way handshake', () => {
  it('passive: SYN → SYN-ACK with our MSS and window scale → ACK → ESTABLISHED and accepted', () => {
    const { p, accepted } = listening();
    p.send({ flags: SYN, seq: 5000, options: { mss: 1400, windowScale: 7 } });
    const sa = p.one();
    expect(sa.flags).toBe(SYN | ACK);
    expect(sa.ack).toBe(5001);
    expect(sa.options.mss).toBe(1460);
    expect(sa.options.windowScale).toBeGreaterThan(0);
    expect(accepted).toHaveLength(0);
    p.send({ flags: ACK, seq: 5001, ack: seqAdd(sa.seq, 1) });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]?.state).toBe('ESTABLISHED');
    expect(accepted[0]?.info().sndMss).toBe(1400);
  });

  it('no window scale in the SYN-ACK when the SYN had none (RFC 7323 §2.2); MSS 536 when absent', () => {
    const { p, accepted } = listening();
    p.send({ flags: SYN, seq: 1 });
    const sa = p.one();
    expect(sa.options.windowScale).toBeUndefined();
    p.send({ flags: ACK, seq: 2, ack: seqAdd(sa.seq, 1) });
    expect(accepted[0]?.info().sndMss).toBe(536);
  });

  it('retransmits the SYN-ACK with backoff, answers a repeated SYN, and gives up after synRetries', () => {
    const { p } = listening({ tcp: { synRetries: 2, initialRtoMs: 1000 } });
    p.send({ flags: SYN, seq: 1 });
    const first = p.one();
    p.advanceTo(999);
    expect(p.out()).toEqual([]);
    p.advanceTo(1000);
    expect(p.one()).toMatchObject({ flags: SYN | ACK, seq: first.seq });
    p.send({ flags: SYN, seq: 1 });
    expect(p.one()).toMatchObject({ flags: SYN | ACK, seq: first.seq });
    p.advanceTo(3000);
    expect(p.one().flags).toBe(SYN | ACK);
    p.advanceTo(7000);
    expect(p.out()).toEqual([]);
    expect(p.stack.tcp.connectionCount).toBe(0);
    expect(p.stack.counters.get('tcp.handshake_timeout')).toBe(1);
  });

  it('an ACK in SYN_RECEIVED that acknowledges nothing we sent is answered with RST', () => {
    const { p, accepted } = listening();
    p.send({ flags: SYN, seq: 1 });
    const sa = p.one();
    p.send({ flags: ACK, seq: 2, ack: seqAdd(sa.seq, 5) });
    expect(p.one()).toMatchObject({ flags: RST, seq: seqAdd(sa.seq, 5) });
    expect(accepted).toHaveLength(0);
  });

  it('active: SYN with MSS and window scale; SYN-ACK → ACK, ESTABLISHED', () => {
    const p = new RawPeer();
    const conn = p.stack.tcp.connect(PEER_IP, 8080);
    p.poll();
    const syn = p.one();
    expect(syn.flags).toBe(SYN);
    expect(syn.options.mss).toBe(1460);
    expect(syn.options.windowScale).toBeDefined();
    expect(syn.dstPort).toBe(8080);
    expect(syn.srcPort).toBeGreaterThanOrEqual(49152);
    p.send({ flags: SYN | ACK, seq: 9000, ack: seqAdd(syn.seq, 1), options: { mss: 1460 } }, 8080, syn.srcPort);
    expect(p.one()).toMatchObject({ flags: ACK, seq: seqAdd(syn.seq, 1), ack: 9001 });
    expect(conn.state).toBe('ESTABLISHED');
    expect(conn.info().sndShift).toBe(0); // the peer offered no scaling
  });

  it('simultaneous open: SYN crosses SYN, both reach ESTABLISHED (RFC 9293 §3.5 figure 7)', () => {
    const p = new RawPeer();
    const conn = p.stack.tcp.connect(PEER_IP, 8080);
    p.poll();
    const syn = p.one();
    p.send({ flags: SYN, seq: 7000, options: { mss: 1460 } }, 8080, syn.srcPort);
    const sa = p.one();
    expect(sa).toMatchObject({ flags: SYN | ACK, seq: syn.seq, ack: 7001 });
    expect(conn.state).toBe('SYN_RECEIVED');
    p.send({ flags: SYN | ACK, seq: 7000, ack: seqAdd(syn.seq, 1), options: { mss: 1460 } }, 8080, syn.srcPort);
    p.send({ flags: ACK, seq: 7001, ack: seqAdd(syn.seq, 1) }, 8080, syn.srcPort);
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('SYN_SENT: RST with an acceptable ACK refuses; RST without ACK and a bad ACK are handled', () => {
    const p = new RawPeer();
    const conn = p.stack.tcp.connect(PEER_IP, 8080);
    p.poll();
    const syn = p.one();
    p.send({ flags: ACK, seq: 1, ack: seqAdd(syn.seq, 100) }, 8080, syn.srcPort);
    expect(p.one()).toMatchObject({ flags: RST, seq: seqAdd(syn.seq, 100) });
    p.send({ flags: RST, seq: 0 }, 8080, syn.srcPort);
    expect(conn.state).toBe('SYN_SENT');
    p.send({ flags: RST | ACK, seq: 0, ack: seqAdd(syn.seq, 1) }, 8080, syn.srcPort);
    expect(conn.state).toBe('CLOSED');
    expect(conn.error).toBe('refused');
    expect(p.stack.tcp.connectionCount).toBe(0);
  });

  it('SYN_SENT: a FIN without SYN is ignored; the SYN is retried, then the connect times out', () => {
    const p = new RawPeer({ tcp: { synRetries: 1 } });
    const conn = p.stack.tcp.connect(PEER_IP, 8080);
    p.poll();
    const syn = p.one();
    p.send({ flags: FIN, seq: 5 }, 8080, syn.srcPort);
    expect(p.out()).toEqual([]);
    expect(conn.state).toBe('SYN_SENT');
    p.advanceTo(1000);
    expect(p.one().flags).toBe(SYN);
    p.advanceTo(3000);
    expect(conn.state).toBe('CLOSED');
    expect(conn.error).toBe('timeout');
  });
});

describe('closed ports and listeners (§3.10.7.1–2)', () => {
  it('answers a SYN to a closed port with RST+ACK, an ACK with RST, and a RST with nothing', () => {
    const p = new RawPeer();
    p.send({ flags: SYN, seq: 100, payload: text('ab') }, 4000, 81);
    expect(p.one()).toMatchObject({ flags: RST | ACK, seq: 0, ack: 103 });
    p.send({ flags: ACK, seq: 100, ack: 777 }, 4000, 81);
    expect(p.one()).toMatchObject({ flags: RST, seq: 777 });
    p.send({ flags: RST, seq: 100 }, 4000, 81);
    expect(p.out()).toEqual([]);
  });

  it('a listener answers a stray ACK with RST and ignores RST', () => {
    const { p } = listening();
    p.send({ flags: ACK, seq: 1, ack: 4242 });
    expect(p.one()).toMatchObject({ flags: RST, seq: 4242 });
    p.send({ flags: RST, seq: 1 });
    expect(p.out()).toEqual([]);
  });

  it('ignores segments sent to a broadcast address', () => {
    const { p } = listening();
    const seg = encodeTcp({ srcPort: 1, dstPort: 80, seq: 1, ack: 0, flags: SYN, window: 1000, urgent: 0, options: {}, payload: new Uint8Array(0) }, ipv4Pseudo(PEER_IP, ip('192.168.77.255'), PROTO_TCP));
    p.stack.receive(buildEthernet({ dst: MAC_BROADCAST, src: PEER_MAC, ethertype: ETHERTYPE_IPV4 }, buildIpv4({ id: 1, ttl: 64, protocol: PROTO_TCP, src: PEER_IP, dst: ip('192.168.77.255') }, seg)), 0);
    expect(p.stack.takeFrames()).toEqual([]);
    expect(p.stack.counters.get('tcp.rx_broadcast')).toBe(1);
  });

  it('drops a segment with a bad checksum', () => {
    const { p } = listening();
    const seg = encodeTcp({ srcPort: 1, dstPort: 80, seq: 1, ack: 0, flags: SYN, window: 1000, urgent: 0, options: {}, payload: new Uint8Array(0) }, ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP));
    seg[4] = (seg[4] ?? 0) ^ 1;
    p.stack.receive(buildEthernet({ dst: p.stack.mac, src: PEER_MAC, ethertype: ETHERTYPE_IPV4 }, buildIpv4({ id: 1, ttl: 64, protocol: PROTO_TCP, src: PEER_IP, dst: OUR_IP }, seg)), 0);
    expect(p.stack.takeFrames()).toEqual([]);
    expect(p.stack.counters.get('tcp.rx_bad_checksum')).toBe(1);
  });

  it('bounds the listen backlog: without SYN cookies, SYNs past it are dropped until a handshake completes', () => {
    const { p, accepted } = listening({ tcp: { maxSynBacklog: 2, synCookies: false } });
    p.send({ flags: SYN, seq: 1 }, 5001);
    const first = p.one();
    p.send({ flags: SYN, seq: 1 }, 5002);
    p.one();
    p.send({ flags: SYN, seq: 1 }, 5003);
    expect(p.out()).toEqual([]);
    expect(p.stack.counters.get('tcp.drop_backlog_full')).toBe(1);
    p.send({ flags: ACK, seq: 2, ack: seqAdd(first.seq, 1) }, 5001);
    expect(accepted).toHaveLength(1);
    p.send({ flags: SYN, seq: 1 }, 5003);
    expect(p.one().flags).toBe(SYN | ACK);
  });

  it('bounds connections in all: a SYN past maxConnections is dropped, connect throws', () => {
    const { p } = listening({ tcp: { maxConnections: 1 } });
    p.send({ flags: SYN, seq: 1 }, 5001);
    p.one();
    p.send({ flags: SYN, seq: 1 }, 5002);
    expect(p.out()).toEqual([]);
    expect(p.stack.counters.get('tcp.drop_too_many_connections')).toBe(1);
    expect(() => p.stack.tcp.connect(PEER_IP, 1)).toThrow(/too many/);
  });
});

describe('data, FIN and RST in every synchronized state', () => {
  it('delivers data in order, acknowledges it (delayed, RFC 5681 §4.2), and sends ours', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    p.send({ flags: ACK | PSH, seq: peerNxt, ack: ourNxt, payload: text('hello') });
    expect(p.out()).toEqual([]);
    p.advanceTo(p.now + 40);
    expect(p.one()).toMatchObject({ flags: ACK, ack: seqAdd(peerNxt, 5) });
    expect(new TextDecoder().decode(conn.read())).toBe('hello');
    conn.write(text('world'));
    p.poll();
    const d = p.one();
    expect(d).toMatchObject({ flags: ACK | PSH, seq: ourNxt });
    expect(new TextDecoder().decode(d.payload)).toBe('world');
  });

  it('ESTABLISHED + FIN → CLOSE_WAIT; close → LAST_ACK; ACK → CLOSED', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    p.send({ flags: ACK | FIN, seq: peerNxt, ack: ourNxt });
    expect(p.one()).toMatchObject({ flags: ACK, ack: seqAdd(peerNxt, 1) });
    expect(conn.state).toBe('CLOSE_WAIT');
    expect(conn.atEof).toBe(true);
    conn.close();
    p.poll();
    expect(p.one()).toMatchObject({ flags: ACK | FIN, seq: ourNxt });
    expect(conn.state).toBe('LAST_ACK');
    p.send({ flags: ACK, seq: seqAdd(peerNxt, 1), ack: seqAdd(ourNxt, 1) });
    expect(conn.state).toBe('CLOSED');
    expect(conn.error).toBeUndefined();
    expect(p.stack.tcp.connectionCount).toBe(0);
  });

  it('close → FIN_WAIT_1; ACK → FIN_WAIT_2; FIN → TIME_WAIT; 2×MSL later gone', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    conn.close();
    p.poll();
    expect(p.one()).toMatchObject({ flags: ACK | FIN, seq: ourNxt });
    expect(conn.state).toBe('FIN_WAIT_1');
    p.send({ flags: ACK, seq: peerNxt, ack: seqAdd(ourNxt, 1) });
    expect(conn.state).toBe('FIN_WAIT_2');
    p.now = 100;
    p.send({ flags: ACK | FIN, seq: peerNxt, ack: seqAdd(ourNxt, 1) });
    expect(p.one()).toMatchObject({ flags: ACK, ack: seqAdd(peerNxt, 1) });
    expect(conn.state).toBe('TIME_WAIT');
    // A retransmitted FIN is acknowledged again and restarts the timer.
    p.now = 30_100;
    p.send({ flags: ACK | FIN, seq: peerNxt, ack: seqAdd(ourNxt, 1) });
    expect(p.one()).toMatchObject({ flags: ACK, ack: seqAdd(peerNxt, 1) });
    p.advanceTo(90_099);
    expect(conn.state).toBe('TIME_WAIT');
    p.advanceTo(90_100);
    expect(conn.state).toBe('CLOSED');
    expect(p.stack.tcp.connectionCount).toBe(0);
  });

  it('TIME_WAIT: a SYN past everything of the old connection opens the new one at once (RFC 6191); an old one gets the ACK', () => {
    const toTimeWait = () => {
      const e = established();
      e.conn.close();
      e.p.poll();
      e.p.out();
      e.p.send({ flags: ACK | FIN, seq: e.peerNxt, ack: seqAdd(e.ourNxt, 1) });
      e.p.out();
      expect(e.conn.state).toBe('TIME_WAIT');
      return e;
    };
    // Without timestamps: an old sequence number gets the TIME_WAIT ACK, no new connection.
    const old = toTimeWait();
    old.p.send({ flags: SYN, seq: seqAdd(old.peerNxt, -100) });
    expect(old.p.one()).toMatchObject({ flags: ACK, ack: seqAdd(old.peerNxt, 1) });
    expect(old.conn.state).toBe('TIME_WAIT');
    // A newer one: the old connection goes, the listener answers with a SYN-ACK, and the handshake completes.
    const { p, conn, peerNxt } = toTimeWait();
    p.now = 1000;
    p.send({ flags: SYN, seq: seqAdd(peerNxt, 100_000), options: { mss: 1460 } });
    const sa = p.one();
    expect(sa.flags).toBe(SYN | ACK);
    expect(sa.ack).toBe(seqAdd(peerNxt, 100_001));
    expect(conn.state).toBe('CLOSED');
    expect(p.stack.counters.get('tcp.time_wait_reused')).toBe(1);
    p.send({ flags: ACK, seq: seqAdd(peerNxt, 100_001), ack: seqAdd(sa.seq, 1) });
    expect([...p.stack.tcp.connections()].map((c) => c.state)).toEqual(['ESTABLISHED']);
  });

  it('TIME_WAIT with timestamps: a SYN with a newer TSval is a new incarnation, an older one is not', () => {
    const { p, accepted } = listening({ tcp: { timeWaitMs: 60_000 } });
    p.send({ flags: SYN, seq: 7000, options: { mss: 1460, timestamp: { value: 500, echo: 0 } } });
    const sa = p.one();
    p.send({ flags: ACK, seq: 7001, ack: seqAdd(sa.seq, 1), options: { timestamp: { value: 501, echo: sa.options.timestamp?.value ?? 0 } } });
    const conn = accepted[0];
    if (conn === undefined) throw new Error('not accepted');
    conn.close();
    p.poll();
    const fin = p.one();
    p.send({ flags: ACK | FIN, seq: 7001, ack: seqAdd(fin.seq, 1), options: { timestamp: { value: 510, echo: fin.options.timestamp?.value ?? 0 } } });
    p.out();
    expect(conn.state).toBe('TIME_WAIT');
    // A lower sequence number but a newer timestamp: new (RFC 6191 §2 prefers the timestamp).
    p.send({ flags: SYN, seq: 1, options: { mss: 1460, timestamp: { value: 509, echo: 0 } } });
    expect(p.one()).toMatchObject({ flags: ACK });
    expect(conn.state).toBe('TIME_WAIT');
    p.send({ flags: SYN, seq: 1, options: { mss: 1460, timestamp: { value: 600, echo: 0 } } });
    expect(p.one().flags).toBe(SYN | ACK);
    expect(conn.state).toBe('CLOSED');
  });

  it('FIN_WAIT_1 + FIN+ACK together → TIME_WAIT', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    conn.close();
    p.poll();
    p.one();
    p.send({ flags: ACK | FIN, seq: peerNxt, ack: seqAdd(ourNxt, 1) });
    expect(conn.state).toBe('TIME_WAIT');
  });

  it('simultaneous close: FIN_WAIT_1 + FIN → CLOSING; ACK of our FIN → TIME_WAIT', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    conn.close();
    p.poll();
    p.one();
    p.send({ flags: ACK | FIN, seq: peerNxt, ack: ourNxt });
    expect(conn.state).toBe('CLOSING');
    expect(p.one()).toMatchObject({ flags: ACK, ack: seqAdd(peerNxt, 1) });
    p.send({ flags: ACK, seq: seqAdd(peerNxt, 1), ack: seqAdd(ourNxt, 1) });
    expect(conn.state).toBe('TIME_WAIT');
  });

  it('FIN_WAIT_2 with the application gone times out', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    conn.close();
    p.poll();
    p.one();
    p.send({ flags: ACK, seq: peerNxt, ack: seqAdd(ourNxt, 1) });
    expect(conn.state).toBe('FIN_WAIT_2');
    p.advanceTo(60_000);
    expect(conn.state).toBe('CLOSED');
    expect(p.stack.counters.get('tcp.fin_wait_2_timeout')).toBe(1);
  });

  it('half-close: after our FIN the peer may still send, and we still read', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    conn.shutdownWrite();
    p.poll();
    p.one();
    p.send({ flags: ACK | PSH, seq: peerNxt, ack: seqAdd(ourNxt, 1), payload: text('late') });
    expect(conn.state).toBe('FIN_WAIT_2');
    expect(new TextDecoder().decode(conn.read())).toBe('late');
  });

  const resetCases: Array<[string, (x: ReturnType<typeof established>) => void]> = [
    ['ESTABLISHED', () => {}],
    ['FIN_WAIT_1', ({ p, conn }) => { conn.close(); p.poll(); p.out(); }],
    ['FIN_WAIT_2', ({ p, conn, peerNxt, ourNxt }) => { conn.close(); p.poll(); p.out(); p.send({ flags: ACK, seq: peerNxt, ack: seqAdd(ourNxt, 1) }); }],
    ['CLOSE_WAIT', ({ p, peerNxt, ourNxt }) => { p.send({ flags: ACK | FIN, seq: peerNxt, ack: ourNxt }); p.out(); }],
    ['LAST_ACK', ({ p, conn, peerNxt, ourNxt }) => { p.send({ flags: ACK | FIN, seq: peerNxt, ack: ourNxt }); conn.close(); p.poll(); p.out(); }],
    ['CLOSING', ({ p, conn, peerNxt, ourNxt }) => { conn.close(); p.poll(); p.send({ flags: ACK | FIN, seq: peerNxt, ack: ourNxt }); p.out(); }],
    ['TIME_WAIT', ({ p, conn, peerNxt, ourNxt }) => { conn.close(); p.poll(); p.send({ flags: ACK | FIN, seq: peerNxt, ack: seqAdd(ourNxt, 1) }); p.out(); }],
  ];

  it.each(resetCases)('%s: RST at RCV.NXT closes; RST elsewhere in the window gets a challenge ACK (RFC 5961 §3.2)', (state, reach) => {
    const x = established();
    reach(x);
    expect(x.conn.state).toBe(state);
    const rcvNxt = x.conn.info().rcvNxt;
    x.p.send({ flags: RST, seq: seqAdd(rcvNxt, 10) });
    expect(x.p.one()).toMatchObject({ flags: ACK, ack: rcvNxt });
    expect(x.conn.state).toBe(state);
    x.p.send({ flags: RST, seq: seqAdd(rcvNxt, 10_000_000) });
    expect(x.p.out()).toEqual([]);
    x.p.send({ flags: RST, seq: rcvNxt });
    expect(x.conn.state).toBe('CLOSED');
    expect(x.p.out()).toEqual([]);
    expect(x.p.stack.tcp.connectionCount).toBe(0);
  });

  it('SYN_RECEIVED: a RST at RCV.NXT drops the embryo quietly; the listener goes on', () => {
    const { p, accepted } = listening();
    p.send({ flags: SYN, seq: 1 });
    p.one();
    p.send({ flags: RST, seq: 2 });
    expect(p.stack.tcp.connectionCount).toBe(0);
    expect(accepted).toHaveLength(0);
    handshake(p, 50);
    expect(accepted).toHaveLength(1);
  });

  it('a SYN on an established connection gets a challenge ACK and changes nothing (RFC 5961 §4)', () => {
    const { p, conn, peerNxt } = established();
    p.send({ flags: SYN, seq: seqAdd(peerNxt, 500) });
    expect(p.one()).toMatchObject({ flags: ACK, ack: peerNxt });
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('an ACK for data never sent is answered with an ACK and dropped', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    p.send({ flags: ACK | PSH, seq: peerNxt, ack: seqAdd(ourNxt, 100), payload: text('x') });
    expect(p.one()).toMatchObject({ flags: ACK, ack: peerNxt });
    expect(conn.readable).toBe(0);
  });

  it('an out-of-window segment is answered with an ACK, its data dropped', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    p.send({ flags: ACK, seq: seqAdd(peerNxt, 2_000_000), ack: ourNxt, payload: text('far') });
    expect(p.one()).toMatchObject({ flags: ACK, ack: peerNxt });
    p.send({ flags: ACK, seq: seqAdd(peerNxt, -10), ack: ourNxt, payload: text('old') });
    expect(p.one()).toMatchObject({ flags: ACK, ack: peerNxt });
    expect(conn.readable).toBe(0);
  });

  it('trims a segment that overlaps what was received, keeping only the new bytes', () => {
    const { p, conn, peerNxt, ourNxt } = established();
    p.send({ flags: ACK, seq: peerNxt, ack: ourNxt, payload: text('abc') });
    p.send({ flags: ACK, seq: seqAdd(peerNxt, 1), ack: ourNxt, payload: text('bcdef') });
    expect(new TextDecoder().decode(conn.read())).toBe('abcdef');
  });

  it('abort sends RST and releases the connection', () => {
    const { p, conn, ourNxt } = established();
    conn.abort();
    p.poll();
    expect(p.one()).toMatchObject({ flags: RST, seq: ourNxt });
    expect(conn.state).toBe('CLOSED');
    expect(conn.error).toBe('aborted');
  });

  it('bounds TIME_WAIT: past maxTimeWait the oldest goes early', () => {
    const { p } = listening({ tcp: { maxTimeWait: 2 } });
    const conns: TcpConnection[] = [];
    p.stack.tcp.listen(81, (c) => conns.push(c));
    for (const port of [6001, 6002, 6003]) {
      const s = handshake(p, 10, port, 81);
      const c = conns[conns.length - 1];
      if (c === undefined) throw new Error('no conn');
      c.close();
      p.poll();
      p.send({ flags: ACK | FIN, seq: s.peerNxt, ack: seqAdd(s.ourNxt, 1) }, port, 81);
      p.out();
    }
    expect(conns.map((c) => c.state)).toEqual(['CLOSED', 'TIME_WAIT', 'TIME_WAIT']);
    expect(p.stack.counters.get('tcp.time_wait_recycled')).toBe(1);
  });
});
