// RACK (RFC 8985 §6): loss marked by time, the reordering window and its adaptation, with a hand-moved clock;
// first the state alone (rack.ts), then at packet level against a hand-driven SACK peer: one SACKed segment is
// enough after the reordering window (RFC 6675 would wait for three), and reordering within the window is not
// taken for loss.

import { describe, expect, it } from 'vitest';
import { MAX_RACK_TRANSMISSIONS, REO_WND_PERSIST, RackState } from '../../../src/net/tcp/rack.ts';
import type { LossRecoveryName } from '../../../src/net/tcp/loss-recovery.ts';
import { seqAdd } from '../../../src/net/tcp/seq.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { ACK, SYN } from '../../../src/net/tcp/tcp-wire.ts';
import { RawPeer } from './raw-peer.ts';

/** Four transmissions of 1000 bytes at times 0, 1, 2, 3. */
function fourSent(): RackState {
  const r = new RackState();
  for (let i = 0; i < 4; i++) r.sent(i * 1000, 1000, i, false);
  return r;
}

describe('RACK state (RFC 8985 §6.2)', () => {
  it('marks lost what was sent before the most recently sent delivered one, a round trip and the window after its send', () => {
    const r = fourSent();
    r.onAck(0, [[1000, 2000]], 21); // the second delivered, 20 ms after it left
    // The first: 0 + RACK.rtt 20 + window 5 − now 21 = 4 ms to go; the third and fourth were sent later: not candidates.
    expect(r.detectLoss(21, 5)).toEqual({ lost: [], lostAgain: 0, waitMs: 4 });
    expect(r.detectLoss(25, 5)).toEqual({ lost: [[0, 1000]], lostAgain: 0, waitMs: undefined });
    expect(r.detectLoss(30, 5).lost).toEqual([]); // once
  });

  it('a retransmission has a send time of its own: lost again when what left after it is delivered and it is not', () => {
    const r = fourSent();
    r.onAck(0, [[1000, 2000]], 21);
    r.detectLoss(25, 0);
    r.sent(0, 1000, 25, true); // the first again
    r.sent(4000, 1000, 26, false); // new data after it
    r.onAck(0, [[1000, 2000], [4000, 5000]], 46);
    // The first again (lost again), and the third and fourth: sent before the fifth, and still missing.
    expect(r.detectLoss(46, 0)).toEqual({ lost: [[0, 1000], [2000, 4000]], lostAgain: 1, waitMs: undefined });
  });

  it('an ACK faster than the minimum RTT is the original\'s, and teaches nothing about the retransmission', () => {
    const r = fourSent();
    r.onAck(1000, [], 20); // RTT 20 (min_RTT 20)
    r.sent(1000, 1000, 21, true); // a needless retransmission of the second
    r.onAck(2000, [], 22); // 1 ms after it: the original's ACK
    r.sent(4000, 1000, 23, false);
    r.onAck(2000, [[4000, 5000]], 43); // RACK.rtt from this one: 20, not 1
    // The third (sent at 2) and fourth (3) are missing: both lost at 43 (2 + 20 < 43), neither if RACK.rtt were kept at 1.
    expect(r.detectLoss(43, 0).lost).toEqual([[2000, 4000]]);
  });

  it('the reordering window: a quarter of min_RTT, none in recovery or with DupThresh SACKed until reordering is seen, at most SRTT', () => {
    const r = fourSent();
    r.onAck(1000, [], 40); // min_RTT 40
    expect(r.reorderWindow(false, 0, 50)).toBe(10);
    expect(r.reorderWindow(true, 0, 50)).toBe(0);
    expect(r.reorderWindow(false, 3, 50)).toBe(0);
    expect(r.reorderWindow(false, 0, 6)).toBe(6); // capped at SRTT
    // The fourth delivered, then the third (not a retransmission) below it: reordering.
    r.onAck(1000, [[3000, 4000]], 43);
    expect(r.reorderingSeen).toBe(false);
    r.onAck(1000, [[2000, 3000]], 44);
    expect(r.reorderingSeen).toBe(true);
    expect(r.reorderWindow(true, 5, 50)).toBe(10);
  });

  it('D-SACKs widen the window, once per round trip, for 16 recoveries, then it shrinks back', () => {
    const r = fourSent();
    r.onAck(1000, [], 40);
    r.onDsack(1000, 4000);
    expect(r.reoWndMult).toBe(2);
    r.onDsack(2000, 4000); // the same round trip
    expect(r.reoWndMult).toBe(2);
    r.onDsack(4000, 8000); // the next
    expect(r.reoWndMult).toBe(3);
    expect(r.reorderWindow(false, 0, 100)).toBe(30);
    for (let i = 0; i < REO_WND_PERSIST - 1; i++) r.recoveryEnded();
    expect(r.reoWndMult).toBe(3);
    r.recoveryEnded();
    expect(r.reoWndMult).toBe(1);
  });

  it('splits a super-segment at the edges of a SACK block, so a lost segment inside it is found alone', () => {
    const r = new RackState();
    r.sent(0, 4000, 0, false); // one super-segment of four
    r.onAck(0, [[1000, 4000]], 20); // all but its first segment SACKed
    expect(r.size).toBe(2);
    // The SACKed part left at the same instant as the missing one, but after it in sending order.
    expect(r.detectLoss(20, 0).lost).toEqual([]);
    r.sent(4000, 1000, 21, false);
    r.onAck(0, [[1000, 5000]], 41);
    expect(r.detectLoss(41, 0).lost).toEqual([[0, 1000]]);
  });

  it('remembers at most MAX_RACK_TRANSMISSIONS transmissions: the oldest merge, with the later send time', () => {
    const r = new RackState(4);
    for (let i = 0; i < 6; i++) r.sent(i * 100, 100, i, false);
    expect(r.size).toBe(4);
    expect(MAX_RACK_TRANSMISSIONS).toBeGreaterThanOrEqual(1024);
    r.onAck(0, [[500, 600]], 25); // the last one delivered, RACK.rtt 20
    // The merged first three count as sent at 2: lost at 22, not at 20.
    expect(r.detectLoss(21, 0).lost).toEqual([]);
    expect(r.detectLoss(25, 0).lost).toEqual([[0, 500]]);
  });
});

