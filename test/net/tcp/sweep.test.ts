// Two of our stacks on a simulated link (1 ms each way) with the fault injector on both ends and a fake
// clock: transfers across a sweep of loss, reordering, duplication and corruption, every one byte-exact.
// The test prints retransmissions and completion time per setting, and bounds both, for each congestion control.

import { Counters, type CounterName } from '../../../src/net/counters.ts';
import type { NetDevice } from '../../../src/net/device.ts';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../../src/clock.ts';
import { FaultyDevice, type FaultSpec } from '../../../src/net/fault-device.ts';
import { createMemoryLink } from '../../../src/net/memory-link.ts';
import { Stack } from '../../../src/stack/stack.ts';
import { StackDriver } from '../../../src/stack/driver.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { seededRandom } from '../../../src/random.ts';
import { CONGESTION_CONTROLS } from '../../../src/net/tcp/algorithms.ts';
import type { CongestionControlName } from '../../../src/net/tcp/congestion-control.ts';
import { GW_IP, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC } from '../frames.ts';

interface Row {
  cc: CongestionControlName;
  setting: string;
  kbytes: number;
  simulatedMs: number;
  framesDropped: number;
  retransmitted: number;
  fastRetransmits: number;
  rtos: number;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function transfer(cc: CongestionControlName, setting: string, fault: Omit<FaultSpec, 'seed' | 'delayMs'>, size: number, seed: number): Promise<Row> {
  const timers = new ManualTimers();
  const [la, lb] = createMemoryLink(timers, OUR_MAC, PEER_MAC, { latencyMs: 1 });
  const spec = (s: number): FaultSpec => ({ ...fault, delayMs: 0, seed: s });
  const mk = (mac: number, address: number, s: number, link: NetDevice, faultSeed: number): StackDriver => {
    const counters = new Counters();
    const device = new FaultyDevice(link, spec(faultSeed), timers, counters);
    return new StackDriver(device, timers, { mac, mtu: 1500, random: seededRandom(s), log: () => {}, ipv4: { address, prefix: 24, gateway: GW_IP }, arp: { announceCount: 0 }, counters, tcp: { congestionControl: cc } });
  };
  const da = mk(OUR_MAC, OUR_IP, seed, la, seed * 2);
  const db = mk(PEER_MAC, PEER_IP, seed + 1, lb, seed * 2 + 1);
  const a = da.stack;
  const b = db.stack;
  da.start();
  db.start();
  const received: Uint8Array[] = [];
  let done = false;
  a.tcp.listen(80, (conn) => {
    const s = new TcpSocket(conn);
    void (async () => {
      for (let c = await s.read(); c !== null; c = await s.read()) received.push(c);
      await s.close();
      done = true;
    })();
  });
  const data = Uint8Array.from({ length: size }, (_, i) => (i * 7919 + (i >> 11)) & 0xff);
  const client = new TcpSocket(b.tcp.connect(OUR_IP, 80));
  void client
    .established()
    .then(() => client.write(data))
    .then(() => client.shutdownWrite())
    .catch(() => {});
  const limitMs = 600_000;
  while (!done && timers.now() < limitMs) {
    await new Promise<void>((r) => setImmediate(r));
    timers.advance(1);
  }
  const got = Buffer.concat(received);
  if (!done) {
    // Say where it stuck before failing.
    for (const st of [a, b]) for (const c of st.tcp.connections()) console.log(c.state, 'una', c.info().sndUna, 'max', c.info().sndMax, 'rto', c.rtoMs, st.counters.snapshot());
  }
  expect(done, `${setting}: transfer did not finish within ${limitMs} simulated ms`).toBe(true);
  expect(got.length).toBe(size);
  expect(sha(got)).toBe(sha(data));
  const c = (name: CounterName): number => a.counters.get(name) + b.counters.get(name);
  return {
    cc,
    setting,
    kbytes: size / 1024,
    simulatedMs: Math.round(timers.now()),
    framesDropped: c('fault.tx_drop') + c('fault.rx_drop') + c('fault.tx_corrupt') + c('fault.rx_corrupt'),
    retransmitted: c('tcp.retransmitted_segment'),
    fastRetransmits: c('tcp.fast_retransmit'),
    rtos: c('tcp.rto'),
  };
}

describe('transfers over a faulty simulated link', () => {
  it('are byte-exact across the sweep, with bounded retransmissions and completion times', async () => {
    const settings: Array<[string, Omit<FaultSpec, 'seed' | 'delayMs'>, number, number]> = [
      // name, faults, bytes, bound on simulated completion time (ms)
      ['clean', { drop: 0, dup: 0, reorder: 0, corrupt: 0 }, 1 << 20, 2_000],
      ['loss 1%', { drop: 0.01, dup: 0, reorder: 0, corrupt: 0 }, 1 << 20, 10_000],
      ['loss 2%', { drop: 0.02, dup: 0, reorder: 0, corrupt: 0 }, 1 << 20, 20_000],
      ['loss 5%', { drop: 0.05, dup: 0, reorder: 0, corrupt: 0 }, 512 << 10, 40_000],
      ['loss 10%', { drop: 0.1, dup: 0, reorder: 0, corrupt: 0 }, 256 << 10, 60_000],
      ['loss 20%', { drop: 0.2, dup: 0, reorder: 0, corrupt: 0 }, 128 << 10, 200_000],
      ['reorder 5%', { drop: 0, dup: 0, reorder: 0.05, corrupt: 0 }, 1 << 20, 5_000],
      ['duplicate 5%', { drop: 0, dup: 0.05, reorder: 0, corrupt: 0 }, 1 << 20, 3_000],
      ['corrupt 2%', { drop: 0, dup: 0, reorder: 0, corrupt: 0.02 }, 1 << 20, 20_000],
      ['all at once', { drop: 0.02, dup: 0.01, reorder: 0.05, corrupt: 0.01 }, 1 << 20, 30_000],
    ];
    const rows: Row[] = [];
    for (const cc of CONGESTION_CONTROLS) for (const [i, [name, fault, size, bound]] of settings.entries()) {
      const row = await transfer(cc, name, fault, size, 100 + i);
      rows.push(row);
      expect(row.simulatedMs, `${cc}, ${name} took ${row.simulatedMs} ms`).toBeLessThan(bound);
      // One lost frame should cost about one retransmission, not a window's worth; a reordered one may
      // cost a spurious fast retransmit (no DSACK/RACK here to undo it).
      const segments = size / 1448;
      const allowed = 3 * row.framesDropped + fault.reorder * segments + 10;
      expect(row.retransmitted, `${name}: ${row.retransmitted} retransmissions for ${row.framesDropped} lost frames`).toBeLessThanOrEqual(allowed);
    }
    console.table(rows);
    for (const cc of CONGESTION_CONTROLS) {
      expect(rows.find((r) => r.cc === cc && r.setting === 'clean')?.retransmitted).toBe(0);
      expect(rows.find((r) => r.cc === cc && r.setting === 'loss 2%')?.fastRetransmits).toBeGreaterThan(0);
    }
  }, 300_000);
});
