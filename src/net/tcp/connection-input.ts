// One TCP connection's state and what happens when a segment arrives (RFC 9293 §3.10.7), sans I/O: the base of
// `TcpConnection` (tcp-connection.ts), which adds the application's calls, output and timers. The state and the
// §3.10.7 dispatch live here; the parts hold the rest, each its own state: the sender (sender.ts: send sequence
// space, segmentation, RTO, persist; with loss recovery and congestion control behind interfaces, chosen per
// connection), the receiver (receiver.ts: receive sequence space, out-of-order queue, window, delayed ACK), the
// handshake (handshake.ts), timestamps (timestamps.ts), keep-alive (keepalive.ts).

import type { LayerCounter } from '../counters.ts';
import { EcnState } from './ecn.ts';
import { Handshake } from './handshake.ts';
import { KeepAlive } from './keepalive.ts';
import type { MemoryBudget } from './memory-budget.ts';
import { TcpReceiver } from './receiver.ts';
import { TcpSender, type SenderIo } from './sender.ts';
import { seqGt, seqLe, seqLt } from './seq.ts';
import type { CloseReason, ConnectionChoices, Endpoint, TcpConfig, TcpState } from './tcp-config.ts';
import { TcpTimestamps } from './timestamps.ts';
import { ACK, FIN, RST, SYN, segmentLength, type TcpOptions, type TcpSegment } from './tcp-wire.ts';
import { windowShiftFor } from './window.ts';

/** What a connection needs from the TCP layer that owns it. */
export interface TcpHost {
  readonly config: TcpConfig;
  /** Shared bound on buffer memory (absent: only the per-connection sizes bound it). */
  readonly budget?: MemoryBudget | undefined;
  /**
   * Sends a segment from this connection's local to its remote endpoint. With `gsoSize`, its payload is
   * a TSO super-segment for the device to cut into segments of that many bytes.
   */
  send(conn: ConnectionInput, seg: TcpSegment, now: number, gsoSize?: number, ect?: boolean): void;
  /** The application changed something (data queued, window opened, close): let output run soon. */
  dirty(conn: ConnectionInput): void;
  /** Sends a RST from this connection (seq `seq`, no ACK) at the next output; the connection itself is gone by then. */
  resetLater(conn: ConnectionInput, seq: number): void;
  /** The connection left CLOSED for good: forget it. */
  closed(conn: ConnectionInput): void;
  /** A passive connection completed its handshake. */
  established(conn: ConnectionInput): void;
  /** RFC 5961 §7: challenge ACKs are rate-limited across all connections. */
  challengeAllowed?(now: number): boolean;
  count(name: LayerCounter<'tcp'>): void;
}

export const EMPTY = new Uint8Array(0);

/** The connection's state and its input; `TcpConnection` is the whole of it. */
export abstract class ConnectionInput implements SenderIo {
  private st: TcpState;
  private closeReason: CloseReason;
  /** Called after anything the application may care about changed (data, space, state). */
  notify: () => void = () => {};
  protected readonly snd: TcpSender;
  protected readonly rcv: TcpReceiver;
  protected readonly ts: TcpTimestamps;
  protected readonly keepAlive: KeepAlive;
  protected readonly hs: Handshake;
  /** ECN on this connection (RFC 3168), as agreed in the handshake. */
  readonly ecn: EcnState;
  protected timeWaitAt: number | undefined;
  protected finWait2At: number | undefined;
  /** The pseudo-header sum of this connection's addresses (the same for every segment), once computed. */
  pseudo: number | undefined;

