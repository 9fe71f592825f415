// ICMP errors reach TCP (RFC 1122 §4.2.3.9, RFC 5461) and path MTU discovery works (RFC 1191, RFC 8201), at
// packet level with a hand-moved clock: two of our stacks, a "router" on the wire (the test's filter) that drops
// what is larger than its link and answers with fragmentation needed / packet too big, quoting the segment. Only a
// quote of a sequence number in flight is believed (RFC 5927 §4.1); the path MTU never drops under 552 (IPv4) or
// 1280 (IPv6), ages back after 10 minutes, and a handshake ends on port unreachable.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eui64, withInterfaceId, parseIpv6 as parseIpv6Text } from '../../../src/net/addr.ts';
import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import { buildEthernet, ETHERTYPE_IPV6 } from '../../../src/net/ethernet.ts';
import { icmpv4TransportError, icmpv6TransportError } from '../../../src/net/icmp-errors.ts';
import { ICMP_DEST_UNREACHABLE, encodeIcmp } from '../../../src/net/icmp-wire.ts';
import { ICMPV6_DEST_UNREACHABLE, ICMPV6_PACKET_TOO_BIG, encodeIcmpv6 } from '../../../src/net/icmpv6-wire.ts';
import { PROTO_ICMP, PROTO_TCP } from '../../../src/net/ip.ts';
import { NH_ICMPV6, buildIpv6, ipv6Pseudo, parseIpv6 } from '../../../src/net/ipv6-wire.ts';
import { plateauBelow } from '../../../src/net/path-mtu.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { SYN, parseTcp } from '../../../src/net/tcp/tcp-wire.ts';
import type { StackOptions } from '../../../src/stack/stack.ts';
import { GW_IP, OUR_MAC, PEER_IP, PEER_MAC, ipFrame } from '../frames.ts';
import { Net, OUR_IP, readAll, type Wire } from './harness.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const data = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
const v6 = (s: string): bigint => parseIpv6Text(s) ?? 0n;
const LL_A = withInterfaceId(v6('fe80::'), eui64(OUR_MAC));
const LL_B = withInterfaceId(v6('fe80::'), eui64(PEER_MAC));
const ROUTER6 = v6('fe80::1');

/** The IPv4 packet in a frame (its header and payload bytes), if it is one. */
const ipv4Packet = (w: Wire): Uint8Array | undefined => (w.frame[12] === 0x08 && w.frame[13] === 0x00 ? w.frame.subarray(14) : undefined);

/** A frag-needed from the gateway to b about `packet` (its header and first 8 bytes of TCP quoted), next-hop MTU `mtu`. */
function fragNeeded(packet: Uint8Array, mtu: number, quoteBytes = 28): Uint8Array {
  const icmp = encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code: 4, rest: mtu & 0xffff, data: packet.subarray(0, quoteBytes) });
  return ipFrame({ protocol: PROTO_ICMP, src: GW_IP, dst: PEER_IP }, icmp, PEER_MAC, OUR_MAC);
}

/**
 * A connection from b to a with a "router" between that takes IPv4 packets of at most `linkMtu` bytes: larger ones
 * from b are dropped and answered with frag-needed (when `answer`); the upload of `size` bytes from b to a.
 */
async function uploadThrough(linkMtu: number, size: number, answer = true, bOpts: Partial<StackOptions> = {}) {
  const net = new Net({}, bOpts);
  const answers: Uint8Array[] = [];
  let dropped = 0;
  let largestDelivered = 0;
  net.filter = (w) => {
    const p = w.from === 'b' ? ipv4Packet(w) : undefined;
    if (p === undefined) return 'deliver';
    if (p.length > linkMtu) {
      dropped++;
      if (answer) answers.push(fragNeeded(p, linkMtu));
      return 'drop';
    }
    largestDelivered = Math.max(largestDelivered, p.length);
    return 'deliver';
  };
  const servers: TcpSocket[] = [];
  net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
  const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
  net.run();
  await client.established();
  const server = servers[0];
  if (server === undefined) throw new Error('not accepted');
  const payload = data(size);
  const w = client.write(payload).then(() => client.shutdownWrite());
  // The router's answers reach b as the wire runs.
  const deliverAnswers = (): void => {
    for (const a of answers.splice(0)) net.b.receive(a, net.now);
  };
  const origAdvance = net.advance.bind(net);
  net.advance = (ms: number) => {
    deliverAnswers();
    origAdvance(ms);
    deliverAnswers();
  };
  const got = await readAll(net, server);
  await w;
  return { net, ok: sha(got) === sha(payload), dropped, largestDelivered, client };
}

