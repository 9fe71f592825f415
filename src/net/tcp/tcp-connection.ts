// One TCP connection (the TCB of RFC 9293 §3.3.1) and its state machine, sans I/O: segments and the
// time go in (`segmentArrives`, `onTimer`), segments go out through the host, and the application
// reads, writes and closes through methods that only change buffers and flags.
//
// Besides RFC 9293: RFC 6298 (RTO), RFC 5681 (slow start, congestion avoidance, fast retransmit,
// delayed ACK), RFC 6582 (NewReno), RFC 2018 and RFC 6675 (SACK and SACK-based recovery), RFC 7323
// (window scale, timestamps, RTTM, PAWS), RFC 5961 (RST/SYN/ACK checks, challenge ACKs).

import { copyBytes, type IpAddr } from '../addr.ts';
import { earliest } from '../deadline.ts';
import { ByteRing } from './byte-ring.ts';
import type { MemoryBudget } from './memory-budget.ts';
import { RtoEstimator } from './rto.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './seq.ts';
import { SeqRanges, type SeqRange } from './seq-ranges.ts';
import { ACK, FIN, PSH, RST, SYN, segmentLength, type TcpOptions, type TcpSegment } from './tcp-wire.ts';
import { MAX_WINDOW_SCALE, windowShiftFor } from './window.ts';

export type TcpState =
  | 'SYN_SENT' | 'SYN_RECEIVED' | 'ESTABLISHED' | 'FIN_WAIT_1' | 'FIN_WAIT_2'
  | 'CLOSE_WAIT' | 'CLOSING' | 'LAST_ACK' | 'TIME_WAIT' | 'CLOSED';

export interface TcpConfig {
  /** Our MSS (MTU − 40), announced in our SYN (RFC 9293 §3.7.1). */
  mss: number;
  /** Bytes the application may queue for sending. */
  sendBufferSize: number;
  /** Bytes held for the application; the receive window is what is free of it. */
  receiveBufferSize: number;
  /** Out-of-order segments held per connection (their bytes never exceed the receive window). */
  maxOutOfOrderSegments: number;
  /** RFC 6298 (2.1) initial RTO. */
  initialRtoMs: number;
  /** The RTO floor: RFC 6298 (2.4) suggests 1 s; a lower one keeps a tail loss on a fast link short. */
  minRtoMs: number;
  maxRtoMs: number;
  /** Retransmissions of data or FIN before the connection is given up. */
  maxRetransmits: number;
  /** Retransmissions of a SYN or SYN-ACK before the attempt is given up. */
  synRetries: number;
  /** 2×MSL (RFC 9293 §3.4.2). */
  timeWaitMs: number;
  /** How long FIN_WAIT_2 may wait for the peer's FIN once the application is gone (as Linux's tcp_fin_timeout). */
  finWait2TimeoutMs: number;
  /** How long the peer may keep its window shut while we have data, before the connection is given up. */
  zeroWindowTimeoutMs: number;
  /** Delayed ACK timer (RFC 9293 §3.8.6.3: under 0.5 s; an ACK at least every second full segment). */
  delayedAckMs: number;
  /** Offer window scaling (RFC 7323 §2), timestamps (RFC 7323 §3) and SACK (RFC 2018). */
  windowScaling: boolean;
  timestamps: boolean;
  sack: boolean;
  /** Nagle's algorithm off (RFC 9293 §3.7.4); connections may change it. */
  noDelay: boolean;
  /** Keep-alive (RFC 9293 §3.8.4): idle time before probing (0: off), probe interval, probes before giving up. */
  keepAliveIdleMs: number;
  keepAliveIntervalMs: number;
  keepAliveProbes: number;
  /** The device finishes TCP checksums (virtio-net NEEDS_CSUM): segments leave with the pseudo-header sum only. */
  checksumOffload: boolean;
  /** The largest TCP/IPv4 packet the device cuts into segments itself (TSO); 0: every segment is one MSS at most. */
  tsoMaxBytes: number;
}

/** The least MSS we send with, whatever the peer announces (as Linux's TCP_MIN_MSS). */
export const MIN_SND_MSS = 88;

export const defaultTcpConfig: TcpConfig = {
  mss: 1460,
  sendBufferSize: 256 * 1024,
  receiveBufferSize: 256 * 1024,
  maxOutOfOrderSegments: 512,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 60_000,
  maxRetransmits: 12,
  synRetries: 6,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  zeroWindowTimeoutMs: 300_000,
  delayedAckMs: 40,
  windowScaling: true,
  timestamps: true,
  sack: true,
  checksumOffload: false,
  tsoMaxBytes: 0,
  noDelay: false,
  keepAliveIdleMs: 0,
  keepAliveIntervalMs: 75_000,
  keepAliveProbes: 9,
};

export interface Endpoint {
  address: IpAddr;
  port: number;
}

/** What a connection needs from the TCP layer that owns it. */
export interface TcpHost {
  readonly config: TcpConfig;
  /** Shared bound on buffer memory (absent: only the per-connection sizes bound it). */
  readonly budget?: MemoryBudget | undefined;
  /**
   * Sends a segment from this connection's local to its remote endpoint. With `gsoSize`, its payload is
   * a TSO super-segment for the device to cut into segments of that many bytes.
   */
  send(conn: TcpConnection, seg: TcpSegment, now: number, gsoSize?: number): void;
  /** The application changed something (data queued, window opened, close): let output run soon. */
  dirty(conn: TcpConnection): void;
  /** The connection left CLOSED for good: forget it. */
  closed(conn: TcpConnection): void;
  /** Sends a RST from this connection (seq `seq`, no ACK) at the next output; the connection itself is gone by then. */
  resetLater(conn: TcpConnection, seq: number): void;
  /** A passive connection completed its handshake. */
  established(conn: TcpConnection): void;
  /** RFC 5961 §7: challenge ACKs are rate-limited across all connections. */
  challengeAllowed?(now: number): boolean;
  count(name: string): void;
}

export type CloseReason = 'reset' | 'timeout' | 'refused' | 'aborted' | undefined;

interface OutOfOrder {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

const DUP_THRESH = 3; // RFC 5681 §3.2
const TS_OPTION_BYTES = 12; // NOP NOP kind len TSval TSecr
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000; // RFC 7323 §5.5: 24 days
const EMPTY = new Uint8Array(0);

/** Immutable for a connection once the handshake is done: what both ends agreed to use. */
interface Negotiated {
  sackOk: boolean;
  tsOk: boolean;
}

export class TcpConnection {
  state: TcpState;
  /** Set when the connection closed abnormally. */
  error: CloseReason;
  /** Called after anything the application may care about changed (data, space, state). */
  notify: () => void = () => {};
  private nagleOff: boolean;
  /** Keep-alive idle time for this connection (0: off). */
  keepAliveIdleMs: number;

