// Two of our stacks on a simulated wire, time moved by hand: data both ways, loss and retransmission,
// reordering, the zero window, and node:http running over our TCP through the Duplex adapter.

import { PROTO_TCP } from '../../../src/net/ip.ts';
import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { systemTimers } from '../../../src/clock.ts';
import { StackSocket } from '../../../src/net/duplex.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { ACK, FIN, RST, SYN } from '../../../src/net/tcp/tcp-wire.ts';
import { parseTcp } from '../../../src/net/tcp/tcp-wire.ts';
import { Net, OUR_IP, bothWays, readAll, socketPair as pair, type Wire } from './harness.ts';

const pattern = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 7 + (i >> 9)) & 0xff);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function tcpOf(w: Wire) {
  const ip = w.d.ip;
  if (ip?.protocol !== 6) return undefined;
  const p = parseTcp(w.d.payload, ipv4Pseudo(ip.src, ip.dst, PROTO_TCP));
  return p.ok ? p.segment : undefined;
}

describe('data transfer between two stacks', () => {
  it('moves 1 MB each way byte-exact, with a clean close', async () => {
    const { net, client, server } = await pair();
    const up = pattern(1_000_000, 1);
    const down = pattern(1_000_000, 2);
    const [gotUp, gotDown] = await bothWays(net, client, server, up, down);
    expect(sha(gotUp)).toBe(sha(up));
    expect(sha(gotDown)).toBe(sha(down));
    net.advance(120_000);
    expect(net.a.tcp.connectionCount + net.b.tcp.connectionCount).toBe(0);
    expect(net.a.counters.get('tcp.retransmit') + net.b.counters.get('tcp.retransmit')).toBe(0);
  });

  /** Drops the data segments from the client whose ordinal (1-based, first transmission) is listed. */
  function dropData(net: Net, which: number[]): { dropped: number[] } {
    let n = 0;
    const dropped: number[] = [];
    const seen = new Set<number>();
    net.filter = (w) => {
      const s = tcpOf(w);
      if (w.from !== 'b' || s === undefined || s.payload.length === 0 || seen.has(s.seq)) return 'deliver';
      seen.add(s.seq);
      n++;
      if (which.includes(n)) {
        dropped.push(n);
        return 'drop';
      }
      return 'deliver';
    };
    return { dropped };
  }

  it('repairs one lost segment with one retransmission, in round trips, not an RTO (SACK, RFC 6675)', async () => {
    const { net, client, server } = await pair();
    expect(client.conn.sackEnabled).toBe(true);
    const { dropped } = dropData(net, [2]);
    const data = pattern(40_000);
    const t0 = net.now;
    void client.write(data).then(() => client.close());
    const got = await readAll(net, server, 1);
    expect(sha(got)).toBe(sha(data));
    expect(dropped).toEqual([2]);
    expect(net.b.counters.get('tcp.fast_retransmit')).toBe(1);
    expect(net.b.counters.get('tcp.retransmitted_segment')).toBe(1);
    expect(net.b.counters.get('tcp.rto')).toBe(0);
    expect(net.now - t0).toBeLessThan(200);
  });

  it('without SACK, NewReno repairs two losses in one window without an RTO (RFC 6582)', async () => {
    const { net, client, server } = await pair({ tcp: { sack: false } }, { tcp: { sack: false } });
    expect(client.conn.sackEnabled).toBe(false);
    const { dropped } = dropData(net, [3, 6]);
    const data = pattern(60_000);
    void client.write(data).then(() => client.close());
    const got = await readAll(net, server, 1);
    expect(sha(got)).toBe(sha(data));
    expect(dropped).toEqual([3, 6]);
    expect(net.b.counters.get('tcp.fast_retransmit')).toBe(1);
    expect(net.b.counters.get('tcp.retransmitted_segment')).toBe(2);
    expect(net.b.counters.get('tcp.rto')).toBe(0);
  });

  it('without tail loss probes, repairs a tail loss with the RTO, after the configured minimum (not a second)', async () => {
    const { net, client, server } = await pair({}, { tcp: { minRtoMs: 200, tailLossProbe: false } });
    const data = pattern(3000); // three segments; the last is lost: no duplicate ACKs follow it
    const { dropped } = dropData(net, [3]);
    const t0 = net.now;
    void client.write(data).then(() => client.shutdownWrite());
    const got = await readAll(net, server, 5);
    expect(sha(got)).toBe(sha(data));
    expect(dropped).toEqual([3]);
    expect(net.b.counters.get('tcp.rto')).toBe(1);
    expect(net.now - t0).toBeGreaterThanOrEqual(200);
    expect(net.now - t0).toBeLessThan(1000);
  });

  it('a tail loss probe (RFC 8985 §7) repairs the two last of four segments lost in a few round trips, with no RTO', async () => {
    const { net, client, server } = await pair({}, { tcp: { minRtoMs: 200 } });
    // Some traffic first, for an RTT sample (the probe timeout is 2·SRTT).
    void client.write(pattern(1000));
    await net.settle();
    net.advance(50);
    expect((await server.read())?.length).toBe(1000);
    const data = pattern(5000);
    client.conn.noDelay = true; // all four segments at once (as HTTP sends), not the short last one held by Nagle
    const { dropped } = dropData(net, [3, 4]); // 5000 bytes: four segments, the last two lost
    const t0 = net.now;
    void client.write(data).then(() => client.shutdownWrite());
    const got = await readAll(net, server, 1);
    expect(sha(got)).toBe(sha(data));
    expect(dropped).toHaveLength(2);
    expect(net.b.counters.get('tcp.tlp')).toBe(1);
    expect(net.b.counters.get('tcp.rto')).toBe(0);
    expect(net.now - t0).toBeLessThan(100); // not the 200 ms RTO
    // The probe's SACK started recovery, whose window reduction answers the loss: not a second one (§7.4).
    expect(net.b.counters.get('tcp.fast_retransmit')).toBe(1);
    expect(net.b.counters.get('tcp.tlp_repaired')).toBe(0);
  });

  it('no tail loss probe for a lone segment whose ACK is only delayed (PTO = 2·SRTT + WCDelAckT, RFC 8985 §7.2)', async () => {
    const { net, client, server } = await pair({ tcp: { delayedAckMs: 40 } }, {});
    void client.write(pattern(1000));
    await net.settle();
    net.advance(50);
    expect((await server.read())?.length).toBe(1000);
    const before = net.b.counters.get('tcp.tlp');
    void client.write(pattern(100)); // one small segment: the peer holds its ACK for 40 ms
    await net.settle();
    net.advance(300);
    expect((await server.read())?.length).toBe(100);
    expect(client.conn.unacknowledged).toBe(0);
    expect(net.b.counters.get('tcp.tlp')).toBe(before);
    expect(net.b.counters.get('tcp.retransmitted_segment')).toBe(0);
  });

  it('survives random loss of a tenth of all segments both ways, byte-exact', async () => {
    const { net, client, server } = await pair();
    let n = 0;
    net.filter = (w) => (tcpOf(w) !== undefined && ++n % 10 === 3 ? 'drop' : 'deliver');
    const data = pattern(200_000, 5);
    void client.write(data).then(() => client.close());
    const got = await readAll(net, server, 50);
    expect(sha(got)).toBe(sha(data));
  });

  it('a stopping stack closes every connection with a FIN, waits until they are CLOSED or TIME_WAIT, and resets what is left', async () => {
    const { net, client, server } = await pair();
    // A second connection whose peer will never close its side.
    const servers: TcpSocket[] = [];
    net.a.tcp.listen(81, (c) => servers.push(new TcpSocket(c)));
    const stubborn = new TcpSocket(net.b.tcp.connect(OUR_IP, 81));
    net.run();
    await stubborn.established();
    net.a.stop(net.now);
    net.run();
    expect(net.a.busy).toBe(true); // both FINs out (and acknowledged): FIN_WAIT_2, the peers' FINs still to come
    expect(client.conn.state).toBe('CLOSE_WAIT');
    expect(stubborn.conn.state).toBe('CLOSE_WAIT');
    client.conn.close(); // this peer answers with its FIN: TIME_WAIT on our side
    net.run();
    expect(server.conn.state).toBe('TIME_WAIT');
    expect(net.a.busy).toBe(true); // the other is still open
    net.a.abandon(net.now); // the grace is over
    net.run();
    expect(stubborn.conn.state).toBe('CLOSED'); // reset, not left waiting
    expect(net.b.counters.get('tcp.rx_reset')).toBe(1);
    expect(net.a.busy).toBe(false);
  });

  it('puts reordered segments back in order, acknowledging out-of-order data at once', async () => {
    // The sender counts duplicates (RFC 6675): on this wire time stands still while a segment is held, and to
    // RACK a segment missing past a round trip of 0 ms is lost (its reordering window: rack.test.ts).
    const { net, client, server } = await pair({}, { tcp: { lossRecovery: 'sack' } });
    let held = 0;
    net.filter = (w) => {
      const s = tcpOf(w);
      if (w.from === 'b' && s !== undefined && s.payload.length > 0 && held < 1) {
        held++;
        return 'hold';
      }
      return 'deliver';
    };
    // Not closed yet: Nagle holds the short last segment, so two duplicate ACKs come, fewer than DupThresh (and
    // early retransmit's lower threshold does not apply while data waits to be sent).
    const data = pattern(5000, 9);
    const written = client.write(data);
    await net.settle();
    // The first segment is held back; the later ones arrive and are acknowledged as duplicates.
    const dupAcks = net.log.filter((w) => w.from === 'a' && tcpOf(w)?.flags === ACK).length;
    expect(dupAcks).toBeGreaterThanOrEqual(2);
    expect(net.a.counters.get('tcp.rx_out_of_order')).toBeGreaterThanOrEqual(2);
    net.release();
    void written.then(() => client.close());
    const got = await readAll(net, server);
    expect(sha(got)).toBe(sha(data));
    expect(net.b.counters.get('tcp.retransmit')).toBe(0);
  });

  it('sends to a peer that announces an MSS of 1 in segments of the 88-byte floor, and finishes', async () => {
    const { net, client, server } = await pair({}, { tcp: { mss: 1 } });
    const data = pattern(20_000, 13);
    const w = server.write(data).then(() => server.shutdownWrite());
    const got = await readAll(net, client);
    await w;
    expect(sha(got)).toBe(sha(data));
    const sizes = net.log.filter((x) => x.from === 'a' && (tcpOf(x)?.payload.length ?? 0) > 0).map((x) => tcpOf(x)?.payload.length ?? 0);
    // 88 less the timestamp option: never a segment larger, and data in every one.
    expect(Math.max(...sizes)).toBe(76);
    expect(Math.min(...sizes)).toBeGreaterThan(0);
  });

  it('moves data both ways with a loss each way, no segment outgrowing the MTU for its SACK blocks', async () => {
    // While each side holds out-of-order data its segments carry SACK blocks too: they must take room
    // from the payload (a full segment plus blocks would be 1512 bytes of IP, dropped with DF set).
    const { net, client, server } = await pair();
    let fromA = 0;
    let fromB = 0;
    net.filter = (w) => {
      const s = tcpOf(w);
      if (s === undefined || s.payload.length === 0) return 'deliver';
      if (w.from === 'a' && ++fromA === 30) return 'drop';
      if (w.from === 'b' && ++fromB === 40) return 'drop';
      return 'deliver';
    };
    const up = pattern(1_000_000, 11);
    const down = pattern(1_000_000, 12);
    const [gotUp, gotDown] = await bothWays(net, client, server, up, down);
    expect(sha(gotUp)).toBe(sha(up));
    expect(sha(gotDown)).toBe(sha(down));
    for (const st of [net.a, net.b]) {
      expect(st.counters.get('ip.tx_too_big')).toBe(0);
      expect(st.counters.get('tcp.rto')).toBe(0);
    }
    expect(Math.max(...net.log.map((w) => w.frame.length))).toBeLessThanOrEqual(1514);
    // SACK blocks did ride on data segments.
    expect(net.log.some((w) => (tcpOf(w)?.payload.length ?? 0) > 0 && tcpOf(w)?.options.sack !== undefined)).toBe(true);
  });

  it('charges out-of-order bytes to the shared budget, gives them back, and drops what the budget cannot hold', async () => {
    // Two connections into a, whose buffers may hold 60 000 bytes in all; each opened its window while the
    // budget was free, and each gets ~50 000 bytes out of order behind a held first segment.
    const { net, client, server } = await pair({ tcp: { maxBufferBytes: 60_000, receiveBufferSize: 65_535 } });
    const servers2: TcpSocket[] = [];
    net.a.tcp.listen(81, (c) => servers2.push(new TcpSocket(c)));
    const client2 = new TcpSocket(net.b.tcp.connect(OUR_IP, 81));
    net.run();
    await client2.established();
    const server2 = servers2[0];
    if (server2 === undefined) throw new Error('not accepted');
    const heldPorts = new Set<number>();
    net.filter = (w) => {
      const s = tcpOf(w);
      if (w.from === 'b' && s !== undefined && s.payload.length > 0 && !heldPorts.has(s.dstPort)) {
        heldPorts.add(s.dstPort);
        return 'hold';
      }
      return 'deliver';
    };
    const d1 = pattern(50_000, 4);
    const d2 = pattern(50_000, 6);
    void client.write(d1).then(() => client.close());
    void client2.write(d2).then(() => client2.close());
    await net.settle();
    const budget = net.a.tcp.budget;
    expect(heldPorts.size).toBe(2);
    expect(budget.inUse).toBeGreaterThan(30_000);
    expect(budget.inUse).toBeLessThanOrEqual(60_000);
    expect(net.a.counters.get('tcp.rx_ooo_no_memory')).toBeGreaterThan(0);
    net.release();
    const [g1, g2] = await Promise.all([readAll(net, server), readAll(net, server2)]);
    expect(sha(g1)).toBe(sha(d1));
    expect(sha(g2)).toBe(sha(d2));
    // Closed on both sides: every byte, out-of-order ones included, is given back.
    await Promise.all([server.close(), server2.close()]);
    await net.settle();
    expect(budget.inUse).toBe(0);
  });

  it('backs off the RTO exponentially and gives up after maxRetransmits with a RST', async () => {
    const { net, client } = await pair({}, { tcp: { maxRetransmits: 3, initialRtoMs: 1000, minRtoMs: 1000, tailLossProbe: false } });
    net.filter = (w) => (w.from === 'b' && (tcpOf(w)?.payload.length ?? 0) > 0 ? 'drop' : 'deliver');
    void client.write(pattern(100)).catch(() => {});
    await net.settle();
    const times: number[] = [];
    const sends = (): number => net.log.filter((w) => w.from === 'b' && (tcpOf(w)?.payload.length ?? 0) > 0).length;
    let last = sends();
    for (let t = 0; t < 40_000; t += 100) {
      net.advance(100);
      if (sends() > last) {
        times.push(net.now);
        last = sends();
      }
    }
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(gaps).toEqual([2000, 4000]);
    expect(client.conn.state).toBe('CLOSED');
    expect(client.conn.error).toBe('timeout');
    expect(net.log.some((w) => w.from === 'b' && ((tcpOf(w)?.flags ?? 0) & RST) !== 0)).toBe(true);
  });

  it('a zero window stops the sender, probes keep it alive, and reading reopens it', async () => {
    const { net, client, server } = await pair({ tcp: { receiveBufferSize: 8192, windowScaling: false } });
    const data = pattern(40_000, 3);
    const writing = client.write(data).then(() => client.close());
    for (let i = 0; i < 20; i++) {
      await net.settle();
      net.advance(10);
    }
    // The server application reads nothing: the window closes.
    expect(server.conn.readable).toBe(8192);
    expect(client.conn.info().sndWnd).toBe(0);
    net.advance(10_000);
    expect(net.b.counters.get('tcp.window_probe')).toBeGreaterThanOrEqual(2);
    expect(client.conn.state).toBe('ESTABLISHED');
    const got = await readAll(net, server);
    await writing;
    expect(sha(got)).toBe(sha(data));
  });

  it('half-close through the Duplex: the client ends, the server answers, then closes', async () => {
    const { net, client, server } = await pair();
    client.shutdownWrite();
    await net.settle();
    const req = await readAll(net, server);
    expect(req.length).toBe(0);
    expect(server.conn.state).toBe('CLOSE_WAIT');
    void server.write(new TextEncoder().encode('after your FIN')).then(() => server.close());
    const got = await readAll(net, client);
    expect(new TextDecoder().decode(got)).toBe('after your FIN');
    net.advance(1);
    expect(server.conn.state).toBe('CLOSED');
    expect(client.conn.state).toBe('TIME_WAIT');
  });

  it('node:http serves over our TCP (server.emit("connection", duplex))', async () => {
    const net = new Net();
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`node:http says hi to ${req.url ?? ''}\n`);
    });
    net.a.tcp.listen(80, (c) => server.emit('connection', new StackSocket(c, { timers: systemTimers })));
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
    net.run();
    await client.established();
    await client.write(new TextEncoder().encode('GET /over/our/tcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    const reply = new TextDecoder().decode(await readAll(net, client, 10, 500));
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply).toContain('node:http says hi to /over/our/tcp\n');
    server.close();
  });

  it('every frame on the wire carried valid TCP: flags and the handshake as expected', async () => {
    const { net, client, server } = await pair();
    void client.write(pattern(3000)).then(() => client.close());
    await readAll(net, server);
    const first = net.log.map(tcpOf).filter((s) => s !== undefined).slice(0, 3).map((s) => s.flags);
    expect(first).toEqual([SYN, SYN | ACK, ACK]);
    expect(net.log.some((w) => ((tcpOf(w)?.flags ?? 0) & FIN) !== 0)).toBe(true);
  });
});
