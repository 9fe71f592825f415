// Congestion control and loss recovery are chosen per connection, behind their interfaces: each
// implementation can be picked by a connection (connect, or a listener for what it accepts), and the one picked
// is the one that runs. Reno's window arithmetic is checked against RFC 5681's rules directly (CUBIC's: cubic.test.ts).

import type { CounterName } from '../../../src/net/counters.ts';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import { PROTO_TCP } from '../../../src/net/ip.ts';
import { CONGESTION_CONTROLS, LOSS_RECOVERIES, createCongestionControl } from '../../../src/net/tcp/algorithms.ts';
import { RenoCongestion } from '../../../src/net/tcp/reno.ts';
import type { ConnectionChoices } from '../../../src/net/tcp/tcp-connection.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { parseTcp } from '../../../src/net/tcp/tcp-wire.ts';
import { Net, OUR_IP, readAll, type Wire } from './harness.ts';

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + (i >> 9)) & 0xff);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function dataSeq(w: Wire): number | undefined {
  const ip = w.d.ip;
  if (ip?.protocol !== 6 || w.from !== 'b') return undefined;
  const p = parseTcp(w.d.payload, ipv4Pseudo(ip.src, ip.dst, PROTO_TCP));
  return p.ok && p.segment.payload.length > 0 ? p.segment.seq : undefined;
}

/**
 * 64 KiB from a client on b (with `choices`) to a server on a, the 3rd data segment lost once; the counters
 * of b that tell how the loss was repaired, and what the client's connection says it runs.
 */
async function lossyUpload(choices: ConnectionChoices, bSack = true) {
  const net = new Net({}, { tcp: { sack: bSack } });
  const seen = new Set<number>();
  let n = 0;
  net.filter = (w) => {
    const seq = dataSeq(w);
    if (seq === undefined || seen.has(seq)) return 'deliver';
    seen.add(seq);
    return ++n === 3 ? 'drop' : 'deliver';
  };
  const servers: TcpSocket[] = [];
  net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
  const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80, choices));
  net.run();
  await client.established();
  const server = servers[0];
  if (server === undefined) throw new Error('not accepted');
  const info = client.conn.info();
  const data = pattern(64 * 1024);
  const w = client.write(data).then(() => client.shutdownWrite());
  const got = await readAll(net, server);
  await w;
  expect(sha(got)).toBe(sha(data));
  const c = (name: CounterName): number => net.b.counters.get(name);
  return { info, fast: c('tcp.fast_retransmit'), sackRexmit: c('tcp.sack_retransmit'), rtos: c('tcp.rto') };
}

describe('loss recovery, chosen per connection', () => {
  it('sack: RFC 6675 repairs the hole from the scoreboard', async () => {
    const r = await lossyUpload({ lossRecovery: 'sack' });
    expect(r.info.sack).toBe(true);
    expect(r.info.lossRecovery).toBe('sack');
    expect(r.fast).toBe(1);
    expect(r.sackRexmit).toBe(1);
    expect(r.rtos).toBe(0);
  });

  it('newreno: RFC 6582 repairs it without using the SACK blocks the peer sends', async () => {
    const r = await lossyUpload({ lossRecovery: 'newreno' });
    expect(r.info.sack).toBe(true); // agreed on the wire, but not used for recovery
    expect(r.info.lossRecovery).toBe('newreno');
    expect(r.fast).toBe(1);
    expect(r.sackRexmit).toBe(0);
    expect(r.rtos).toBe(0);
  });

  it('sack falls back to newreno when the peer does not agree to SACK (RFC 2018 §2)', async () => {
    const r = await lossyUpload({ lossRecovery: 'sack' }, false);
    expect(r.info.sack).toBe(false);
    expect(r.info.lossRecovery).toBe('newreno');
    expect(r.fast).toBe(1);
    expect(r.sackRexmit).toBe(0);
  });

  it('a listener chooses for the connections it accepts; connections of one stack may differ', async () => {
    const net = new Net();
    const byPort = new Map<number, TcpSocket>();
    net.a.tcp.listen(80, (c) => byPort.set(80, new TcpSocket(c)), { lossRecovery: 'newreno' });
    net.a.tcp.listen(81, (c) => byPort.set(81, new TcpSocket(c)));
    const c80 = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
    const c81 = new TcpSocket(net.b.tcp.connect(OUR_IP, 81, { lossRecovery: 'newreno' }));
    net.run();
    await Promise.all([c80.established(), c81.established()]);
    expect(byPort.get(80)?.conn.info().lossRecovery).toBe('newreno');
    expect(byPort.get(81)?.conn.info().lossRecovery).toBe('rack'); // the default with a SACK peer
    expect(c80.conn.info().lossRecovery).toBe('rack');
    expect(c81.conn.info().lossRecovery).toBe('newreno');
  });

  it('every loss recovery by name is one a connection can run', async () => {
    for (const name of LOSS_RECOVERIES) expect((await lossyUpload({ lossRecovery: name })).info.lossRecovery).toBe(name);
  });
});

