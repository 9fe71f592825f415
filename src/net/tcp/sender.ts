// The sending half of a connection: the send sequence space (RFC 9293 §3.3.1), the send buffer, segmentation
// (MSS, TSO super-segments, Nagle and sender SWS avoidance), the ACKs that move it (§3.10.7.4 fifth check), RTT
// timing and the retransmission timer (RFC 6298), and zero-window probes (§3.8.6.1). When to resend is the loss
// recovery's to say and how much may be in flight the congestion control's; both are chosen per connection.

import type { LayerCounter } from '../counters.ts';
import { earliest } from '../deadline.ts';
import { createCongestionControl, createLossRecovery } from './algorithms.ts';
import { ByteRing } from './byte-ring.ts';
import type { CongestionControl } from './congestion-control.ts';
import type { LossRecovery, LossRecoveryName } from './loss-recovery.ts';
import type { MemoryBudget } from './memory-budget.ts';
import { PersistTimer } from './persist.ts';
import { SendSequence } from './send-sequence.ts';
import { TailLossProbe, type ProbeSender } from './tlp.ts';
import { BlackholeDetector } from './blackhole.ts';
import { RttMeter } from './rtt-meter.ts';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt, seqMax } from './seq.ts';
import { MIN_SND_MSS, type TcpConfig } from './tcp-config.ts';
import type { TcpTimestamps } from './timestamps.ts';
import { ACK, FIN, PSH, SYN, type TcpSegment } from './tcp-wire.ts';

const TS_OPTION_BYTES = 12; // NOP NOP kind len TSval TSecr
const EMPTY = new Uint8Array(0);

/** What the sender needs of its connection. */
export interface SenderIo {
  /** Sends a segment from SND space: the connection adds the ACK, window and options. */
  segmentOut(seq: number, flags: number, payload: Uint8Array, now: number, gsoSize: number): void;
  /** Our FIN took its sequence number (the connection moves to FIN_WAIT_1 or LAST_ACK). */
  finSent(): void;
  /** The peer acknowledged our FIN. */
  finAcked(now: number): void;
  /** SACK blocks ride on our segments now (SACK agreed, out-of-order data held): leave room for them. */
  readonly sackBlocksRide: boolean;
  /** Something the application may care about changed (space, acknowledged data). */
  notify(): void;
  count(name: LayerCounter<'tcp'>): void;
}

/** What a retransmission timeout came to. */
export type RtoOutcome = 'retransmit' | 'give-up';

export class TcpSender extends SendSequence implements ProbeSender {
  private readonly buf: ByteRing;
  private readonly rtt: RttMeter;
  private rtoAt: number | undefined;
  private retransmits = 0;
  /** When data last left, for the restart after idle (RFC 5681 §4.1). */
  private lastSentAt: number | undefined;
  private readonly persist = new PersistTimer();
  private readonly tlp = new TailLossProbe();
  private readonly blackhole = new BlackholeDetector();
  /** An ACK has covered a full segment's worth at the size in use: the path carries it, no black hole (RFC 4821). */
  private fullSizeDelivered = false;
  /** The application will send no more: a FIN follows the queued data. */
  private finQueued = false;
  /** The sequence number our FIN took, once sent; and whether the peer has acknowledged it. */
  private finSeq: number | undefined;
  private finIsAcked = false;
  readonly cc: CongestionControl;
  private recovery: LossRecovery;
  /** Nagle's algorithm off (RFC 9293 §3.7.4). */
  noDelay: boolean;

  constructor(
    private readonly config: TcpConfig,
    private readonly io: SenderIo,
    private readonly ts: TcpTimestamps,
    iss: number,
    ourMss: number,
    budget: MemoryBudget | undefined,
    private readonly recoveryName: LossRecoveryName,
    cc: CongestionControl['name'],
  ) {
    super(iss, ourMss);
    this.noDelay = config.noDelay;
    this.buf = new ByteRing(config.sendBufferSize, budget);
    this.rtt = new RttMeter(config, ts);
    this.cc = createCongestionControl(cc);
    this.recovery = createLossRecovery('newreno', false, this, this.cc);
  }

  // ——— What others read ———

