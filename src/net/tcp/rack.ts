// RACK (RFC 8985 §6): loss detection by time, not by counting. Each transmission still outstanding keeps when it
// (last) left; the most recently sent one the peer has since delivered (ACKed or SACKed) sets RACK.xmit_ts, and
// anything sent before it that is still missing a round trip and a reordering window after its own send is
// lost. A lost retransmission is found the same way (it has a send time of its own), and a reordering path only
// widens the window, which D-SACKs adapt (§6.2 step 4). One instance per connection with SACK.

import { seqAdd, seqGe, seqGt, seqLe, seqLt } from './seq.ts';
import type { SeqRange } from './seq-ranges.ts';

/** RFC 8985 §6.2 step 4: the reordering window grows for this many recoveries after a D-SACK, then shrinks back. */
export const REO_WND_PERSIST = 16;
/** Transmissions remembered at most; past it the two oldest merge (a later send time: losses found later). */
export const MAX_RACK_TRANSMISSIONS = 4096;

/** What detectLoss finds most of the time, shared (it runs on every ACK). */
const NOTHING_LOST: LossFound = Object.freeze({ lost: Object.freeze([]), lostAgain: 0, waitMs: undefined });

/** What detectLoss found: ranges newly lost (how many were retransmissions, lost again), and the wait until the next. */
export interface LossFound {
  readonly lost: readonly SeqRange[];
  readonly lostAgain: number;
  readonly waitMs: number | undefined;
}

/**
 * One transmission of [start, end): when it left (and its place in the order of sending, which tells two sent at
 * the same instant apart: RFC 8985's RACK_sent_after breaks such ties by sequence number, wrong for a
 * retransmission), whether it was a retransmission, what became of it.
 */
interface Transmission {
  start: number;
  end: number;
  at: number;
  order: number;
  retransmitted: boolean;
  /** SACKed whole (the cumulative ACK removes the entry). */
  delivered: boolean;
  /** Marked lost and not sent again since. */
  lost: boolean;
}

export class RackState {
  /** Outstanding transmissions in sequence order, disjoint. */
  private log: Transmission[] = [];
  /** RACK.xmit_ts (and its order of sending): the most recently sent of what was delivered. */
  private xmitTs: number | undefined;
  private xmitOrder = 0;
  private sends = 0;
  /** RACK.rtt (of that transmission), RACK.min_RTT, RACK.fack. */
  private rttMs: number | undefined;
  private minRttMs: number | undefined;
  private fack: number | undefined;
  /** §6.2 step 3/4: reordering seen on this connection; the window's multiplier and its persistence. */
  reorderingSeen = false;
  reoWndMult = 1;
  private reoWndPersist = 0;
  private dsackRound: number | undefined;
  /** While an ACK is processed: the highest order and sequence it delivered, and RACK.fack before it. */
  private batchOrder = -1;
  private batchEnd: number | undefined;
  private prevFack: number | undefined;

  constructor(private readonly maxTransmissions = MAX_RACK_TRANSMISSIONS) {}

  get size(): number {
    return this.log.length;
  }

  /** [seq, seq + space) left at `now`, new or again. */
  sent(seq: number, space: number, now: number, retransmission: boolean): void {
    if (space <= 0) return;
    const end = seqAdd(seq, space);
    const last = this.log[this.log.length - 1];
    if (!retransmission && (last === undefined || seqGe(seq, last.end))) {
      this.log.push({ start: seq, end, at: now, order: ++this.sends, retransmitted: false, delivered: false, lost: false });
    } else {
      // Sent again: each transmission it overlaps is split at its edges, and what lies inside has left anew.
      this.splitAt(seq);
      this.splitAt(end);
      let covered = seq;
      const order = ++this.sends;
      for (let i = this.firstEndingAfter(seq); i < this.log.length; i++) {
        const t = this.log[i];
        if (t === undefined || seqGe(t.start, end)) break;
        t.at = now;
        t.order = order;
        t.retransmitted = true;
        t.lost = false;
        t.delivered = false;
        if (seqGt(t.end, covered)) covered = t.end;
      }
      // Beyond what is remembered (a rewind past SND.MAX's log): new entries.
      const tail = this.log[this.log.length - 1];
      if (seqLt(covered, end) && (tail === undefined || seqGe(covered, tail.end))) {
        this.log.push({ start: covered, end, at: now, order, retransmitted: retransmission, delivered: false, lost: false });
      }
    }
    while (this.log.length > this.maxTransmissions) this.mergeOldest();
  }

