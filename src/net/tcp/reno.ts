// Reno congestion control (RFC 5681): slow start below ssthresh, congestion avoidance above it, ssthresh halved
// on a loss.

import type { CongestionControl } from './congestion-control.ts';

export class RenoCongestion implements CongestionControl {
  readonly name = 'reno';
  cwnd = 0;
  ssthresh = 0xffffffff;

  /** RFC 5681 §3.1 initial window (RFC 3390's formula). */
  start(smss: number): void {
    this.cwnd = Math.min(4 * smss, Math.max(2 * smss, 4380));
  }

  /**
   * RFC 5681 §3.1: slow start below ssthresh (appropriate byte counting, L = 1 SMSS), then congestion
   * avoidance, about one SMSS per round trip.
   */
  onAck(acked: number, smss: number): void {
    if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, smss);
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
}