  // RFC 9293 §3.3.1 send sequence variables; sndMax is the highest sequence number sent so far.
  /** Our initial sequence number; an active open takes it when its SYN first goes out (`open`). */
  private iss: number;
  private issTaken = false;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /** The peer's MSS as it announced it (or 536), capped by ours. */
  sndMss: number;
  // Receive sequence variables; rcvAdv is the right edge of the window we last advertised.
  irs = 0;
  rcvNxt = 0;
  rcvAdv = 0;
  // RFC 7323 window scale shifts (0 when not negotiated).
  sndShift = 0;
  rcvShift = 0;
  // RFC 5681 / 6582 / 6675 congestion state.
  cwnd = 0;
  ssthresh = 0xffffffff;
  dupAcks = 0;
  /** Set while in fast recovery: the highest sequence number sent when it began (RFC 6582 "recover"). */
  recover: number | undefined;
  /** RFC 6675 HighRxt: how far this recovery has retransmitted. */
  private highRxt = 0;
  /** The recovery began with a timeout (RFC 6675 §5.1): all that is not SACKed below `recover` is lost. */
  private rtoRecovery = false;
  /** When each chunk this recovery retransmitted (by its first sequence number) left, to see one lost again. */
  private readonly rexmitAt = new Map<number, number>();
  private readonly sacked = new SeqRanges();

  private readonly sendBuf: ByteRing;
  private readonly recvBuf: ByteRing;
  private ooo: OutOfOrder[] = [];
  private oooBytes = 0;
  /** The start of the out-of-order segment that arrived last: its block is reported first (RFC 2018 §4). */
  private lastOooSeq: number | undefined;
  private readonly rto: RtoEstimator;
  private rtoAt: number | undefined;
  private retransmits = 0;
  private rttSeq: number | undefined;
  private rttStart = 0;
  private persistAt: number | undefined;
  private persistBackoff = 0;
  private zeroWindowSince: number | undefined;
  private timeWaitAt: number | undefined;
  private finWait2At: number | undefined;
  private delAckAt: number | undefined;
  private keepAliveAt: number | undefined;
  private keepAliveSent = 0;
  private lastHeard = 0;
  private unackedSegments = 0;
  private ackNeeded = false;
  private synSent = false;
  private peerOffered: TcpOptions = {};
  private neg: Negotiated = { sackOk: false, tsOk: false };
  // RFC 7323 timestamps: our clock's offset, the last TSval to echo, when it was taken, the last ACK we sent.
  private readonly tsOffset: number;
  private tsRecent = 0;
  private tsRecentAt = 0;
  private lastAckSent = 0;
  /** Our timestamp clock when we last retransmitted. */
  private lastRexmitTs: number | undefined;
  /** The application will send no more: a FIN follows the queued data. */
  private finQueued = false;
  /** The sequence number our FIN took, once sent; and whether the peer has acknowledged it. */
  private finSeq: number | undefined;
  private finAcked = false;
  /** The peer's FIN has been received (EOF for the application). */
  private peerFin = false;
  /** The application will read no more: data that still arrives is acknowledged and dropped. */
  private readClosed = false;

  constructor(
    private readonly host: TcpHost,
    readonly local: Endpoint,
    readonly remote: Endpoint,
    iss: number,
    /** True for a connection we opened (SYN_SENT), false for one from a listener. */
    readonly active: boolean,
    tsOffset = 0,
    /** Our MSS on this connection's route (the network layer's largest payload less the TCP header). */
    readonly mss = host.config.mss,
  ) {
    const c = host.config;
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndMss = Math.min(536, this.mss);
    this.tsOffset = tsOffset >>> 0;
    this.nagleOff = c.noDelay;
    this.keepAliveIdleMs = c.keepAliveIdleMs;
    this.sendBuf = new ByteRing(c.sendBufferSize, host.budget);
    this.recvBuf = new ByteRing(c.receiveBufferSize, host.budget);
    this.rto = new RtoEstimator(c);
    this.state = active ? 'SYN_SENT' : 'SYN_RECEIVED';
    if (c.windowScaling) this.rcvShift = windowShiftFor(c.receiveBufferSize);
  }

  /** True until an active open has taken its ISN (`open`). */
  get awaitingIss(): boolean {
    return this.active && !this.issTaken && this.state === 'SYN_SENT';
  }

  /** An active open takes its ISN (RFC 6528) when its first SYN is due: the layer computes it with the time. */
  open(iss: number): void {
    this.iss = this.sndUna = this.sndNxt = this.sndMax = iss;
    this.issTaken = true;
  }

  // ——— The application's side ———

  /** Bytes the application may still queue. */
  get sendSpace(): number {
    return this.canSend ? this.sendBuf.free : 0;
  }

  get canSend(): boolean {
    return !this.finQueued && (this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT' || this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED');
  }

  /** Bytes waiting to be read. */
  get readable(): number {
    return this.recvBuf.length;
  }

  /** True once everything the peer sent has been read and it sent FIN (or the connection is gone). */
  get atEof(): boolean {
    return this.recvBuf.length === 0 && (this.peerFin || this.state === 'CLOSED');
  }

  /** Bytes queued but not yet acknowledged. */
  get unacknowledged(): number {
    return this.sendBuf.length;
  }

  get established(): boolean {
    return this.state !== 'SYN_SENT' && this.state !== 'SYN_RECEIVED' && this.state !== 'CLOSED';
  }

  get rtoMs(): number {
    return this.rto.rtoMs;
  }

  get srttMs(): number | undefined {
    return this.rto.srttMs;
  }

  get sackEnabled(): boolean {
    return this.neg.sackOk;
  }

  get timestampsEnabled(): boolean {
    return this.neg.tsOk;
  }

  get outOfOrderSegments(): number {
    return this.ooo.length;
  }

  /** Nagle off for this connection (RFC 9293 §3.7.4). */
  get noDelay(): boolean {
    return this.nagleOff;
  }

  set noDelay(off: boolean) {
    this.nagleOff = off;
    this.host.dirty(this); // a segment Nagle held back may go now
  }

  /** Queues bytes to send; returns how many were taken (RFC 9293 §3.10.2 SEND). */
  write(data: Uint8Array): number {
    if (!this.canSend) return 0;
    const n = this.sendBuf.push(data);
    if (n > 0) this.host.dirty(this);
    return n;
  }

  /** Takes up to `max` received bytes; the window opens as the application reads (§3.10.3 RECEIVE). */
  read(max = Infinity): Uint8Array {
    const out = this.recvBuf.take(Math.min(max, this.recvBuf.length));
    if (out.length > 0 && this.windowUpdateDue()) {
      this.ackNeeded = true;
      this.host.dirty(this);
    }
    return out;
  }

  /** Graceful close: a FIN after the queued data; unread and later data is dropped (§3.10.4 CLOSE). */
  close(): void {
    this.readClosed = true;
    this.recvBuf.consume(this.recvBuf.length);
    if (this.state === 'SYN_SENT') {
      this.destroy(undefined);
      return;
    }
    this.finQueued = true;
    this.host.dirty(this);
  }

  /** Closes only our sending direction (half-close): reads continue until the peer's FIN. */
  shutdownWrite(): void {
    if (this.state === 'SYN_SENT') {
      this.destroy(undefined);
      return;
    }
    this.finQueued = true;
    this.host.dirty(this);
  }

  /**
   * Abort (§3.10.5 ABORT): everything released now; the RST to the peer (if it knows us) goes out with the
   * next output, which has the time.
   */
  abort(): void {
    if (this.state === 'CLOSED') return;
    if (this.state !== 'SYN_SENT' && this.state !== 'TIME_WAIT') this.host.resetLater(this, this.sndNxt);
    this.destroy('aborted');
  }

  // ——— Output ———

  /** The payload a full segment carries: the peer's MSS less our option overhead. */
  private get smss(): number {
    return this.sndMss - (this.neg.tsOk ? TS_OPTION_BYTES : 0);
  }

