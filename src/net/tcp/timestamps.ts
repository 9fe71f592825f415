// TCP timestamps (RFC 7323 §3–§5) for one connection: our clock as the peer sees it, the value to echo
// (TS.Recent) and when it changes (§4.3), PAWS (§5), and Karn's rule for timestamp echoes.

import { seqLe, seqLt } from './seq.ts';

/** RFC 7323 §5.5: a TS.Recent older than 24 days is too old to reject segments by. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

export class TcpTimestamps {
  /** Both ends agreed to use them (RFC 7323 §3.2). */
  enabled = false;
  private tsRecent = 0;
  private tsRecentAt = 0;
  /** Last.ACK.sent of §4.3. */
  private lastAckSent = 0;
  /** Our timestamp clock when we last retransmitted. */
  private lastRexmitTs: number | undefined;

  /** `offset`: a random start for our clock, so that it tells nothing of the host's uptime. */
  constructor(private readonly offset: number) {}

  /** Our timestamp clock at `now`. */
  now(now: number): number {
    return (Math.floor(now) + this.offset) >>> 0;
  }

  /** TS.Recent, the value our segments echo. */
  get recent(): number {
    return this.tsRecent;
  }

  /** TS.Recent taken from a SYN (or its retransmission). */
  fromSyn(value: number, now: number): void {
    this.tsRecent = value;
    this.tsRecentAt = now;
  }

  /** RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent marks an old duplicate (unless TS.Recent is stale). */
  isOld(value: number, now: number): boolean {
    return this.enabled && seqLt(value, this.tsRecent) && now - this.tsRecentAt < PAWS_IDLE_MS;
  }

  /** RFC 7323 §4.3: remember the timestamp of a segment that covers what we last acknowledged. */
  update(segSeq: number, value: number, now: number): void {
    if (this.enabled && seqLe(segSeq, this.lastAckSent)) {
      this.tsRecent = value;
      this.tsRecentAt = now;
    }
  }

  ackSent(ack: number): void {
    this.lastAckSent = ack;
  }

  retransmitted(now: number): void {
    this.lastRexmitTs = this.now(now);
  }

  /**
   * Karn's rule for timestamps: an echo older than our last retransmission may be the original's (a peer answers
   * a duplicate with the timestamp it kept), so it measures nothing.
   */
  measures(echo: number): boolean {
    return this.lastRexmitTs === undefined || !seqLt(echo, this.lastRexmitTs);
  }
}