describe('ICMP errors read for the transport', () => {
  it('frag-needed and port unreachable (ICMPv4), packet too big (ICMPv6): kind, hard or soft, MTU, the quoted addresses and ports', () => {
    const tcp = Uint8Array.of(0x13, 0x88, 0x00, 0x50, 0, 0, 0x10, 0);
    const quoted = new Uint8Array([0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, PROTO_TCP, 0, 0, 192, 168, 77, 1, 192, 168, 77, 10, ...tcp]);
    const e = icmpv4TransportError({ type: ICMP_DEST_UNREACHABLE, code: 4, rest: 1200, data: quoted }, GW_IP, 5);
    expect(e).toMatchObject({ kind: 'too-big', hard: false, mtu: 1200, quotedLength: 1500, protocol: PROTO_TCP, src: PEER_IP, dst: OUR_IP, now: 5 });
    expect(Array.from(e?.transport ?? [])).toEqual(Array.from(tcp));
    expect(icmpv4TransportError({ type: ICMP_DEST_UNREACHABLE, code: 3, rest: 0, data: quoted }, GW_IP, 0)).toMatchObject({ kind: 'unreachable', hard: true, description: 'port unreachable' });
    expect(icmpv4TransportError({ type: ICMP_DEST_UNREACHABLE, code: 1, rest: 0, data: quoted }, GW_IP, 0)).toMatchObject({ hard: false, description: 'host unreachable' });
    expect(icmpv4TransportError({ type: 11, code: 0, rest: 0, data: quoted }, GW_IP, 0)?.kind).toBe('time-exceeded');
    expect(icmpv4TransportError({ type: 4, code: 0, rest: 0, data: quoted }, GW_IP, 0)).toBeUndefined(); // source quench (RFC 6633)
    expect(icmpv4TransportError({ type: ICMP_DEST_UNREACHABLE, code: 4, rest: 1200, data: quoted.subarray(0, 27) }, GW_IP, 0)).toBeUndefined();
    const h6 = new Uint8Array(40);
    h6[0] = 0x60;
    h6[5] = 200;
    h6[6] = PROTO_TCP;
    h6.set(buildIpv6({ nextHeader: PROTO_TCP, hopLimit: 64, src: LL_B, dst: LL_A }, new Uint8Array(0)).subarray(8, 40), 8);
    const ptb = icmpv6TransportError({ type: ICMPV6_PACKET_TOO_BIG, code: 0, rest: 1280, body: new Uint8Array([...h6, ...tcp]) }, ROUTER6, 0);
    expect(ptb).toMatchObject({ kind: 'too-big', mtu: 1280, protocol: PROTO_TCP, src: LL_B, dst: LL_A, quotedLength: 240 });
    expect(icmpv6TransportError({ type: ICMPV6_DEST_UNREACHABLE, code: 4, rest: 0, body: new Uint8Array([...h6, ...tcp]) }, ROUTER6, 0)?.hard).toBe(true);
    expect(plateauBelow(1500)).toBe(1492);
    expect(plateauBelow(1492)).toBe(1006);
  });
});

