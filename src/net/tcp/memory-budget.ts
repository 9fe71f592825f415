// One budget for the bytes every connection's buffers may hold at once (a bound in total, besides the
// per-connection buffer sizes). Buffers grow only while the budget allows.

export class MemoryBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  get available(): number {
    return Math.max(0, this.limit - this.used);
  }

  tryReserve(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}
