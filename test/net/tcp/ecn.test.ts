// ECN (RFC 3168 §6.1) at packet level: the ECN-setup handshake both ways, ECT(0) on new data only, a CE mark
// echoed with ECE until the peer's CWR, and an ECE answered once per window with CWR on the next new segment.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import { ETHERTYPE_IPV4, buildEthernet } from '../../../src/net/ethernet.ts';
import { PROTO_TCP, buildIpv4 } from '../../../src/net/ipv4-wire.ts';
import { CWR, ECE, ECN_CE, EcnState } from '../../../src/net/tcp/ecn.ts';
import { seqAdd } from '../../../src/net/tcp/seq.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { ACK, PSH, SYN, encodeTcp, parseTcp, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';
import { OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, decode } from '../frames.ts';
import { Net, readAll, type Wire } from './harness.ts';
import { RawPeer } from './raw-peer.ts';
import type { EcnMode } from '../../../src/net/tcp/ecn.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A segment from the peer with the IP ECN field `ecn`. */
function sendWithEcn(p: RawPeer, s: Partial<TcpSegment> & { flags: number }, ecn: number): void {
  const seg: TcpSegment = { srcPort: 40000, dstPort: 80, seq: 0, ack: 0, window: 65535, urgent: 0, options: {}, payload: new Uint8Array(0), ...s };
  const packet = buildIpv4({ id: 1, ttl: 64, protocol: PROTO_TCP, src: PEER_IP, dst: OUR_IP, tos: ecn }, encodeTcp(seg, ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP)));
  p.stack.receive(buildEthernet({ dst: OUR_MAC, src: PEER_MAC, ethertype: ETHERTYPE_IPV4 }, packet), p.now);
  p.poll();
}

function ecnConnection(mode: EcnMode = 'passive', askFlags = ECE | CWR) {
  const p = new RawPeer({ tcp: { ecn: mode } });
  const accepted: TcpSocket[] = [];
  p.stack.tcp.listen(80, (c) => accepted.push(new TcpSocket(c)));
  p.send({ flags: SYN | askFlags, seq: 1000, options: { mss: 1460 } });
  const synAck = p.one();
  p.send({ flags: ACK, seq: 1001, ack: seqAdd(synAck.seq, 1) });
  return { p, synAck, ack: seqAdd(synAck.seq, 1), accepted };
}

