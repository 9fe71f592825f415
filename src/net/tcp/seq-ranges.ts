// Sets of sequence-number ranges [start, end), kept sorted and merged: the sender's SACK scoreboard
// (RFC 6675 §3) and the receiver's out-of-order blocks (RFC 2018 §4). All ranges lie within one window,
// so modulo-2^32 comparisons order them.

import { seqDiff, seqGt, seqLt, seqMax } from './seq.ts';

export type SeqRange = [number, number];

export class SeqRanges {
  private ranges: SeqRange[] = [];

  get list(): readonly SeqRange[] {
    return this.ranges;
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  clear(): void {
    this.ranges = [];
  }

  /** Adds [start, end), merging with what it touches or overlaps. */
  add(start: number, end: number): void {
    if (!seqLt(start, end)) return;
    const out: SeqRange[] = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const r of this.ranges) {
      if (seqLt(r[1], s)) {
        out.push(r);
      } else if (seqGt(r[0], e)) {
        if (!placed) {
          out.push([s, e]);
          placed = true;
        }
        out.push(r);
      } else {
        s = seqLt(r[0], s) ? r[0] : s;
        e = seqMax(r[1], e);
      }
    }
    if (!placed) out.push([s, e]);
    this.ranges = out;
  }

  /** Takes [start, end) out of what is covered. */
  remove(start: number, end: number): void {
    if (!seqLt(start, end)) return;
    const out: SeqRange[] = [];
    for (const r of this.ranges) {
      if (!seqGt(r[1], start) || !seqLt(r[0], end)) {
        out.push(r);
        continue;
      }
      if (seqLt(r[0], start)) out.push([r[0], start]);
      if (seqGt(r[1], end)) out.push([end, r[1]]);
    }
    this.ranges = out;
  }

  /** Forgets everything below `seq`. */
  trimBelow(seq: number): void {
    const out: SeqRange[] = [];
    for (const r of this.ranges) {
      if (!seqGt(r[1], seq)) continue;
      out.push(seqLt(r[0], seq) ? [seq, r[1]] : r);
    }
    this.ranges = out;
  }

  /** Bytes covered in all. */
  get total(): number {
    let n = 0;
    for (const [s, e] of this.ranges) n += seqDiff(e, s);
    return n;
  }

  /** Bytes covered at or above `seq`. */
  bytesAbove(seq: number): number {
    let n = 0;
    for (const [s, e] of this.ranges) {
      if (!seqGt(e, seq)) continue;
      n += seqDiff(e, seqLt(s, seq) ? seq : s);
    }
    return n;
  }

  /** The highest covered sequence number + 1, or `undefined`. */
  get highest(): number | undefined {
    return this.ranges[this.ranges.length - 1]?.[1];
  }

  /** The gaps between `from` and the highest range, in order. */
  holes(from: number): SeqRange[] {
    const out: SeqRange[] = [];
    let at = from;
    for (const [s, e] of this.ranges) {
      if (seqGt(s, at)) out.push([at, s]);
      if (seqGt(e, at)) at = e;
    }
    return out;
  }
}