  /**
   * An ACK: everything below `una` is delivered, and so is every transmission wholly inside one of `sacked` (the
   * SACK blocks this ACK brought). RFC 8985 §6.2 steps 1–3: RACK.rtt and RACK.xmit_ts from the delivered, and
   * reordering noticed.
   */
  onAck(una: number, sacked: readonly SeqRange[], now: number): void {
    // Each ACK folds what it delivered into RACK's state in one pass, without collecting and sorting (this runs
    // for every ACK): step 2 keeps the most recently sent (the highest order), step 3 compares with the highest
    // sequence delivered before this ACK (first transmissions leave in sequence order, so within one ACK none
    // can be reordered against another).
    this.batchOrder = -1;
    this.batchEnd = undefined;
    this.prevFack = this.fack;
    let cut = 0;
    while (cut < this.log.length) {
      const t = this.log[cut];
      if (t === undefined || seqGt(t.end, una)) break;
      if (!t.delivered) this.deliver(t.at, t.order, t.end, t.retransmitted, now);
      cut++;
    }
    if (cut > 0) this.log.splice(0, cut);
    const head = this.log[0];
    if (head !== undefined && seqLt(head.start, una)) {
      // Part of a transmission (a super-segment) acknowledged: that part was delivered, sent when it was.
      if (!head.delivered) this.deliver(head.at, head.order, una, head.retransmitted, now);
      head.start = una;
    }
    for (const [l, r] of sacked) {
      // A block that ends inside a transmission (one segment of a super-segment missing): split at its edges.
      this.splitAt(l);
      this.splitAt(r);
      for (let i = this.firstEndingAfter(l); i < this.log.length; i++) {
        const t = this.log[i];
        if (t === undefined || seqGt(t.end, r)) break;
        if (seqGe(t.start, l) && !t.delivered) {
          t.delivered = true;
          t.lost = false;
          this.deliver(t.at, t.order, t.end, t.retransmitted, now);
        }
      }
    }
    const end = this.batchEnd;
    if (end !== undefined && (this.fack === undefined || seqGt(end, this.fack))) this.fack = end;
  }

  /** One transmission delivered by the ACK being processed (RFC 8985 §6.2 steps 1–3). */
  private deliver(at: number, order: number, end: number, retransmitted: boolean, now: number): void {
    if (this.batchEnd === undefined || seqGt(end, this.batchEnd)) this.batchEnd = end;
    // Step 3: delivered below what was delivered before, and not because it was sent again: reordering.
    if (!retransmitted && this.prevFack !== undefined && seqLt(end, this.prevFack)) this.reorderingSeen = true;
    const rtt = now - at;
    // Step 2: an ACK quicker than any round trip was for the original, not for the retransmission.
    if (retransmitted && this.minRttMs !== undefined && rtt < this.minRttMs) return;
    if (!retransmitted) this.minRttMs = Math.min(this.minRttMs ?? Infinity, rtt);
    if (order < this.batchOrder) return;
    this.batchOrder = order;
    this.rttMs = rtt;
    if (this.xmitTs === undefined || order > this.xmitOrder) {
      this.xmitTs = at;
      this.xmitOrder = order;
    }
  }

  /** §6.2 step 4: a D-SACK widens the window by one more quarter of min_RTT, once per round trip (`nxt`). */
  onDsack(una: number, nxt: number): void {
    if (this.dsackRound !== undefined && seqGe(una, this.dsackRound)) this.dsackRound = undefined;
    if (this.dsackRound !== undefined) return;
    this.dsackRound = nxt;
    this.reoWndMult++;
    this.reoWndPersist = REO_WND_PERSIST;
  }

