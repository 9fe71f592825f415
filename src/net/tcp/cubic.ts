// CUBIC congestion control (RFC 9438), the default (`--tcp-cc cubic`): after a loss the window follows the cubic
// W_cubic(t) = C·(t − K)³ + W_max (§4.2), concave up to the window of the last loss, then convex beyond it
// (§4.4, §4.5), and never slower than Reno would be (the Reno-friendly region, §4.3); β = 0.7 (§4.6) with fast
// convergence (§4.7). Slow start as RFC 5681's, the first one ended by HyStart++ (RFC 9406, hystart.ts).
// Windows in the equations are in segments and times in seconds, as in the RFC; cwnd itself is in bytes.

import { ABC_LIMIT, INITIAL_SSTHRESH, initialWindow, type CongestionControl, type PathView } from './congestion-control.ts';
import { HyStart } from './hystart.ts';

/** RFC 9438 §5. */
export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
/** §4.3: α_cubic = 3 (1 − β) / (1 + β), the Reno-friendly growth per RTT. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export class CubicCongestion implements CongestionControl {
  readonly name = 'cubic';
  cwnd = 0;
  ssthresh = INITIAL_SSTHRESH;
  /** W_max (§4.2): the window, in segments, just before the last reduction; 0 before any. */
  wMax = 0;
  /** When the current congestion avoidance epoch began (§4.2 t = 0), the window then, and K. */
  private epochStart: number | undefined;
  private k = 0;
  /** W_est (§4.3), segments. */
  private wEst = 0;
  /** Bytes of window growth not yet whole (the equations give fractions of a byte per ACK). */
  private carry = 0;
  readonly hystart = new HyStart();

  constructor(private readonly fastConvergence = true) {}

  start(smss: number): void {
    this.cwnd = initialWindow(smss);
  }

  onAck(acked: number, path: PathView, now: number): void {
    const smss = path.smss;
    if (this.cwnd < this.ssthresh) {
      // Slow start (RFC 5681 §3.1, RFC 3465 L = 2 SMSS), a quarter as fast in HyStart++'s CSS.
      const divisor = this.ssthresh === INITIAL_SSTHRESH ? this.hystart.onAck(path.una, path.max, path.latestRttMs) : 1;
      if (divisor === 'exit') {
        this.ssthresh = this.cwnd;
        return;
      }
      this.grow(Math.min(acked, ABC_LIMIT * smss) / divisor);
      return;
    }
    this.avoid(acked, smss, path.srttMs ?? path.latestRttMs ?? 100, now);
  }

  /** Congestion avoidance (§4.2–§4.5) for `acked` bytes at `now`. */
  private avoid(acked: number, smss: number, rttMs: number, now: number): void {
    const cwndSeg = this.cwnd / smss;
    if (this.epochStart === undefined) {
      // §4.2: a new epoch; K from the window at its start (W_max no smaller than it: then K = 0).
      this.epochStart = now;
      if (this.wMax < cwndSeg) this.wMax = cwndSeg;
      this.k = Math.cbrt((this.wMax - cwndSeg) / CUBIC_C);
      this.wEst = cwndSeg;
    }
    const t = (now - this.epochStart) / 1000;
    const segsAcked = acked / smss;
    // §4.3: W_est grows as Reno's would, α_cubic until it reaches W_max, then 1 per RTT.
    this.wEst += (this.wEst >= this.wMax ? 1 : CUBIC_ALPHA) * (segsAcked / cwndSeg);
    const cubicNow = this.wCubic(t);
    if (cubicNow < this.wEst) {
      // The Reno-friendly region: never slower than Reno.
      this.grow(this.wEst * smss - this.cwnd);
      return;
    }
    // §4.4, §4.5: aim at W_cubic(t + RTT), within [cwnd, 1.5 cwnd], by (target − cwnd) / cwnd per segment acked.
    const target = Math.min(Math.max(this.wCubic(t + rttMs / 1000), cwndSeg), 1.5 * cwndSeg);
    this.grow(((target - cwndSeg) / cwndSeg) * segsAcked * smss);
  }

  /** W_cubic(t) in segments (§4.2 equation 1). */
  wCubic(t: number): number {
    return CUBIC_C * (t - this.k) ** 3 + this.wMax;
  }

  /** K in seconds (§4.2 equation 2) of the current epoch. */
  get kSeconds(): number {
    return this.k;
  }

  /**
   * §4.6, §4.7: ssthresh = β × FlightSize (at least 2 SMSS); W_max the window before the reduction, or with fast
   * convergence, when the window did not reach the previous W_max, (1 + β) / 2 of it. A new epoch starts after.
   */
  onCongestion(flight: number, smss: number): void {
    const cwndSeg = this.cwnd / smss;
    this.wMax = this.fastConvergence && cwndSeg < this.wMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg;
    this.ssthresh = Math.max(Math.floor(flight * CUBIC_BETA), 2 * smss);
    this.epochStart = undefined;
    this.carry = 0;
    this.hystart.stop();
  }

  /** §4.8: a timeout reduces as a loss does (once per episode), the window to one segment, and a new epoch later. */
  onTimeout(flight: number, smss: number, sameEpisode: boolean): void {
    if (!sameEpisode) this.onCongestion(flight, smss);
    this.cwnd = smss;
    this.epochStart = undefined;
    this.hystart.stop();
  }

  /** §4.9: what a spurious congestion response is undone to: the window, ssthresh, W_max and the epoch. */
  snapshot(): () => void {
    const { cwnd, ssthresh, wMax, epochStart, k, wEst } = this;
    return () => {
      this.cwnd = Math.max(this.cwnd, cwnd);
      this.ssthresh = ssthresh;
      this.wMax = wMax;
      this.epochStart = epochStart;
      this.k = k;
      this.wEst = wEst;
    };
  }

  /** RFC 5681 §4.1 restart window; the cubic's epoch starts afresh (its clock should not count the idle time). */
  restartAfterIdle(smss: number): void {
    this.cwnd = Math.min(this.cwnd, initialWindow(smss));
    this.epochStart = undefined;
  }

  private grow(bytes: number): void {
    if (bytes <= 0) return;
    const total = this.carry + bytes;
    const whole = Math.floor(total);
    this.carry = total - whole;
    this.cwnd += whole;
  }
}
