// TCP keep-alive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6) for one connection: after `idleMs` without hearing from
// the peer, a probe every `intervalMs`; `probes` unanswered ones end the connection.

export type KeepAliveAction = 'none' | 'probe' | 'give-up';

export class KeepAlive {
  private at: number | undefined;
  private sent = 0;
  private lastHeard = 0;

  constructor(
    /** Idle time before the first probe (0: off); a connection may change it. */
    public idleMs: number,
    private readonly intervalMs: number,
    private readonly probes: number,
  ) {}

  get deadline(): number | undefined {
    return this.at;
  }

  /** An acceptable segment arrived. */
  heard(now: number): void {
    this.lastHeard = now;
    this.sent = 0;
  }

  /** Plans the first probe while the connection may be probed (ESTABLISHED, CLOSE_WAIT). */
  arm(allowed: boolean): void {
    if (this.idleMs <= 0 || !allowed) {
      this.at = undefined;
      return;
    }
    if (this.sent === 0) this.at = this.lastHeard + this.idleMs;
  }

  stop(): void {
    this.at = undefined;
  }

  /** What is due at `now`; `inFlight`: data is outstanding (the retransmission timer watches the peer then). */
  fire(now: number, inFlight: boolean): KeepAliveAction {
    if (this.at === undefined || now < this.at) return 'none';
    this.at = undefined;
    if (now - this.lastHeard < this.idleMs || inFlight) return 'none';
    if (this.sent >= this.probes) return 'give-up';
    this.sent++;
    this.at = now + this.intervalMs;
    return 'probe';
  }
}
