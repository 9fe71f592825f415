// Sequence numbers wrap at 2^32 (RFC 9293 §3.4): a connection whose ISN sits just below the wrap
// moves data across it without a hitch.

import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGt, seqInWindow, seqLt } from '../../../src/net/tcp/seq.ts';
import { TcpConnection, defaultTcpConfig, type TcpHost } from '../../../src/net/tcp/tcp-connection.ts';
import { ACK, PSH, SYN, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';

describe('sequence arithmetic', () => {
  it('compares across the wrap', () => {
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0)).toBe(true);
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqInWindow(0x5, 0xfffffff0, 0x20)).toBe(true);
    expect(seqInWindow(0x20, 0xfffffff0, 0x20)).toBe(false);
  });
});

describe('a connection across the wrap', () => {
  it('sends and receives data whose sequence numbers wrap', () => {
    const sent: TcpSegment[] = [];
    let closed = false;
    const host: TcpHost = {
      config: { ...defaultTcpConfig, mss: 100 },
      send: (_c, seg) => sent.push(seg),
      closed: () => {
        closed = true;
      },
      established: () => {},
      dirty: () => {},
      resetLater: () => {},
      count: () => {},
    };
    const iss = 0xffffff00;
    const conn = new TcpConnection(host, { address: 1, port: 80 }, { address: 2, port: 5000 }, iss, false);
    const peerIss = 0xffffffc0;
    conn.acceptSyn({ srcPort: 5000, dstPort: 80, seq: peerIss, ack: 0, flags: SYN, window: 65535, urgent: 0, options: { mss: 100 }, payload: new Uint8Array(0) }, 0);
    expect(sent.pop()).toMatchObject({ flags: SYN | ACK, seq: iss, ack: 0xffffffc1 });
    const seg = (seq: number, ack: number, payload: Uint8Array): TcpSegment => ({ srcPort: 5000, dstPort: 80, seq, ack, flags: ACK | PSH, window: 65535, urgent: 0, options: {}, payload });
    conn.receive(seg(0xffffffc1, 0xffffff01, new Uint8Array(0)), 1);
    expect(conn.state).toBe('ESTABLISHED');
    // 300 bytes from the peer: its sequence numbers cross 2^32.
    const incoming = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    conn.receive(seg(0xffffffc1, 0xffffff01, incoming.subarray(0, 100)), 2);
    conn.receive(seg(0x25, 0xffffff01, incoming.subarray(100, 200)), 3);
    conn.receive(seg(0x89, 0xffffff01, incoming.subarray(200, 300)), 4);
    expect(Array.from(conn.read())).toEqual(Array.from(incoming));
    expect(conn.info().rcvNxt).toBe(0xed);
    // 500 bytes to the peer: ours cross it too.
    sent.length = 0;
    conn.write(Uint8Array.from({ length: 500 }, (_, i) => (i * 3) & 0xff));
    conn.output(5);
    // The initial window (RFC 6928: ten segments of this MSS) takes all five at once.
    expect(sent.map((s) => s.seq)).toEqual([0xffffff01, 0xffffff65, 0xffffffc9, 0x2d, 0x91]);
    sent.length = 0;
    conn.receive(seg(0xed, 0x91, new Uint8Array(0)), 6);
    expect(sent).toEqual([]);
    expect(conn.unacknowledged).toBe(100);
    conn.receive(seg(0xed, 0xf5, new Uint8Array(0)), 7);
    expect(conn.unacknowledged).toBe(0);
    expect(conn.info().sndUna).toBe(0xf5);
    expect(closed).toBe(false);
  });
});
