// Two of our stacks on one simulated wire, driven by hand: frames move when `run` is called, time moves
// only with `advance`, and a test may drop, hold back or rewrite any frame in flight.

import { OffloadFrame, type RxInfo } from '../../../src/net/device.ts';
import { Stack, type StackOptions } from '../../../src/stack/stack.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { seededRandom } from '../../../src/random.ts';
import { GW_IP, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, decode, type Decoded } from '../frames.ts';
import { kernelSegment } from '../kernel-gso.ts';

const TRUSTED: RxInfo = { checksumTrusted: true };

export type Side = 'a' | 'b';
export type Verdict = 'deliver' | 'drop' | 'hold';

export interface Wire {
  readonly from: Side;
  readonly frame: Uint8Array;
  readonly d: Decoded;
}

export class Net {
  now = 0;
  readonly a: Stack;
  readonly b: Stack;
  /** Every frame that crossed the wire (or was dropped), in order. */
  readonly log: Wire[] = [];
  /** Decides each frame's fate; held frames wait in `held` until `release`. */
  filter: (w: Wire) => Verdict = () => 'deliver';
  readonly held: Wire[] = [];
  /**
   * What becomes of a frame that asks for offloads (a stack with `offloads` sent it), by the side that sent it:
   * `segment`: the kernel finishes it and cuts it into wire segments (a TAP into a bridge to a real NIC);
   * `whole`: it reaches the other stack as it is, its checksum vouched for (a TAP to another local stack).
   */
  offloadPath: Record<Side, 'segment' | 'whole'> = { a: 'segment', b: 'segment' };

  constructor(aOpts: Partial<StackOptions> = {}, bOpts: Partial<StackOptions> = {}) {
    const base = (mac: number, address: number, seed: number): StackOptions => ({
      mac, mtu: 1500, random: seededRandom(seed), log: () => {}, ipv4: { address, prefix: 24, gateway: GW_IP }, arp: { announceCount: 0 },
    });
    this.a = new Stack({ ...base(OUR_MAC, OUR_IP, 11), ...aOpts });
    this.b = new Stack({ ...base(PEER_MAC, PEER_IP, 22), ...bOpts });
    this.a.start(0);
    this.b.start(0);
    this.run();
  }

  /** Polls both stacks and moves frames until nothing more happens at this instant. */
  run(): void {
    for (let rounds = 0; rounds < 10_000; rounds++) {
      this.a.poll(this.now);
      this.b.poll(this.now);
      const fa = this.a.takeFrames();
      const fb = this.b.takeFrames();
      if (fa.length === 0 && fb.length === 0) return;
      for (const frame of fa) this.cross({ from: 'a', frame, d: decode(frame) });
      for (const frame of fb) this.cross({ from: 'b', frame, d: decode(frame) });
    }
    throw new Error('the network never went quiet');
  }

  private cross(w: Wire): void {
    if (w.frame instanceof OffloadFrame && this.offloadPath[w.from] === 'segment') {
      for (const frame of kernelSegment(w.frame)) this.cross({ from: w.from, frame, d: decode(frame) });
      return;
    }
    this.log.push(w);
    const v = this.filter(w);
    if (v === 'drop') return;
    if (v === 'hold') {
      this.held.push(w);
      return;
    }
    this.deliver(w);
  }

  private deliver(w: Wire): void {
    (w.from === 'a' ? this.b : this.a).receive(w.frame, this.now, w.frame instanceof OffloadFrame ? TRUSTED : undefined);
  }

  /** Delivers held frames (in the given order, default: as held). */
  release(order: Wire[] = this.held.slice()): void {
    for (const w of order) {
      const i = this.held.indexOf(w);
      if (i >= 0) this.held.splice(i, 1);
      this.deliver(w);
    }
    this.run();
  }

  /** Moves time forward by `ms`, stopping at every deadline on the way. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = [this.a.nextDeadline(), this.b.nextDeadline()].filter((t): t is number => t !== undefined && t <= end);
      if (next.length === 0) break;
      this.now = Math.max(this.now, Math.min(...next));
      this.run();
    }
    this.now = end;
    this.run();
  }

  /** Lets promise continuations (socket reads and writes) run, then moves their frames. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((r) => setImmediate(r));
      this.run();
    }
  }

  /** TCP segments only, as one-line summaries, for assertions on what crossed the wire. */
  tcpLog(): string[] {
    return this.log.filter((w) => w.d.ip?.protocol === 6).map((w) => `${w.from} ${w.d.ip?.totalLength}`);
  }
}

/** A server on stack a port 80 and a client on stack b, both as sockets; `setup` runs before the handshake. */
export async function socketPair(aOpts: Partial<StackOptions> = {}, bOpts: Partial<StackOptions> = {}, setup?: (net: Net) => void) {
  const net = new Net(aOpts, bOpts);
  setup?.(net);
  const servers: TcpSocket[] = [];
  net.a.tcp.listen(80, (c) => servers.push(new TcpSocket(c)));
  const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 80));
  net.run();
  await client.established();
  const server = servers[0];
  if (server === undefined) throw new Error('not accepted');
  return { net, client, server };
}

/** Reads until EOF, advancing simulated time while waiting. */
export async function readAll(net: Net, s: TcpSocket, stepMs = 10, maxSteps = 100_000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let done = false;
  const reader = (async () => {
    for (let c = await s.read(); c !== null; c = await s.read()) parts.push(c);
    done = true;
  })();
  for (let i = 0; i < maxSteps && !done; i++) {
    await net.settle();
    if (!done) net.advance(stepMs);
  }
  await reader;
  return Buffer.concat(parts);
}

/**
 * `up` from client to server and `down` back at once, each side half-closing after its write (a full close
 * would discard what is still unread, as close(2) does); what each side read, when both are done.
 */
export async function bothWays(net: Net, client: TcpSocket, server: TcpSocket, up: Uint8Array, down: Uint8Array): Promise<[Uint8Array, Uint8Array]> {
  const w1 = client.write(up).then(() => client.shutdownWrite());
  const w2 = server.write(down).then(() => server.shutdownWrite());
  const got = await Promise.all([readAll(net, server), readAll(net, client)]);
  await Promise.all([w1, w2]);
  return got;
}

export { OUR_IP, PEER_IP };
