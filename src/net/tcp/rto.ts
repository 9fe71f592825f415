// The retransmission timer's value (RFC 6298 §2): SRTT and RTTVAR from samples, K = 4, G = 1 ms,
// a configurable floor (RFC 6298 (2.4) says 1 s; fast links want less) and ceiling, exponential backoff.

export interface RtoOptions {
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
}

export class RtoEstimator {
  private srtt: number | undefined;
  private rttvar = 0;
  private current: number;

  constructor(private readonly o: RtoOptions) {
    this.current = o.initialRtoMs; // (2.1)
  }

  get rtoMs(): number {
    return this.current;
  }

  get srttMs(): number | undefined {
    return this.srtt;
  }

  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    if (this.srtt === undefined) {
      // (2.2) first measurement
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      // (2.3) beta = 1/4, alpha = 1/8
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.current = this.clamp(this.srtt + Math.max(1, 4 * this.rttvar));
  }

  /** (5.5) doubles the timer after an expiry. */
  backoff(): void {
    this.current = this.clamp(this.current * 2);
  }

  private clamp(v: number): number {
    return Math.min(this.o.maxRtoMs, Math.max(this.o.minRtoMs, v));
  }
}