  /**
   * The payload a segment sent now may carry: SMSS, less room for SACK blocks while we hold out-of-order data
   * (they ride on every segment then, RFC 2018 §4), so that no segment outgrows the peer's MSS and the MTU (as
   * Linux's tcp_current_mss). Room for as many blocks as the option space holds: 3 beside timestamps, else 4.
   */
  private get segPayload(): number {
    if (!this.neg.sackOk || this.ooo.length === 0) return this.smss;
    return this.smss - (this.neg.tsOk ? 4 + 3 * 8 : 4 + 4 * 8);
  }

  /**
   * The most new data one segment may carry: one SMSS, or with a device that segments (TSO) outside loss
   * recovery as many whole SMSS as one IPv4 packet holds (the device sends each as its own segment).
   */
  private segmentCap(): number {
    const tso = this.host.config.tsoMaxBytes;
    // A super-segment needs the device to finish its checksum (each piece has its own): both, or none.
    const per = this.segPayload;
    if (tso === 0 || !this.host.config.checksumOffload || this.recover !== undefined || this.dupAcks > 0) return per;
    const room = tso - 20 - 60; // IPv4 header, and the largest TCP header
    return Math.max(per, room - (room % per));
  }

  /** Where the data ends in sequence space (the FIN's sequence number). */
  private get dataEnd(): number {
    return this.finSeq ?? seqAdd(this.sndUna, this.sendBuf.length);
  }

  /** Sends whatever is due: SYN, retransmissions, new data within the windows, FIN, or a lone ACK. */
  output(now: number): void {
    const st = this.state;
    if (st === 'CLOSED') return;
    if (st === 'TIME_WAIT') {
      if (this.ackNeeded) this.sendAck(now);
      return;
    }
    if (st === 'SYN_SENT' || st === 'SYN_RECEIVED') {
      if (!this.synSent || this.ackNeeded) this.sendSyn(now);
      return;
    }
    let sent = false;
    if (this.recover !== undefined && this.neg.sackOk) sent = this.sackRecovery(now);
    sent = this.sendNewData(now) || sent;
    // RFC 9293 §3.8.6.1: with a zero window and data waiting, probe the window on the persist timer.
    if (this.sndWnd === 0 && this.sendBuf.length > 0 && this.sndMax === this.sndUna && this.persistAt === undefined) {
      this.persistBackoff = 0;
      this.persistAt = now + this.rto.rtoMs;
      this.zeroWindowSince ??= now;
    }
    if (!sent && (this.ackNeeded || (this.delAckAt !== undefined && now >= this.delAckAt))) this.sendAck(now);
    this.armKeepAlive(now);
  }

