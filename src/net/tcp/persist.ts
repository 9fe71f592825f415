// The persist timer (RFC 9293 §3.8.6.1): while the peer's window is shut and we have data, probe it with backoff;
// a window kept shut longer than a bound ends the connection (the peer is holding our memory hostage).

export type ProbeAction = 'none' | 'probe' | 'give-up';

export class PersistTimer {
  private at: number | undefined;
  private backoff = 0;
  /** Since when the window has been shut with data waiting. */
  private since: number | undefined;

  get deadline(): number | undefined {
    return this.at;
  }

  /** The window is shut, data waits and nothing is in flight: the first probe after one RTO (if not planned yet). */
  start(now: number, rtoMs: number): void {
    if (this.at !== undefined) return;
    this.backoff = 0;
    this.at = now + rtoMs;
    this.since ??= now;
  }

  /** Something was sent: no probe is planned until the window is found shut again. */
  stop(): void {
    this.at = undefined;
  }

  /** The window opened. */
  opened(): void {
    this.at = undefined;
    this.since = undefined;
  }

  /**
   * What is due at `now`: a probe (the next one planned with backoff, never past the bound), giving up, or nothing
   * (`shut` false: the window opened or there is nothing to send, so the timer is not needed).
   */
  fire(now: number, shut: boolean, rtoMs: number, maxRtoMs: number, timeoutMs: number): ProbeAction {
    if (this.at === undefined || now < this.at) return 'none';
    this.at = undefined;
    if (!shut) {
      this.since = undefined;
      return 'none';
    }
    if (this.since !== undefined && now - this.since >= timeoutMs) return 'give-up';
    this.backoff++;
    const next = now + Math.min(maxRtoMs, rtoMs * 2 ** this.backoff);
    this.at = Math.min(next, (this.since ?? now) + timeoutMs);
    return 'probe';
  }
}
