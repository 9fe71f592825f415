// D-SACK (RFC 2883) both ways, with a hand-moved clock: our receiver reports data it had already as the first
// SACK block of the next ACK (below RCV.NXT, and inside an out-of-order block); our sender reads D-SACKs, and when
// every retransmission of a recovery turns out needless (reordering, not loss), the congestion response is undone
// (RFC 3708; RFC 9438 §4.9).

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../src/net/tcp/seq.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { ACK, SYN } from '../../../src/net/tcp/tcp-wire.ts';
import { Net, OUR_IP, type Wire } from './harness.ts';
import { RawPeer } from './raw-peer.ts';
import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import { PROTO_TCP } from '../../../src/net/ip.ts';
import { parseTcp, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bytes = (n: number, k = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * k + 7) & 0xff);

/** A connection from the raw peer to our listener with SACK agreed; the sequence numbers in use. */
function sackConnection() {
  const p = new RawPeer();
  p.stack.tcp.listen(80, () => {});
  p.send({ flags: SYN, seq: 1000, options: { mss: 1460, sackPermitted: true } });
  const synAck = p.one();
  expect(synAck.options.sackPermitted).toBe(true);
  p.send({ flags: ACK, seq: 1001, ack: seqAdd(synAck.seq, 1) });
  return { p, ack: seqAdd(synAck.seq, 1) };
}

function tcpOf(w: Wire): TcpSegment | undefined {
  const ip = w.d.ip;
  if (ip?.protocol !== PROTO_TCP) return undefined;
  const t = parseTcp(w.d.payload, ipv4Pseudo(ip.src, ip.dst, PROTO_TCP));
  return t.ok ? t.segment : undefined;
}

describe('D-SACK (RFC 2883)', () => {
  it('the receiver reports a segment it had already as the first SACK block, once', () => {
    const { p, ack } = sackConnection();
    p.send({ flags: ACK, seq: 1001, ack, payload: bytes(500) });
    p.send({ flags: ACK, seq: 1501, ack, payload: bytes(500) });
    p.out();
    p.send({ flags: ACK, seq: 1001, ack, payload: bytes(500) }); // again: all of it old
    const a = p.one();
    expect(a.ack).toBe(2001);
    expect(a.options.sack).toEqual([[1001, 1501]]);
    p.send({ flags: ACK, seq: 2001, ack, payload: bytes(100) });
    p.poll();
    p.advanceTo(p.now + 100);
    for (const s of p.out()) expect(s.options.sack).toBeUndefined(); // reported once
  });

  it('a duplicate of out-of-order data: the D-SACK first, then the block that holds it (RFC 2883 §4.1.2)', () => {
    const { p, ack } = sackConnection();
    p.send({ flags: ACK, seq: 2001, ack, payload: bytes(500) }); // a hole at 1001
    expect(p.one().options.sack).toEqual([[2001, 2501]]);
    p.send({ flags: ACK, seq: 2001, ack, payload: bytes(500) });
    expect(p.one().options.sack).toEqual([[2001, 2501], [2001, 2501]]);
    p.send({ flags: ACK, seq: 2501, ack, payload: bytes(500) });
    expect(p.one().options.sack).toEqual([[2001, 3001]]); // no D-SACK any more
  });

  it('the sender: a D-SACK on the very ACK that acknowledges the duplicate is taken as one (RFC 2883 §4), and undoes', () => {
    const p = new RawPeer();
    const accepted: TcpSocket[] = [];
    p.stack.tcp.listen(80, (c) => accepted.push(new TcpSocket(c)));
    p.send({ flags: SYN, seq: 1000, options: { mss: 1000, sackPermitted: true } });
    const ack = seqAdd(p.one().seq, 1);
    p.send({ flags: ACK, seq: 1001, ack });
    const sock = accepted[0];
    if (sock === undefined) throw new Error('not accepted');
    sock.conn.noDelay = true;
    void sock.write(bytes(6000));
    p.poll();
    const sent = p.out().filter((s) => s.payload.length > 0);
    expect(sent.length).toBe(6);
    const edge = (i: number): number => seqAdd(ack, i * 1000);
    const ssthreshBefore = sock.conn.info().ssthresh;
    // The first segment is late: three ACKs SACK what follows it, and it is resent.
    for (const k of [2, 3, 4]) p.send({ flags: ACK, seq: 1001, ack, options: { sack: [[edge(1), edge(k)]] } });
    const resent = p.out().filter((s) => s.payload.length > 0 && s.seq === ack);
    expect(resent.length).toBe(1);
    expect(sock.conn.info().ssthresh).toBeLessThan(ssthreshBefore);
    // Its original arrives, then the resent copy: the ACK that covers it all reports that copy as a duplicate.
    p.send({ flags: ACK, seq: 1001, ack: edge(6), options: { sack: [[edge(0), edge(1)]] } });
    expect(p.stack.counters.get('tcp.rx_dsack')).toBe(1);
    expect(p.stack.counters.get('tcp.spurious_undo')).toBe(1);
    expect(sock.conn.info().ssthresh).toBe(ssthreshBefore);
  });

  it('the sender: a fast retransmission that reordering made needless is D-SACKed, and the window reduction undone', async () => {
    const net = new Net();
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
    net.run();
    await client.established();
    const server = servers[0];
    if (server === undefined) throw new Error('not accepted');
    // Grow the window first.
    const warm = bytes(400_000, 3);
    const w1 = client.write(warm);
    await readAllOf(net, server, warm.length);
    await w1;
    const before = client.conn.info();
    // Now hold back one data segment until its retransmission has been sent: the original arrives late.
    let held: Wire | undefined;
    let retransmitted = false;
    net.filter = (w) => {
      const t = w.from === 'b' ? tcpOf(w) : undefined;
      if (t === undefined || t.payload.length === 0) return 'deliver';
      if (held === undefined && t.seq === seqAdd(before.sndNxt, 3 * 1448)) {
        held = w;
        return 'hold';
      }
      if (held !== undefined && !retransmitted && t.seq === seqAdd(before.sndNxt, 3 * 1448)) retransmitted = true;
      return 'deliver';
    };
    const data = bytes(64 * 1024, 5);
    const w2 = client.write(data);
    for (let i = 0; i < 50 && !retransmitted; i++) net.advance(1);
    expect(retransmitted).toBe(true);
    expect(net.b.counters.get('tcp.fast_retransmit')).toBe(1);
    const reduced = client.conn.info().ssthresh;
    expect(reduced).toBeLessThan(before.cwnd);
    net.release(); // the original, late
    const got = await readAllOf(net, server, data.length);
    await w2;
    expect(sha(got)).toBe(sha(data));
    expect(net.b.counters.get('tcp.rx_dsack')).toBeGreaterThanOrEqual(1);
    expect(net.b.counters.get('tcp.spurious_undo')).toBe(1);
    const after = client.conn.info();
    expect(after.ssthresh).toBe(before.ssthresh); // as before the reduction
    expect(after.cwnd).toBeGreaterThanOrEqual(before.cwnd);
  });
});

/** Reads exactly `n` bytes from `s`, moving the net as needed. */
async function readAllOf(net: Net, s: TcpSocket, n: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let got = 0;
  for (let i = 0; got < n && i < 100_000; i++) {
    net.advance(1);
    await new Promise<void>((r) => setImmediate(r));
    while (s.conn.readable > 0) {
      const c = s.conn.read();
      parts.push(c);
      got += c.length;
    }
  }
  return Buffer.concat(parts);
}
