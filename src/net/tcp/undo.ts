// Undoing a congestion response that a spurious retransmission caused (RFC 3708 with D-SACK, RFC 2883 §5; RFC 9438
// §4.9): a recovery episode keeps the congestion control's state from before its reduction and counts what it
// retransmits (where each began); each D-SACK of one of those says that retransmission was not needed (the original
// arrived too; a D-SACK of anything else, a segment the network duplicated, says nothing). When all of them were,
// the network had reordered or delayed, not lost: the old window comes back.

import { seqGe, seqLe } from './seq.ts';
import type { CongestionControl } from './congestion-control.ts';

/** Retransmissions an episode remembers; past this many it cannot be undone (it was no reordering). */
export const MAX_UNDO_RETRANSMISSIONS = 256;

export class SpuriousUndo {
  private restore: (() => void) | undefined;
  /** Where each of the episode's retransmissions began, not yet D-SACKed. */
  private readonly starts = new Set<number>();
  /** The sequence range the episode may have retransmitted: from SND.UNA at its start to its recovery point. */
  private from = 0;
  private to = 0;

  /** An episode begins (before its reduction): the state to come back to, and the range it repairs. */
  begin(cc: CongestionControl, una: number, recoveryPoint: number): void {
    this.restore = cc.snapshot();
    this.starts.clear();
    this.from = una;
    this.to = recoveryPoint;
  }

  /** The episode retransmitted a segment from `seq`. */
  retransmitted(seq: number): void {
    if (this.restore === undefined) return;
    if (this.starts.size >= MAX_UNDO_RETRANSMISSIONS) this.restore = undefined;
    else this.starts.add(seq);
  }

  /** A D-SACK of [left, right): true when it was the last of the episode's retransmissions and the state came back. */
  dsack(left: number, right: number): boolean {
    if (this.restore === undefined || !seqGe(left, this.from) || !seqLe(right, this.to) || !this.starts.delete(left)) return false;
    if (this.starts.size > 0) return false;
    const restore = this.restore;
    this.restore = undefined;
    restore();
    return true;
  }
}
