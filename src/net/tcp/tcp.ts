// The TCP layer (RFC 9293): demultiplexes segments to connections and listeners, answers segments for
// nothing with RST (§3.10.7.1), opens connections both ways, bounds how many exist, and keeps every
// connection's timer in one deadline queue.

import { isIpv4, type IpAddr } from '../addr.ts';
import { sipKey, type SipKey } from '../siphash.ts';
import { hashTuple } from './tuple-hash.ts';
import type { Counters, LayerCounter } from '../counters.ts';
import { DeadlineQueue } from '../deadline-queue.ts';
import { PROTO_TCP, type NetworkLayer, type RxContext, type TransportError } from '../ip.ts';
import { plateauBelow } from '../path-mtu.ts';
import { TokenBucket } from '../token-bucket.ts';
import { randomU32, type Random } from '../../random.ts';
import { HEADROOM } from '../packet.ts';
import { ECN_ECT0 } from './ecn.ts';
import { MemoryBudget } from './memory-budget.ts';
import { seqAdd } from './seq.ts';
import { SynCookies } from './syn-cookies.ts';
import { defaultSynFloodOptions, SynFloodGuard, type SynFloodOptions } from './syn-flood.ts';
import { defaultTcpConfig, TcpConnection, type ConnectionChoices, type Endpoint, type TcpConfig, type TcpHost } from './tcp-connection.ts';
import { windowShiftFor } from './window.ts';
import { ACK, RST, SYN, encodeTcp, encodeTcpPacket, parseTcp, segmentLength, type TcpSegment } from './tcp-wire.ts';

export interface TcpLayerOptions extends TcpConfig {
  /** Connections of every state at once; SYNs and connects past it are refused. */
  maxConnections: number;
  /** Handshakes in progress (SYN_RECEIVED) per listener: the listen backlog. */
  maxSynBacklog: number;
  /** Connections kept in TIME_WAIT; the oldest is dropped early to make room (as Linux's tw_buckets). */
  maxTimeWait: number;
  /** Buffer bytes all connections may hold together. */
  maxBufferBytes: number;
  /** Answer SYNs with SYN cookies once a listener's backlog is full (RFC 4987 §3.6). */
  synCookies: boolean;
  /** Cookies one source address may have per second, and sources remembered (syn-flood.ts). */
  synFlood: SynFloodOptions;
  /** Challenge ACKs sent per second across all connections (RFC 5961 §7). */
  maxChallengeAcksPerSecond: number;
  ephemeralPorts: [number, number];
}

export const defaultTcpLayerOptions: TcpLayerOptions = {
  ...defaultTcpConfig,
  maxConnections: 16_384,
  maxSynBacklog: 128,
  maxTimeWait: 4096,
  maxBufferBytes: 64 * 1024 * 1024,
  synCookies: true,
  synFlood: defaultSynFloodOptions,
  maxChallengeAcksPerSecond: 1000,
  ephemeralPorts: [49152, 65535],
};

export interface TcpListener {
  readonly port: number;
  close(): void;
}

/** A listener's options: its backlog, and the algorithms of the connections it accepts. */
export interface ListenOptions extends ConnectionChoices {
  /** Handshakes in progress (SYN_RECEIVED) at once (default: maxSynBacklog). */
  backlog?: number;
}

interface ListenerState {
  port: number;
  accept: (conn: TcpConnection) => void;
  choices: ConnectionChoices;
  synReceived: number;
  backlog: number;
  /** When this listener last answered with a cookie: only then is a cookie ACK worth checking. */
  cookieSentAt: number | undefined;
}

const EMPTY = new Uint8Array(0);

export class Tcp implements TcpHost {
  readonly config: TcpLayerOptions;
  private readonly conns = new Map<string, TcpConnection>();
  private readonly listeners = new Map<number, ListenerState>();
  private readonly embryos = new Map<TcpConnection, ListenerState>();
  private readonly timeWait = new Set<TcpConnection>();
  private readonly timers = new DeadlineQueue<TcpConnection>();
  /** Connections the application changed: output runs for them at the next poll. */
  private readonly pending = new Set<TcpConnection>();
  /** RFC 6528's secret key for F(). */
  private readonly isnKey: SipKey;
  private readonly cookies: SynCookies;
  private readonly floodGuard: SynFloodGuard;
  readonly budget: MemoryBudget;
  private readonly challenges: TokenBucket;
  /** RSTs of connections aborted by the application, sent at the next poll. */
  private resets: Array<{ local: Endpoint; remote: Endpoint; seq: number }> = [];

