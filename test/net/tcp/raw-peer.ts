// A hand-driven TCP peer: the test writes each segment it sends to our stack and reads each one back.

import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import { ETHERTYPE_IPV4, buildEthernet } from '../../../src/net/ethernet.ts';
import { PROTO_TCP, buildIpv4 } from '../../../src/net/ipv4-wire.ts';
import type { Stack } from '../../../src/stack/stack.ts';
import { seqAdd } from '../../../src/net/tcp/seq.ts';
import { ACK, SYN, encodeTcp, parseTcp, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';
import { OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, decode, staticStack, whoHas } from '../frames.ts';

export class RawPeer {
  readonly stack: Stack;
  now = 0;
  /** Segments our stack sent, oldest first, until taken with `out()`. */
  private pending: TcpSegment[] = [];

  constructor(opts: Parameters<typeof staticStack>[0] = {}) {
    this.stack = staticStack(opts).stack;
    this.stack.receive(whoHas(OUR_IP), 0); // the stack learns our MAC
    this.stack.takeFrames();
  }

  send(s: Partial<TcpSegment> & { flags: number }, srcPort = 40000, dstPort = 80, srcIp = PEER_IP): void {
    const seg: TcpSegment = { srcPort, dstPort, seq: 0, ack: 0, window: 65535, urgent: 0, options: {}, payload: new Uint8Array(0), ...s };
    const packet = buildIpv4({ id: 1, ttl: 64, protocol: PROTO_TCP, src: srcIp, dst: OUR_IP }, encodeTcp(seg, ipv4Pseudo(srcIp, OUR_IP, PROTO_TCP)));
    this.stack.receive(buildEthernet({ dst: OUR_MAC, src: PEER_MAC, ethertype: ETHERTYPE_IPV4 }, packet), this.now);
    this.collect();
  }

  /** The peer asks who-has our address again (so that our ARP cache knows it after a long wait). */
  reannounce(): void {
    this.stack.receive(whoHas(OUR_IP), this.now);
    this.stack.takeFrames();
  }

  /** Polls the stack at the current time. */
  poll(): void {
    this.stack.poll(this.now);
    this.collect();
  }

  /** Moves time to `t`, polling at each deadline on the way. */
  advanceTo(t: number): void {
    for (let d = this.stack.nextDeadline(); d !== undefined && d <= t; d = this.stack.nextDeadline()) {
      this.now = Math.max(this.now, d);
      this.poll();
    }
    this.now = t;
    this.poll();
  }

  /** Takes the TCP segments sent since the last call. */
  out(): TcpSegment[] {
    const o = this.pending;
    this.pending = [];
    return o;
  }

  /** The only segment sent since the last call (fails otherwise). */
  one(): TcpSegment {
    const o = this.out();
    if (o.length !== 1) throw new Error(`expected one segment, got ${o.length}: ${JSON.stringify(o.map((s) => s.flags))}`);
    const s = o[0];
    if (s === undefined) throw new Error('no segment');
    return s;
  }

  private collect(): void {
    for (const f of this.stack.takeFrames()) {
      const d = decode(f);
      if (d.ip?.protocol !== PROTO_TCP) continue;
      const p = parseTcp(d.payload, ipv4Pseudo(d.ip.src, d.ip.dst, PROTO_TCP));
      if (!p.ok) throw new Error(`our stack sent a bad TCP segment: ${p.reason}`);
      this.pending.push(p.segment);
    }
  }
}

/** Opens a connection from the raw peer to a listener on our stack; returns the sequence numbers in use. */
export function handshake(p: RawPeer, peerIss = 1000, srcPort = 40000, dstPort = 80): { ourIss: number; peerNxt: number; ourNxt: number } {
  p.send({ flags: SYN, seq: peerIss, options: { mss: 1460 } }, srcPort, dstPort);
  const synAck = p.one();
  if (synAck.flags !== (SYN | ACK)) throw new Error(`no SYN-ACK: ${synAck.flags}`);
  const ourIss = synAck.seq;
  p.send({ flags: ACK, seq: seqAdd(peerIss, 1), ack: seqAdd(ourIss, 1) }, srcPort, dstPort);
  return { ourIss, peerNxt: seqAdd(peerIss, 1), ourNxt: seqAdd(ourIss, 1) };
}
