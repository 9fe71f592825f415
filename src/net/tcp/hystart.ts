// HyStart++ (RFC 9406): leaves the first slow start before it overshoots, from the rise of the round's minimum RTT,
// through Conservative Slow Start (CSS: a quarter of the growth) for a few rounds before congestion avoidance.
// Only the first slow start of a connection (ssthresh still at its initial value, §4.2); after a loss or a
// timeout slow start is the standard one.

import { seqGe } from './seq.ts';

/** RFC 9406 §4.3 constants. */
export const MIN_RTT_THRESH_MS = 4;
export const MAX_RTT_THRESH_MS = 16;
export const MIN_RTT_DIVISOR = 8;
export const N_RTT_SAMPLE = 8;
export const CSS_GROWTH_DIVISOR = 4;
export const CSS_ROUNDS = 5;

export type HyStartPhase = 'slow-start' | 'css' | 'done';

export class HyStart {
  phase: HyStartPhase = 'slow-start';
  private windowEnd: number | undefined;
  private lastRoundMinRtt = Infinity;
  private currentRoundMinRtt = Infinity;
  private rttSampleCount = 0;
  private cssBaselineMinRtt = Infinity;
  private cssRounds = 0;

  /**
   * An ACK in slow start (§4.2): rounds end when SND.UNA passes the SND.NXT of the round's start; `rttMs` is this
   * ACK's RTT sample, if any. Returns the divisor of the slow-start growth now (1, or CSS_GROWTH_DIVISOR in CSS),
   * or 'exit' when slow start is to end here (ssthresh = cwnd).
   */
  onAck(una: number, sndNxt: number, rttMs: number | undefined): number | 'exit' {
    if (this.phase === 'done') return 1;
    if (this.windowEnd === undefined || seqGe(una, this.windowEnd)) {
      // A new round.
      this.lastRoundMinRtt = this.currentRoundMinRtt;
      this.currentRoundMinRtt = Infinity;
      this.rttSampleCount = 0;
      this.windowEnd = sndNxt;
      if (this.phase === 'css' && ++this.cssRounds >= CSS_ROUNDS) {
        this.phase = 'done'; // §4.2: CSS_ROUNDS rounds of CSS: on to congestion avoidance
        return 'exit';
      }
    }
    if (rttMs !== undefined) {
      this.currentRoundMinRtt = Math.min(this.currentRoundMinRtt, rttMs);
      this.rttSampleCount++;
    }
    if (this.phase === 'slow-start') {
      if (this.rttSampleCount >= N_RTT_SAMPLE && Number.isFinite(this.currentRoundMinRtt) && Number.isFinite(this.lastRoundMinRtt)) {
        const thresh = Math.max(MIN_RTT_THRESH_MS, Math.min(this.lastRoundMinRtt / MIN_RTT_DIVISOR, MAX_RTT_THRESH_MS));
        if (this.currentRoundMinRtt >= this.lastRoundMinRtt + thresh) {
          this.cssBaselineMinRtt = this.currentRoundMinRtt;
          this.phase = 'css';
          this.cssRounds = 0;
        }
      }
    } else if (this.rttSampleCount >= N_RTT_SAMPLE && this.currentRoundMinRtt < this.cssBaselineMinRtt) {
      // §4.2: the RTT came down again: the rise was spurious, back to slow start.
      this.cssBaselineMinRtt = Infinity;
      this.phase = 'slow-start';
    }
    return this.phase === 'css' ? CSS_GROWTH_DIVISOR : 1;
  }

  /** A loss or timeout: slow start from now on is the standard one (§4.2). */
  stop(): void {
    this.phase = 'done';
  }
}
