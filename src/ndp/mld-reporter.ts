// The MLDv2 state-change reports of one interface (RFC 3810 §6.1): a change of the groups we listen to is reported
// at once and then [Robustness Variable] − 1 times more, each after a random interval in (0, [Unsolicited Report
// Interval]), so that one lost report does not leave a snooping bridge without our solicited-node group. A newer
// change of a group replaces its pending record and starts its count again (§6.1's merging, simplified to one
// record per group: with no sources, the latest filter mode is the whole state). Queries are answered after a
// random delay within their Maximum Response Delay (§6.2), a General Query's answer covering every group. Sans
// I/O: `due` says what to send.

import type { Ipv6Addr } from '../net/addr.ts';
import type { Random } from '../random.ts';
import { MODE_IS_EXCLUDE, type MldRecord } from './mld-wire.ts';

export interface MldReporterOptions {
  /** [Robustness Variable] (§9.1): how many times each change is reported in all. Default 2. */
  robustness: number;
  /** [Unsolicited Report Interval] (§9.11), ms: the bound on the random wait before each repetition. Default 1000. */
  unsolicitedReportIntervalMs: number;
  /** The bound on the groups with a change pending: past it the oldest pending change is reported no more. Default 64. */
  maxPending: number;
}

export const defaultMldReporterOptions: MldReporterOptions = { robustness: 2, unsolicitedReportIntervalMs: 1000, maxPending: 64 };

export class MldReporter {
  private readonly opts: MldReporterOptions;
  /** Per group: its latest change and how many repetitions of it are left. */
  private readonly pending = new Map<Ipv6Addr, { record: MldRecord; left: number }>();
  private nextAt: number | undefined;
  /** §6.2: when the answer to a General Query is due (the interface timer), and to Group-Specific ones. */
  private generalAt: number | undefined;
  private readonly groupAt = new Map<Ipv6Addr, number>();

  constructor(private readonly random: Random, options: Partial<MldReporterOptions> = {}) {
    this.opts = { ...defaultMldReporterOptions, ...options };
  }

  /** A change to report now: returned for the caller to send, and kept for its repetitions. */
  change(record: MldRecord, now: number): MldRecord[] {
    this.pending.delete(record.group);
    const left = Math.max(0, Math.floor(this.opts.robustness) - 1);
    if (left > 0) {
      this.pending.set(record.group, { record, left });
      for (const g of this.pending.keys()) {
        if (this.pending.size <= this.opts.maxPending) break;
        this.pending.delete(g);
      }
      this.nextAt ??= now + this.interval();
    }
    return [record];
  }

  /**
   * A query (§6.2) for `group`, or for all groups (undefined): its answer is planned after a random delay in
   * [0, maxResponseMs). Rule 1: an answer to a General Query due sooner covers it; rule 2: a General Query
   * replaces the one planned; rules 3 and 4: a Group-Specific answer keeps the sooner of the two delays. At most
   * maxPending groups have one planned.
   */
  query(group: Ipv6Addr | undefined, maxResponseMs: number, now: number): void {
    const at = now + Math.floor(this.random() * Math.max(0, maxResponseMs));
    if (this.generalAt !== undefined && this.generalAt <= at) return;
    if (group === undefined) {
      this.generalAt = at;
      return;
    }
    const cur = this.groupAt.get(group);
    if (cur !== undefined ? at < cur : this.groupAt.size < this.opts.maxPending) this.groupAt.set(group, at);
  }

  /** The repetitions and query answers due at `now`, in one report (empty when none is); answers name only `joined` groups. */
  due(now: number, joined: ReadonlySet<Ipv6Addr>): MldRecord[] {
    const out = this.repetitions(now);
    const answered = new Set<Ipv6Addr>();
    if (this.generalAt !== undefined && now >= this.generalAt) {
      this.generalAt = undefined;
      this.groupAt.clear();
      for (const g of joined) answered.add(g);
    }
    for (const [g, at] of this.groupAt) {
      if (now < at) continue;
      this.groupAt.delete(g);
      if (joined.has(g)) answered.add(g);
    }
    for (const g of answered) if (!out.some((r) => r.group === g)) out.push({ type: MODE_IS_EXCLUDE, group: g, sources: [] });
    return out;
  }

  nextDeadline(): number | undefined {
    let d = this.nextAt;
    for (const at of [this.generalAt, ...this.groupAt.values()]) if (at !== undefined && (d === undefined || at < d)) d = at;
    return d;
  }

  /** The state-change repetitions due at `now`. */
  private repetitions(now: number): MldRecord[] {
    if (this.nextAt === undefined || now < this.nextAt) return [];
    const out: MldRecord[] = [];
    for (const [g, p] of this.pending) {
      out.push(p.record);
      p.left -= 1;
      if (p.left <= 0) this.pending.delete(g);
    }
    this.nextAt = this.pending.size > 0 ? now + this.interval() : undefined;
    return out;
  }

  /** A random wait in (0, [Unsolicited Report Interval]]: never 0, so a repetition is never sent with the report. */
  private interval(): number {
    return Math.max(1, Math.ceil(this.random() * this.opts.unsolicitedReportIntervalMs));
  }
}