  get rtoMs(): number { return this.rtt.rto.rtoMs; }
  get srttMs(): number | undefined { return this.rtt.rto.srttMs; }
  get latestRttMs(): number | undefined { return this.rtt.latestMs; }
  get recoveryInUse(): LossRecoveryName { return this.recovery.name; }
  get inRecovery(): boolean { return this.recovery.inRecovery; }
  /** Bytes queued but not yet acknowledged, and what the application may still queue. */
  get unacknowledged(): number { return this.buf.length; }
  get free(): number { return this.buf.free; }
  get closing(): boolean { return this.finQueued; }
  get finAcked(): boolean { return this.finIsAcked; }
  get inFlight(): boolean { return seqGt(this.sndMax, this.sndUna); }
  /** The timers this part runs: retransmission and persist. */
  get rtoDeadline(): number | undefined { return this.rtoAt; }
  get persistDeadline(): number | undefined { return this.persist.deadline; }
  /** The tail loss probe, and the loss recovery's own timer (RACK's reordering timer, only while data is out). */
  get probeDeadline(): number | undefined { return earliest(this.tlp.deadline, this.inFlight ? this.recovery.deadline : undefined); }

  /** The payload a full segment carries: the peer's MSS less our option overhead. */
  get smss(): number { return Math.min(this.sndMss, this.pathMss) - (this.tsOk ? TS_OPTION_BYTES : 0); }

  /**
   * The payload a segment sent now may carry: SMSS, less room for SACK blocks while we hold out-of-order data
   * (they ride on every segment then, RFC 2018 §4), so that no segment outgrows the peer's MSS and the MTU (as
   * Linux's tcp_current_mss). Room for as many blocks as the option space holds: 3 beside timestamps, else 4.
   */
  get segPayload(): number {
    if (!this.io.sackBlocksRide) return this.smss;
    return this.smss - (this.tsOk ? 4 + 3 * 8 : 4 + 4 * 8);
  }

  /** Where the data ends in sequence space (the FIN's sequence number). */
  get dataEnd(): number { return this.finSeq ?? seqAdd(this.sndUna, this.buf.length); }

  // ——— Set up ———

  /**
   * The path takes segments of at most `mss` bytes (a learned path MTU, never under MIN_SND_MSS). When what is in
   * flight was sent larger, it is rewound to go again at the new size at once (RFC 1191 §6.5; Linux's
   * tcp_simple_retransmit): no congestion response, the loss was the path's size, not congestion. True then.
   */
  setPathMss(mss: number): boolean {
    const next = Math.max(MIN_SND_MSS, Math.floor(mss));
    const before = this.smss;
    this.pathMss = next;
    if (this.smss >= before || !this.inFlight) return false;
    this.rewind();
    this.rtt.forget();
    this.io.count('tcp.pmtu_lowered');
    return true;
  }

  /**
   * What the handshake agreed (RFC 9293 §3.7.1 MSS, RFC 7323, RFC 2018): the peer's MSS and window shift, whether
   * timestamps are on, and so which loss recovery runs; the congestion window starts.
   */
  agreed(peerMss: number, shift: number, tsOk: boolean, sackOk: boolean, now: number): void {
    this.sndMss = peerMss;
    this.sndShift = shift;
    this.tsOk = tsOk;
    this.recovery = createLossRecovery(this.recoveryName, sackOk, this, this.cc);
    this.cc.start(this.smss, now);
  }

  /** Our SYN (or SYN-ACK) left; `first`: not a retransmission, so it may be timed (Karn). */
  synSent(now: number, first: boolean): void {
    if (first) {
      this.rtt.time(this.iss, now, true);
    } else {
      this.ts.retransmitted(now); // Karn: an echo of an earlier SYN measures nothing
    }
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = seqMax(this.sndMax, this.sndNxt);
    if (this.rtoAt === undefined) this.rtoAt = now + this.rtt.rto.rtoMs;
  }

  /** Our SYN is acknowledged by `seg` (SYN_SENT: its SYN-ACK; SYN_RECEIVED: its ACK); `scaled` once both agreed. */
  synAcked(seg: TcpSegment, now: number, takeWindow: boolean): void {
    this.sndUna = takeWindow ? seqAdd(this.iss, 1) : seg.ack;
    this.rtt.onAck(seg, now);
    this.rtoAt = undefined;
    this.retransmits = 0;
    if (!takeWindow) return;
    this.sndWnd = seg.window * 2 ** this.sndShift;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.maxSndWnd = this.sndWnd;
  }

  // ——— The application's side ———

  write(data: Uint8Array): number {
    return this.buf.push(data);
  }

  /** A FIN follows the queued data. */
  queueFin(): void {
    this.finQueued = true;
  }

  // ——— Output ———

