// Proportional Rate Reduction (RFC 6937) for fast recovery: instead of cutting the window to ssthresh at once
// (and then sending nothing until the pipe drains to it), each ACK lets out data in proportion to what it
// delivered, ssthresh / RecoverFS of it, so that by the end of recovery about ssthresh has been sent; when the
// pipe has fallen below ssthresh (heavy losses), slow-start-like growth back to it, no more than one MSS above
// what was delivered (PRR-SSRB, §3.1). In bytes.

export class ProportionalRateReduction {
  /** prr_delivered, prr_out (RFC 6937 §3.1). */
  private delivered = 0;
  private out = 0;

  constructor(
    /** RecoverFS: the flight size when recovery began. */
    private readonly recoverFs: number,
  ) {}

  /**
   * An ACK during recovery delivered `deliveredData` bytes (the change of SND.UNA plus that of SACKed bytes) with
   * `pipe` bytes now in flight: how many bytes may be sent on it (sndcnt, never negative).
   */
  onAck(deliveredData: number, pipe: number, ssthresh: number, mss: number): number {
    this.delivered += Math.max(0, deliveredData);
    let sndcnt: number;
    if (pipe > ssthresh) {
      // Proportional: CEIL(prr_delivered × ssthresh / RecoverFS) − prr_out.
      sndcnt = Math.ceil((this.delivered * ssthresh) / Math.max(1, this.recoverFs)) - this.out;
    } else {
      // PRR-SSRB: back up to ssthresh, at most one MSS beyond what is delivered.
      const limit = Math.max(this.delivered - this.out, deliveredData) + mss;
      sndcnt = Math.min(ssthresh - pipe, limit);
    }
    // The fast retransmission itself goes out at once, whatever the proportion allows (as Linux's PRR).
    if (this.out === 0) sndcnt = Math.max(sndcnt, mss);
    return Math.max(0, sndcnt);
  }

  /** Bytes sent during recovery (retransmitted or new): prr_out. */
  sent(bytes: number): void {
    this.out += bytes;
  }

  get deliveredBytes(): number {
    return this.delivered;
  }

  get sentBytes(): number {
    return this.out;
  }
}