  /** A recovery ended: after REO_WND_PERSIST of them without a D-SACK the window is back to a quarter min_RTT. */
  recoveryEnded(): void {
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
  }

  /**
   * §6.2 step 4, RACK.reo_wnd: none while nothing was seen reordered and either a recovery is under way or
   * DupThresh segments are SACKed (as fast as RFC 6675 would be), else min_RTT / 4 per multiplier, at most SRTT.
   */
  reorderWindow(inRecovery: boolean, sackedSegments: number, srttMs: number | undefined): number {
    if (!this.reorderingSeen && (inRecovery || sackedSegments >= 3)) return 0;
    const minRtt = this.minRttMs ?? srttMs ?? 0;
    return Math.min((minRtt / 4) * this.reoWndMult, srttMs ?? Infinity);
  }

  /**
   * §6.2 step 5: marks lost what was sent before RACK.xmit_ts and is still missing RACK.rtt + `reoWnd` after
   * its send. Returns the ranges newly lost (and how many of them were retransmissions, lost again), and how long
   * until the next one would be (the reorder timer).
   */
  detectLoss(now: number, reoWnd: number): LossFound {
    const lost: SeqRange[] = [];
    let lostAgain = 0;
    let wait: number | undefined;
    const xmitTs = this.xmitTs;
    const rtt = this.rttMs;
    if (xmitTs === undefined || rtt === undefined) return NOTHING_LOST;
    for (const t of this.log) {
      if (t.delivered || t.lost) continue;
      const before = t.order < this.xmitOrder;
      // First transmissions leave in sequence order: past one sent after RACK.xmit_ts, none sent before it is
      // left but retransmissions, and those were sent later still.
      if (!before) {
        if (!t.retransmitted) break;
        continue;
      }
      const remaining = t.at + rtt + reoWnd - now;
      if (remaining <= 0) {
        t.lost = true;
        if (t.retransmitted) lostAgain++;
        const prev = lost[lost.length - 1];
        if (prev !== undefined && prev[1] === t.start) prev[1] = t.end;
        else lost.push([t.start, t.end]);
      } else {
        wait = Math.max(wait ?? 0, remaining);
      }
    }
    return lost.length === 0 && wait === undefined ? NOTHING_LOST : { lost, lostAgain, waitMs: wait };
  }

  /** After a timeout everything outstanding is to go again (RFC 8985 §6.3 with RFC 6675 §5.1): none delivered. */
  onTimeout(): void {
    for (const t of this.log) {
      t.delivered = false;
      t.lost = true;
    }
  }

  /** A recovery undone: its loss marks were mistaken. */
  forgetLosses(): void {
    for (const t of this.log) t.lost = false;
  }

  /** The index of the first transmission that ends after `seq` (binary search). */
  private firstEndingAfter(seq: number): number {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const t = this.log[mid];
      if (t !== undefined && seqLe(t.end, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Splits the transmission that holds `seq` strictly inside it into two. */
  private splitAt(seq: number): void {
    const i = this.firstEndingAfter(seq);
    const t = this.log[i];
    if (t === undefined || !seqLt(t.start, seq) || !seqLt(seq, t.end)) return;
    this.log.splice(i + 1, 0, { ...t, start: seq });
    t.end = seq;
  }

  /** The bound: the two oldest become one, with the later send time (so never marked lost too early). */
  private mergeOldest(): void {
    const [a, b] = this.log;
    if (a === undefined || b === undefined) return;
    b.start = a.start;
    b.at = Math.max(a.at, b.at);
    b.order = Math.max(a.order, b.order);
    b.retransmitted ||= a.retransmitted;
    b.delivered &&= a.delivered;
    b.lost &&= a.lost;
    this.log.shift();
  }
}
