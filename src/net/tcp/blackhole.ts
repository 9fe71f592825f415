// Path MTU black holes (RFC 4821 §1, RFC 8899 §1.1): a path that drops full-sized segments and sends no ICMP
// "fragmentation needed" (a filter eats it) stalls every transfer at its first full segment. Detected as Linux's
// tcp_mtu_probing does: the same full-sized data timed out twice in a row; the segment size is then stepped down
// (RFC 4821 §7.2's base of 1024 bytes, then 536, RFC 9293 §3.7.1's default), and tried larger again after
// `reprobeMs` (RFC 4821 §7.7: ten minutes), when a black hole that has gone will let full segments through.

/** The MSSs tried after a black hole, largest first. */
export const BLACKHOLE_MSS_STEPS: readonly number[] = [1024, 536];
/** RFC 4821 §7.7: the time before the larger size is tried again. */
export const BLACKHOLE_REPROBE_MS = 600_000;

export class BlackholeDetector {
  private loweredAt: number | undefined;

  constructor(private readonly reprobeMs = BLACKHOLE_REPROBE_MS) {}

  /**
   * A retransmission timeout: `retransmits` in a row without progress, whether what timed out was a full-sized
   * segment, and the MSS in use. The MSS to step down to, or undefined when this is no black hole (yet).
   */
  onTimeout(retransmits: number, fullSized: boolean, mss: number, now: number): number | undefined {
    if (retransmits < 2 || !fullSized) return undefined;
    const next = BLACKHOLE_MSS_STEPS.find((m) => m < mss);
    if (next === undefined) return undefined;
    this.loweredAt = now;
    return next;
  }

  /** True once, when the stepped-down size has held for `reprobeMs`: the larger one is to be tried again. */
  reprobeDue(now: number): boolean {
    if (this.loweredAt === undefined || now - this.loweredAt < this.reprobeMs) return false;
    this.loweredAt = undefined;
    return true;
  }
}