  constructor(
    protected readonly host: TcpHost,
    readonly local: Endpoint,
    readonly remote: Endpoint,
    iss: number,
    /** True for a connection we opened (SYN_SENT), false for one from a listener. */
    readonly active: boolean,
    tsOffset = 0,
    /** Our MSS on this connection's route (the network layer's largest payload less the TCP header). */
    readonly mss = host.config.mss,
    choices: ConnectionChoices = {},
  ) {
    const c = host.config;
    this.st = active ? 'SYN_SENT' : 'SYN_RECEIVED';
    this.ts = new TcpTimestamps(tsOffset >>> 0);
    // The connection is its sender's SenderIo (methods, not closures: ten thousand idle connections are cheap).
    this.snd = new TcpSender(c, this, this.ts, iss, mss, host.budget, choices.lossRecovery ?? c.lossRecovery, choices.congestionControl ?? c.congestionControl);
    this.rcv = new TcpReceiver(c, mss, c.windowScaling ? windowShiftFor(c.receiveBufferSize) : 0, host.budget, host);
    this.keepAlive = new KeepAlive(c.keepAliveIdleMs, c.keepAliveIntervalMs, c.keepAliveProbes);
    this.hs = new Handshake(c, mss, this.snd, this.rcv, this.ts);
    this.ecn = new EcnState(c.ecn);
  }

  /** The RFC 9293 state. */
  get state(): TcpState {
    return this.st;
  }

  /** Why the connection closed, when it closed abnormally. */
  get error(): CloseReason {
    return this.closeReason;
  }

  /** Sends whatever is due (tcp-connection.ts). */
  abstract output(now: number): void;

  // ——— SenderIo: what the sender asks of its connection ———

  /** A segment of the send sequence space, with our ACK, window and options. */
  segmentOut(seq: number, flags: number, payload: Uint8Array, now: number, gsoSize: number): void {
    // RFC 3168 §6.1.2, §6.1.5: new data carries CWR after a response to ECE, and goes out ECN-capable.
    const fresh = payload.length > 0 && !seqLt(seq, this.snd.max);
    this.emitRaw({ seq, ack: this.rcv.nxt, flags: flags | this.ecn.dataFlags(fresh), payload }, now, gsoSize, this.ecn.ect(fresh));
  }

  /** Our FIN took its sequence number. */
  finSent(): void {
    if (this.st === 'ESTABLISHED' || this.st === 'SYN_RECEIVED') this.st = 'FIN_WAIT_1';
    else if (this.st === 'CLOSE_WAIT') this.st = 'LAST_ACK';
  }

  /** SACK blocks ride on our segments while we hold out-of-order data (RFC 2018 §4). */
  get sackBlocksRide(): boolean {
    return this.hs.sackOk && (this.rcv.outOfOrderSegments > 0 || this.rcv.dsackPending);
  }

  count(name: LayerCounter<'tcp'>): void {
    this.host.count(name);
  }

  protected sendAck(now: number): void {
    this.emit(this.snd.nxt, this.rcv.nxt, ACK, EMPTY, now, 0);
  }

  protected sendRst(seq: number, now: number): void {
    this.emitRaw({ seq, ack: 0, flags: RST, payload: EMPTY }, now);
  }

  /** A segment of data or control in the synchronized states: the window and options as they stand now. */
  protected emit(seq: number, ack: number, flags: number, payload: Uint8Array, now: number, gsoSize: number): void {
    this.emitRaw({ seq, ack, flags, payload }, now, gsoSize);
  }

  protected emitRaw(s: { seq: number; ack: number; flags: number; payload: Uint8Array; options?: TcpOptions; window?: number }, now: number, gsoSize = 0, ect = false): void {
    const options: TcpOptions = s.options ?? {};
    // RFC 3168 §6.1.3: ECE on every ACK while a CE mark waits for the peer's CWR (not on a SYN: its ECE means setup).
    const flags = s.flags & ACK && !(s.flags & SYN) ? s.flags | this.ecn.ackFlags() : s.flags;
    const window = s.window ?? (s.flags & ACK ? this.rcv.windowField() : 0);
    if (!(s.flags & SYN) && !(s.flags & RST)) {
      // RFC 7323 §3.2: with timestamps agreed, every segment but a RST carries one.
      if (this.ts.enabled) options.timestamp = { value: this.ts.now(now), echo: this.ts.recent };
      if (this.hs.sackOk && s.flags & ACK) {
        const blocks = this.rcv.sackBlocks();
        if (blocks !== undefined) options.sack = blocks;
      }
    }
    if (s.flags & ACK) {
      this.rcv.ackSent();
      this.ts.ackSent(s.ack);
    }
    this.host.send(
      this,
      { srcPort: this.local.port, dstPort: this.remote.port, seq: s.seq, ack: s.ack, flags, window, urgent: 0, options, payload: s.payload },
      now,
      gsoSize,
      ect,
    );
  }

