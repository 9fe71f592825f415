// Congestion control behind one interface (RFC 5681 §3 and its successors): how the congestion window starts,
// grows with each acknowledgment and answers a loss. Loss recovery (loss-recovery.ts) decides when a loss
// happened and may set the window itself while it repairs one; this part owns the window outside of that.

export type CongestionControlName = 'reno';

export interface CongestionControl {
  readonly name: CongestionControlName;
  /** The congestion window in bytes (recovery may set it while it runs). */
  cwnd: number;
  /** The slow-start threshold in bytes. */
  ssthresh: number;
  /** The initial window, once the sender's MSS is known. */
  start(smss: number, now: number): void;
  /** `acked` bytes newly acknowledged while the window may grow. */
  onAck(acked: number, smss: number, now: number): void;
  /** A loss found by acknowledgments (fast retransmit) with `flight` bytes outstanding: lower ssthresh. */
  onCongestion(flight: number, smss: number, now: number): void;
  /**
   * A retransmission timeout with `flight` bytes outstanding: one segment's window, and a lower ssthresh unless
   * this timeout belongs to a loss episode already answered (`sameEpisode`).
   */
  onTimeout(flight: number, smss: number, sameEpisode: boolean, now: number): void;
}