describe('ECN (RFC 3168)', () => {
  it('an ECN-setup SYN gets an ECN-setup SYN-ACK (ECE, no CWR); a plain SYN, or ECN off, none', () => {
    expect(ecnConnection().synAck.flags).toBe(SYN | ACK | ECE);
    expect(ecnConnection('passive', 0).synAck.flags).toBe(SYN | ACK);
    expect(ecnConnection('passive', ECE).synAck.flags).toBe(SYN | ACK); // ECE alone is no request
    expect(ecnConnection('off').synAck.flags).toBe(SYN | ACK);
  });

  it('a CE mark is echoed with ECE on every ACK until the peer sends CWR', () => {
    const { p, ack } = ecnConnection();
    sendWithEcn(p, { flags: ACK | PSH, seq: 1001, ack, payload: new Uint8Array(100) }, ECN_CE);
    expect(p.stack.counters.get('tcp.rx_ecn_ce')).toBe(1);
    const a1 = p.one(); // at once, not delayed
    expect(a1.flags & ECE).toBe(ECE);
    sendWithEcn(p, { flags: ACK | PSH, seq: 1101, ack, payload: new Uint8Array(100) }, 2);
    p.advanceTo(p.now + 100);
    expect(p.out().every((s) => (s.flags & ECE) === ECE)).toBe(true);
    sendWithEcn(p, { flags: ACK | PSH | CWR, seq: 1201, ack, payload: new Uint8Array(100) }, 2);
    p.advanceTo(p.now + 100);
    const after = p.out();
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((s) => (s.flags & ECE) === 0)).toBe(true);
  });

  it('an ECE is answered once per window, and again in any later window however far the sequence numbers have gone', () => {
    const e = new EcnState('passive');
    e.peerSyn(ECE | CWR);
    expect(e.onAck(ECE, 0, 1000)).toBe(true);
    expect(e.onAck(ECE, 500, 1500)).toBe(false); // the same window
    expect(e.onAck(0, 1000, 2000)).toBe(false); // the window answered is over
    // 2 GiB on, with no ECE in between: a new window, answered (an end kept from long ago would look ahead of it)
    const far = seqAdd(1000, 0x80000010);
    expect(e.onAck(ECE, far, seqAdd(far, 1000))).toBe(true);
  });

  it('a CE mark on a segment outside the window (an old duplicate, a blind guess) is not echoed', () => {
    const { p, ack } = ecnConnection();
    sendWithEcn(p, { flags: ACK | PSH, seq: 1001 + 1_000_000, ack, payload: new Uint8Array(100) }, ECN_CE);
    expect(p.stack.counters.get('tcp.rx_ecn_ce')).toBe(0);
    const a = p.out();
    expect(a.length).toBe(1); // the ACK an unacceptable segment gets, without ECE
    expect((a[0]?.flags ?? 0) & ECE).toBe(0);
    sendWithEcn(p, { flags: ACK | PSH, seq: 1001, ack, payload: new Uint8Array(100) }, 2);
    p.advanceTo(p.now + 100);
    expect(p.out().every((s) => (s.flags & ECE) === 0)).toBe(true);
  });

  it('without agreement a CE mark is not echoed', () => {
    const { p, ack } = ecnConnection('passive', 0);
    sendWithEcn(p, { flags: ACK | PSH, seq: 1001, ack, payload: new Uint8Array(100) }, ECN_CE);
    p.advanceTo(p.now + 100);
    expect(p.out().every((s) => (s.flags & ECE) === 0)).toBe(true);
    expect(p.stack.counters.get('tcp.rx_ecn_ce')).toBe(0);
  });

  it('our new data leaves ECT(0), pure ACKs and retransmissions not; ECE is answered once per window, then CWR on new data', async () => {
    // Both stacks ask (on) and agree; b sends, and a filter sets ECE on a's ACKs twice within one window.
    const net = new Net({ tcp: { ecn: 'on' } }, { tcp: { ecn: 'on' } });
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
    net.run();
    await client.established();
    const server = servers[0];
    if (server === undefined) throw new Error('not accepted');
    const syn = net.log.find((w) => w.from === 'b' && ((tcpOf(w)?.flags ?? 0) & SYN) !== 0);
    expect((tcpOf(syn)?.flags ?? 0) & (ECE | CWR)).toBe(ECE | CWR);
    expect(client.conn.ecn.agreed).toBe(true);
    let marked = 0;
    net.filter = (w) => {
      const t = tcpOf(w);
      if (w.from === 'a' && t !== undefined && t.payload.length === 0 && marked < 2 && net.b.counters.get('tcp.tx') > 20) {
        marked++;
        w.frame[14 + 20 + 13] = (w.frame[14 + 20 + 13] ?? 0) | ECE; // the TCP flags byte
        fixTcpChecksum(w.frame);
      }
      return 'deliver';
    };
    const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 11) & 0xff);
    const w = client.write(data).then(() => client.shutdownWrite());
    const got = await readAll(net, server);
    await w;
    expect(sha(got)).toBe(sha(data));
    expect(marked).toBe(2);
    expect(net.b.counters.get('tcp.rx_ece')).toBe(1); // two ECEs in one window: one response
    expect(net.b.counters.get('tcp.ecn_reduction')).toBe(1);
    expect(net.b.counters.get('tcp.retransmitted_segment')).toBe(0);
    const fromB = net.log.filter((x) => x.from === 'b' && tcpOf(x) !== undefined);
    const cwr = fromB.filter((x) => ((tcpOf(x)?.flags ?? 0) & CWR) !== 0 && !((tcpOf(x)?.flags ?? 0) & SYN));
    expect(cwr).toHaveLength(1);
    expect(tcpOf(cwr[0])?.payload.length).toBeGreaterThan(0);
    // ECT(0) on every data segment, on no pure ACK.
    for (const x of fromB) {
      const t = tcpOf(x);
      const ecn = (x.d.ip?.tos ?? 0) & 3;
      if ((t?.flags ?? 0) & SYN) expect(ecn).toBe(0);
      else if ((t?.payload.length ?? 0) > 0) expect(ecn).toBe(2);
      else expect(ecn).toBe(0);
    }
  });
});

function tcpOf(w: Wire | undefined): TcpSegment | undefined {
  const ip = w?.d.ip;
  if (w === undefined || ip?.protocol !== PROTO_TCP) return undefined;
  const t = parseTcp(decode(w.frame).payload, ipv4Pseudo(ip.src, ip.dst, PROTO_TCP));
  return t.ok ? t.segment : undefined;
}

/** Recomputes the TCP checksum of an IPv4 frame after the test changed a byte of its TCP header. */
function fixTcpChecksum(frame: Uint8Array): void {
  const d = decode(frame);
  const ip = d.ip;
  if (ip === undefined) return;
  const tcpStart = 14 + ip.headerLength;
  frame[tcpStart + 16] = 0;
  frame[tcpStart + 17] = 0;
  const seg = frame.subarray(tcpStart, 14 + ip.totalLength);
  let sum = ipv4Pseudo(ip.src, ip.dst, PROTO_TCP) + seg.length;
  for (let i = 0; i < seg.length; i += 2) sum += ((seg[i] ?? 0) << 8) | (seg[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  frame[tcpStart + 16] = c >> 8;
  frame[tcpStart + 17] = c & 0xff;
}