  // ——— Input (RFC 9293 §3.10.7) ———

  /** The peer's SYN that created this passive connection (§3.10.7.2, LISTEN state, third check). */
  acceptSyn(seg: TcpSegment, now: number): void {
    this.hs.peerSyn(seg, now);
    this.ecn.peerSyn(seg.flags);
    this.keepAlive.heard(now);
    this.output(now);
  }

  /** A connection made from a SYN cookie: the handshake is done already (RFC 4987 §3.6). */
  acceptCookie(synSeq: number, opts: TcpOptions, now: number): void {
    this.hs.fromCookie(synSeq, opts, now);
    this.keepAlive.heard(now);
  }

  receive(seg: TcpSegment, now: number, ipEcn = 0): void {
    if (this.state === 'SYN_SENT') {
      this.synSentArrives(seg, now);
      return;
    }
    if (this.state === 'SYN_RECEIVED' && seg.flags & SYN && !(seg.flags & ACK) && this.rcv.isPeerSyn(seg.seq)) {
      // The peer retransmitted its SYN: our SYN-ACK was lost. Send it again (as Linux does), echoing this SYN.
      this.host.count('tcp.rx_syn_retransmit');
      if (seg.options.timestamp !== undefined) this.ts.fromSyn(seg.options.timestamp.value, now);
      this.rcv.needAck();
      this.output(now);
      return;
    }
    const len = segmentLength(seg);
    const ts = seg.options.timestamp;
    // RFC 7323 §5.3 PAWS: an old timestamp marks an old duplicate; drop it and ACK (never for RST).
    if (ts !== undefined && !(seg.flags & RST) && this.ts.isOld(ts.value, now)) {
      this.host.count('tcp.rx_paws');
      this.sendAck(now);
      return;
    }
    // First: is the sequence number acceptable?
    const wnd = this.rcv.window;
    if (!this.rcv.acceptable(seg.seq, len)) {
      if (seg.flags & RST) return;
      this.host.count('tcp.rx_out_of_window');
      if (this.state === 'TIME_WAIT' && seg.flags & FIN) this.timeWaitAt = now + this.host.config.timeWaitMs;
      this.rcv.oldDuplicate(seg.seq, seg.payload.length);
      // RFC 9293 §3.10.7.4: with a zero window no segment is acceptable, but valid ACKs still count
      // (processAck checks the ACK itself against what we sent).
      if (wnd === 0 && seg.flags & ACK) this.processAck(seg, now);
      if (this.state !== 'CLOSED') this.sendAck(now);
      return;
    }
    this.keepAlive.heard(now);
    if (ts !== undefined) this.ts.update(seg.seq, ts.value, now);
    // RFC 3168 §6.1.3: a CE mark on an acceptable segment is echoed (at once: the sender should hear of it within
    // the round trip); one outside the window (an old duplicate, a blind guess) changes nothing.
    if (this.ecn.received(seg.flags, ipEcn)) {
      this.host.count('tcp.rx_ecn_ce');
      this.rcv.needAck();
    }
    // Second: RST. RFC 9293 §3.10.7.4 (RFC 5961 §3.2): only an exact match resets; otherwise challenge.
    if (seg.flags & RST) {
      if (seg.seq !== this.rcv.nxt) {
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
      if (!(seqGt(seg.ack, this.snd.una) && seqLe(seg.ack, this.snd.max))) {
        this.sendRst(seg.ack, now);
        return;
      }
      // Our SYN is acknowledged; it took one sequence number and no data.
      this.st = 'ESTABLISHED';
      this.snd.synAcked(seg, now, true);
      if (!this.active) this.host.established(this);
      this.notify();
    }
    if (!this.processAck(seg, now)) return;
    // Sixth and seventh: URG is ignored; segment text, trimmed to what is new and within the window.
    const piece = this.rcv.trim({ seq: seg.seq, payload: seg.payload, fin: (seg.flags & FIN) !== 0 }, wnd);
    if (piece !== undefined) {
      if (this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2') {
        const took = this.rcv.take(piece, now);
        if (took === 'fin') this.finArrived(now);
        if (took !== 'held') this.notify();
      } else {
        // CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT: the peer already sent FIN; acknowledge, keep state.
        this.rcv.needAck();
        if (this.state === 'TIME_WAIT') this.timeWaitAt = now + this.host.config.timeWaitMs;
      }
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

  /** §3.10.7.3: the reply to our SYN. */
  private synSentArrives(seg: TcpSegment, now: number): void {
    const iss = this.snd.initialSeq;
    const ackOk = (seg.flags & ACK) !== 0 && seqGt(seg.ack, iss) && seqLe(seg.ack, this.snd.max);
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
    this.hs.peerSyn(seg, now);
    this.snd.noteLargestWindow();
    this.keepAlive.heard(now);
    if (ackOk) {
      this.ecn.peerSynAck(seg.flags);
      this.snd.synAcked(seg, now, false);
      this.st = 'ESTABLISHED';
      this.rcv.needAck();
      this.notify();
      this.output(now);
      return;
    }
    // Simultaneous open: SYN_RECEIVED, and our SYN again with an ACK.
    this.ecn.peerSyn(seg.flags);
    this.st = 'SYN_RECEIVED';
    this.hs.sent = false;
    this.output(now);
  }

  /** §3.10.7.4 fifth check in the synchronized states. Returns false when the segment is to be dropped. */
  private processAck(seg: TcpSegment, now: number): boolean {
    if (this.snd.ackUnsent(seg.ack)) {
      this.host.count('tcp.rx_ack_unsent');
      this.sendAck(now);
      return false;
    }
    // RFC 5961 §5.2: an ACK older than what the peer could have seen is not acceptable.
    if (this.snd.ackTooOld(seg.ack)) {
      this.host.count('tcp.rx_ack_too_old');
      this.challengeAck(now);
      return false;
    }
    this.snd.onAck(seg, now);
    // RFC 3168 §6.1.2: ECE is answered as a loss would be, once per window, with nothing resent.
    if (this.ecn.onAck(seg.flags, this.snd.una, this.snd.max)) {
      this.host.count('tcp.rx_ece');
      this.snd.congestionSignal(now);
    }
    return this.state !== 'CLOSED';
  }

  /** The peer acknowledged our FIN. */
  finAcked(now: number): void {
    if (this.state === 'FIN_WAIT_1') {
      this.st = 'FIN_WAIT_2';
      if (this.rcv.readClosedByApp) this.finWait2At = now + this.host.config.finWait2TimeoutMs;
    } else if (this.state === 'CLOSING') {
      this.enterTimeWait(now);
    } else if (this.state === 'LAST_ACK') {
      this.destroy(undefined);
    }
  }

  /** The peer's FIN was taken (RCV.NXT covers it). */
  private finArrived(now: number): void {
    switch (this.state) {
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.st = 'CLOSE_WAIT';
        break;
      case 'FIN_WAIT_1':
        // Our FIN not yet acknowledged (else we would be in FIN_WAIT_2): simultaneous close.
        this.st = 'CLOSING';
        break;
      case 'FIN_WAIT_2':
        this.enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  private enterTimeWait(now: number): void {
    this.st = 'TIME_WAIT';
    this.finWait2At = undefined;
    this.keepAlive.stop();
    this.rcv.stopTimer();
    this.timeWaitAt = now + this.host.config.timeWaitMs;
    this.snd.stop(true);
    this.rcv.dispose(true); // the application may still be reading
    this.notify();
  }

  /** Moves to CLOSED for good, gives every buffer back and lets the owner forget the connection. */
  destroy(reason: CloseReason): void {
    if (this.state === 'CLOSED') return;
    this.st = 'CLOSED';
    this.closeReason = reason;
    this.timeWaitAt = this.finWait2At = undefined;
    this.keepAlive.stop();
    this.rcv.stopTimer();
    this.snd.stop(true);
    this.rcv.dispose(reason === undefined);
    this.host.closed(this);
    this.notify();
  }
}
