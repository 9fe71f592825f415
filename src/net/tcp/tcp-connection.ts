// One TCP connection (the TCB of RFC 9293 §3.3.1) and its state machine, sans I/O: segments and the
// time go in (`segmentArrives`, `onTimer`), segments go out through the host, and the application
// reads, writes and closes through methods that only change buffers and flags.

import { copyBytes, type Ipv4Addr } from '../addr.ts';
import { ByteRing } from './byte-ring.ts';
import { RtoEstimator } from './rto.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './seq.ts';
import { ACK, FIN, PSH, RST, SYN, segmentLength, type TcpOptions, type TcpSegment } from './tcp-wire.ts';

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
  /** Out-of-order segments held per connection. */
  maxOutOfOrderSegments: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Retransmissions of data or FIN before the connection is given up. */
  maxRetransmits: number;
  /** Retransmissions of a SYN or SYN-ACK before the attempt is given up. */
  synRetries: number;
  /** 2×MSL (RFC 9293 §3.4.2). */
  timeWaitMs: number;
  /** How long FIN_WAIT_2 may wait for the peer's FIN once we are done (as Linux's tcp_fin_timeout). */
  finWait2TimeoutMs: number;
  /** Offer window scaling (RFC 7323 §2). */
  windowScaling: boolean;
}

export const defaultTcpConfig: TcpConfig = {
  mss: 1460,
  sendBufferSize: 256 * 1024,
  receiveBufferSize: 256 * 1024,
  maxOutOfOrderSegments: 64,
  initialRtoMs: 1000,
  minRtoMs: 1000,
  maxRtoMs: 60_000,
  maxRetransmits: 12,
  synRetries: 6,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  windowScaling: true,
};

export interface Endpoint {
  address: Ipv4Addr;
  port: number;
}

/** What a connection needs from the TCP layer that owns it. */
export interface TcpHost {
  readonly config: TcpConfig;
  /** Sends a segment from this connection's local to its remote endpoint. */
  send(conn: TcpConnection, seg: TcpSegment, now: number): void;
  /** The connection left CLOSED for good: forget it. */
  closed(conn: TcpConnection): void;
  /** A passive connection completed its handshake. */
  established(conn: TcpConnection): void;
  count(name: string): void;
}

export type CloseReason = 'reset' | 'timeout' | 'refused' | 'aborted' | undefined;

interface OutOfOrder {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

const MAX_WINDOW_SCALE = 14;

export class TcpConnection {
  state: TcpState;
  /** Set when the connection closed abnormally. */
  error: CloseReason;
  /** Called after anything the application may care about changed (data, space, state). */
  notify: () => void = () => {};

  // RFC 9293 §3.3.1 send sequence variables; sndMax is the highest sequence number sent so far.
  readonly iss: number;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  sndMss: number;
  // Receive sequence variables; rcvAdv is the right edge of the window we last advertised.
  irs = 0;
  rcvNxt = 0;
  rcvAdv = 0;
  // RFC 7323 window scale shifts (0 when not negotiated).
  sndShift = 0;
  rcvShift = 0;
  // RFC 5681 congestion state.
  cwnd: number;
  ssthresh = 0xffffffff;

