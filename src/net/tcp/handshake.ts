// The three-way handshake (RFC 9293 §3.5) and its options (§3.7.1; RFC 7323 §2.2, §3.2; RFC 2018 §2): what our
// SYN offers, what a SYN-ACK answers, and what both ends agreed once the peer's SYN is in.

import type { TcpReceiver } from './receiver.ts';
import type { TcpSender } from './sender.ts';
import type { TcpConfig } from './tcp-config.ts';
import type { TcpTimestamps } from './timestamps.ts';
import { ACK, SYN, type TcpOptions, type TcpSegment } from './tcp-wire.ts';
import { MAX_WINDOW_SCALE } from './window.ts';

/** The least MSS we send with, whatever the peer announces (as Linux's TCP_MIN_MSS). */
export const MIN_SND_MSS = 88;

/** What both ends agreed in the handshake. */
export interface Negotiated {
  /** The peer's MSS (536 when it announced none, RFC 9293 §3.7.1), capped by ours and floored at MIN_SND_MSS. */
  sndMss: number;
  /** The shift of the peer's window field; undefined when window scaling is off (then ours is off too). */
  sndShift: number | undefined;
  sackOk: boolean;
  tsOk: boolean;
}

/**
 * The options of our SYN (`active`: everything we do) or SYN-ACK (only what the peer offered). `ts` is the
 * timestamp option to carry when timestamps are offered.
 */
export function synOptions(c: TcpConfig, mss: number, rcvShift: number, peer: TcpOptions, active: boolean, ts: { value: number; echo: number }): TcpOptions {
  const opts: TcpOptions = { mss };
  const offer = (ours: boolean, theirs: boolean): boolean => ours && (active || theirs);
  if (offer(c.windowScaling, peer.windowScale !== undefined)) opts.windowScale = rcvShift;
  if (offer(c.sack, peer.sackPermitted === true)) opts.sackPermitted = true;
  if (offer(c.timestamps, peer.timestamp !== undefined)) opts.timestamp = ts;
  return opts;
}

/** What the peer's SYN (options `o`) and our configuration agree on. */
export function negotiate(c: TcpConfig, ourMss: number, o: TcpOptions): Negotiated {
  return {
    // A peer's MSS below 88 (Linux's TCP_MIN_MSS) is taken as 88: with options, a smaller one leaves little or
    // no room for data, and a segment of none would never move the stream on.
    sndMss: Math.max(MIN_SND_MSS, Math.min(o.mss ?? 536, ourMss)),
    sndShift: c.windowScaling && o.windowScale !== undefined ? Math.min(MAX_WINDOW_SCALE, o.windowScale) : undefined, // RFC 7323 §2.3: cap at 14
    sackOk: c.sack && o.sackPermitted === true,
    tsOk: c.timestamps && o.timestamp !== undefined,
  };
}

/** A SYN or SYN-ACK to send: the connection adds nothing but the ports. */
export interface SynSegment {
  seq: number;
  ack: number;
  flags: number;
  options: TcpOptions;
  window: number;
}

/**
 * One connection's handshake: the SYN or SYN-ACK as it is due (and again after a timeout), and what the peer's
 * SYN brings into the sender, the receiver and the timestamps.
 */
export class Handshake {
  /** Our SYN (or SYN-ACK) has gone out since it was last due. */
  sent = false;
  /** Both ends agreed to SACK (RFC 2018 §2). */
  sackOk = false;
  private peerOffered: TcpOptions = {};

  /** `snd`, `rcv`, `ts`: the parts of the connection that the handshake sets up. */
  constructor(
    private readonly config: TcpConfig,
    private readonly mss: number,
    private readonly snd: TcpSender,
    private readonly rcv: TcpReceiver,
    private readonly ts: TcpTimestamps,
  ) {}

  /** Our SYN (`passive` false, SYN_SENT) or SYN-ACK (SYN_RECEIVED), as it is to go out now. */
  syn(now: number, passive: boolean): SynSegment {
    const { snd, rcv, ts } = this;
    const stamp = { value: ts.now(now), echo: passive ? ts.recent : 0 };
    const options = synOptions(this.config, this.mss, rcv.windowShift, this.peerOffered, !passive, stamp);
    const window = rcv.synWindow(passive);
    return passive
      ? { seq: snd.initialSeq, ack: rcv.nxt, flags: SYN | ACK, options, window }
      : { seq: snd.initialSeq, ack: 0, flags: SYN, options, window };
  }

  /** The SYN built by `syn` has left. */
  synSent(now: number): void {
    this.snd.synSent(now, !this.sent && !this.snd.retried);
    this.sent = true;
  }

  /** The peer's SYN (§3.10.7.2 in LISTEN, §3.10.7.3 in SYN_SENT): its sequence space, options and window. */
  peerSyn(seg: TcpSegment, now: number): void {
    this.rcv.start(seg.seq);
    this.takeOptions(seg.options, now);
    this.snd.synWindow(seg.window, seg.seq, seg.ack); // never scaled in a SYN (RFC 7323 §2.2)
  }

  /** A connection made from a SYN cookie: the handshake is done already (RFC 4987 §3.6). */
  fromCookie(synSeq: number, opts: TcpOptions, now: number): void {
    this.rcv.start(synSeq);
    this.takeOptions(opts, now);
    this.rcv.synWindow(true); // what the cookie SYN-ACK offered
    this.snd.cookieSynAcked(synSeq);
    this.sent = true;
  }

  private takeOptions(o: TcpOptions, now: number): void {
    const { snd, rcv, ts } = this;
    this.peerOffered = o;
    const n = negotiate(this.config, this.mss, o);
    if (n.sndShift === undefined) rcv.noScaling();
    this.sackOk = n.sackOk;
    ts.enabled = n.tsOk;
    rcv.tsOk = n.tsOk;
    if (o.timestamp !== undefined) ts.fromSyn(o.timestamp.value, now);
    snd.agreed(n.sndMss, n.sndShift ?? 0, n.tsOk, n.sackOk, now);
  }
}