  /** Sends what is due from the send side: retransmissions recovery allows, then new data; true if any left. */
  output(now: number): boolean {
    if (this.blackhole.reprobeDue(now)) {
      this.pathMss = Infinity; // RFC 4821 §7.7: try the larger size again
      this.fullSizeDelivered = false;
    }
    let sent = this.recovery.retransmit(now);
    sent = this.sendNewData(now) || sent;
    if (sent) this.armProbe(now);
    // RFC 9293 §3.8.6.1: with a zero window and data waiting, probe the window on the persist timer.
    if (this.sndWnd === 0 && this.buf.length > 0 && this.sndMax === this.sndUna) this.persist.start(now, this.rtt.rto.rtoMs);
    return sent;
  }

  /**
   * The most new data one segment may carry: one SMSS, or with a device that segments (TSO) outside loss
   * recovery as many whole SMSS as one IPv4 packet holds (the device sends each as its own segment).
   */
  private segmentCap(): number {
    const tso = this.config.tsoMaxBytes;
    // A super-segment needs the device to finish its checksum (each piece has its own): both, or none.
    const per = this.segPayload;
    if (tso === 0 || !this.config.checksumOffload || this.recovery.holdsTso) return per;
    const room = tso - 20 - 60; // IPv4 header, and the largest TCP header
    return Math.max(per, room - (room % per));
  }

