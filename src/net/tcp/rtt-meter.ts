// RTT measurement of the sender (RFC 6298 §3, RFC 7323 §4.1): from echoed timestamps on every ACK that advances
// SND.UNA, or without them by timing one new segment at a time (Karn's rule: never a retransmitted one); each
// sample feeds the RTO estimator and is kept as the latest for the congestion control.

import { RtoEstimator, type RtoOptions } from './rto.ts';
import { seqDiff, seqGt } from './seq.ts';
import type { TcpTimestamps } from './timestamps.ts';
import type { TcpSegment } from './tcp-wire.ts';

export class RttMeter {
  readonly rto: RtoEstimator;
  /** The segment being timed without timestamps (its first sequence number), and when it left. */
  private timedSeq: number | undefined;
  private timedAt = 0;
  /** The sample of the ACK being processed (undefined: it gave none). */
  private latest: number | undefined;

  constructor(options: RtoOptions, private readonly ts: TcpTimestamps) {
    this.rto = new RtoEstimator(options);
  }

  get latestMs(): number | undefined {
    return this.latest;
  }

  /** Times the segment starting at `seq`, sent now, unless one is being timed already (or `force`: our SYN). */
  time(seq: number, now: number, force = false): void {
    if (!force && this.timedSeq !== undefined) return;
    this.timedSeq = seq;
    this.timedAt = now;
  }

  /** No sample from the segment being timed (its ACK may be for a retransmission, Karn). */
  forget(): void {
    this.timedSeq = undefined;
  }

  /** The samples an ACK (`seg`) that advanced SND.UNA gives. */
  onAck(seg: TcpSegment, now: number): void {
    this.latest = undefined;
    const ts = seg.options.timestamp;
    if (this.ts.enabled && ts !== undefined && ts.echo !== 0) {
      // RFC 7323 §4.1 RTTM: the echoed timestamp measures every ACK that advances SND.UNA.
      if (this.ts.measures(ts.echo)) this.sample(seqDiff(this.ts.now(now), ts.echo));
      this.timedSeq = undefined;
      return;
    }
    if (this.timedSeq !== undefined && seqGt(seg.ack, this.timedSeq)) {
      this.sample(now - this.timedAt);
      this.timedSeq = undefined;
    }
  }

  private sample(ms: number): void {
    this.latest = ms;
    this.rto.sample(ms);
  }
}
