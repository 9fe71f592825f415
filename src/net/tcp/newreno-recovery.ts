// NewReno loss recovery (RFC 6582), for peers without SACK (or when SACK is not to be used): the first
// unacknowledged segment resent on the third duplicate ACK, the window inflated by each further one, every
// partial acknowledgment resends the next hole; after a timeout, go-back-N from SND.UNA.

import { DUP_THRESH, RecoveryBase, type LossRecovery } from './loss-recovery.ts';
import { seqDiff, seqGe } from './seq.ts';

export class NewRenoRecovery extends RecoveryBase implements LossRecovery {
  readonly name = 'newreno';

  takeSack(): boolean {
    return false;
  }

  /** RFC 5681 §2: without SACK, a duplicate also leaves the window as it was. */
  isDuplicate(_newSack: boolean, windowUnchanged: boolean): boolean {
    return windowUnchanged;
  }

  onDuplicateAck(now: number): void {
    const s = this.snd;
    const recovering = this.recover !== undefined;
    if (this.countDuplicate(() => 0, now)) {
      // RFC 6582 §3.2 (2)/(3): retransmit the first segment, cwnd = ssthresh + 3 SMSS.
      s.transmit(s.una, Math.min(s.segPayload, seqDiff(s.dataEnd, s.una)), now);
      this.cc.cwnd = this.cc.ssthresh + DUP_THRESH * s.smss;
      s.count('tcp.retransmit');
      return;
    }
    if (recovering) this.cc.cwnd += s.smss; // RFC 6582 §3.2 (4): inflate by each dup ACK
  }

  onNewAck(acked: number, now: number): void {
    const s = this.snd;
    if (this.ackOutsideRecovery(acked, now)) return;
    if (this.recover !== undefined && seqGe(s.una, this.recover)) {
      this.leaveRecovery(true); // full acknowledgment (RFC 6582 §3.2 (3))
      return;
    }
    // Partial acknowledgment: the next hole is lost too; retransmit it, deflate the window.
    s.transmit(s.una, Math.min(s.segPayload, seqDiff(s.dataEnd, s.una)), now);
    this.cc.cwnd = Math.max(s.smss, this.cc.cwnd - acked + s.smss);
  }

  /** RFC 6582 §3.2 (4): without SACK, start over from SND.UNA; no fast retransmit until it passes SND.MAX. */
  onTimeout(now: number): void {
    const s = this.snd;
    this.cc.onTimeout(seqDiff(s.max, s.una), s.smss, false, now);
    this.dupAcks = 0;
    this.recover = undefined;
    this.recoverGuard = s.max;
    s.rewind();
  }

  retransmit(): boolean {
    return false;
  }

  inFlight(offset: number): number {
    return offset;
  }
}
