// Congestion control behind one interface (RFC 5681 §3 and its successors): how the congestion window starts,
// grows with each acknowledgment and answers a loss. Loss recovery (loss-recovery.ts) decides when a loss
// happened and may set the window itself while it repairs one; this part owns the window outside of that.

export type CongestionControlName = 'cubic' | 'newreno';

/** What a congestion controller may read of the path and the sender as an ACK arrives. */
export interface PathView {
  /** A full segment's payload. */
  readonly smss: number;
  /** SND.UNA (after the ACK) and the highest sequence number sent. */
  readonly una: number;
  readonly max: number;
  /** The smoothed RTT (RFC 6298), and the RTT sample the latest ACK gave (undefined: it gave none). */
  readonly srttMs: number | undefined;
  readonly latestRttMs: number | undefined;
}

export interface CongestionControl {
  readonly name: CongestionControlName;
  /** The congestion window in bytes (recovery may set it while it runs). */
  cwnd: number;
  /** The slow-start threshold in bytes. */
  ssthresh: number;
  /** The initial window, once the sender's MSS is known. */
  start(smss: number, now: number): void;
  /** `acked` bytes newly acknowledged while the window may grow. */
  onAck(acked: number, path: PathView, now: number): void;
  /** A loss found by acknowledgments (fast retransmit) with `flight` bytes outstanding: lower ssthresh. */
  onCongestion(flight: number, smss: number, now: number): void;
  /**
   * A retransmission timeout with `flight` bytes outstanding: one segment's window, and a lower ssthresh unless
   * this timeout belongs to a loss episode already answered (`sameEpisode`).
   */
  onTimeout(flight: number, smss: number, sameEpisode: boolean, now: number): void;
  /** Data is to be sent after an idle period longer than the RTO (RFC 5681 §4.1, RFC 9438 §4.8). */
  restartAfterIdle(smss: number, now: number): void;
  /** The state as it is now, to be put back if a congestion response turns out spurious (RFC 3708, RFC 9438 §4.9). */
  snapshot(): () => void;
}

/** RFC 6928 §2: IW = min(10 × MSS, max(2 × MSS, 14600)). */
export function initialWindow(smss: number): number {
  return Math.min(10 * smss, Math.max(2 * smss, 14600));
}

/** RFC 3465 §2.2: slow start grows by at most this many SMSS per ACK (L), so delayed ACKs do not slow it. */
export const ABC_LIMIT = 2;

/** The slow-start threshold before any loss (RFC 5681 §3.1: arbitrarily high). */
export const INITIAL_SSTHRESH = 0xffffffff;