  private readonly sendBuf: ByteRing;
  private readonly recvBuf: ByteRing;
  private ooo: OutOfOrder[] = [];
  private readonly rto: RtoEstimator;
  private rtoAt: number | undefined;
  private retransmits = 0;
  private rttSeq: number | undefined;
  private rttStart = 0;
  private persistAt: number | undefined;
  private persistBackoff = 0;
  private timeWaitAt: number | undefined;
  private finWait2At: number | undefined;
  private ackNeeded = false;
  private synSent = false;
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
  ) {
    const c = host.config;
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndMss = Math.min(536, c.mss);
    this.cwnd = 0;
    this.sendBuf = new ByteRing(c.sendBufferSize);
    this.recvBuf = new ByteRing(c.receiveBufferSize);
    this.rto = new RtoEstimator(c);
    this.state = active ? 'SYN_SENT' : 'SYN_RECEIVED';
    if (c.windowScaling) {
      while (this.rcvShift < MAX_WINDOW_SCALE && 65535 * 2 ** this.rcvShift < c.receiveBufferSize) this.rcvShift++;
    }
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

  /** Queues bytes to send; returns how many were taken (RFC 9293 §3.10.2 SEND). */
  write(data: Uint8Array): number {
    if (!this.canSend) return 0;
    return this.sendBuf.push(data);
  }

  /** Takes up to `max` received bytes; the window opens as the application reads (§3.10.3 RECEIVE). */
  read(max = Infinity): Uint8Array {
    const out = this.recvBuf.take(Math.min(max, this.recvBuf.length));
    if (out.length > 0 && this.windowUpdateDue()) this.ackNeeded = true;
    return out;
  }

  /** Graceful close: a FIN after the queued data (§3.10.4 CLOSE). */
  close(): void {
    this.readClosed = true;
    this.recvBuf.consume(this.recvBuf.length);
    if (this.state === 'SYN_SENT') {
      this.destroy(undefined);
      return;
    }
    this.finQueued = true;
  }

  /** Closes only our sending direction (half-close): reads continue until the peer's FIN. */
  shutdownWrite(): void {
    if (this.state === 'SYN_SENT') {
      this.destroy(undefined);
      return;
    }
    this.finQueued = true;
  }

  /** Abort: a RST to the peer if it knows us, and everything released (§3.10.5 ABORT). */
  abort(now: number): void {
    if (this.state === 'CLOSED') return;
    if (this.state !== 'SYN_SENT' && this.state !== 'TIME_WAIT') {
      this.emit({ seq: this.sndNxt, ack: 0, flags: RST, payload: EMPTY }, now);
    }
    this.destroy('aborted');
  }

  // ——— Output ———

  /** Sends whatever is due: SYN, data within the windows, FIN, or a lone ACK (window update, reply). */
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
    const dataEnd = this.finSeq ?? seqAdd(this.sndUna, this.sendBuf.length);
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.sndUna);
      const unsent = this.sendBuf.length - offset;
      if (unsent <= 0) break;
      const usable = Math.min(this.sndWnd, this.cwnd) - offset;
      if (usable <= 0) break;
      const n = Math.min(this.sndMss, unsent, usable);
      const fin = this.finQueued && !this.finAcked && offset + n === this.sendBuf.length;
      this.sendData(this.sendBuf.peek(offset, n), fin, now);
      sent = true;
    }
    // A FIN after all the data (again, after a retransmission timeout rewound SND.NXT).
    if (this.finQueued && !this.finAcked && this.sndNxt === dataEnd) {
      this.sendData(EMPTY, true, now);
      sent = true;
    }
    // RFC 9293 §3.8.6.1: with a zero window and data waiting, probe the window on the persist timer.
    if (this.sndWnd === 0 && this.sendBuf.length > 0 && this.sndMax === this.sndUna && this.persistAt === undefined) {
      this.persistBackoff = 0;
      this.persistAt = now + this.rto.rtoMs;
    }
    if (this.ackNeeded && !sent) this.sendAck(now);
  }

  private sendSyn(now: number): void {
    const c = this.host.config;
    const opts: TcpOptions = { mss: c.mss };
    // RFC 7323 §2.2: offer scaling in a SYN; answer with it in a SYN-ACK only if the peer offered it.
    if (c.windowScaling && (this.state === 'SYN_SENT' || this.peerOfferedScale)) opts.windowScale = this.rcvShift;
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
    }
    this.synSent = true;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = seqMax(this.sndMax, this.sndNxt);
    if (this.rtoAt === undefined) this.rtoAt = now + this.rto.rtoMs;
  }

  /** Set from the peer's SYN: did it offer window scaling? */
  private peerOfferedScale = false;

  private sendData(payload: Uint8Array, fin: boolean, now: number): void {
    const seq = this.sndNxt;
    let flags = ACK;
    if (payload.length > 0 && seqDiff(this.sndNxt, this.sndUna) + payload.length === this.sendBuf.length) flags |= PSH;
    if (fin) flags |= FIN;
    this.emit({ seq, ack: this.rcvNxt, flags, payload }, now);
    this.sndNxt = seqAdd(seq, payload.length + (fin ? 1 : 0));
    if (seqGt(this.sndNxt, this.sndMax)) {
      // New data: time one segment at a time for the RTT (Karn: never a retransmitted one).
      if (this.rttSeq === undefined) {
        this.rttSeq = seq;
        this.rttStart = now;
      }
      this.sndMax = this.sndNxt;
    }
    if (fin && this.finSeq === undefined) {
      this.finSeq = seqAdd(seq, payload.length);
      this.finSent();
    }
    if (this.rtoAt === undefined) this.rtoAt = now + this.rto.rtoMs; // RFC 6298 (5.1)
    this.persistAt = undefined;
  }

  private finSent(): void {
    if (this.state === 'ESTABLISHED' || this.state === 'SYN_RECEIVED') this.state = 'FIN_WAIT_1';
    else if (this.state === 'CLOSE_WAIT') this.state = 'LAST_ACK';
  }

  private sendAck(now: number): void {
    this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: ACK, payload: EMPTY }, now);
  }

  private emit(s: { seq: number; ack: number; flags: number; payload: Uint8Array; options?: TcpOptions; window?: number }, now: number): void {
    let window = 0;
    if (s.window !== undefined) {
      window = s.window;
    } else if (s.flags & ACK) {
      const wnd = this.advertise();
      window = Math.min(0xffff, Math.floor(wnd / 2 ** this.rcvShift));
    }
    if (s.flags & ACK) this.ackNeeded = false;
    this.host.send(
      this,
      { srcPort: this.local.port, dstPort: this.remote.port, seq: s.seq, ack: s.ack, flags: s.flags, window, urgent: 0, options: s.options ?? {}, payload: s.payload },
      now,
    );
  }

  /** Free receive space. */
  private recvWindow(): number {
    return this.recvBuf.free;
  }

  /**
   * The window to advertise, never moving the right edge left (RFC 9293 §3.8.6.2.1) and opening it
   * only in steps of min(buffer/2, MSS) (receiver SWS avoidance, §3.8.6.2.2).
   */
  private advertise(): number {
    const free = this.recvWindow();
    const edge = seqAdd(this.rcvNxt, free);
    const step = Math.min(this.host.config.receiveBufferSize / 2, this.host.config.mss);
    if (seqGe(this.rcvAdv, this.rcvNxt) && seqDiff(edge, this.rcvAdv) < step) {
      const kept = seqDiff(this.rcvAdv, this.rcvNxt);
      return Math.max(0, kept);
    }
    // Advertised windows are multiples of 2^shift; keep the edge on what the field can say.
    const scaled = Math.floor(free / 2 ** this.rcvShift) * 2 ** this.rcvShift;
    this.rcvAdv = seqAdd(this.rcvNxt, Math.min(scaled, 0xffff * 2 ** this.rcvShift));
    return seqDiff(this.rcvAdv, this.rcvNxt);
  }

  private windowUpdateDue(): boolean {
    const edge = seqAdd(this.rcvNxt, this.recvWindow());
    const step = Math.min(this.host.config.receiveBufferSize / 2, this.host.config.mss);
    return seqDiff(edge, this.rcvAdv) >= step;
  }

  // ——— Timers ———

  /** The next time `onTimer` has something to do. */
  deadline(): number | undefined {
    let d: number | undefined;
    for (const t of [this.rtoAt, this.persistAt, this.timeWaitAt, this.finWait2At]) {
      if (t !== undefined && (d === undefined || t < d)) d = t;
    }
    return d;
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
    if (this.state !== 'CLOSED') this.output(now);
  }

  /** RFC 6298 §5 (5.4–5.7), RFC 5681 §3.1: retransmit from SND.UNA with a one-segment window. */
  private retransmitTimeout(now: number): void {
    this.rtoAt = undefined;
    this.retransmits++;
    const handshake = this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED';
    const limit = handshake ? this.host.config.synRetries : this.host.config.maxRetransmits;
    if (this.retransmits > limit) {
      this.host.count(handshake ? 'tcp.handshake_timeout' : 'tcp.retransmit_timeout');
      if (!handshake) this.emit({ seq: this.sndNxt, ack: 0, flags: RST, payload: EMPTY }, now);
      this.destroy('timeout');
      return;
    }
    this.host.count('tcp.retransmit');
    this.rto.backoff();
    this.rttSeq = undefined;
    if (handshake) {
      this.synSent = false;
      this.output(now);
      return;
    }
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.sndMss);
    this.cwnd = this.sndMss;
    this.sndNxt = this.sndUna;
    this.output(now);
    if (this.rtoAt === undefined && seqGt(this.sndMax, this.sndUna)) this.rtoAt = now + this.rto.rtoMs;
  }

  /** A zero-window probe: the next byte of data, sent without moving SND.NXT (RFC 9293 §3.8.6.1). */
  private probeWindow(now: number): void {
    this.persistAt = undefined;
    if (this.sndWnd > 0 || this.sendBuf.length === 0 || seqGt(this.sndNxt, this.sndUna)) {
      this.output(now);
      return;
    }
    this.host.count('tcp.window_probe');
    this.emit({ seq: this.sndUna, ack: this.rcvNxt, flags: ACK, payload: this.sendBuf.peek(0, 1) }, now);
    this.sndMax = seqMax(this.sndMax, seqAdd(this.sndUna, 1));
    this.persistBackoff++;
    this.persistAt = now + Math.min(this.host.config.maxRtoMs, this.rto.rtoMs * 2 ** this.persistBackoff);
  }

  // ——— Input (RFC 9293 §3.10.7) ———

  /** The peer's SYN that created this passive connection (§3.10.7.2, LISTEN state, third check). */
  acceptSyn(seg: TcpSegment, now: number): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt;
    this.takeSynOptions(seg);
    this.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.output(now);
  }

  private takeSynOptions(seg: TcpSegment): void {
    const o = seg.options;
    this.sndMss = Math.min(o.mss ?? 536, this.host.config.mss);
    if (this.host.config.windowScaling && o.windowScale !== undefined) {
      this.peerOfferedScale = true;
      this.sndShift = Math.min(MAX_WINDOW_SCALE, o.windowScale); // RFC 7323 §2.3: cap at 14
    } else {
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    // RFC 5681 §3.1 initial window (IW = 2–4 segments by size; RFC 3390 form).
    this.cwnd = Math.min(4 * this.sndMss, Math.max(2 * this.sndMss, 4380));
  }

  segmentArrives(seg: TcpSegment, now: number): void {
    if (this.state === 'SYN_SENT') {
      this.synSentArrives(seg, now);
      return;
    }
    if (this.state === 'SYN_RECEIVED' && seg.flags & SYN && !(seg.flags & ACK) && seg.seq === this.irs) {
      // The peer retransmitted its SYN: our SYN-ACK was lost. Send it again (as Linux does).
      this.host.count('tcp.rx_syn_retransmit');
      this.ackNeeded = true;
      this.output(now);
      return;
    }
    const len = segmentLength(seg);
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
      if (wnd === 0 && seg.seq === this.rcvNxt && seg.flags & ACK) this.processAck(seg, now);
      this.sendAck(now);
      return;
    }
    // Second: RST. RFC 9293 §3.10.7.4 (RFC 5961 §3.2): only an exact match resets; otherwise challenge.
    if (seg.flags & RST) {
      if (seg.seq !== this.rcvNxt) {
        this.host.count('tcp.challenge_ack');
        this.sendAck(now);
        return;
      }
      this.host.count('tcp.rx_reset');
      this.destroy(this.state === 'SYN_RECEIVED' && !this.active ? undefined : 'reset');
      return;
    }
    // Fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4.2).
    if (seg.flags & SYN) {
      this.host.count('tcp.challenge_ack');
      this.sendAck(now);
      return;
    }
    // Fifth: ACK.
    if (!(seg.flags & ACK)) return;
    if (this.state === 'SYN_RECEIVED') {
      if (!(seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax))) {
        this.emit({ seq: seg.ack, ack: 0, flags: RST, payload: EMPTY }, now);
        return;
      }
      // Our SYN is acknowledged; it took one sequence number and no data.
      this.state = 'ESTABLISHED';
      this.sndUna = seqAdd(this.iss, 1);
      this.ackSampled(seg.ack, now);
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
    }
    this.output(now);
  }

  private receivingData(): boolean {
    return this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2';
  }

  /** §3.10.7.3: the reply to our SYN. */
  private synSentArrives(seg: TcpSegment, now: number): void {
    const ackOk = (seg.flags & ACK) !== 0 && seqGt(seg.ack, this.iss) && seqLe(seg.ack, this.sndMax);
    if (seg.flags & ACK && !ackOk) {
      if (!(seg.flags & RST)) this.emit({ seq: seg.ack, ack: 0, flags: RST, payload: EMPTY }, now);
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
    this.takeSynOptions(seg);
    this.sndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.maxSndWnd = this.sndWnd;
    if (ackOk) {
      this.sndUna = seg.ack;
      this.ackSampled(seg.ack, now);
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
    this.ackNeeded = true;
    this.synSent = false;
    this.output(now);
  }

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
      this.sendAck(now);
      return false;
    }
    if (seqGt(ack, this.sndUna)) {
      let acked = seqDiff(ack, this.sndUna);
      const finAcked = this.finSeq !== undefined && !this.finAcked && seqGt(ack, this.finSeq);
      if (finAcked) {
        acked -= 1;
        this.finAcked = true;
      }
      this.sendBuf.consume(acked);
      this.sndUna = ack;
      if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
      this.ackSampled(ack, now);
      this.retransmits = 0;
      // RFC 5681 §3.1: slow start below ssthresh, then about one MSS per round trip.
      if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, this.sndMss);
      else this.cwnd += Math.max(1, Math.floor((this.sndMss * this.sndMss) / this.cwnd));
      // RFC 6298 (5.2)/(5.3): stop the timer when all is acknowledged, else restart it.
      this.rtoAt = this.sndUna === this.sndMax ? undefined : now + this.rto.rtoMs;
      if (finAcked) this.ourFinAcked(now);
      this.notify();
    }
    // Send window update (§3.10.7.4 fifth, ESTABLISHED).
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const opened = this.sndWnd === 0 && seg.window > 0;
      this.sndWnd = seg.window * 2 ** this.sndShift;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      if (opened) {
        this.persistAt = undefined;
        this.notify();
      }
    }
    return this.state !== 'CLOSED';
  }

  private ackSampled(ack: number, now: number): void {
    if (this.rttSeq !== undefined && seqGt(ack, this.rttSeq)) {
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

  /** Data and FIN in sequence (seventh and eighth checks), with the out-of-order queue. */
  private receiveText(seq: number, payload: Uint8Array, fin: boolean, now: number): void {
    if (seq !== this.rcvNxt) {
      // RFC 5681 §4.2: out-of-order data is acknowledged at once (a duplicate ACK).
      this.queueOutOfOrder(seq, payload, fin);
      this.ackNeeded = true;
      return;
    }
    this.accept(payload);
    let finNow = fin;
    // Pull in what was waiting right after it.
    for (;;) {
      const next = this.ooo[0];
      if (next === undefined || seqGt(next.seq, this.rcvNxt)) break;
      this.ooo.shift();
      const skip = seqDiff(this.rcvNxt, next.seq);
      if (skip < next.data.length) this.accept(next.data.subarray(skip));
      if (next.fin && skip <= next.data.length) finNow = true;
    }
    if (payload.length > 0 || finNow) this.ackNeeded = true;
    if (finNow) this.receiveFin(now);
    this.notify();
  }

  private accept(data: Uint8Array): void {
    if (data.length === 0) return;
    if (!this.readClosed) this.recvBuf.push(data);
    this.rcvNxt = seqAdd(this.rcvNxt, data.length);
  }

  private queueOutOfOrder(seq: number, data: Uint8Array, fin: boolean): void {
    if (this.ooo.some((o) => o.seq === seq && o.data.length >= data.length)) return;
    if (this.ooo.length >= this.host.config.maxOutOfOrderSegments) {
      this.host.count('tcp.rx_ooo_dropped');
      return;
    }
    this.ooo.push({ seq, data: copyBytes(data), fin });
    this.ooo.sort((a, b) => seqDiff(a.seq, b.seq));
    this.host.count('tcp.rx_out_of_order');
  }

  private receiveFin(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.peerFin = true;
    this.ooo = [];
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
    this.rtoAt = undefined;
    this.persistAt = undefined;
    this.finWait2At = undefined;
    this.timeWaitAt = now + this.host.config.timeWaitMs;
    this.notify();
  }

  /** Moves to CLOSED for good and lets the owner forget the connection. */
  destroy(reason: CloseReason): void {
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    this.error = reason;
    this.rtoAt = this.persistAt = this.timeWaitAt = this.finWait2At = undefined;
    this.ooo = [];
    this.sendBuf.consume(this.sendBuf.length);
    this.host.closed(this);
    this.notify();
  }
}

const EMPTY = new Uint8Array(0);