/** Our listener with the given recovery, a raw SACK peer, RTT samples of 20 ms; four 1000-byte segments out at t = 40. */
function fourInFlight(lossRecovery: LossRecoveryName) {
  const p = new RawPeer({ tcp: { lossRecovery, minRtoMs: 200 } });
  const accepted: TcpSocket[] = [];
  p.stack.tcp.listen(80, (c) => accepted.push(new TcpSocket(c)));
  p.send({ flags: SYN, seq: 1000, options: { mss: 1000, sackPermitted: true } });
  const ack = seqAdd(p.one().seq, 1);
  p.advanceTo(20);
  p.send({ flags: ACK, seq: 1001, ack }); // RTT 20 ms
  const sock = accepted[0];
  if (sock === undefined) throw new Error('not accepted');
  sock.conn.noDelay = true;
  void sock.write(new Uint8Array(1000));
  p.poll();
  expect(p.out().filter((s) => s.payload.length > 0)).toHaveLength(1);
  p.advanceTo(40);
  p.send({ flags: ACK, seq: 1001, ack: seqAdd(ack, 1000) }); // and again
  void sock.write(new Uint8Array(4000));
  p.poll();
  const segs = p.out().filter((s) => s.payload.length > 0);
  expect(segs).toHaveLength(4);
  const base = seqAdd(ack, 1000);
  const edge = (i: number): number => seqAdd(base, i * 1000);
  return { p, edge };
}

describe('RACK at packet level (RFC 8985)', () => {
  it('one SACKed segment is enough: the hole before it is resent a quarter RTT later, on the reordering timer', () => {
    const { p, edge } = fourInFlight('rack');
    p.advanceTo(60);
    p.send({ flags: ACK, seq: 1001, ack: edge(0), options: { sack: [[edge(1), edge(2)]] } });
    expect(p.out().filter((s) => s.payload.length > 0)).toEqual([]); // not at once: it may be reordering
    p.advanceTo(64);
    expect(p.out().filter((s) => s.payload.length > 0)).toEqual([]);
    p.advanceTo(66); // 40 + RACK.rtt 20 + min_RTT / 4 = 65
    const resent = p.out().filter((s) => s.payload.length > 0);
    expect(resent.map((s) => s.seq)).toEqual([edge(0)]);
    expect(p.stack.counters.get('tcp.rack_lost')).toBe(1);
    expect(p.stack.counters.get('tcp.fast_retransmit')).toBe(1);
    expect(p.stack.counters.get('tcp.rto')).toBe(0);
    expect(p.stack.counters.get('tcp.tlp')).toBe(0);
  });

  it('RFC 6675 (sack) on the same pattern waits: one SACKed segment is no loss to it', () => {
    const { p, edge } = fourInFlight('sack');
    p.advanceTo(60);
    p.send({ flags: ACK, seq: 1001, ack: edge(0), options: { sack: [[edge(1), edge(2)]] } });
    p.advanceTo(66);
    expect(p.out().filter((s) => s.payload.length > 0)).toEqual([]);
    expect(p.stack.counters.get('tcp.fast_retransmit')).toBe(0);
  });

  it('reordering within the window is not loss: the late segment\'s ACK comes before the timer, nothing is resent', () => {
    const { p, edge } = fourInFlight('rack');
    p.advanceTo(60);
    p.send({ flags: ACK, seq: 1001, ack: edge(0), options: { sack: [[edge(1), edge(2)]] } });
    p.advanceTo(62);
    p.send({ flags: ACK, seq: 1001, ack: edge(2) }); // the first arrived after the second
    p.advanceTo(63);
    p.send({ flags: ACK, seq: 1001, ack: edge(4) });
    p.advanceTo(300);
    expect(p.out().filter((s) => s.payload.length > 0)).toEqual([]);
    expect(p.stack.counters.get('tcp.retransmitted_segment')).toBe(0);
    expect(p.stack.counters.get('tcp.rack_lost')).toBe(0);
  });
});