  /** New data from SND.NXT (and the FIN), as the windows, Nagle and sender SWS avoidance allow. */
  private sendNewData(now: number): boolean {
    let sent = false;
    const end = this.dataEnd;
    // RFC 5681 §4.1: nothing sent for longer than an RTO and nothing in flight: start again from the restart window.
    if (this.lastSentAt !== undefined && now - this.lastSentAt > this.rtt.rto.rtoMs && this.sndMax === this.sndUna && seqGt(end, this.sndNxt)) {
      this.cc.restartAfterIdle(this.smss, now);
      this.lastSentAt = undefined;
    }
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.sndUna);
      const unsent = seqDiff(end, this.sndNxt);
      if (unsent <= 0) break;
      const inFlight = this.recovery.inFlight(offset);
      // RFC 3042 Limited Transmit: the first two duplicate ACKs each let one new segment out.
      const usable = Math.min(seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt), this.cc.cwnd + this.recovery.limitedTransmit() - inFlight);
      if (usable <= 0) break;
      const cap = this.segmentCap();
      let n = Math.min(cap, unsent, usable);
      const per = this.segPayload;
      if (cap > per && n < unsent && inFlight > 0) {
        // With TSO, wait for the windows to hold a sizeable super-segment while ACKs are still to come
        // (as Linux's tcp_tso_should_defer): one send of many segments instead of many of two.
        if (n < Math.min(cap, Math.floor(Math.min(this.cc.cwnd, this.sndWnd) / 3))) break;
        // A super-segment carries whole segments only, unless it ends the data: no short segment mid-stream.
        if (n > per) n -= n % per;
      }
      // Nagle and sender silly-window avoidance (RFC 9293 §3.7.4, §3.8.6.2.1): a short segment goes out only
      // when it carries everything queued and nothing is in flight (or Nagle is off), or it is at least half
      // the largest window the peer offered; otherwise the next ACK will bring a better moment. Once the
      // application has closed, the last of the data goes with the FIN at once (as Linux's tcp_send_fin).
      if (n < per && offset > 0) {
        const allQueued = n === unsent;
        if (!(allQueued && (this.noDelay || this.finQueued)) && !(this.maxSndWnd > 0 && n >= this.maxSndWnd / 2)) break;
      }
      this.transmit(this.sndNxt, n, now);
      sent = true;
    }
    // The FIN alone, once all data has gone (again after an RTO rewound SND.NXT).
    if (this.finQueued && !this.finIsAcked && this.sndNxt === end && (this.finSeq === undefined || seqLe(this.sndNxt, this.finSeq))) {
      this.transmit(this.sndNxt, 0, now);
      sent = true;
    }
    return sent;
  }

  /**
   * Sends `len` bytes of data starting at `seq` (plus the FIN if they end the data and close is due); more than
   * a segment's payload only as a TSO super-segment. Returns the sequence space sent (data, and one for a FIN).
   */
  transmit(seq: number, len: number, now: number): number {
    const per = this.segPayload;
    if (len > per && this.segmentCap() <= per) len = per;
    const offset = seqDiff(seq, this.sndUna);
    const payload = len > 0 ? this.buf.peek(offset, len) : EMPTY;
    const endSeq = seqAdd(seq, payload.length);
    const fin = this.finQueued && !this.finIsAcked && endSeq === seqAdd(this.sndUna, this.buf.length);
    let flags = ACK;
    if (payload.length > 0 && offset + payload.length === this.buf.length) flags |= PSH;
    if (fin) flags |= FIN;
    this.io.segmentOut(seq, flags, payload, now, payload.length > per ? per : 0);
    const next = seqAdd(endSeq, fin ? 1 : 0);
    const isNew = seqGt(next, this.sndMax);
    this.recovery.sent(seq, seqDiff(next, seq), !isNew, now);
    this.lastSentAt = now;
    if (seqGt(next, this.sndNxt) && !seqLt(seq, this.sndNxt)) this.sndNxt = next;
    if (isNew) {
      // Without timestamps, time one new segment at a time for the RTT (Karn: never a retransmitted one).
      if (!this.tsOk) this.rtt.time(seq, now);
      this.sndMax = next;
    } else {
      this.io.count('tcp.retransmitted_segment');
      this.ts.retransmitted(now);
    }
    if (fin && this.finSeq === undefined) {
      this.finSeq = endSeq;
      this.io.finSent();
    }
    if (this.rtoAt === undefined) this.rtoAt = now + this.rtt.rto.rtoMs; // RFC 6298 (5.1)
    this.persist.stop();
    return seqDiff(next, seq);
  }

  rewind(): void {
    this.sndNxt = this.sndUna;
  }

  forgetRttSample(): void {
    this.rtt.forget();
  }

  count(name: LayerCounter<'tcp'>): void {
    this.io.count(name);
  }

  // ——— Input: the ACK (RFC 9293 §3.10.7.4 fifth) ———

  /** An acceptable ACK in a synchronized state: new data acknowledged, a duplicate, and the window update. */
  onAck(seg: TcpSegment, now: number): void {
    const ack = seg.ack;
    const newSack = this.recovery.takeSack(seg.options.sack, ack);
    const window = seg.window * 2 ** this.sndShift;
    if (seqGt(ack, this.sndUna)) {
      this.newAck(seg, now);
    } else if (ack === this.sndUna && seqGt(this.sndMax, this.sndUna) && seg.payload.length === 0 && !(seg.flags & (SYN | FIN)) && window > 0 && this.recovery.isDuplicate(newSack, window === this.sndWnd)) {
      // RFC 5681 §2 "duplicate acknowledgment" (with SACK, one that SACKs new data, RFC 6675 §2). Answers to
      // zero-window probes never count.
      this.recovery.onDuplicateAck(now);
      this.tlp.onAck(ack, this.recovery.inRecovery);
    }
    if (this.updateWindow(window, seg.seq, ack)) {
      this.persist.opened();
      this.io.notify();
    }
  }

  private newAck(seg: TcpSegment, now: number): void {
    const ack = seg.ack;
    let acked = seqDiff(ack, this.sndUna);
    const finAcked = this.finSeq !== undefined && !this.finIsAcked && seqGt(ack, this.finSeq);
    if (finAcked) {
      acked -= 1;
      this.finIsAcked = true;
    }
    this.buf.consume(acked);
    if (acked >= this.segPayload) this.fullSizeDelivered = true;
    this.sndUna = ack;
    if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
    this.rtt.onAck(seg, now);
    this.retransmits = 0;
    this.recovery.onNewAck(acked, now);
    // RFC 6298 (5.2)/(5.3): stop the timer when all is acknowledged, else restart it.
    this.rtoAt = this.sndUna === this.sndMax ? undefined : now + this.rtt.rto.rtoMs;
    // RFC 8985 §7.4: the probe's ACK ends its episode; a retransmitted probe that was needed repaired a loss.
    if (this.tlp.onAck(ack, this.recovery.inRecovery) === 'repaired') {
      this.io.count('tcp.tlp_repaired');
      this.cc.onCongestion(seqDiff(this.sndMax, this.sndUna) + acked, this.smss, now);
      this.cc.cwnd = Math.min(this.cc.cwnd, this.cc.ssthresh);
    }
    this.armProbe(now);
    if (finAcked) this.io.finAcked(now);
    this.io.notify();
  }

  /** A congestion signal without a loss (RFC 3168 §6.1.2, ECE): the recovery answers it. */
  congestionSignal(now: number): void {
    this.recovery.congestionSignal(now);
  }

  // ——— Timers ———

  /** RFC 8985 §7.2: with SACK, outside recovery and with data in flight, a tail loss probe is scheduled. */
  private armProbe(now: number): void {
    if (!this.config.tailLossProbe || this.recovery.name === 'newreno' || this.recovery.inRecovery || !this.inFlight || this.recovery.deadline !== undefined) {
      this.tlp.disarm();
      return;
    }
    this.tlp.arm(now, this.rtt.rto.srttMs, this.rtoAt, Math.ceil(seqDiff(this.sndMax, this.sndUna) / this.smss));
  }

  /**
   * The probe timeout came: the probe goes out, and the retransmission timer runs on from it (§7.3). Or the
   * recovery's timer did (what it finds lost goes out with the next output).
   */
  probeTail(now: number): void {
    this.recovery.onTimer(now);
    if (!this.tlp.due(now)) return;
    if (this.tlp.fire(this, now)) this.rtoAt = now + this.rtt.rto.rtoMs;
  }

  /**
   * RFC 6298 §5 (5.4–5.7): the retransmission timer expired. Past the retry limit ('give-up') the connection
   * ends; otherwise the timer backs off and, after the handshake, recovery plans what is resent (RFC 5681 §3.1).
   */
  retransmitTimeout(now: number, handshake: boolean): RtoOutcome {
    this.rtoAt = undefined;
    this.retransmits++;
    const limit = handshake ? this.config.synRetries : this.config.maxRetransmits;
    if (this.retransmits > limit) {
      this.io.count(handshake ? 'tcp.handshake_timeout' : 'tcp.retransmit_timeout');
      return 'give-up';
    }
    this.io.count('tcp.retransmit');
    this.io.count('tcp.rto');
    // Where timeouts come from: a retransmission lost in recovery, or a tail with too few ACKs behind it.
    this.io.count(this.recovery.inRecovery ? 'tcp.rto_in_recovery' : seqDiff(this.sndMax, this.sndUna) <= 2 * this.smss ? 'tcp.rto_tail' : 'tcp.rto_other');
    this.rtt.rto.backoff();
    this.rtt.forget();
    this.tlp.reset();
    if (handshake) return 'retransmit';
    // A black hole (RFC 4821): full-sized data timed out twice in a row: smaller segments from now on.
    const fullSized = !this.fullSizeDelivered && seqDiff(this.sndMax, this.sndUna) >= this.segPayload;
    const step = this.blackhole.onTimeout(this.retransmits, fullSized, this.smss + (this.tsOk ? TS_OPTION_BYTES : 0), now);
    if (step !== undefined) {
      this.pathMss = step;
      this.io.count('tcp.blackhole_mss');
    }
    this.recovery.onTimeout(now);
    return 'retransmit';
  }

  /** Whether the retransmission timer has come, and whether it has (already) been retried before. */
  rtoDue(now: number): boolean {
    return this.rtoAt !== undefined && now >= this.rtoAt;
  }

  get retried(): boolean { return this.retransmits > 0; }

  /**
   * A zero-window probe: the next byte of data, sent without moving SND.NXT (RFC 9293 §3.8.6.1). 'give-up' when
   * the peer kept its window shut longer than zeroWindowTimeoutMs.
   */
  probeWindow(now: number): RtoOutcome | 'none' {
    const shut = this.sndWnd === 0 && this.buf.length > 0 && !seqGt(this.sndNxt, this.sndUna);
    const c = this.config;
    const action = this.persist.fire(now, shut, this.rtt.rto.rtoMs, c.maxRtoMs, c.zeroWindowTimeoutMs);
    if (action === 'none') return 'none';
    if (action === 'give-up') {
      this.io.count('tcp.zero_window_timeout');
      return 'give-up';
    }
    this.io.count('tcp.window_probe');
    this.io.segmentOut(this.sndUna, ACK, this.buf.peek(0, 1), now, 0);
    this.sndMax = seqMax(this.sndMax, seqAdd(this.sndUna, 1));
    return 'retransmit';
  }

  /** After a timer ran: data still outstanding and nothing sent (a closed window): keep the timer running. */
  keepTimerRunning(now: number): void {
    if (this.rtoAt === undefined && seqGt(this.sndMax, this.sndUna) && this.persist.deadline === undefined) this.rtoAt = now + this.rtt.rto.rtoMs;
  }

  /** No more timers (TIME_WAIT, CLOSED); with `release`, the send buffer goes back too. */
  stop(release: boolean): void {
    this.rtoAt = undefined;
    this.tlp.reset();
    this.persist.stop();
    if (release) this.buf.dispose();
  }
}
