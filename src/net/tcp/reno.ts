// Reno congestion control (RFC 5681; with RFC 6582 NewReno or RFC 6675 SACK recovery beside it): slow start below
// ssthresh, congestion avoidance above it, ssthresh halved on a loss. `--tcp-cc newreno`.

import { ABC_LIMIT, INITIAL_SSTHRESH, initialWindow, type CongestionControl, type PathView } from './congestion-control.ts';

export class RenoCongestion implements CongestionControl {
  readonly name = 'newreno';
  cwnd = 0;
  ssthresh = INITIAL_SSTHRESH;

  /** RFC 6928 initial window. */
  start(smss: number): void {
    this.cwnd = initialWindow(smss);
  }

  /**
   * RFC 5681 §3.1: slow start below ssthresh (appropriate byte counting with L = 2 SMSS, RFC 3465 §2.2, so that a
   * peer's delayed ACKs still double the window each round trip), then congestion avoidance, about one SMSS per
   * round trip.
   */
  onAck(acked: number, path: PathView): void {
    const smss = path.smss;
    if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, ABC_LIMIT * smss);
    else this.cwnd += Math.max(1, Math.floor((smss * smss) / this.cwnd));
  }

  /** RFC 5681 §3.2 (2): ssthresh = max(FlightSize / 2, 2 SMSS). */
  onCongestion(flight: number, smss: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * smss);
  }

  /**
   * RFC 5681 §3.1 (4): ssthresh as after a loss, cwnd = 1 SMSS. A timeout within a recovery begun by a timeout
   * keeps the first one's ssthresh (RFC 5681 uses the flight of the first; a second halving would count the same
   * losses twice).
   */
  onTimeout(flight: number, smss: number, sameEpisode: boolean): void {
    if (!sameEpisode) this.onCongestion(flight, smss);
    this.cwnd = smss;
  }

  snapshot(): () => void {
    const { cwnd, ssthresh } = this;
    return () => {
      this.cwnd = Math.max(this.cwnd, cwnd);
      this.ssthresh = ssthresh;
    };
  }

  /** RFC 5681 §4.1: after an idle period, at most the restart window (the initial window). */
  restartAfterIdle(smss: number): void {
    this.cwnd = Math.min(this.cwnd, initialWindow(smss));
  }
}