  /** New data from SND.NXT (and the FIN), as the windows, Nagle and sender SWS avoidance allow. */
  private sendNewData(now: number): boolean {
    let sent = false;
    const end = this.dataEnd;
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.sndUna);
      const unsent = seqDiff(end, this.sndNxt);
      if (unsent <= 0) break;
      const inFlight = this.recover !== undefined && this.neg.sackOk ? this.pipe() : offset;
      // RFC 3042 Limited Transmit: the first two duplicate ACKs each let one new segment out.
      const limited = this.recover === undefined && this.dupAcks < DUP_THRESH ? this.dupAcks * this.smss : 0;
      const usable = Math.min(seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt), this.cwnd + limited - inFlight);
      if (usable <= 0) break;
      const cap = this.segmentCap();
      let n = Math.min(cap, unsent, usable);
      const per = this.segPayload;
      if (cap > per && n < unsent && inFlight > 0) {
        // With TSO, wait for the windows to hold a sizeable super-segment while ACKs are still to come
        // (as Linux's tcp_tso_should_defer): one send of many segments instead of many of two.
        if (n < Math.min(cap, Math.floor(Math.min(this.cwnd, this.sndWnd) / 3))) break;
        // A super-segment carries whole segments only, unless it ends the data: no short segment mid-stream.
        if (n > per) n -= n % per;
      }
      // Nagle and sender silly-window avoidance (RFC 9293 §3.7.4, §3.8.6.2.1): a short segment goes out only
      // when it carries everything queued and nothing is in flight (or Nagle is off), or it is at least half
      // the largest window the peer offered; otherwise the next ACK will bring a better moment.
      if (n < per && offset > 0) {
        const allQueued = n === unsent;
        if (!(allQueued && this.nagleOff) && !(this.maxSndWnd > 0 && n >= this.maxSndWnd / 2)) break;
      }
      this.transmit(this.sndNxt, n, now);
      sent = true;
    }
    // The FIN alone, once all data has gone (again after an RTO rewound SND.NXT).
    if (this.finQueued && !this.finAcked && this.sndNxt === end && (this.finSeq === undefined || seqLe(this.sndNxt, this.finSeq))) {
      this.transmit(this.sndNxt, 0, now);
      sent = true;
    }
    return sent;
  }

  /**
   * Sends `len` bytes of data starting at `seq` (plus the FIN if they end the data and close is due); more than
   * a segment's payload only as a TSO super-segment. Returns the sequence space sent (data, and one for a FIN).
   */
  private transmit(seq: number, len: number, now: number): number {
    const per = this.segPayload;
    if (len > per && this.segmentCap() <= per) len = per;
    const offset = seqDiff(seq, this.sndUna);
    const payload = len > 0 ? this.sendBuf.peek(offset, len) : EMPTY;
    const endSeq = seqAdd(seq, payload.length);
    const fin = this.finQueued && !this.finAcked && endSeq === seqAdd(this.sndUna, this.sendBuf.length);
    let flags = ACK;
    if (payload.length > 0 && offset + payload.length === this.sendBuf.length) flags |= PSH;
    if (fin) flags |= FIN;
    this.emit({ seq, ack: this.rcvNxt, flags, payload }, now, payload.length > per ? per : 0);
    const next = seqAdd(endSeq, fin ? 1 : 0);
    const isNew = seqGt(next, this.sndMax);
    if (seqGt(next, this.sndNxt) && !seqLt(seq, this.sndNxt)) this.sndNxt = next;
    if (isNew) {
      // Without timestamps, time one new segment at a time for the RTT (Karn: never a retransmitted one).
      if (!this.neg.tsOk && this.rttSeq === undefined) {
        this.rttSeq = seq;
        this.rttStart = now;
      }
      this.sndMax = next;
    } else {
      this.host.count('tcp.retransmitted_segment');
      this.lastRexmitTs = this.tsNow(now);
    }
    if (fin && this.finSeq === undefined) {
      this.finSeq = endSeq;
      this.finSent();
    }
    if (this.rtoAt === undefined) this.rtoAt = now + this.rto.rtoMs; // RFC 6298 (5.1)
    this.persistAt = undefined;
    return seqDiff(next, seq);
  }

  private finSent(): void {
    if (this.state === 'ESTABLISHED' || this.state === 'SYN_RECEIVED') this.state = 'FIN_WAIT_1';
    else if (this.state === 'CLOSE_WAIT') this.state = 'LAST_ACK';
  }

  private sendSyn(now: number): void {
    const c = this.host.config;
    const o = this.peerOffered;
    const opts: TcpOptions = { mss: this.mss };
    // In our SYN we offer what we do; in a SYN-ACK we answer only what the peer offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
    const offer = (ours: boolean, theirs: boolean): boolean => ours && (this.state === 'SYN_SENT' || theirs);
    if (offer(c.windowScaling, o.windowScale !== undefined)) opts.windowScale = this.rcvShift;
    if (offer(c.sack, o.sackPermitted === true)) opts.sackPermitted = true;
    if (offer(c.timestamps, o.timestamp !== undefined)) opts.timestamp = { value: this.tsNow(now), echo: this.state === 'SYN_RECEIVED' ? this.tsRecent : 0 };
    const window = Math.min(65535, this.recvWindow());
    if (this.state === 'SYN_SENT') {
      this.emit({ seq: this.iss, ack: 0, flags: SYN, payload: EMPTY, options: opts, window }, now);
    } else {
      this.rcvAdv = seqAdd(this.rcvNxt, window);
      this.emit({ seq: this.iss, ack: this.rcvNxt, flags: SYN | ACK, payload: EMPTY, options: opts, window }, now);
    }
    if (!this.synSent && this.retransmits === 0) {
      this.rttSeq = this.iss;
      this.rttStart = now;
    } else {
      this.lastRexmitTs = this.tsNow(now); // Karn: an echo of an earlier SYN measures nothing
    }
    this.synSent = true;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = seqMax(this.sndMax, this.sndNxt);
    if (this.rtoAt === undefined) this.rtoAt = now + this.rto.rtoMs;
  }

  private sendAck(now: number): void {
    this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: ACK, payload: EMPTY }, now);
  }

  private sendRst(seq: number, now: number): void {
    this.emit({ seq, ack: 0, flags: RST, payload: EMPTY }, now);
  }

  private emit(s: { seq: number; ack: number; flags: number; payload: Uint8Array; options?: TcpOptions; window?: number }, now: number, gsoSize = 0): void {
    const options: TcpOptions = s.options ?? {};
    let window = 0;
    if (s.window !== undefined) {
      window = s.window;
    } else if (s.flags & ACK) {
      // Round down: the peer must never be told of room past RCV.ADV, the edge we accept up to. A kept
      // edge that is not a multiple of 2^shift looks up to 2^shift − 1 bytes nearer; we still accept to it.
      window = Math.min(0xffff, Math.floor(this.advertise() / 2 ** this.rcvShift));
    }
    if (!(s.flags & SYN) && !(s.flags & RST)) {
      // RFC 7323 §3.2: with timestamps agreed, every segment but a RST carries one.
      if (this.neg.tsOk) options.timestamp = { value: this.tsNow(now), echo: this.tsRecent };
      if (this.neg.sackOk && s.flags & ACK && this.ooo.length > 0) options.sack = this.sackBlocks();
    }
    if (s.flags & ACK) {
      this.ackNeeded = false;
      this.delAckAt = undefined;
      this.unackedSegments = 0;
      this.lastAckSent = s.ack;
    }
    this.host.send(
      this,
      { srcPort: this.local.port, dstPort: this.remote.port, seq: s.seq, ack: s.ack, flags: s.flags, window, urgent: 0, options, payload: s.payload },
      now,
      gsoSize,
    );
  }

  private tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  /** Free receive space: what the buffer (and the shared memory budget) can still take. */
  private recvWindow(): number {
    return this.readClosed ? this.host.config.receiveBufferSize : this.recvBuf.room;
  }

  /**
   * The window to advertise, never moving the right edge left (RFC 9293 §3.8.6.2.1) and opening it
   * only in steps of min(buffer/2, MSS) (receiver SWS avoidance, §3.8.6.2.2).
   */
  private advertise(): number {
    const free = this.recvWindow();
    const edge = seqAdd(this.rcvNxt, free);
    const step = Math.min(this.host.config.receiveBufferSize / 2, this.mss);
    if (seqGe(this.rcvAdv, this.rcvNxt) && seqDiff(edge, this.rcvAdv) < step) return Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    // A new edge sits on a multiple of 2^shift from RCV.NXT, so the shifted field says it exactly.
    const unit = 2 ** this.rcvShift;
    this.rcvAdv = seqAdd(this.rcvNxt, Math.floor(Math.min(free, 0xffff * unit) / unit) * unit);
    return seqDiff(this.rcvAdv, this.rcvNxt);
  }

  private windowUpdateDue(): boolean {
    const edge = seqAdd(this.rcvNxt, this.recvWindow());
    const step = Math.min(this.host.config.receiveBufferSize / 2, this.mss);
    return seqDiff(edge, this.rcvAdv) >= step;
  }

  /** Up to 3 SACK blocks (4 without timestamps), the most recently changed first (RFC 2018 §4). */
  private sackBlocks(): SeqRange[] {
    const blocks = new SeqRanges();
    for (const o of this.ooo) blocks.add(o.seq, seqAdd(o.seq, o.data.length));
    const all = [...blocks.list];
    const recent = this.lastOooSeq;
    const first = recent === undefined ? -1 : all.findIndex(([s, e]) => seqLe(s, recent) && seqLt(recent, e));
    const ordered = first >= 0 ? [all[first] as SeqRange, ...all.filter((_, i) => i !== first).reverse()] : all.reverse();
    return ordered.slice(0, this.neg.tsOk ? 3 : 4);
  }

  // ——— Timers ———

  /** The next time `onTimer` has something to do. */
  deadline(): number | undefined {
    return earliest(this.rtoAt, this.persistAt, this.timeWaitAt, this.finWait2At, this.delAckAt, this.keepAliveAt);
  }

  onTimer(now: number): void {
    if (this.timeWaitAt !== undefined && now >= this.timeWaitAt) {
      this.host.count('tcp.time_wait_expired');
      this.destroy(undefined);
      return;
    }
    if (this.finWait2At !== undefined && now >= this.finWait2At) {
      this.host.count('tcp.fin_wait_2_timeout');
      this.destroy('timeout');
      return;
    }
    if (this.rtoAt !== undefined && now >= this.rtoAt) this.retransmitTimeout(now);
    if (this.persistAt !== undefined && now >= this.persistAt) this.probeWindow(now);
    if (this.keepAliveAt !== undefined && now >= this.keepAliveAt) this.keepAliveProbe(now);
    if (this.state === 'CLOSED') return;
    this.output(now);
    // Data still outstanding and nothing sent (a closed window): keep the timer running.
    if (this.rtoAt === undefined && seqGt(this.sndMax, this.sndUna) && this.persistAt === undefined && this.state !== 'TIME_WAIT') {
      this.rtoAt = now + this.rto.rtoMs;
    }
  }

  /** RFC 6298 §5 (5.4–5.7), RFC 5681 §3.1: retransmit from SND.UNA with a one-segment window. */
  private retransmitTimeout(now: number): void {
    this.rtoAt = undefined;
    this.retransmits++;
    const handshake = this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED';
    const limit = handshake ? this.host.config.synRetries : this.host.config.maxRetransmits;
    if (this.retransmits > limit) {
      this.host.count(handshake ? 'tcp.handshake_timeout' : 'tcp.retransmit_timeout');
      if (!handshake) this.sendRst(this.sndNxt, now);
      this.destroy('timeout');
      return;
    }
    this.host.count('tcp.retransmit');
    this.host.count('tcp.rto');
    // Where timeouts come from: a retransmission lost in recovery, or a tail with too few ACKs behind it.
    this.host.count(this.recover !== undefined ? 'tcp.rto_in_recovery' : seqDiff(this.sndMax, this.sndUna) <= 2 * this.smss ? 'tcp.rto_tail' : 'tcp.rto_other');
    this.rto.backoff();
    this.rttSeq = undefined;
    if (handshake) {
      this.synSent = false;
      return;
    }
    const flight = seqDiff(this.sndMax, this.sndUna);
    // A timeout within a recovery begun by a timeout keeps the first one's ssthresh (RFC 5681 §3.1 uses the
    // flight of the first; a second halving would count the same losses twice).
    if (!this.rtoRecovery) this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.smss);
    this.cwnd = this.smss;
    this.dupAcks = 0;
    // RFC 2018 §8: SACK information from before a timeout is not trusted (the receiver may have reneged).
    this.sacked.clear();
    this.rexmitAt.clear();
    if (this.neg.sackOk) {
      // RFC 6675 §5.1: RecoveryPoint = HighData, and no new recovery starts before it is acknowledged; the
      // SACK information that arrives from now on is used: all that is not SACKed below it is retransmitted,
      // once and in order, as the window (slow start from one segment) allows; new data goes out behind it.
      this.recover = this.sndMax;
      this.rtoRecovery = true;
      this.highRxt = this.sndUna;
      this.recoverGuard = undefined;
      return;
    }
    // RFC 6582 §3.2 (4): without SACK, start over from SND.UNA.
    this.recover = undefined;
    this.recoverGuard = this.sndMax;
    this.sndNxt = this.sndUna;
  }

  /** A zero-window probe: the next byte of data, sent without moving SND.NXT (RFC 9293 §3.8.6.1). */
  private probeWindow(now: number): void {
    this.persistAt = undefined;
    if (this.sndWnd > 0 || this.sendBuf.length === 0 || seqGt(this.sndNxt, this.sndUna)) {
      this.zeroWindowSince = undefined;
      return;
    }
    if (this.zeroWindowSince !== undefined && now - this.zeroWindowSince >= this.host.config.zeroWindowTimeoutMs) {
      this.host.count('tcp.zero_window_timeout');
      this.sendRst(this.sndNxt, now);
      this.destroy('timeout');
      return;
    }
    this.host.count('tcp.window_probe');
    this.emit({ seq: this.sndUna, ack: this.rcvNxt, flags: ACK, payload: this.sendBuf.peek(0, 1) }, now);
    this.sndMax = seqMax(this.sndMax, seqAdd(this.sndUna, 1));
    this.persistBackoff++;
    const next = now + Math.min(this.host.config.maxRtoMs, this.rto.rtoMs * 2 ** this.persistBackoff);
    this.persistAt = Math.min(next, (this.zeroWindowSince ?? now) + this.host.config.zeroWindowTimeoutMs);
  }

  private armKeepAlive(now: number): void {
    const idle = this.keepAliveIdleMs;
    if (idle <= 0 || this.state !== 'ESTABLISHED' && this.state !== 'CLOSE_WAIT') {
      this.keepAliveAt = undefined;
      return;
    }
    if (this.keepAliveSent === 0) this.keepAliveAt = this.lastHeard + idle;
  }

  /** RFC 9293 §3.8.4: after the idle time, a segment the peer must ACK (SEG.SEQ = SND.NXT − 1, no data). */
  private keepAliveProbe(now: number): void {
    this.keepAliveAt = undefined;
    if (now - this.lastHeard < this.keepAliveIdleMs) return;
    if (seqGt(this.sndMax, this.sndUna)) return; // data in flight: the RTO watches the peer
    if (this.keepAliveSent >= this.host.config.keepAliveProbes) {
      this.host.count('tcp.keepalive_timeout');
      this.destroy('timeout');
      return;
    }
    this.keepAliveSent++;
    this.host.count('tcp.keepalive_probe');
    this.emit({ seq: seqAdd(this.sndNxt, -1), ack: this.rcvNxt, flags: ACK, payload: EMPTY }, now);
    this.keepAliveAt = now + this.host.config.keepAliveIntervalMs;
  }

  // ——— Input (RFC 9293 §3.10.7) ———

  /** The peer's SYN that created this passive connection (§3.10.7.2, LISTEN state, third check). */
  acceptSyn(seg: TcpSegment, now: number): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt;
    this.takeSynOptions(seg, now);
    this.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.lastHeard = now;
    this.output(now);
  }

  /** A connection made from a SYN cookie: the handshake is done already (RFC 4987 §3.6). */
  acceptCookie(synSeq: number, opts: TcpOptions, seg: TcpSegment, now: number): void {
    this.irs = synSeq;
    this.rcvNxt = seqAdd(synSeq, 1);
    this.takeSynOptions({ ...seg, options: opts }, now);
    this.rcvAdv = seqAdd(this.rcvNxt, Math.min(65535, this.recvWindow())); // what the cookie SYN-ACK offered
    this.sndWl1 = synSeq;
    this.synSent = true;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.lastHeard = now;
  }

  private takeSynOptions(seg: TcpSegment, now: number): void {
    const o = seg.options;
    const c = this.host.config;
    this.peerOffered = o;
    // A peer's MSS below 88 (Linux's TCP_MIN_MSS) is taken as 88: with options, a smaller one leaves little or
    // no room for data, and a segment of none would never move the stream on.
    this.sndMss = Math.max(MIN_SND_MSS, Math.min(o.mss ?? 536, this.mss));
    if (c.windowScaling && o.windowScale !== undefined) {
      this.sndShift = Math.min(MAX_WINDOW_SCALE, o.windowScale); // RFC 7323 §2.3: cap at 14
    } else {
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    this.neg = { sackOk: c.sack && o.sackPermitted === true, tsOk: c.timestamps && o.timestamp !== undefined };
    if (o.timestamp !== undefined) {
      this.tsRecent = o.timestamp.value;
      this.tsRecentAt = now;
    }
    // RFC 5681 §3.1 initial window (RFC 3390's formula).
    this.cwnd = Math.min(4 * this.smss, Math.max(2 * this.smss, 4380));
  }

  segmentArrives(seg: TcpSegment, now: number): void {
    if (this.state === 'SYN_SENT') {
      this.synSentArrives(seg, now);
      return;
    }
    if (this.state === 'SYN_RECEIVED' && seg.flags & SYN && !(seg.flags & ACK) && seg.seq === this.irs) {
      // The peer retransmitted its SYN: our SYN-ACK was lost. Send it again (as Linux does), echoing this SYN.
      this.host.count('tcp.rx_syn_retransmit');
      if (seg.options.timestamp !== undefined) {
        this.tsRecent = seg.options.timestamp.value;
        this.tsRecentAt = now;
      }
      this.ackNeeded = true;
      this.output(now);
      return;
    }
    const len = segmentLength(seg);
    const ts = seg.options.timestamp;
    // RFC 7323 §5.3 PAWS: an old timestamp marks an old duplicate; drop it and ACK (never for RST).
    if (this.neg.tsOk && ts !== undefined && !(seg.flags & RST) && seqLt(ts.value, this.tsRecent) && now - this.tsRecentAt < PAWS_IDLE_MS) {
      this.host.count('tcp.rx_paws');
      this.sendAck(now);
      return;
    }
    // First: is the sequence number acceptable?
    const wnd = seqDiff(this.rcvAdv, this.rcvNxt) > 0 ? seqDiff(this.rcvAdv, this.rcvNxt) : 0;
    const acceptable = len === 0
      ? (wnd === 0 ? seg.seq === this.rcvNxt : seqLe(this.rcvNxt, seg.seq) && seqLt(seg.seq, seqAdd(this.rcvNxt, wnd)))
      : wnd > 0 && ((seqLe(this.rcvNxt, seg.seq) && seqLt(seg.seq, seqAdd(this.rcvNxt, wnd)))
          || (seqLe(this.rcvNxt, seqAdd(seg.seq, len - 1)) && seqLt(seqAdd(seg.seq, len - 1), seqAdd(this.rcvNxt, wnd))));
    if (!acceptable) {
      if (seg.flags & RST) return;
      this.host.count('tcp.rx_out_of_window');
      if (this.state === 'TIME_WAIT' && seg.flags & FIN) this.timeWaitAt = now + this.host.config.timeWaitMs;
      // A valid ACK at the window edge still counts when the window is zero (§3.10.7.4 first).
      // RFC 9293 §3.10.7.4: with a zero window no segment is acceptable, but valid ACKs still count
      // (processAck checks the ACK itself against what we sent).
      if (wnd === 0 && seg.flags & ACK) this.processAck(seg, now);
      if (this.state !== 'CLOSED') this.sendAck(now);
      return;
    }
    this.lastHeard = now;
    this.keepAliveSent = 0;
    // RFC 7323 §4.3: remember the timestamp to echo from a segment that covers what we last acknowledged.
    if (this.neg.tsOk && ts !== undefined && seqLe(seg.seq, this.lastAckSent)) {
      this.tsRecent = ts.value;
      this.tsRecentAt = now;
    }
    // Second: RST. RFC 9293 §3.10.7.4 (RFC 5961 §3.2): only an exact match resets; otherwise challenge.
    if (seg.flags & RST) {
      if (seg.seq !== this.rcvNxt) {
        this.challengeAck(now);
        return;
      }
      this.host.count('tcp.rx_reset');
      this.destroy(this.state === 'SYN_RECEIVED' && !this.active ? undefined : 'reset');
      return;
    }
    // Fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4.2).
    if (seg.flags & SYN) {
      this.challengeAck(now);
      return;
    }
    // Fifth: ACK.
    if (!(seg.flags & ACK)) return;
    if (this.state === 'SYN_RECEIVED') {
      if (!(seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax))) {
        this.sendRst(seg.ack, now);
        return;
      }
      // Our SYN is acknowledged; it took one sequence number and no data.
      this.state = 'ESTABLISHED';
      this.sndUna = seqAdd(this.iss, 1);
      this.rttSample(seg, now);
      this.rtoAt = undefined;
      this.retransmits = 0;
      this.sndWnd = seg.window * 2 ** this.sndShift;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.maxSndWnd = this.sndWnd;
      if (!this.active) this.host.established(this);
      this.notify();
    }
    if (!this.processAck(seg, now)) return;
    // Sixth and seventh: URG is ignored; segment text. Trim what we already have and what lies past the window.
    let payload = seg.payload;
    let seq = seg.seq;
    let fin = (seg.flags & FIN) !== 0;
    if (seqLt(seq, this.rcvNxt)) {
      const skip = seqDiff(this.rcvNxt, seq);
      fin = fin && skip <= payload.length; // the FIN sits right after the data
      payload = payload.subarray(Math.min(skip, payload.length));
      seq = this.rcvNxt;
    }
    const room = Math.max(0, seqDiff(seqAdd(this.rcvNxt, wnd), seq));
    if (payload.length > room) {
      payload = payload.subarray(0, room);
      fin = false;
    }
    if (payload.length > 0 || fin) {
      if (this.receivingData()) {
        this.receiveText(seq, payload, fin, now);
      } else {
        // CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT: the peer already sent FIN; acknowledge, keep state.
        this.ackNeeded = true;
        if (this.state === 'TIME_WAIT') this.timeWaitAt = now + this.host.config.timeWaitMs;
      }
    } else if (seg.payload.length > 0) {
      this.ackNeeded = true; // all of it was old: a duplicate, acknowledged at once
    }
    this.output(now);
  }

  private challengeAck(now: number): void {
    if (this.host.challengeAllowed !== undefined && !this.host.challengeAllowed(now)) {
      this.host.count('tcp.challenge_ack_limited');
      return;
    }
    this.host.count('tcp.challenge_ack');
    this.sendAck(now);
  }

  private receivingData(): boolean {
    return this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2';
  }

  /** §3.10.7.3: the reply to our SYN. */
  private synSentArrives(seg: TcpSegment, now: number): void {
    const ackOk = (seg.flags & ACK) !== 0 && seqGt(seg.ack, this.iss) && seqLe(seg.ack, this.sndMax);
    if (seg.flags & ACK && !ackOk) {
      if (!(seg.flags & RST)) this.sendRst(seg.ack, now);
      return;
    }
    if (seg.flags & RST) {
      if (ackOk) {
        this.host.count('tcp.connect_refused');
        this.destroy('refused');
      }
      return;
    }
    if (!(seg.flags & SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt;
    this.takeSynOptions(seg, now);
    this.sndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.maxSndWnd = this.sndWnd;
    this.lastHeard = now;
    if (ackOk) {
      this.sndUna = seg.ack;
      this.rttSample(seg, now);
      this.rtoAt = undefined;
      this.retransmits = 0;
      this.state = 'ESTABLISHED';
      this.ackNeeded = true;
      this.notify();
      this.output(now);
      return;
    }
    // Simultaneous open: SYN_RECEIVED, and our SYN again with an ACK.
    this.state = 'SYN_RECEIVED';
    this.synSent = false;
    this.output(now);
  }

  /** After a timeout, fast retransmit waits until SND.UNA passes this point (RFC 6582 §3.2 (4)). */
  private recoverGuard: number | undefined;

  /** §3.10.7.4 fifth check in the synchronized states. Returns false when the segment is to be dropped. */
  private processAck(seg: TcpSegment, now: number): boolean {
    const ack = seg.ack;
    if (seqGt(ack, this.sndMax)) {
      this.host.count('tcp.rx_ack_unsent');
      this.sendAck(now);
      return false;
    }
    // RFC 5961 §5.2: an ACK older than what the peer could have seen is not acceptable.
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.host.count('tcp.rx_ack_too_old');
      this.challengeAck(now);
      return false;
    }
    const newSack = this.neg.sackOk ? this.takeSack(seg) : false;
    const window = seg.window * 2 ** this.sndShift;
    if (seqGt(ack, this.sndUna)) {
      this.newAck(seg, now);
    } else if (ack === this.sndUna && seqGt(this.sndMax, this.sndUna) && seg.payload.length === 0 && !(seg.flags & (SYN | FIN)) && window > 0 && (this.neg.sackOk ? newSack : window === this.sndWnd)) {
      // RFC 5681 §2 "duplicate acknowledgment"; with SACK, only one that SACKs new data counts (RFC 6675 §2),
      // so ACKs the network duplicated do not start a recovery. Answers to zero-window probes never count.
      this.dupAck(now);
    }
    // Send window update (§3.10.7.4 fifth, ESTABLISHED).
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const opened = this.sndWnd === 0 && window > 0;
      this.sndWnd = window;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      if (opened) {
        this.persistAt = undefined;
        this.zeroWindowSince = undefined;
        this.notify();
      }
    }
    return this.state !== 'CLOSED';
  }

  /** Folds the segment's SACK blocks into the scoreboard; true if they told us something new. */
  private takeSack(seg: TcpSegment): boolean {
    const blocks = seg.options.sack;
    if (blocks === undefined) return false;
    const before = this.sacked.total;
    for (const [l, r] of blocks) {
      // RFC 2018 §3: only blocks within what is outstanding make sense.
      if (seqLt(l, r) && seqGe(l, this.sndUna) && seqLe(r, this.sndMax)) this.sacked.add(l, r);
    }
    return this.sacked.total !== before;
  }

  private newAck(seg: TcpSegment, now: number): void {
    const ack = seg.ack;
    let acked = seqDiff(ack, this.sndUna);
    const finAcked = this.finSeq !== undefined && !this.finAcked && seqGt(ack, this.finSeq);
    if (finAcked) {
      acked -= 1;
      this.finAcked = true;
    }
    this.sendBuf.consume(acked);
    this.sndUna = ack;
    if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
    this.sacked.trimBelow(ack);
    this.rttSample(seg, now);
    this.retransmits = 0;
    if (this.recover !== undefined) {
      if (seqGe(ack, this.recover)) {
        // Full acknowledgment: leave recovery (RFC 6582 §3.2 (3), RFC 6675 §5). After a timeout the window
        // has been growing in slow start all along and stays as it is.
        if (!this.rtoRecovery) this.cwnd = Math.min(this.ssthresh, Math.max(seqDiff(this.sndMax, this.sndUna), this.smss) + this.smss);
        this.recover = undefined;
        this.rtoRecovery = false;
        this.rexmitAt.clear();
        this.dupAcks = 0;
      } else if (!this.neg.sackOk) {
        // NewReno partial acknowledgment: the next hole is lost too; retransmit it, deflate the window.
        this.transmit(this.sndUna, Math.min(this.segPayload, seqDiff(this.dataEnd, this.sndUna)), now);
        this.cwnd = Math.max(this.smss, this.cwnd - acked + this.smss);
        this.rtoAt = now + this.rto.rtoMs;
      } else {
        if (seqLt(this.highRxt, this.sndUna)) this.highRxt = this.sndUna;
        for (const s of this.rexmitAt.keys()) if (seqLt(s, this.sndUna)) this.rexmitAt.delete(s);
        // RFC 5681 §3.1 after a timeout: slow start (then congestion avoidance) on every ACK that advances.
        if (this.rtoRecovery) this.growWindow(acked);
      }
    } else {
      this.dupAcks = 0;
      this.growWindow(acked);
    }
    // RFC 6298 (5.2)/(5.3): stop the timer when all is acknowledged, else restart it.
    this.rtoAt = this.sndUna === this.sndMax ? undefined : now + this.rto.rtoMs;
    if (finAcked) this.ourFinAcked(now);
    this.notify();
  }

  /**
   * RFC 5681 §3.1: slow start below ssthresh (appropriate byte counting, L = 1 SMSS), then congestion
   * avoidance, about one SMSS per round trip.
   */
  private growWindow(acked: number): void {
    if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, this.smss);
    else this.cwnd += Math.max(1, Math.floor((this.smss * this.smss) / this.cwnd));
  }

  /**
   * A retransmission that is lost again would otherwise wait for a timeout (RFC 6675 retransmits a hole
   * once). As RACK does (RFC 8985 §6.2), time tells: when SACKs still arrive for later data a round trip
   * (and a reordering allowance) after the head of the queue was retransmitted, and the cumulative ACK has
   * not moved past it, that retransmission was lost: send it again.
   */
  private checkHeadRetransmission(now: number): void {
    const at = this.rexmitAt.get(this.sndUna);
    if (at === undefined) return;
    const srtt = this.rto.srttMs ?? this.rto.rtoMs;
    if (now - at < srtt + Math.max(srtt / 4, 2)) return;
    this.host.count('tcp.lost_retransmit');
    const head = this.sacked.holes(this.sndUna)[0];
    const end = head !== undefined && head[0] === this.sndUna ? head[1] : (this.recover ?? this.sndMax);
    const want = Math.min(this.segPayload, seqDiff(end, this.sndUna));
    if (want <= 0) return;
    const n = Math.max(1, this.transmit(this.sndUna, want, now));
    this.rexmitAt.set(this.sndUna, now);
    if (seqLt(this.highRxt, seqAdd(this.sndUna, n))) this.highRxt = seqAdd(this.sndUna, n);
  }

  private dupAck(now: number): void {
    this.dupAcks++;
    this.host.count('tcp.rx_dup_ack');
    if (this.recover !== undefined) {
      if (!this.neg.sackOk) this.cwnd += this.smss; // RFC 6582 §3.2 (4): inflate by each dup ACK
      else this.checkHeadRetransmission(now);
      return;
    }
    // RFC 5827 Early Retransmit: with fewer than four segments outstanding and nothing new to send,
    // fewer duplicate ACKs can ever come; lower the threshold to what can.
    const flightSegs = Math.ceil(seqDiff(this.sndMax, this.sndUna) / this.smss);
    const nothingNew = seqDiff(this.dataEnd, this.sndMax) <= 0;
    const thresh = nothingNew && flightSegs < 4 ? Math.max(1, flightSegs - 1) : DUP_THRESH;
    const lost = this.dupAcks >= thresh || (this.neg.sackOk && this.sacked.bytesAbove(this.sndUna) >= thresh * this.smss);
    // RFC 6582 §3.2 (1)/(2): no new recovery until what was outstanding at the last RTO is acknowledged.
    if (!lost || (this.recoverGuard !== undefined && seqLe(this.sndUna, this.recoverGuard))) return;
    this.host.count('tcp.fast_retransmit');
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.smss);
    this.recover = this.sndMax;
    this.recoverGuard = undefined;
    this.rttSeq = undefined;
    if (this.neg.sackOk) {
      // RFC 6675 §5 (4): cwnd = ssthresh; holes are retransmitted as the pipe allows.
      this.cwnd = this.ssthresh;
      this.highRxt = this.sndUna;
    } else {
      // RFC 6582 §3.2 (2)/(3): retransmit the first segment, cwnd = ssthresh + 3 SMSS.
      this.transmit(this.sndUna, Math.min(this.segPayload, seqDiff(this.dataEnd, this.sndUna)), now);
      this.cwnd = this.ssthresh + DUP_THRESH * this.smss;
    }
    this.host.count('tcp.retransmit');
  }

  /** RFC 6675 §4 SetPipe: outstanding bytes neither SACKed nor lost, plus lost ones retransmitted. */
  private pipe(): number {
    const outstanding = seqDiff(this.sndMax, this.sndUna);
    let lost = 0;
    let rexmitted = 0;
    for (const [s, e] of this.lostHoles()) {
      lost += seqDiff(e, s);
      if (seqGt(this.highRxt, s)) rexmitted += seqDiff(seqLt(this.highRxt, e) ? this.highRxt : e, s);
    }
    return Math.max(0, outstanding - this.sacked.total - lost + rexmitted);
  }

  /** Holes below the highest SACKed byte that RFC 6675 §4 IsLost deems lost (DupThresh SMSS SACKed above). */
  private lostHoles(): SeqRange[] {
    const holes = this.sacked.holes(this.sndUna);
    if (this.rtoRecovery && this.recover !== undefined) {
      // RFC 6675 §5.1: after a timeout all that is not SACKed up to RecoveryPoint is lost, the tail included.
      const top = this.sacked.highest;
      const from = top !== undefined && seqGt(top, this.sndUna) ? top : this.sndUna;
      if (seqLt(from, this.recover)) holes.push([from, this.recover]);
      const point = this.recover;
      return holes.filter(([s]) => seqLt(s, point)).map(([s, e]): SeqRange => [s, seqLt(e, point) ? e : point]);
    }
    return holes.filter(([s], i) => (i === 0 && this.dupAcks >= DUP_THRESH) || this.sacked.bytesAbove(s) >= DUP_THRESH * this.smss);
  }

  /** RFC 6675 §5 (C): while the pipe leaves room, retransmit the next lost bytes (NextSeg rule 1). */
  private sackRecovery(now: number): boolean {
    let sent = false;
    for (let guard = 0; guard < 1000; guard++) {
      if (this.cwnd - this.pipe() < this.smss) break;
      const hole = this.lostHoles().find(([, e]) => seqGt(e, this.highRxt));
      if (hole === undefined) break;
      const start = seqGt(this.highRxt, hole[0]) ? this.highRxt : hole[0];
      // At least the sequence number a FIN alone takes, when the hole is only that.
      const n = Math.max(1, this.transmit(start, Math.min(this.segPayload, seqDiff(hole[1], start)), now));
      this.highRxt = seqAdd(start, n);
      this.rexmitAt.set(start, now);
      this.host.count('tcp.sack_retransmit');
      sent = true;
    }
    return sent;
  }

  private rttSample(seg: TcpSegment, now: number): void {
    const ts = seg.options.timestamp;
    if (this.neg.tsOk && ts !== undefined && ts.echo !== 0) {
      // RFC 7323 §4.1 RTTM: the echoed timestamp measures every ACK that advances SND.UNA.
      // Karn's rule for timestamps: an echo older than our last retransmission may be the original's
      // (a peer answers a duplicate with the timestamp it kept), so it measures nothing.
      if (this.lastRexmitTs === undefined || !seqLt(ts.echo, this.lastRexmitTs)) this.rto.sample(seqDiff(this.tsNow(now), ts.echo));
      this.rttSeq = undefined;
      return;
    }
    if (this.rttSeq !== undefined && seqGt(seg.ack, this.rttSeq)) {
      this.rto.sample(now - this.rttStart);
      this.rttSeq = undefined;
    }
  }

  private ourFinAcked(now: number): void {
    if (this.state === 'FIN_WAIT_1') {
      this.state = 'FIN_WAIT_2';
      if (this.readClosed) this.finWait2At = now + this.host.config.finWait2TimeoutMs;
    } else if (this.state === 'CLOSING') {
      this.enterTimeWait(now);
    } else if (this.state === 'LAST_ACK') {
      this.destroy(undefined);
    }
  }

  /** Data and FIN (seventh and eighth checks), with the out-of-order queue and delayed ACKs. */
  private receiveText(seq: number, payload: Uint8Array, fin: boolean, now: number): void {
    if (seq !== this.rcvNxt) {
      // RFC 5681 §4.2: out-of-order data is acknowledged at once (a duplicate ACK, with SACK blocks).
      this.queueOutOfOrder(seq, payload, fin);
      this.ackNeeded = true;
      return;
    }
    const hadHoles = this.ooo.length > 0;
    let taken = this.accept(payload);
    let finNow = fin && taken === payload.length;
    // Pull in what was waiting right after it.
    while (taken >= 0) {
      const next = this.ooo[0];
      if (next === undefined || seqGt(next.seq, this.rcvNxt)) break;
      this.ooo.shift();
      this.oooBytes -= next.data.length;
      this.host.budget?.release(next.data.length);
      const skip = seqDiff(this.rcvNxt, next.seq);
      const rest = skip < next.data.length ? next.data.subarray(skip) : EMPTY;
      const n = this.accept(rest);
      if (n < rest.length) {
        taken = -1; // out of room: the peer will send the rest again
        break;
      }
      if (next.fin && skip <= next.data.length) finNow = true;
    }
    if (finNow) {
      this.receiveFin(now);
      this.ackNeeded = true;
    } else if (hadHoles) {
      this.ackNeeded = true; // RFC 5681 §4.2: a segment that fills a hole is acknowledged at once
    } else if (payload.length > 0) {
      // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: ACK at least every second full-sized segment, else within the delay.
      // Counted in full segments' worth, so that a super-segment merged by the device (GRO) counts as many.
      // A full segment from the peer is our MSS less its timestamp option.
      const full = this.mss - (this.neg.tsOk ? TS_OPTION_BYTES : 0);
      this.unackedSegments += Math.max(1, Math.floor(payload.length / full));
      if (this.unackedSegments >= 2) this.ackNeeded = true;
      else this.delAckAt ??= now + this.host.config.delayedAckMs;
    }
    this.notify();
  }

  /** Takes in-order bytes (dropped if the application is gone); returns how many were taken. */
  private accept(data: Uint8Array): number {
    if (data.length === 0) return 0;
    const n = this.readClosed ? data.length : this.recvBuf.push(data);
    if (n < data.length) this.host.count('tcp.rx_no_room');
    this.rcvNxt = seqAdd(this.rcvNxt, n);
    return n;
  }

  private queueOutOfOrder(seq: number, data: Uint8Array, fin: boolean): void {
    if (this.ooo.some((o) => o.seq === seq && o.data.length >= data.length)) return;
    if (this.ooo.length >= this.host.config.maxOutOfOrderSegments || this.oooBytes + data.length > this.host.config.receiveBufferSize) {
      this.host.count('tcp.rx_ooo_dropped');
      return;
    }
    // Held bytes count against the shared budget too: otherwise many connections' out-of-order data, each
    // within its window, could add up past every bound.
    // A quarter of the budget stays for in-order data, which is what lets a connection move on.
    const budget = this.host.budget;
    if (budget !== undefined && (budget.available - data.length < budget.limit / 4 || !budget.tryReserve(data.length))) {
      this.host.count('tcp.rx_ooo_no_memory');
      return;
    }
    this.ooo.push({ seq, data: copyBytes(data), fin });
    this.oooBytes += data.length;
    this.ooo.sort((a, b) => seqDiff(a.seq, b.seq));
    this.lastOooSeq = seq;
    this.host.count('tcp.rx_out_of_order');
  }

  /** Forgets the out-of-order data held, and gives its bytes back to the budget. */
  private dropOutOfOrder(): void {
    this.host.budget?.release(this.oooBytes);
    this.ooo = [];
    this.oooBytes = 0;
  }

  private receiveFin(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.peerFin = true;
    this.dropOutOfOrder();
    switch (this.state) {
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.state = 'CLOSE_WAIT';
        break;
      case 'FIN_WAIT_1':
        // Our FIN not yet acknowledged (else we would be in FIN_WAIT_2): simultaneous close.
        this.state = 'CLOSING';
        break;
      case 'FIN_WAIT_2':
        this.enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  private enterTimeWait(now: number): void {
    this.state = 'TIME_WAIT';
    this.rtoAt = this.persistAt = this.finWait2At = this.delAckAt = this.keepAliveAt = undefined;
    this.timeWaitAt = now + this.host.config.timeWaitMs;
    this.sendBuf.dispose();
    this.recvBuf.disposeWhenEmpty(); // the application may still be reading
    this.notify();
  }

  /** Moves to CLOSED for good, gives every buffer back and lets the owner forget the connection. */
  destroy(reason: CloseReason): void {
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    this.error = reason;
    this.rtoAt = this.persistAt = this.timeWaitAt = this.finWait2At = this.delAckAt = this.keepAliveAt = undefined;
    this.dropOutOfOrder();
    this.sendBuf.dispose();
    if (reason !== undefined) this.recvBuf.dispose();
    else this.recvBuf.disposeWhenEmpty();
    this.host.closed(this);
    this.notify();
  }
}
