// What both SACK-based recoveries (RACK, rack-recovery.ts; RFC 6675, sack-recovery.ts) share: the scoreboard of
// what the peer SACKed (RFC 2018, RFC 6675 §3), the pipe standing in for what is in flight during recovery, PRR
// bringing the window to ssthresh (RFC 6937), and the start of the answer to a timeout. Each says for itself
// which holes are lost (`pipe`) and what is resent.

import { RecoveryBase } from './loss-recovery.ts';
import { ProportionalRateReduction } from './prr.ts';
import { seqDiff, seqGe, seqLe, seqLt } from './seq.ts';
import { SeqRanges, type SeqRange } from './seq-ranges.ts';

export abstract class SackRecoveryBase extends RecoveryBase {
  protected readonly sacked = new SeqRanges();
  /** The recovery began with a timeout (RFC 6675 §5.1): slow start, not PRR. */
  protected rtoRecovery = false;
  /** PRR of the fast recovery under way (not after a timeout: that one is slow start). */
  protected prr: ProportionalRateReduction | undefined;
  /** SACKed bytes before the ACK being processed: its DeliveredData counts their change (RFC 6937 §3). */
  protected sackedBefore = 0;

  /** RFC 6675 §4 SetPipe: the bytes deemed in flight, by the implementation's notion of lost. */
  protected abstract pipe(): number;

  /**
   * Folds an ACK's SACK blocks (cumulative ACK `ack`) into the scoreboard, the D-SACK among them apart; each
   * block taken is handed to `took`. True if they told something new.
   */
  protected takeBlocks(blocks: readonly SeqRange[] | undefined, ack: number, took?: (l: number, r: number) => void): boolean {
    this.sackedBefore = this.sacked.total;
    if (blocks === undefined) return false;
    const s = this.snd;
    const before = this.sacked.total;
    const dsack = this.takeDsack(blocks, ack);
    for (const [l, r] of dsack ? blocks.slice(1) : blocks) {
      // RFC 2018 §3: only blocks within what is outstanding make sense.
      if (!seqLt(l, r) || !seqGe(l, s.una) || !seqLe(r, s.max)) continue;
      this.sacked.add(l, r);
      took?.(l, r);
    }
    return this.sacked.total !== before;
  }

  /** RFC 6675 §2: only an ACK that SACKs new data counts, so ACKs the network duplicated start no recovery. */
  isDuplicate(newSack: boolean): boolean {
    return newSack;
  }

  /** Fast recovery begins: PRR from the flight size now (RFC 6937 §3.1). */
  protected startPrr(): void {
    this.prr = new ProportionalRateReduction(seqDiff(this.snd.max, this.snd.una));
  }

  /** RFC 6937 §3.1: on each ACK in fast recovery, cwnd = pipe + sndcnt. */
  protected applyPrr(delivered: number): void {
    const prr = this.prr;
    if (prr === undefined || this.rtoRecovery || this.recover === undefined) return;
    const pipe = this.pipe();
    this.cc.cwnd = pipe + prr.onAck(delivered, pipe, this.cc.ssthresh, this.snd.smss);
  }

  override sent(seq: number, space: number, retransmission: boolean, now: number): void {
    super.sent(seq, space, retransmission, now);
    if (this.recover !== undefined && !this.rtoRecovery) this.prr?.sent(space);
  }

  inFlight(offset: number): number {
    return this.recover !== undefined ? this.pipe() : offset;
  }

  /**
   * The start of the answer to a timeout: the congestion control's (remembering the state before it, for an
   * undo), and the scoreboard cleared (RFC 2018 §8: the receiver may have reneged); then RFC 6675 §5.1:
   * RecoveryPoint = HighData, no new recovery before it is acknowledged.
   */
  protected timedOut(now: number): void {
    const s = this.snd;
    if (!this.rtoRecovery) this.undo.begin(this.cc, s.una, s.max);
    this.cc.onTimeout(seqDiff(s.max, s.una), s.smss, this.rtoRecovery, now);
    this.dupAcks = 0;
    this.sacked.clear();
    this.prr = undefined;
    this.recover = s.max;
    this.rtoRecovery = true;
    this.recoverGuard = undefined;
  }
}
