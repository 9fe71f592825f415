// A token bucket: at most `capacity` events back to back, `perSecond` in the long run. Rate limits of ICMP
// errors (RFC 1812 §4.3.2.8, RFC 4443 §2.4 (f)), ARP requests and TCP challenge ACKs (RFC 5961 §7) use one each.

export class TokenBucket {
  private tokens: number;
  private refilledAt: number | undefined;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
  ) {
    this.tokens = capacity;
  }

  /** Takes one token at `now`; false when none is left. */
  take(now: number): boolean {
    if (this.refilledAt !== undefined) this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
