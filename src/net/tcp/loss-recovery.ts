// Loss recovery behind one interface: which acknowledgments are duplicates, when they mean a loss (RFC 5681
// §3.2 fast retransmit, RFC 5827 early retransmit), what is resent during recovery and after a timeout, and what
// counts as in flight meanwhile. Two implementations: RFC 6582 NewReno (newreno-recovery.ts) and RFC 6675
// SACK-based recovery (sack-recovery.ts). Both act through `RecoverySender` and set the window of the
// congestion control they are given while they run.

import type { LayerCounter } from '../counters.ts';
import type { CongestionControl, PathView } from './congestion-control.ts';
import { seqDiff, seqLe } from './seq.ts';
import type { SeqRange } from './seq-ranges.ts';
import { SpuriousUndo } from './undo.ts';

export type LossRecoveryName = 'newreno' | 'sack' | 'rack';

/** RFC 5681 §3.2. */
export const DUP_THRESH = 3;
/** The most the duplicate threshold grows to on a path that reorders (as Linux's tcp_max_reordering, lower). */
export const MAX_REORDERING = 16;

/** What recovery needs of the sender's sequence space (and what the congestion control reads of it, PathView). */
export interface RecoverySender extends PathView {
  /** Where the data (and a FIN) end. */
  readonly dataEnd: number;
  /** What a segment sent now may carry (SMSS less room for SACK blocks). */
  readonly segPayload: number;
  readonly rtoMs: number;
  /** Sends `len` bytes from `seq` again (with the FIN if they end the data); the sequence space sent. */
  transmit(seq: number, len: number, now: number): number;
  /** Go-back-N: SND.NXT back to SND.UNA. */
  rewind(): void;
  /** No RTT sample from the segment being timed (its ACK may be for a retransmission). */
  forgetRttSample(): void;
  count(name: LayerCounter<'tcp'>): void;
}

export interface LossRecovery {
  readonly name: LossRecoveryName;
  /** Fast recovery (or recovery after a timeout) in progress. */
  readonly inRecovery: boolean;
  /** No TSO super-segments now: recovery, or duplicate ACKs that may start one. */
  readonly holdsTso: boolean;
  /**
   * Folds the SACK blocks of an ACK (cumulative acknowledgment `ack`) into the scoreboard; true if they told
   * something new (false without SACK).
   */
  takeSack(blocks: readonly SeqRange[] | undefined, ack: number): boolean;
  /** Whether an ACK that does not move SND.UNA is a duplicate (RFC 5681 §2, RFC 6675 §2), given `newSack`. */
  isDuplicate(newSack: boolean, windowUnchanged: boolean): boolean;
  /** SND.UNA moved by `acked` bytes (already consumed by the sender). */
  onNewAck(acked: number, now: number): void;
  onDuplicateAck(now: number): void;
  /** The retransmission timer expired: answer it (the congestion control included) and plan the resending. */
  onTimeout(now: number): void;
  /** Resends what recovery allows now; true if it sent anything. */
  retransmit(now: number): boolean;
  /** Bytes that count as in flight for new data, given the outstanding `offset` (SND.NXT − SND.UNA). */
  inFlight(offset: number): number;
  /** RFC 3042 Limited Transmit: bytes of new data the first duplicate ACKs let out beyond cwnd. */
  limitedTransmit(): number;
  /**
   * `space` of sequence space (data, and the FIN) from `seq` went out at `now` (new, or again: `retransmission`):
   * what PRR, the undo and RACK count.
   */
  sent(seq: number, space: number, retransmission: boolean, now: number): void;
  /** A congestion signal without a loss (ECE): the window reduced as for one, once, nothing resent. */
  congestionSignal(now: number): void;
  /** A timer of the recovery's own (RACK's reordering timer), and what it does when due. */
  readonly deadline: number | undefined;
  onTimer(now: number): void;
}

/** What both implementations share: the duplicate ACK count, the recovery point and fast-retransmit entry. */
export abstract class RecoveryBase {
  protected dupAcks = 0;
  /** The duplicate threshold for this path: DupThresh, raised each time D-SACKs showed reordering. */
  protected reordering = DUP_THRESH;
  /** Puts back a congestion response that D-SACKs show spurious (undo.ts). */
  protected readonly undo = new SpuriousUndo();
  /** The duplicate threshold the recovery under way began with (RFC 5827 lowers it for small flights). */
  protected dupThresh = DUP_THRESH;
  /** Set while in recovery: the highest sequence number sent when it began (RFC 6582 "recover"). */
  protected recover: number | undefined;
  /** After a timeout, fast retransmit waits until SND.UNA passes this point (RFC 6582 §3.2 (4)). */
  protected recoverGuard: number | undefined;

  constructor(
    protected readonly snd: RecoverySender,
    protected readonly cc: CongestionControl,
  ) {}

  get inRecovery(): boolean {
    return this.recover !== undefined;
  }

  get holdsTso(): boolean {
    return this.recover !== undefined || this.dupAcks > 0;
  }

