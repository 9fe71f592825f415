// The stack core in-process, no device, no namespaces: two of our Stacks wired frame to frame (as
// test/net/tcp/harness.ts does, but on the real clock and as fast as the CPU allows).
//
//   transfer  N MB over one TCP connection from b to a: every frame crosses parse, demux, TCP and emit
//             on one side and build on the other; frames/s counts every frame delivered, both directions.
//   receive   pre-built, valid data segments of an established connection fed to one stack: parse, demux,
//             TCP, the application's read and the ACKs it emits. Building the frames is not timed.

import { ipv4Pseudo } from '../src/net/checksum.ts';
import { parseIpv4 as parseAddr, type Ipv4Addr, type MacAddr } from '../src/net/addr.ts';
import { ETHERTYPE_IPV4, ETH_HEADER_LEN, buildEthernet } from '../src/net/ethernet.ts';
import { PROTO_TCP, buildIpv4, parseIpv4 } from '../src/net/ipv4-wire.ts';
import { Stack } from '../src/stack/stack.ts';
import type { TcpConnection } from '../src/net/tcp/tcp-connection.ts';
import { ACK, encodeTcp, parseTcp, type TcpSegment } from '../src/net/tcp/tcp-wire.ts';
import { seededRandom } from '../src/random.ts';

const A_MAC: MacAddr = 0x02005e000042;
const B_MAC: MacAddr = 0x020000000001;
const A_IP = addr('192.168.77.10');
const B_IP = addr('192.168.77.1');
const PORT = 80;

function addr(s: string): Ipv4Addr {
  const a = parseAddr(s);
  if (a === undefined) throw new Error(`bad address ${s}`);
  return a;
}

export interface TransferResult {
  mb: number;
  seconds: number;
  framesPerSecond: number;
  mbPerSecond: number;
}

export interface ReceiveResult {
  frames: number;
  seconds: number;
  framesPerSecond: number;
  acksPerFrame: number;
}

class Pair {
  readonly a: Stack;
  readonly b: Stack;
  private readonly t0 = performance.now();
  frames = 0;

  constructor() {
    const make = (mac: MacAddr, address: Ipv4Addr, seed: number): Stack =>
      new Stack({ mac, mtu: 1500, random: seededRandom(seed), log: () => {}, ipv4: { address, prefix: 24 }, arp: { announceCount: 0 } });
    this.a = make(A_MAC, A_IP, 11);
    this.b = make(B_MAC, B_IP, 22);
    this.a.start(0);
    this.b.start(0);
  }

  now(): number {
    return performance.now() - this.t0;
  }

  /** Polls both stacks and moves frames until nothing more happens at this instant. */
  run(): void {
    const now = this.now();
    for (let rounds = 0; rounds < 10_000; rounds++) {
      this.a.poll(now);
      this.b.poll(now);
      const fa = this.a.takeFrames();
      const fb = this.b.takeFrames();
      if (fa.length === 0 && fb.length === 0) return;
      for (const f of fa) this.b.receive(f, now);
      for (const f of fb) this.a.receive(f, now);
      this.frames += fa.length + fb.length;
    }
  }

  /** A connection from b to a's port, both ends returned once established. */
  connect(): { server: TcpConnection; client: TcpConnection } {
    let server: TcpConnection | undefined;
    this.a.tcp.listen(PORT, (c) => (server = c));
    const client = this.b.tcp.connect(A_IP, PORT);
    for (let i = 0; i < 100 && (server === undefined || !client.established); i++) this.run();
    if (server === undefined || !client.established) throw new Error('micro: no connection');
    return { server, client };
  }
}

/** `mb` MB from b to a over one connection, the receiver reading as data comes. */
export function transfer(mb: number): TransferResult {
  const p = new Pair();
  const { server, client } = p.connect();
  const total = mb * 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024).fill(0x5a);
  let written = 0;
  let received = 0;
  const startFrames = p.frames;
  const t0 = performance.now();
  const deadline = t0 + 120_000;
  while (received < total) {
    while (written < total) {
      const n = client.write(chunk.subarray(0, Math.min(chunk.length, total - written)));
      if (n === 0) break;
      written += n;
    }
    p.run();
    const before = received;
    while (server.readable > 0) received += server.read().length;
    if (performance.now() > deadline) throw new Error(`micro transfer: only ${received} of ${total} bytes in 120 s`);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { mb, seconds, framesPerSecond: (p.frames - startFrames) / seconds, mbPerSecond: mb / seconds };
}

/** The segment b sent last to a (the handshake's ACK): where b's data must start. */
function lastSegment(frames: Uint8Array[]): TcpSegment {
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i];
    if (f === undefined) continue;
    const ip = parseIpv4(f.subarray(ETH_HEADER_LEN));
    if (!ip.ok || ip.header.protocol !== PROTO_TCP) continue;
    const t = parseTcp(ip.payload, ipv4Pseudo(ip.header.src, ip.header.dst, PROTO_TCP));
    if (t.ok) return t.segment;
  }
  throw new Error('micro: no TCP segment from b');
}

/**
 * `frames` data segments of full size fed to stack a for one established connection, in rounds of `batch`
 * built beforehand (untimed). The application reads after every 16 frames, so the window stays open.
 */
export function receivePath(frames: number, batch = 20_000): ReceiveResult {
  const p = new Pair();
  // Record what b sends during the handshake: its last segment gives seq, ack, window and timestamps.
  const sent: Uint8Array[] = [];
  const take = p.b.takeFrames.bind(p.b);
  p.b.takeFrames = () => {
    const f = take();
    sent.push(...f);
    return f;
  };
  const { server } = p.connect();
  p.b.takeFrames = take;
  const last = lastSegment(sent);
  const ts = last.options.timestamp;
  const payload = new Uint8Array(1460 - (ts !== undefined ? 12 : 0)).fill(0x33);
  let seq = last.seq;
  let id = 1;
  const build = (n: number): Uint8Array[] =>
    Array.from({ length: n }, () => {
      const seg: TcpSegment = { ...last, flags: ACK, seq, payload, options: ts !== undefined ? { timestamp: ts } : {} };
      seq = (seq + payload.length) >>> 0;
      const ip = buildIpv4({ id: id++ & 0xffff, ttl: 64, protocol: PROTO_TCP, src: B_IP, dst: A_IP, dontFragment: true }, encodeTcp(seg, ipv4Pseudo(B_IP, A_IP, PROTO_TCP)));
      return buildEthernet({ dst: A_MAC, src: B_MAC, ethertype: ETHERTYPE_IPV4 }, ip);
    });
  let fed = 0;
  let acks = 0;
  let timed = 0;
  const before = server.readable;
  let read = 0;
  while (fed < frames) {
    const round = build(Math.min(batch, frames - fed));
    const t0 = performance.now();
    for (let i = 0; i < round.length; i++) {
      const f = round[i];
      if (f === undefined) continue;
      const now = performance.now();
      p.a.receive(f, now);
      if ((i & 15) === 15) {
        while (server.readable > 0) read += server.read().length;
        p.a.poll(now);
        acks += p.a.takeFrames().length;
      }
    }
    p.a.poll(performance.now());
    acks += p.a.takeFrames().length;
    while (server.readable > 0) read += server.read().length;
    timed += performance.now() - t0;
    fed += round.length;
  }
  const expected = fed * payload.length;
  if (read + before < expected) throw new Error(`micro receive: ${read} of ${expected} bytes accepted (frames dropped)`);
  const seconds = timed / 1000;
  return { frames: fed, seconds, framesPerSecond: fed / seconds, acksPerFrame: acks / fed };
}
