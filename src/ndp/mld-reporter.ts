// The MLDv2 state-change reports of one interface (RFC 3810 §6.1): a change of the groups we listen to is reported
// at once and then [Robustness Variable] − 1 times more, each after a random interval in (0, [Unsolicited Report
// Interval]), so that one lost report does not leave a snooping bridge without our solicited-node group. A newer
// change of a group replaces its pending record and starts its count again (§6.1's merging, simplified to one
// record per group: with no sources, the latest filter mode is the whole state). Sans I/O: `due` says what to send.

import type { Ipv6Addr } from '../net/addr.ts';
import type { Random } from '../random.ts';
import type { MldRecord } from './mld-wire.ts';

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

  /** The repetitions due at `now`, in one report (empty when none is). */
  due(now: number): MldRecord[] {
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

  nextDeadline(): number | undefined {
    return this.nextAt;
  }

  /** A random wait in (0, [Unsolicited Report Interval]]: never 0, so a repetition is never sent with the report. */
  private interval(): number {
    return Math.max(1, Math.ceil(this.random() * this.opts.unsolicitedReportIntervalMs));
  }
}
