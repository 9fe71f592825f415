// SACK loss recovery with RACK loss detection (RFC 8985 §6, rack.ts): what is lost is told by time (sent before
// something since delivered, and missing a round trip and a reordering window after its send), not by DupThresh
// SACKed segments above it; so a lost retransmission is found like any other loss, a reordering path widens the
// window instead of causing retransmissions, and a single SACKed segment suffices after a short wait (the
// reordering timer). The rest is RFC 6675's: the scoreboard, the pipe, the lost ranges resent as the window
// allows, PRR (RFC 6937) bringing the window to ssthresh, and after a timeout all not SACKed resent in order.
// DupThresh counting is left to peers without SACK (newreno-recovery.ts).

import type { LossRecovery } from './loss-recovery.ts';
import { RackState } from './rack.ts';
import { SackRecoveryBase } from './sack-base.ts';
import { seqAdd, seqDiff, seqGe, seqLe, seqLt } from './seq.ts';
import { SeqRanges, type SeqRange } from './seq-ranges.ts';

export class RackRecovery extends SackRecoveryBase implements LossRecovery {
  readonly name = 'rack';
  /** Marked lost and not sent again since (never what is SACKed). */
  private readonly lost = new SeqRanges();
  private readonly rack = new RackState();
  /** The new SACK blocks of the ACK being processed (what RACK learns from). */
  private readonly blocks: SeqRange[] = [];
  private dsackSeen = false;
  /** RACK's reordering timer (RFC 8985 §6.2 step 5): when a transmission now within its window would be lost. */
  private reorderAt: number | undefined;

  takeSack(blocks: readonly SeqRange[] | undefined, ack: number): boolean {
    this.blocks.length = 0;
    return this.takeBlocks(blocks, ack, (l, r) => {
      this.lost.remove(l, r);
      this.blocks.push([l, r]);
    });
  }

  onDuplicateAck(now: number): void {
    this.dupAcks++;
    this.snd.count('tcp.rx_dup_ack');
    this.afterAck(0, now);
  }

  onNewAck(acked: number, now: number): void {
    const s = this.snd;
    this.sacked.trimBelow(s.una);
    this.lost.trimBelow(s.una);
    if (this.recover !== undefined && seqGe(s.una, this.recover)) {
      // Full acknowledgment (RFC 6675 §5). After a timeout the window has been growing in slow start all along.
      this.leaveRecovery(!this.rtoRecovery);
      this.rtoRecovery = false;
      this.prr = undefined;
      this.rack.recoveryEnded();
    } else if (this.recover === undefined) {
      this.dupAcks = 0;
      this.cc.onAck(acked, s, now);
    } else if (this.rtoRecovery) {
      this.cc.onAck(acked, s, now); // RFC 5681 §3.1: slow start after a timeout
    }
    this.afterAck(acked, now);
  }

  private afterAck(acked: number, now: number): void {
    const s = this.snd;
    this.rack.onAck(s.una, this.blocks, now);
    this.blocks.length = 0;
    if (this.dsackSeen) {
      this.rack.onDsack(s.una, s.max);
      this.dsackSeen = false;
    }
    this.detect(now);
    this.applyPrr(acked + this.sacked.total - this.sackedBefore);
  }

  /** RFC 8985 §6.2 step 5 and what follows: newly lost ranges marked, recovery begun when it was not. */
  private detect(now: number): void {
    const s = this.snd;
    const inRecovery = this.recover !== undefined;
    const window = this.rack.reorderWindow(inRecovery, Math.floor(this.sacked.total / s.smss), s.srttMs);
    const { lost, lostAgain, waitMs } = this.rack.detectLoss(now, window);
    for (const [l, r] of lost) this.markLost(l, r);
    this.reorderAt = waitMs === undefined ? undefined : now + waitMs;
    if (lost.length > 0) s.count('tcp.rack_lost');
    for (let i = 0; i < lostAgain; i++) s.count('tcp.rack_lost_retransmit');
    if (this.lost.isEmpty || inRecovery) return;
    this.enterRecovery(now);
    this.startPrr();
    s.count('tcp.retransmit');
  }

  /** [l, r) is lost: all of it that is not SACKed, within what is outstanding. */
  private markLost(l: number, r: number): void {
    const s = this.snd;
    const from = seqLt(l, s.una) ? s.una : l;
    if (!seqLt(from, r)) return;
    this.lost.add(from, r);
    for (const [a, e] of this.sacked.list) {
      if (seqLe(e, from)) continue;
      if (seqGe(a, r)) break;
      this.lost.remove(a, e);
    }
  }

  override get deadline(): number | undefined {
    return this.reorderAt;
  }

  /** The reordering timer: what was within its window then may be lost now. */
  override onTimer(now: number): void {
    if (this.reorderAt === undefined || now < this.reorderAt) return;
    this.reorderAt = undefined;
    this.detect(now);
    this.applyPrr(0);
  }

  override sent(seq: number, space: number, retransmission: boolean, now: number): void {
    super.sent(seq, space, retransmission, now);
    this.rack.sent(seq, space, now, retransmission);
  }

  protected override onDsack(): void {
    this.dsackSeen = true;
  }

  protected override onUndo(): void {
    this.prr = undefined;
    this.rtoRecovery = false;
    this.lost.clear();
    this.rack.forgetLosses();
  }

  onTimeout(now: number): void {
    this.timedOut(now);
    this.reorderAt = undefined;
    // RFC 6675 §5.1 (RFC 8985 §6.3): all that is outstanding is lost, resent in order as slow start allows.
    this.lost.clear();
    this.lost.add(this.snd.una, this.snd.max);
    this.rack.onTimeout();
  }

  /** RFC 6675 §5 (C), NextSeg rule 1 with RACK's marks: while the pipe leaves room, the lowest lost bytes again. */
  retransmit(now: number): boolean {
    if (this.recover === undefined) return false;
    const s = this.snd;
    let sent = false;
    for (let guard = 0; guard < 1000; guard++) {
      if (this.cc.cwnd - this.pipe() < s.smss) break;
      const hole = this.lost.list[0];
      if (hole === undefined) break;
      const [start, end] = hole;
      // At least the sequence number a FIN alone takes, when the hole is only that.
      const n = Math.max(1, s.transmit(start, Math.min(s.segPayload, seqDiff(end, start)), now));
      const sentEnd = seqAdd(start, n);
      this.lost.remove(start, seqLt(end, sentEnd) ? end : sentEnd);
      s.count('tcp.sack_retransmit');
      sent = true;
    }
    return sent;
  }

  /** Outstanding bytes neither SACKed nor lost-and-not-resent (RFC 6675 §4 SetPipe with RACK's marks). */
  protected pipe(): number {
    const s = this.snd;
    return Math.max(0, seqDiff(s.max, s.una) - this.sacked.total - this.lost.total);
  }
}
