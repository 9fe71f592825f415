// Offloads of a virtio-net TAP, at packet level: a stack told its device finishes TCP checksums and cuts
// super-segments (TSO) sends frames the kernel's GSO turns into correct wire segments (test/net/kernel-gso.ts
// does what the kernel does), and takes super-segments with partial checksums in when the device vouches.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checksum, ipv4Pseudo } from '../../../src/net/checksum.ts';
import { OffloadFrame, type DeviceOffloads } from '../../../src/net/device.ts';
import { PROTO_TCP } from '../../../src/net/ipv4-wire.ts';
import { encodeTcp, encodeTcpPacket, parseTcp } from '../../../src/net/tcp/tcp-wire.ts';
import { kernelSegment } from '../kernel-gso.ts';
import { Net, OUR_IP, PEER_IP, bothWays, readAll, socketPair as pair, type Wire } from './harness.ts';

const OFFLOADS: DeviceOffloads = { txChecksum: true, tsoMaxBytes: 65535 };
const pattern = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 7 + (i >> 9)) & 0xff);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const tcpLen = (w: Wire): number => (w.d.ip?.protocol === PROTO_TCP ? w.frame.length : 0);

describe('TCP over a device with checksum offload and TSO', () => {
  it('sends super-segments that the kernel cuts into correct MSS segments: 1 MB byte-exact', async () => {
    const { net, client, server } = await pair({ offloads: OFFLOADS });
    const offloaded: OffloadFrame[] = [];
    const take = net.a.takeFrames.bind(net.a);
    net.a.takeFrames = () => {
      const fs = take();
      for (const f of fs) if (f instanceof OffloadFrame) offloaded.push(f);
      return fs;
    };
    const data = pattern(1_000_000);
    const w = server.write(data).then(() => server.shutdownWrite());
    const got = await readAll(net, client);
    await w;
    expect(sha(got)).toBe(sha(data));
    // Super-segments left our stack: bigger than the MTU, cut by MSS, their checksums partial.
    const supers = offloaded.filter((f) => f.offload.gsoSize > 0);
    expect(supers.length).toBeGreaterThan(0);
    expect(Math.max(...supers.map((f) => f.length))).toBeGreaterThan(10 * 1514);
    expect(supers.every((f) => f.length <= 14 + 65535)).toBe(true);
    expect(new Set(supers.map((f) => f.offload.gsoSize))).toEqual(new Set([1448]));
    // The wire saw only segments of at most 1514 bytes, each with a good checksum (b would have dropped it).
    expect(Math.max(...net.log.map(tcpLen))).toBeLessThanOrEqual(1514);
    expect(net.b.counters.get('tcp.rx_bad_checksum')).toBe(0);
    expect(net.a.counters.get('ip.tx_fragment')).toBe(0);
    expect(net.a.counters.get('tcp.tx_tso')).toBe(supers.length);
    // Far fewer sends than segments on the wire: that is what TSO is for.
    const dataSegs = net.log.filter((x) => x.from === 'a' && tcpLen(x) > 1000).length;
    expect(supers.length * 10).toBeLessThan(dataSegs);
  });

  it('takes super-segments with partial checksums in when the device vouches, and ACKs them at once', async () => {
    // b sends with TSO and its frames reach a whole (a local sender over the bridge, GSO never cut).
    const { net, client, server } = await pair({}, { offloads: OFFLOADS }, (n) => {
      n.offloadPath.b = 'whole';
    });
    const data = pattern(1_000_000, 3);
    const w = client.write(data).then(() => client.shutdownWrite());
    const got = await readAll(net, server);
    await w;
    expect(sha(got)).toBe(sha(data));
    const big = net.log.filter((x) => x.from === 'b' && x.frame.length > 1514);
    expect(big.length).toBeGreaterThan(0);
    // Partial checksums: they would fail verification, so a checked them not (and dropped nothing).
    expect(big.some((x) => x.frame instanceof OffloadFrame)).toBe(true);
    expect(net.a.counters.get('tcp.rx_bad_checksum')).toBe(0);
    // RFC 5681 §4.2 in full segments' worth: every super-segment of 2+ MSS is acknowledged without delay.
    const acksFromA = net.log.filter((x) => x.from === 'a' && tcpLen(x) > 0 && tcpLen(x) <= 100).length;
    expect(acksFromA).toBeGreaterThanOrEqual(big.length * 0.9);
  });

  it('recovers a segment lost after the kernel cut a super-segment, retransmitting one MSS', async () => {
    const { net, client, server } = await pair({ offloads: OFFLOADS });
    let dropped = 0;
    net.filter = (w) => {
      if (w.from === 'a' && tcpLen(w) === 1514 && dropped === 0 && net.log.filter((x) => x.from === 'a' && tcpLen(x) === 1514).length === 30) {
        dropped++;
        return 'drop';
      }
      return 'deliver';
    };
    const data = pattern(600_000, 5);
    const w = server.write(data).then(() => server.shutdownWrite());
    const got = await readAll(net, client);
    await w;
    expect(dropped).toBe(1);
    expect(sha(got)).toBe(sha(data));
    expect(net.a.counters.get('tcp.retransmitted_segment')).toBeGreaterThanOrEqual(1);
    expect(net.a.counters.get('tcp.retransmitted_segment')).toBeLessThanOrEqual(3);
  });

  it('keeps every wire segment within the MTU when super-segments carry SACK blocks (both ways, a loss each way)', async () => {
    const { net, client, server } = await pair({ offloads: OFFLOADS }, { offloads: OFFLOADS });
    let fromA = 0;
    let fromB = 0;
    net.filter = (w) => {
      if (tcpLen(w) < 1000) return 'deliver';
      if (w.from === 'a' && ++fromA === 50) return 'drop';
      if (w.from === 'b' && ++fromB === 60) return 'drop';
      return 'deliver';
    };
    const up = pattern(1_000_000, 21);
    const down = pattern(1_000_000, 22);
    const [gotUp, gotDown] = await bothWays(net, client, server, up, down);
    expect(sha(gotUp)).toBe(sha(up));
    expect(sha(gotDown)).toBe(sha(down));
    // What the kernel cut from our super-segments fits the MTU, SACK blocks and all.
    expect(Math.max(...net.log.map(tcpLen))).toBeLessThanOrEqual(1514);
    for (const st of [net.a, net.b]) expect(st.counters.get('tcp.rx_bad_checksum')).toBe(0);
  });

  it('does not trust a partial checksum the device did not vouch for', () => {
    const net = new Net();
    const seg = { srcPort: 4000, dstPort: 80, seq: 1, ack: 0, flags: 0x02, window: 1000, urgent: 0, options: {}, payload: new Uint8Array(0) };
    const partial = encodeTcpPacket(seg, ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP), 0, 0).view();
    expect(parseTcp(partial, ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP)).ok).toBe(false);
    expect(parseTcp(partial, ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP), true).ok).toBe(true);
    // The same segment finished as the kernel would is good everywhere, and equal to our own full checksum.
    const full = encodeTcp(seg, ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP));
    const frame = new Uint8Array(14 + 20 + partial.length);
    frame.set(partial, 34);
    const finished = kernelSegment(new OffloadFrame(frame.buffer, 0, frame.length, { csumStart: 34, csumOffset: 16, hdrLen: 54, gsoSize: 0 }))[0];
    expect(finished?.subarray(34)).toEqual(full);
    expect(net.a.counters.get('tcp.rx_bad_checksum')).toBe(0);
  });

  it('sends nothing past the MTU without TSO, and never fragments a super-segment', async () => {
    const { net, client, server } = await pair({ offloads: { txChecksum: true, tsoMaxBytes: 0 } });
    const data = pattern(200_000, 7);
    const w = server.write(data).then(() => server.shutdownWrite());
    const got = await readAll(net, client);
    await w;
    expect(sha(got)).toBe(sha(data));
    const fromA = net.log.filter((x) => x.from === 'a');
    expect(Math.max(...fromA.map(tcpLen))).toBeLessThanOrEqual(1514);
    expect(net.a.counters.get('tcp.tx_tso')).toBe(0);
    // Checksums were left to the "device" and finished right: b dropped nothing.
    expect(net.b.counters.get('tcp.rx_bad_checksum')).toBe(0);
    expect(checksum(new Uint8Array([0, 0]))).toBe(0xffff);
  });
});
