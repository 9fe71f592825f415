// The send sequence space of a connection (RFC 9293 §3.3.1): SND.UNA, SND.NXT, the highest sequence number sent
// (SND.MAX), the peer's window and the segment that last set it (SND.WL1, SND.WL2), the MSS the peer announced
// and the one the path leaves, and the window shift; with the rules that read them alone. The sender
// (sender.ts) moves them.

import { seqAdd, seqGt, seqLe, seqLt } from './seq.ts';

export abstract class SendSequence {
  protected iss: number;
  protected sndUna: number;
  protected sndNxt: number;
  /** The highest sequence number sent so far. */
  protected sndMax: number;
  protected sndWnd = 0;
  protected sndWl1 = 0;
  protected sndWl2 = 0;
  protected maxSndWnd = 0;
  /** The peer's MSS as it announced it (or 536), capped by ours. */
  protected sndMss: number;
  /** The MSS the path's learned MTU leaves (RFC 1191, RFC 8201); Infinity: the peer's MSS alone decides. */
  protected pathMss = Infinity;
  /** RFC 7323 shift of the peer's window field (0 when not negotiated). */
  protected sndShift = 0;
  protected tsOk = false;

  constructor(iss: number, ourMss: number) {
    this.iss = this.sndUna = this.sndNxt = this.sndMax = iss;
    this.sndMss = Math.min(536, ourMss);
  }

  get una(): number { return this.sndUna; }
  get nxt(): number { return this.sndNxt; }
  get max(): number { return this.sndMax; }
  get window(): number { return this.sndWnd; }
  get largestWindow(): number { return this.maxSndWnd; }
  get peerMss(): number { return this.sndMss; }
  get windowShift(): number { return this.sndShift; }
  get initialSeq(): number { return this.iss; }
  /** The right edge of the peer's window (SND.UNA + SND.WND). */
  get windowEnd(): number { return seqAdd(this.sndUna, this.sndWnd); }

  /** An active open takes its ISN when its first SYN is due. */
  open(iss: number): void {
    this.iss = this.sndUna = this.sndNxt = this.sndMax = iss;
  }

  /** The window of the peer's SYN (never scaled, RFC 7323 §2.2), with the segment's SEQ and ACK for the update rule. */
  synWindow(window: number, seq: number, ack: number): void {
    this.sndWnd = window;
    this.sndWl1 = seq;
    this.sndWl2 = ack;
  }

  /** A connection made from a SYN cookie: the SYN-ACK is sent already (RFC 4987 §3.6). */
  cookieSynAcked(synSeq: number): void {
    this.sndWl1 = synSeq;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
  }

  /**
   * RFC 9293 §3.10.7.4 (fifth, ESTABLISHED): the send window from a segment newer than the one that last set it
   * (`window` already scaled); true when it opens a window that was shut.
   */
  protected updateWindow(window: number, seq: number, ack: number): boolean {
    if (!(seqLt(this.sndWl1, seq) || (this.sndWl1 === seq && seqLe(this.sndWl2, ack)))) return false;
    const opened = this.sndWnd === 0 && window > 0;
    this.sndWnd = window;
    this.sndWl1 = seq;
    this.sndWl2 = ack;
    this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
    return opened;
  }

  /** The largest window seen so far, from a SYN (SYN_SENT). */
  noteLargestWindow(): void {
    this.maxSndWnd = this.sndWnd;
  }

  /** Whether `ack` acknowledges something not yet sent, or is older than the peer could have seen (RFC 5961 §5.2). */
  ackUnsent(ack: number): boolean {
    return seqGt(ack, this.sndMax);
  }

  ackTooOld(ack: number): boolean {
    return seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)));
  }
}