describe('congestion control, chosen per connection', () => {
  it('every controller by name is one a connection can run, and reports its window', async () => {
    for (const name of CONGESTION_CONTROLS) {
      expect(createCongestionControl(name).name).toBe(name);
      const r = await lossyUpload({ congestionControl: name });
      expect(r.info.congestionControl).toBe(name);
      expect(r.info.cwnd).toBeGreaterThan(0);
    }
  });

  it('Reno: RFC 6928 initial window, slow start by bytes acked, congestion avoidance, halving, one segment after an RTO', () => {
    const smss = 1448;
    const path = { smss, una: 0, max: 0, srttMs: 10, latestRttMs: undefined };
    const cc = new RenoCongestion();
    cc.start(smss);
    expect(cc.cwnd).toBe(10 * smss); // min(10 MSS, max(2 MSS, 14600 bytes))
    cc.onAck(500, path);
    expect(cc.cwnd).toBe(10 * smss + 500); // slow start: min(acked, L) per ACK (RFC 5681 §3.1)
    cc.onAck(5000, path);
    expect(cc.cwnd).toBe(12 * smss + 500); // L = 2 SMSS (RFC 3465 §2.2)
    cc.onCongestion(20_000, smss);
    expect(cc.ssthresh).toBe(10_000); // max(FlightSize / 2, 2 SMSS)
    cc.onCongestion(2000, smss);
    expect(cc.ssthresh).toBe(2 * smss);
    cc.cwnd = 20_000;
    cc.ssthresh = 10_000;
    cc.onAck(smss, path);
    expect(cc.cwnd).toBe(20_000 + Math.floor((smss * smss) / 20_000)); // congestion avoidance
    cc.onTimeout(30_000, smss, false);
    expect([cc.cwnd, cc.ssthresh]).toEqual([smss, 15_000]);
    cc.onTimeout(3000, smss, true); // the same loss episode: ssthresh is not halved again
    expect([cc.cwnd, cc.ssthresh]).toEqual([smss, 15_000]);
    cc.cwnd = 40 * smss;
    cc.restartAfterIdle(smss); // RFC 5681 §4.1: at most the restart window
    expect(cc.cwnd).toBe(10 * smss);
    expect(new RenoCongestion().name).toBe('newreno');
  });

  it('after an idle period longer than the RTO, sending starts again from the restart window (RFC 5681 §4.1)', async () => {
    for (const name of CONGESTION_CONTROLS) {
      const net = new Net();
      const servers: TcpSocket[] = [];
      net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
      const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80, { congestionControl: name }));
      net.run();
      await client.established();
      const server = servers[0];
      if (server === undefined) throw new Error('not accepted');
      const drain = (async () => {
        for (let c = await server.read(); c !== null; c = await server.read());
      })();
      // Time and the sockets' promises move together, 10 ms at a time.
      const pump = async (ms: number): Promise<void> => {
        for (let t = 0; t < ms; t += 10) {
          net.advance(10);
          await new Promise<void>((r) => setImmediate(r));
        }
      };
      void client.write(pattern(512 * 1024));
      await pump(1000);
      expect(client.conn.unacknowledged, name).toBe(0);
      const smss = client.conn.info().sndMss - 12;
      expect(client.conn.info().cwnd, name).toBeGreaterThan(20 * smss);
      await pump(5000); // idle, longer than the RTO
      // The first flight after the idle period: held on the wire, it is the restart window (IW10), not the old cwnd.
      net.filter = (w) => (w.from === 'b' ? 'hold' : 'deliver');
      void client.write(pattern(64 * 1024));
      await new Promise<void>((r) => setImmediate(r));
      net.run();
      expect(net.held.filter((w) => dataSeq(w) !== undefined).length, name).toBe(10);
      net.filter = () => 'deliver';
      net.release();
      await pump(500);
      void client.shutdownWrite();
      await pump(500);
      await drain;
    }
  });
});

