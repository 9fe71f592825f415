// SACK-based loss recovery (RFC 6675, RFC 2018): a scoreboard of what the peer SACKed, holes deemed lost by
// DupThresh segments SACKed above them, the pipe estimate, and retransmission of lost holes as the window
// allows, the window brought down to ssthresh by Proportional Rate Reduction (RFC 6937, prr.ts); after a
// timeout, all that is not SACKed below the recovery point is resent, in order (§5.1).

import type { LossRecovery } from './loss-recovery.ts';
import { SackRecoveryBase } from './sack-base.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqLt } from './seq.ts';
import type { SeqRange } from './seq-ranges.ts';

export class SackRecovery extends SackRecoveryBase implements LossRecovery {
  readonly name = 'sack';
  /** RFC 6675 HighRxt: how far this recovery has retransmitted. */
  private highRxt = 0;
  /**
   * When each chunk this recovery retransmitted (by its first sequence number) left, to see one lost again; made
   * at the first retransmission (most connections never need one).
   */
  private rexmitAt: Map<number, number> | undefined;

  takeSack(blocks: readonly SeqRange[] | undefined, ack: number): boolean {
    return this.takeBlocks(blocks, ack);
  }

  onDuplicateAck(now: number): void {
    const s = this.snd;
    const recovering = this.recover !== undefined;
    if (this.countDuplicate(() => this.sacked.bytesAbove(s.una), now)) {
      // RFC 6675 §5 (4) with RFC 6937: the window comes down to ssthresh in proportion to what is delivered;
      // holes are retransmitted as it allows.
      this.startPrr();
      this.highRxt = s.una;
      this.applyPrr(this.sacked.total - this.sackedBefore);
      s.count('tcp.retransmit');
      return;
    }
    if (!recovering) return;
    this.applyPrr(this.sacked.total - this.sackedBefore);
    this.checkHeadRetransmission(now);
  }

  protected override onUndo(): void {
    this.prr = undefined;
    this.rtoRecovery = false;
    this.rexmitAt?.clear();
  }

  onNewAck(acked: number, now: number): void {
    const s = this.snd;
    this.sacked.trimBelow(s.una);
    if (this.ackOutsideRecovery(acked, now)) return;
    if (this.recover !== undefined && seqGe(s.una, this.recover)) {
      // Full acknowledgment (RFC 6675 §5). After a timeout the window has been growing in slow start all along
      // and stays as it is.
      this.leaveRecovery(!this.rtoRecovery);
      this.rtoRecovery = false;
      this.prr = undefined;
      this.rexmitAt?.clear();
      return;
    }
    this.applyPrr(acked + this.sacked.total - this.sackedBefore);
    if (seqLt(this.highRxt, s.una)) this.highRxt = s.una;
    const sent = this.rexmitAt;
    if (sent !== undefined) for (const q of sent.keys()) if (seqLt(q, s.una)) sent.delete(q);
    // RFC 5681 §3.1 after a timeout: slow start (then congestion avoidance) on every ACK that advances.
    if (this.rtoRecovery) this.cc.onAck(acked, s, now);
  }

  onTimeout(now: number): void {
    this.timedOut(now);
    // All that is not SACKed below the recovery point is retransmitted, once and in order, as the window (slow
    // start from one segment) allows, using the SACK information that arrives from now on; new data behind it.
    this.rexmitAt?.clear();
    this.highRxt = this.snd.una;
  }

  /** RFC 6675 §5 (C): while the pipe leaves room, retransmit the next lost bytes (NextSeg rule 1). */
  retransmit(now: number): boolean {
    if (this.recover === undefined) return false;
    const s = this.snd;
    let sent = false;
    for (let guard = 0; guard < 1000; guard++) {
      if (this.cc.cwnd - this.pipe() < s.smss) break;
      const hole = this.lostHoles().find(([, e]) => seqGt(e, this.highRxt));
      if (hole === undefined) break;
      const start = seqGt(this.highRxt, hole[0]) ? this.highRxt : hole[0];
      // At least the sequence number a FIN alone takes, when the hole is only that.
      const n = Math.max(1, s.transmit(start, Math.min(s.segPayload, seqDiff(hole[1], start)), now));
      this.highRxt = seqAdd(start, n);
      (this.rexmitAt ??= new Map()).set(start, now);
      s.count('tcp.sack_retransmit');
      sent = true;
    }
    return sent;
  }

  /**
   * A retransmission that is lost again would otherwise wait for a timeout (RFC 6675 retransmits a hole
   * once). As RACK does (RFC 8985 §6.2), time tells: when SACKs still arrive for later data a round trip
   * (and a reordering allowance) after the head of the queue was retransmitted, and the cumulative ACK has
   * not moved past it, that retransmission was lost: send it again.
   */
  private checkHeadRetransmission(now: number): void {
    const s = this.snd;
    const at = this.rexmitAt?.get(s.una);
    if (at === undefined) return;
    const srtt = s.srttMs ?? s.rtoMs;
    if (now - at < srtt + Math.max(srtt / 4, 2)) return;
    s.count('tcp.lost_retransmit');
    const head = this.sacked.holes(s.una)[0];
    const end = head !== undefined && head[0] === s.una ? head[1] : (this.recover ?? s.max);
    const want = Math.min(s.segPayload, seqDiff(end, s.una));
    if (want <= 0) return;
    const n = Math.max(1, s.transmit(s.una, want, now));
    (this.rexmitAt ??= new Map()).set(s.una, now);
    if (seqLt(this.highRxt, seqAdd(s.una, n))) this.highRxt = seqAdd(s.una, n);
  }

  /** RFC 6675 §4 SetPipe: outstanding bytes neither SACKed nor lost, plus lost ones retransmitted. */
  protected pipe(): number {
    const s = this.snd;
    const outstanding = seqDiff(s.max, s.una);
    let lost = 0;
    let rexmitted = 0;
    for (const [a, e] of this.lostHoles()) {
      lost += seqDiff(e, a);
      if (seqGt(this.highRxt, a)) rexmitted += seqDiff(seqLt(this.highRxt, e) ? this.highRxt : e, a);
    }
    return Math.max(0, outstanding - this.sacked.total - lost + rexmitted);
  }

  /** Holes below the highest SACKed byte that RFC 6675 §4 IsLost deems lost (DupThresh SMSS SACKed above). */
  private lostHoles(): SeqRange[] {
    const s = this.snd;
    const holes = this.sacked.holes(s.una);
    if (this.rtoRecovery && this.recover !== undefined) {
      // RFC 6675 §5.1: after a timeout all that is not SACKed up to RecoveryPoint is lost, the tail included.
      const top = this.sacked.highest;
      const from = top !== undefined && seqGt(top, s.una) ? top : s.una;
      if (seqLt(from, this.recover)) holes.push([from, this.recover]);
      const point = this.recover;
      return holes.filter(([a]) => seqLt(a, point)).map(([a, e]): SeqRange => [a, seqLt(e, point) ? e : point]);
    }
    // IsLost with the threshold the recovery began with: RFC 5827 early retransmit lowers it for small flights,
    // reordering seen raises it.
    const t = this.dupThresh;
    return holes.filter(([a], i) => (i === 0 && this.dupAcks >= t) || this.sacked.bytesAbove(a) >= t * s.smss);
  }
}