  /** An ACK that moved SND.UNA: outside recovery the window grows and this is all (true); inside, false. */
  protected ackOutsideRecovery(acked: number, now: number): boolean {
    if (this.recover !== undefined) return false;
    this.dupAcks = 0;
    this.cc.onAck(acked, this.snd, now);
    return true;
  }

  /** The ACK covers the recovery point: recovery ends, with `deflate` the window set to what is in flight. */
  protected leaveRecovery(deflate: boolean): void {
    const s = this.snd;
    // RFC 6582 §3.2 (3), RFC 6675 §5: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    if (deflate) this.cc.cwnd = Math.min(this.cc.ssthresh, Math.max(seqDiff(s.max, s.una), s.smss) + s.smss);
    this.recover = undefined;
    this.dupAcks = 0;
  }

  limitedTransmit(): number {
    return this.recover === undefined && this.dupAcks < DUP_THRESH ? this.dupAcks * this.snd.smss : 0;
  }

  sent(seq: number, _space: number, retransmission: boolean, _now: number): void {
    if (retransmission) this.undo.retransmitted(seq);
  }

  /** RFC 3168 §6.1.2: not again while a recovery is answering already. */
  congestionSignal(now: number): void {
    if (this.recover !== undefined) return;
    const s = this.snd;
    s.count('tcp.ecn_reduction');
    this.cc.onCongestion(seqDiff(s.max, s.una), s.smss, now);
    this.cc.cwnd = Math.max(s.smss, Math.min(this.cc.cwnd, this.cc.ssthresh));
  }

  get deadline(): number | undefined {
    return undefined;
  }

  onTimer(_now: number): void {}

  /**
   * RFC 2883 §4: the first SACK block is a D-SACK when it lies below the same ACK's cumulative acknowledgment
   * `ack` (not SND.UNA before it: the ACK that moves SND.UNA may report a duplicate of what it acknowledges) or
   * inside the second block. Each one
   * may show a retransmission of the episode needless; when all were, its congestion response is undone and a
   * recovery still under way ends (the data was not lost). True for a D-SACK (not to be used as a SACK block).
   */
  protected takeDsack(blocks: readonly SeqRange[], ack: number): boolean {
    const [first, second] = blocks;
    if (first === undefined) return false;
    const [l, r] = first;
    const isDsack = seqLe(r, ack) || (second !== undefined && seqLe(second[0], l) && seqLe(r, second[1]));
    if (!isDsack) return false;
    this.snd.count('tcp.rx_dsack');
    this.onDsack();
    if (this.undo.dsack(l, r)) {
      this.snd.count('tcp.spurious_undo');
      // The path reorders: wait for more duplicates before the next fast retransmit (RFC 4653's idea, as Linux).
      this.reordering = Math.min(MAX_REORDERING, this.reordering + 1);
      this.recover = undefined;
      this.dupAcks = 0;
      this.onUndo();
    }
    return true;
  }

  /** What an implementation drops when a recovery is undone. */
  protected onUndo(): void {}

  /** What an implementation learns from any D-SACK. */
  protected onDsack(): void {}

  /**
   * Counts a duplicate ACK and says whether a loss is now to be repaired: DupThresh duplicates, or fewer per
   * RFC 5827 Early Retransmit when fewer can ever come, or as many segments' worth SACKed past SND.UNA (RFC 6675).
   * When it is, ssthresh is lowered and the recovery point set; the caller then retransmits its own way.
   */
  protected countDuplicate(sackedAbove: () => number, now: number): boolean {
    const s = this.snd;
    this.dupAcks++;
    s.count('tcp.rx_dup_ack');
    if (this.recover !== undefined) return false;
    // RFC 5827 Early Retransmit: with fewer than four segments outstanding and nothing new to send,
    // fewer duplicate ACKs can ever come; lower the threshold to what can.
    const flightSegs = Math.ceil(seqDiff(s.max, s.una) / s.smss);
    const nothingNew = seqDiff(s.dataEnd, s.max) <= 0;
    const thresh = nothingNew && flightSegs < 4 ? Math.max(1, flightSegs - 1) : this.reordering;
    const lost = this.dupAcks >= thresh || sackedAbove() >= thresh * s.smss;
    // RFC 6582 §3.2 (1)/(2): no new recovery until what was outstanding at the last RTO is acknowledged.
    if (!lost || (this.recoverGuard !== undefined && seqLe(s.una, this.recoverGuard))) return false;
    this.dupThresh = thresh;
    this.enterRecovery(now);
    return true;
  }

  /** A loss found: fast recovery begins, with one congestion response (which D-SACKs may later undo). */
  protected enterRecovery(now: number): void {
    const s = this.snd;
    s.count('tcp.fast_retransmit');
    this.undo.begin(this.cc, s.una, s.max);
    this.cc.onCongestion(seqDiff(s.max, s.una), s.smss, now);
    this.recover = s.max;
    this.recoverGuard = undefined;
    s.forgetRttSample();
  }
}
