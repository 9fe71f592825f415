// Loss recovery against a link with latency (1 ms each way) and a fake clock, with losses placed by hand:
// a retransmission that is lost again is sent again without waiting for a timeout (RFC 8985's reasoning),
// and after a timeout the SACK information that arrives is used (RFC 6675 §5.1): data the peer holds is
// not sent again.

import { PROTO_TCP } from '../../../src/net/ip.ts';
import { ipv4Pseudo } from '../../../src/net/checksum.ts';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../../src/clock.ts';
import type { NetDevice, RxInfo } from '../../../src/net/device.ts';
import { createMemoryLink } from '../../../src/net/memory-link.ts';
import { Stack } from '../../../src/stack/stack.ts';
import { StackDriver } from '../../../src/stack/driver.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { parseTcp } from '../../../src/net/tcp/tcp-wire.ts';
import type { LossRecoveryName } from '../../../src/net/tcp/loss-recovery.ts';
import { seededRandom } from '../../../src/random.ts';
import { GW_IP, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, decode } from '../frames.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A device that drops the frames `drop` says to, on the way out. */
class DroppingDevice implements NetDevice {
  constructor(
    private readonly inner: NetDevice,
    private readonly drop: (frame: Uint8Array) => boolean,
  ) {}
  get mac(): number {
    return this.inner.mac;
  }
  get mtu(): number {
    return this.inner.mtu;
  }
  send(frame: Uint8Array): void {
    if (!this.drop(frame)) this.inner.send(frame);
  }
  onFrame(receiver: (frame: Uint8Array, info?: RxInfo) => void): void {
    this.inner.onFrame(receiver);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The TCP sequence number and payload length of a data segment, or undefined. */
function dataSeg(frame: Uint8Array): { seq: number; len: number } | undefined {
  const d = decode(frame);
  if (d.ip?.protocol !== 6) return undefined;
  const p = parseTcp(d.payload, ipv4Pseudo(d.ip.src, d.ip.dst, PROTO_TCP));
  if (!p.ok || p.segment.payload.length === 0) return undefined;
  return { seq: p.segment.seq, len: p.segment.payload.length };
}

/** `size` bytes from the server on a (dropping per `dropA`) to a client on b; counters of a when done. */
async function serve(size: number, dropA: (frame: Uint8Array) => boolean, dropB: (frame: Uint8Array) => boolean = () => false, lossRecovery: LossRecoveryName = 'rack') {
  const timers = new ManualTimers();
  const [la, lb] = createMemoryLink(timers, OUR_MAC, PEER_MAC, { latencyMs: 1 });
  const mk = (mac: number, address: number, s: number, device: NetDevice): Stack => {
    const d = new StackDriver(device, timers, { mac, mtu: 1500, random: seededRandom(s), log: () => {}, ipv4: { address, prefix: 24, gateway: GW_IP }, arp: { announceCount: 0 }, tcp: { lossRecovery } });
    d.start();
    return d.stack;
  };
  const a = mk(OUR_MAC, OUR_IP, 3, new DroppingDevice(la, dropA));
  const b = mk(PEER_MAC, PEER_IP, 4, new DroppingDevice(lb, dropB));
  const data = Uint8Array.from({ length: size }, (_, i) => (i * 31 + (i >> 10)) & 0xff);
  a.tcp.listen(80, (conn) => {
    const s = new TcpSocket(conn);
    void s.write(data).then(() => s.close());
  });
  const client = new TcpSocket(b.tcp.connect(OUR_IP, 80));
  const parts: Uint8Array[] = [];
  let done = false;
  void (async () => {
    for (let c = await client.read(); c !== null; c = await client.read()) parts.push(c);
    done = true;
  })();
  while (!done && timers.now() < 120_000) {
    await new Promise<void>((r) => setImmediate(r));
    timers.advance(1);
  }
  const got = Buffer.concat(parts);
  expect(done).toBe(true);
  expect(sha(got)).toBe(sha(data));
  return { a, ms: timers.now() };
}

describe('loss recovery with SACK', () => {
  it.each([
    ['rack', 'tcp.rack_lost_retransmit'],
    ['sack', 'tcp.lost_retransmit'],
  ] as const)('sends a lost retransmission again without a timeout (%s)', async (recovery, counter) => {
    let target: number | undefined;
    let dataSegs = 0;
    let dropped = 0;
    const { a, ms } = await serve(400_000, (frame) => {
      const s = dataSeg(frame);
      if (s === undefined) return false;
      if (target === undefined && ++dataSegs === 40) target = s.seq;
      // The 40th segment, and then its first retransmission: both lost.
      if (s.seq === target && dropped < 2) {
        dropped++;
        return true;
      }
      return false;
    }, undefined, recovery);
    expect(dropped).toBe(2);
    expect(a.counters.get(counter)).toBeGreaterThanOrEqual(1);
    expect(a.counters.get('tcp.rto')).toBe(0);
    expect(ms).toBeLessThan(200); // no 200 ms timeout on the way
  });

  it('after a timeout, retransmits only what the peer has not SACKed', async () => {
    // Segments 21-25 are lost, 26-30 arrive, and every ACK that would SACK them is lost too: only the
    // timeout can tell. After it, the first retransmission's ACK SACKs 26-30, and only 22-25 follow.
    const seen = new Map<number, number>();
    const order: number[] = [];
    let timedOut = false;
    const { a } = await serve(
      300_000,
      (frame) => {
        const s = dataSeg(frame);
        if (s === undefined) return false;
        const times = (seen.get(s.seq) ?? 0) + 1;
        seen.set(s.seq, times);
        if (times === 1) order.push(s.seq);
        const n = order.indexOf(s.seq) + 1;
        if (times > 1 && n === 21) timedOut = true;
        return times === 1 && n >= 21 && n <= 25;
      },
      (frame) => {
        // b's ACKs carrying SACK blocks, until a has timed out.
        if (timedOut) return false;
        const d = decode(frame);
        if (d.ip?.protocol !== 6) return false;
        const p = parseTcp(d.payload, ipv4Pseudo(d.ip.src, d.ip.dst, PROTO_TCP));
        return p.ok && p.segment.options.sack !== undefined;
      },
    );
    expect(timedOut).toBe(true);
    expect(a.counters.get('tcp.rto')).toBeGreaterThanOrEqual(1);
    const resent = [...seen.entries()].filter(([, n]) => n > 1).map(([seq]) => order.indexOf(seq) + 1).sort((x, y) => x - y);
    // 21-25 again, and none of 26-30, which the peer holds (go-back-N would send them again).
    expect(resent.filter((n) => n >= 21 && n <= 25)).toEqual([21, 22, 23, 24, 25]);
    expect(resent.filter((n) => n >= 26 && n <= 30)).toEqual([]);
  });
});