describe('path MTU discovery (RFC 1191) and ICMP errors in TCP', () => {
  it('a 1200-byte link answering frag-needed: the path MTU is learned, segments resized, 1 MB arrives byte-exact without a timeout', async () => {
    const r = await uploadThrough(1200, 1 << 20);
    expect(r.ok).toBe(true);
    expect(r.net.b.counters.get('tcp.rx_icmp_too_big')).toBeGreaterThanOrEqual(1);
    expect(r.net.b.counters.get('tcp.pmtu_lowered')).toBeGreaterThanOrEqual(1);
    expect(r.net.b.counters.get('tcp.rto')).toBe(0);
    expect(r.largestDelivered).toBe(1200);
    expect(r.net.b.ipv4.maxPayload(OUR_IP, r.net.now)).toBe(1180);
    expect(r.dropped).toBeLessThan(20); // one window's worth at most, not every segment
    // RFC 1191 §6.3: after 10 minutes the learned MTU is forgotten and the link's tried again.
    expect(r.net.b.ipv4.maxPayload(OUR_IP, r.net.now + 600_001)).toBe(1480);
  });

  it('without the answers (ICMP filtered): the black hole is found after two timeouts, segments stepped down to 1024 (RFC 4821), and probed larger after 10 minutes', async () => {
    const net = new Net();
    net.filter = (w) => (w.from === 'b' && (ipv4Packet(w)?.length ?? 0) > 1200 ? 'drop' : 'deliver');
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
    net.run();
    await client.established();
    const server = servers[0];
    if (server === undefined) throw new Error('not accepted');
    const payload = data(64 * 1024);
    const w = client.write(payload);
    let got = 0;
    for (let i = 0; i < 400 && got < payload.length; i++) {
      net.advance(10);
      await new Promise<void>((r) => setImmediate(r));
      got += server.conn.read().length;
    }
    await w;
    expect(got).toBe(payload.length);
    expect(net.b.counters.get('tcp.blackhole_mss')).toBe(1);
    expect(net.b.counters.get('tcp.rto')).toBe(2);
    // Ten minutes later the full size is tried again: through the black hole it fails, and is found again.
    net.advance(600_000);
    void client.write(data(20_000));
    for (let i = 0; i < 400 && client.conn.unacknowledged > 0; i++) {
      net.advance(10);
      await new Promise<void>((r) => setImmediate(r));
      server.conn.read();
    }
    expect(client.conn.unacknowledged).toBe(0);
    expect(net.b.counters.get('tcp.blackhole_mss')).toBe(2);
    client.conn.abort();
  });

  it('believes only a quote of a sequence number in flight (RFC 5927 §4.1); never lowers under 552; MTU 0 means the plateau below', async () => {
    const net = new Net();
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
    net.run();
    await client.established();
    let held: Uint8Array | undefined;
    net.filter = (w) => {
      const p = w.from === 'b' ? ipv4Packet(w) : undefined;
      if (p !== undefined && p.length > 1000 && held === undefined) {
        held = p.slice();
        return 'hold';
      }
      return 'deliver';
    };
    void client.write(data(1400)); // one segment, held on the wire: it stays in flight
    net.run();
    const p = held;
    if (p === undefined) throw new Error('nothing held');
    // A forged quote: the same segment with a sequence number far outside what is in flight.
    const forged = p.slice();
    forged[20 + 4] = ((forged[20 + 4] ?? 0) + 0x40) & 0xff;
    net.b.receive(fragNeeded(forged, 600), net.now);
    expect(net.b.counters.get('tcp.rx_icmp_out_of_window')).toBe(1);
    expect(net.b.ipv4.maxPayload(OUR_IP, net.now)).toBe(1480);
    // Another connection's ports: unmatched.
    const other = p.slice();
    other[20] = 0x99;
    net.b.receive(fragNeeded(other, 600), net.now);
    expect(net.b.counters.get('tcp.rx_icmp_unmatched')).toBe(1);
    // The true quote, MTU 300: taken, but at 552.
    net.b.receive(fragNeeded(p, 300), net.now);
    expect(net.b.ipv4.maxPayload(OUR_IP, net.now)).toBe(552 - 20);
    // MTU 0 (an old router): the plateau below the refused length; here above what is known, so no change.
    net.b.receive(fragNeeded(p, 0), net.now);
    expect(net.b.ipv4.maxPayload(OUR_IP, net.now)).toBe(532);
    expect(client.conn.info().sndMss).toBeGreaterThan(1000); // the peer's MSS is kept; the path's is what segments use
    const sizes: number[] = [];
    net.filter = (w) => {
      const q = w.from === 'b' ? ipv4Packet(w) : undefined;
      if (q !== undefined) sizes.push(q.length);
      return 'deliver';
    };
    net.run(); // the segment again at once, in pieces the path takes (RFC 1191 §6.5)
    expect(sizes.filter((n) => n > 52)).toEqual([552, 552, 452]); // 500 + 500 + 400 bytes, with 52 of headers each
    expect(net.b.counters.get('tcp.rto')).toBe(0);
    net.release();
    void client.write(data(20_000));
    net.advance(2000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(552);
    expect(client.conn.unacknowledged).toBe(0);
    client.conn.abort();
  });

  it('port unreachable quoting our SYN ends the handshake at once: "refused (port unreachable)"', async () => {
    const net = new Net();
    let syn: Uint8Array | undefined;
    net.filter = (w) => {
      const p = w.from === 'b' ? ipv4Packet(w) : undefined;
      if (p === undefined) return 'deliver';
      const t = parseTcp(p.subarray(20), ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP));
      if (t.ok && (t.segment.flags & SYN) !== 0) {
        syn = p.slice();
        return 'drop';
      }
      return 'deliver';
    };
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 81));
    net.run();
    const s = syn;
    if (s === undefined) throw new Error('no SYN');
    const icmp = encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code: 3, rest: 0, data: s.subarray(0, 28) });
    net.b.receive(ipFrame({ protocol: PROTO_ICMP, src: OUR_IP, dst: PEER_IP }, icmp, PEER_MAC, OUR_MAC), net.now);
    expect(client.conn.state).toBe('CLOSED');
    expect(client.conn.errorText).toBe('refused (port unreachable)');
    await expect(client.established()).rejects.toThrow(/port unreachable/);
    expect(net.b.counters.get('tcp.rx_icmp_hard')).toBe(1);
  });

  it('a soft error (host unreachable) is kept and told when the connection then times out', async () => {
    const net = new Net({}, { tcp: { maxRetransmits: 3 } });
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
    net.run();
    await client.established();
    let first: Uint8Array | undefined;
    net.filter = (w) => {
      const p = w.from === 'b' ? ipv4Packet(w) : undefined;
      if (p !== undefined) first ??= p.slice();
      return p !== undefined ? 'drop' : 'deliver';
    };
    void client.write(data(5000));
    net.run();
    const p = first;
    if (p === undefined) throw new Error('nothing sent');
    const icmp = encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code: 1, rest: 0, data: p.subarray(0, 28) });
    net.b.receive(ipFrame({ protocol: PROTO_ICMP, src: GW_IP, dst: PEER_IP }, icmp, PEER_MAC, OUR_MAC), net.now);
    expect(client.conn.state).toBe('ESTABLISHED'); // soft: the connection goes on (RFC 5461)
    expect(client.conn.softError).toBe('host unreachable');
    net.advance(60_000);
    expect(client.conn.state).toBe('CLOSED');
    expect(client.conn.errorText).toBe('timeout (host unreachable)');
  });

  it('IPv6: packet too big from a router on a 1280-byte link (RFC 8201): resized, byte-exact, never under 1280', async () => {
    const ipv6 = { ipv6: { secret: new Uint8Array(16), ndp: { addresses: { iid: 'eui64' as const } } } };
    const net = new Net(ipv6, ipv6);
    net.advance(3000);
    const answers: Uint8Array[] = [];
    let largest = 0;
    net.filter = (w) => {
      if (w.from !== 'b' || w.frame[12] !== 0x86 || w.frame[13] !== 0xdd) return 'deliver';
      const p = w.frame.subarray(14);
      if (p.length > 1280) {
        const body = p.subarray(0, 1280 - 48);
        const m = encodeIcmpv6({ type: ICMPV6_PACKET_TOO_BIG, code: 0, rest: 1280, body }, ipv6Pseudo(ROUTER6, LL_B, NH_ICMPV6));
        answers.push(buildEthernet({ dst: PEER_MAC, src: OUR_MAC, ethertype: ETHERTYPE_IPV6 }, buildIpv6({ nextHeader: NH_ICMPV6, hopLimit: 64, src: ROUTER6, dst: LL_B }, m)));
        return 'drop';
      }
      const ip = parseIpv6(p);
      if (ip.ok && ip.protocol === PROTO_TCP) largest = Math.max(largest, p.length);
      return 'deliver';
    };
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
    const client = new TcpSocket(net.b.tcp.connect(LL_A, 80));
    net.run();
    await client.established();
    const server = servers[0];
    if (server === undefined) throw new Error('not accepted');
    const payload = data(256 * 1024);
    const w = client.write(payload).then(() => client.shutdownWrite());
    const orig = net.advance.bind(net);
    net.advance = (ms: number) => {
      for (const a of answers.splice(0)) net.b.receive(a, net.now);
      orig(ms);
    };
    const got = await readAll(net, server);
    await w;
    expect(sha(got)).toBe(sha(payload));
    expect(largest).toBe(1280);
    expect(net.b.ipv6?.maxPayload(LL_A, net.now)).toBe(1240);
    expect(net.b.counters.get('tcp.rto')).toBe(0);
    expect(net.b.ipv6?.learnPathMtu(LL_A, 600, net.now)).toBeUndefined(); // 1280 is the floor
  });
});