  constructor(
    private readonly net: NetworkLayer,
    private readonly counters: Counters,
    private readonly random: Random,
    options: Partial<TcpLayerOptions> = {},
    /** Called when a connection has work outside a receive or poll (the driver then polls soon). */
    private readonly wake: () => void = () => {},
  ) {
    this.config = { ...defaultTcpLayerOptions, ...options };
    const secret = (): Uint8Array => Uint8Array.from({ length: 16 }, () => Math.floor(random() * 256));
    this.isnKey = sipKey(secret());
    this.cookies = new SynCookies(secret());
    this.floodGuard = new SynFloodGuard(sipKey(secret()), this.config.synFlood);
    this.budget = new MemoryBudget(this.config.maxBufferBytes);
    this.challenges = new TokenBucket(this.config.maxChallengeAcksPerSecond, this.config.maxChallengeAcksPerSecond);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  connections(): IterableIterator<TcpConnection> {
    return this.conns.values();
  }

  /** A shutdown: every connection closes (its FIN after what is queued, RFC 9293 §3.10.4 CLOSE). */
  closeAll(): void {
    for (const c of [...this.conns.values()]) if (c.state !== 'TIME_WAIT' && c.state !== 'CLOSED') c.close();
  }

  /** Connections neither CLOSED nor in TIME_WAIT: what a shutdown waits for. */
  get stillOpen(): number {
    let n = 0;
    for (const c of this.conns.values()) if (c.state !== 'TIME_WAIT' && c.state !== 'CLOSED') n++;
    return n;
  }

  /** A shutdown's grace is over: what is still open is reset (its RST leaves with the next poll). */
  abortAll(): void {
    for (const c of [...this.conns.values()]) if (c.state !== 'TIME_WAIT') c.abort();
  }

  listen(port: number, accept: (conn: TcpConnection) => void, opts: ListenOptions = {}): TcpListener {
    if (this.listeners.has(port)) throw new Error(`TCP port ${port} is already listening`);
    const { backlog = this.config.maxSynBacklog, ...choices } = opts;
    const l: ListenerState = { port, accept, choices, synReceived: 0, backlog, cookieSentAt: undefined };
    this.listeners.set(port, l);
    return {
      port,
      close: () => {
        if (this.listeners.get(port) === l) this.listeners.delete(port);
      },
    };
  }

  /**
   * Opens a connection (active OPEN, §3.10.1); the SYN goes out on the next poll. `choices` override the layer's
   * congestion control and loss recovery for this connection.
   */
  connect(dst: IpAddr, dstPort: number, choices: ConnectionChoices = {}): TcpConnection {
    const local = this.net.sourceFor(dst);
    if (local === undefined) throw new Error(`no ${isIpv4(dst) ? 'IPv4' : 'IPv6'} address yet`);
    if (this.conns.size >= this.config.maxConnections) throw new Error('too many connections');
    const [lo, hi] = this.config.ephemeralPorts;
    const span = hi - lo + 1;
    const start = Math.floor(this.random() * span);
    for (let i = 0; i < span; i++) {
      const port = lo + ((start + i) % span);
      const key = keyOf(dst, dstPort, port);
      if (this.conns.has(key) || this.listeners.has(port)) continue;
      // The ISN is taken with the time when the SYN first goes out (`poll`).
      const conn = new TcpConnection(this, { address: local, port }, { address: dst, port: dstPort }, 0, true, randomU32(this.random), this.mssFor(dst), choices);
      this.conns.set(key, conn);
      this.counters.inc('tcp.active_open');
      this.dirty(conn);
      return conn;
    }
    throw new Error('no free local port');
  }

  /** Our MSS towards `remote`: the link's largest payload less the TCP header, capped by the configured MSS. */
  private mssFor(remote: IpAddr): number {
    return Math.min(this.config.mss, this.net.maxPayload(remote) - 20);
  }

  /** What the path to `conn`'s peer takes now, for its segments (a learned path MTU, RFC 1191 / RFC 8201). */
  private usePath(conn: TcpConnection, now: number): void {
    const path = this.net.maxPayload(conn.remote.address, now) - 20;
    if (path < this.net.maxPayload(conn.remote.address) - 20) conn.setPathMss(path);
  }

  /**
   * An ICMP error about a segment we sent (RFC 1122 §4.2.3.9, RFC 5461), acted on only when the sequence number
   * it quotes is in flight on that connection (RFC 5927 §4.1). Too big (RFC 1191, RFC 8201): the path MTU is
   * lowered and every connection to that host resized, what went out too big resent at once. Protocol or port
   * unreachable ends a handshake; anything else is a soft error, told if the connection then times out.
   */
  icmpError(e: TransportError): void {
    const t = e.transport;
    const srcPort = ((t[0] ?? 0) << 8) | (t[1] ?? 0);
    const dstPort = ((t[2] ?? 0) << 8) | (t[3] ?? 0);
    const seq = (((t[4] ?? 0) << 24) | ((t[5] ?? 0) << 16) | ((t[6] ?? 0) << 8) | (t[7] ?? 0)) >>> 0;
    const conn = this.conns.get(keyOf(e.dst, dstPort, srcPort));
    if (conn === undefined || conn.local.address !== e.src) {
      this.counters.inc('tcp.rx_icmp_unmatched');
      return;
    }
    if (!conn.quotesInFlight(seq)) {
      this.counters.inc('tcp.rx_icmp_out_of_window');
      return;
    }
    if (e.kind === 'too-big') {
      this.counters.inc('tcp.rx_icmp_too_big');
      if (this.net.learnPathMtu(e.dst, e.mtu > 0 ? e.mtu : plateauBelow(e.quotedLength), e.now) === undefined) return;
      for (const c of this.conns.values()) if (c.remote.address === e.dst) this.usePath(c, e.now);
      return;
    }
    if (e.hard && conn.icmpHardError(e.description)) {
      this.counters.inc('tcp.rx_icmp_hard');
      return;
    }
    this.counters.inc('tcp.rx_icmp_soft');
    conn.icmpSoftErrorSeen(e.description);
  }

  receive(payload: Uint8Array, ctx: RxContext): void {
    const parsed = parseTcp(payload, ctx.pseudo, ctx.checksumTrusted);
    if (!parsed.ok) {
      this.counters.inc(`tcp.rx_bad_${parsed.reason}`);
      return;
    }
    const seg = parsed.segment;
    // RFC 1122 §4.2.3.10: segments to a broadcast or multicast address are dropped.
    if (ctx.ipBroadcast || ctx.linkBroadcast) {
      this.counters.inc('tcp.rx_broadcast');
      return;
    }
    this.counters.inc('tcp.rx');
    const conn = this.conns.get(keyOf(ctx.src, seg.srcPort, seg.dstPort));
    if (conn !== undefined && conn.state === 'TIME_WAIT' && this.listeners.has(seg.dstPort) && conn.takesNewIncarnation(seg)) {
      // RFC 9293 §3.6.1 (note), RFC 6191: a SYN newer than all of the old connection starts the new one at once.
      this.counters.inc('tcp.time_wait_reused');
      conn.destroy(undefined);
    } else if (conn !== undefined) {
      conn.receive(seg, ctx.now, ctx.ecn);
      this.settle(conn, ctx.now);
      return;
    }
    const l = this.listeners.get(seg.dstPort);
    if (l !== undefined) {
      this.listenState(l, ctx, seg, ctx.now);
      return;
    }
    this.counters.inc('tcp.rx_closed_port');
    this.resetFor(ctx.dst, ctx.src, seg, ctx.now);
  }

  /** §3.10.7.2: a segment for a listening port. */
  private listenState(l: ListenerState, h: RxContext, seg: TcpSegment, now: number): void {
    if (seg.flags & RST) return;
    if (seg.flags & ACK) {
      if (!(seg.flags & SYN) && this.fromCookie(l, h, seg, now)) return;
      this.resetFor(h.dst, h.src, seg, now);
      return;
    }
    if (!(seg.flags & SYN)) return;
    if (this.conns.size >= this.config.maxConnections) {
      this.counters.inc('tcp.drop_too_many_connections');
      return;
    }
    if (l.synReceived >= l.backlog) {
      if (this.config.synCookies) {
        if (this.floodGuard.allow(h.src, now)) this.sendCookie(l, h, seg, now);
        else this.counters.inc('tcp.syn_flood_dropped');
        return;
      }
      this.counters.inc('tcp.drop_backlog_full');
      return;
    }
    const conn = new TcpConnection(this, { address: h.dst, port: seg.dstPort }, { address: h.src, port: seg.srcPort }, this.isn(h.dst, seg.dstPort, h.src, seg.srcPort, now), false, randomU32(this.random), this.mssFor(h.src), l.choices);
    this.conns.set(keyOf(h.src, seg.srcPort, seg.dstPort), conn);
    this.usePath(conn, now);
    this.embryos.set(conn, l);
    l.synReceived++;
    this.counters.inc('tcp.passive_open');
    conn.acceptSyn(seg, now);
    this.settle(conn, now);
  }

  /** RFC 4987 §3.6: the backlog is full, so the handshake's state goes into our ISN instead of memory. */
  private sendCookie(l: ListenerState, h: RxContext, seg: TcpSegment, now: number): void {
    const c = this.config;
    const mss = this.mssFor(h.src);
    const offer = { mss: Math.min(seg.options.mss ?? 536, mss), windowScale: c.windowScaling ? seg.options.windowScale : undefined, sackPermitted: c.sack && seg.options.sackPermitted === true };
    const { iss, options } = this.cookies.make(h.dst, seg.dstPort, h.src, seg.srcPort, seg.seq, offer, now, windowShiftFor(c.receiveBufferSize), mss);
    l.cookieSentAt = now;
    this.counters.inc('tcp.syn_cookie_sent');
    const synAck: TcpSegment = { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: iss, ack: seqAdd(seg.seq, 1), flags: SYN | ACK, window: Math.min(65535, c.receiveBufferSize), urgent: 0, options, payload: EMPTY };
    this.net.send(h.src, PROTO_TCP, encodeTcp(synAck, this.net.pseudoSum(h.dst, h.src, PROTO_TCP)), now, { src: h.dst, dontFragment: true });
  }

  /** An ACK for a listener: if it returns one of our cookies, the connection is made from it. */
  private fromCookie(l: ListenerState, h: RxContext, seg: TcpSegment, now: number): boolean {
    if (!this.config.synCookies || l.cookieSentAt === undefined || now - l.cookieSentAt > SynCookies.lifetimeMs) return false;
    const synSeq = seqAdd(seg.seq, -1);
    const opts = this.cookies.check(h.dst, seg.dstPort, h.src, seg.srcPort, synSeq, seqAdd(seg.ack, -1), now);
    if (opts === undefined) {
      this.counters.inc('tcp.syn_cookie_bad');
      return false;
    }
    if (this.conns.size >= this.config.maxConnections) {
      this.counters.inc('tcp.drop_too_many_connections');
      return true;
    }
    const conn = new TcpConnection(this, { address: h.dst, port: seg.dstPort }, { address: h.src, port: seg.srcPort }, seqAdd(seg.ack, -1), false, randomU32(this.random), this.mssFor(h.src), l.choices);
    this.conns.set(keyOf(h.src, seg.srcPort, seg.dstPort), conn);
    this.usePath(conn, now);
    this.counters.inc('tcp.syn_cookie_accepted');
    conn.acceptCookie(synSeq, opts, now);
    conn.receive(seg, now);
    this.settle(conn, now);
    if (conn.state !== 'ESTABLISHED' && conn.state !== 'CLOSE_WAIT') {
      conn.abort();
      this.sendResets(now);
      return true;
    }
    this.counters.inc('tcp.established');
    l.accept(conn);
    return true;
  }

  /** §3.10.7.1: the reset for a segment that belongs to no connection. */
  private resetFor(local: IpAddr, remote: IpAddr, seg: TcpSegment, now: number): void {
    if (seg.flags & RST) return;
    const rst: TcpSegment = seg.flags & ACK
      ? { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: seg.ack, ack: 0, flags: RST, window: 0, urgent: 0, options: {}, payload: EMPTY }
      : { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: 0, ack: seqAdd(seg.seq, segmentLength(seg)), flags: RST | ACK, window: 0, urgent: 0, options: {}, payload: EMPTY };
    this.counters.inc('tcp.tx_reset');
    this.net.send(remote, PROTO_TCP, encodeTcp(rst, this.net.pseudoSum(local, remote, PROTO_TCP)), now, { src: local, dontFragment: true });
  }

  poll(now: number): void {
    this.sendResets(now);
    for (let c = this.timers.popDue(now); c !== undefined; c = this.timers.popDue(now)) {
      c.poll(now);
      this.settle(c, now);
    }
    for (const c of this.pending) {
      this.pending.delete(c);
      if (c.awaitingIss) {
        c.open(this.isn(c.local.address, c.local.port, c.remote.address, c.remote.port, now));
        this.usePath(c, now);
      }
      c.output(now);
      this.settle(c, now);
    }
  }

  /** Due at once (0: any time is past it) while connections or resets wait for output; else the earliest connection timer. */
  nextDeadline(): number | undefined {
    if (this.pending.size > 0 || this.resets.length > 0) return 0;
    return this.timers.peek();
  }

  private sendResets(now: number): void {
    if (this.resets.length === 0) return;
    const resets = this.resets;
    this.resets = [];
    for (const r of resets) {
      const rst: TcpSegment = { srcPort: r.local.port, dstPort: r.remote.port, seq: r.seq, ack: 0, flags: RST, window: 0, urgent: 0, options: {}, payload: EMPTY };
      this.counters.inc('tcp.tx');
      this.counters.inc('tcp.tx_reset');
      this.net.send(r.remote.address, PROTO_TCP, encodeTcp(rst, this.net.pseudoSum(r.local.address, r.remote.address, PROTO_TCP)), now, { src: r.local.address, dontFragment: true });
    }
  }

  /** After a connection did something: its timer, and the TIME_WAIT bound. */
  private settle(conn: TcpConnection, _now: number): void {
    if (conn.state === 'CLOSED') return;
    const d = conn.nextDeadline();
    if (d !== undefined) this.timers.wakeBy(conn, d);
    if (conn.state === 'TIME_WAIT' && !this.timeWait.has(conn)) {
      this.timeWait.add(conn);
      if (this.timeWait.size > this.config.maxTimeWait) {
        const oldest = this.timeWait.values().next().value;
        if (oldest !== undefined) {
          this.counters.inc('tcp.time_wait_recycled');
          oldest.destroy(undefined);
        }
      }
    }
  }

  /** RFC 6528: ISN = M + F(local, remote, secret), M a 4 µs clock, F a keyed hash (SipHash-2-4). */
  private isn(localAddr: IpAddr, localPort: number, remoteAddr: IpAddr, remotePort: number, now: number): number {
    const f = hashTuple(this.isnKey, localAddr, localPort, remoteAddr, remotePort, 0, 0);
    return (Math.floor(now * 250) + f) >>> 0;
  }

  // ——— TcpHost ———

  send(conn: TcpConnection, seg: TcpSegment, now: number, gsoSize = 0, ect = false): void {
    this.counters.inc('tcp.tx');
    if (seg.flags & RST) this.counters.inc('tcp.tx_reset');
    if (gsoSize > 0) this.counters.inc('tcp.tx_tso');
    const pseudo = (conn.pseudo ??= this.net.pseudoSum(conn.local.address, conn.remote.address, PROTO_TCP));
    const packet = encodeTcpPacket(seg, pseudo, HEADROOM, this.config.checksumOffload ? gsoSize : undefined);
    this.net.send(conn.remote.address, PROTO_TCP, packet, now, { src: conn.local.address, dontFragment: true, ...(ect ? { tos: ECN_ECT0 } : {}) });
  }

  challengeAllowed(now: number): boolean {
    return this.challenges.take(now);
  }

  dirty(conn: TcpConnection): void {
    if (conn.state === 'CLOSED') return;
    this.pending.add(conn);
    this.wake();
  }

  resetLater(conn: TcpConnection, seq: number): void {
    this.resets.push({ local: conn.local, remote: conn.remote, seq });
    this.wake();
  }

  closed(conn: TcpConnection): void {
    this.conns.delete(keyOf(conn.remote.address, conn.remote.port, conn.local.port));
    this.timers.delete(conn);
    this.pending.delete(conn);
    this.timeWait.delete(conn);
    const l = this.embryos.get(conn);
    if (l !== undefined) {
      this.embryos.delete(conn);
      l.synReceived--;
    }
  }

  established(conn: TcpConnection): void {
    const l = this.embryos.get(conn);
    if (l === undefined) return;
    this.embryos.delete(conn);
    l.synReceived--;
    this.counters.inc('tcp.established');
    if (this.listeners.get(l.port) !== l) {
      conn.abort();
      return;
    }
    l.accept(conn);
  }

  count(name: LayerCounter<'tcp'>): void {
    this.counters.inc(name);
  }
}

function keyOf(remote: IpAddr, remotePort: number, localPort: number): string {
  // An IPv6 address in hex: a power-of-two radix converts a bigint far faster than decimal, once per segment.
  return isIpv4(remote) ? `${remote}:${remotePort}:${localPort}` : `[${remote.toString(16)}]:${remotePort}:${localPort}`;
}
