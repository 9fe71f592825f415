// MLDv2 state-change reports repeated (RFC 3810 §6.1): each change once at once, then [Robustness Variable] − 1
// times after random waits within the Unsolicited Report Interval; a newer change of a group replaces the older.
// Queries answered after a random delay within their Maximum Response Delay (§6.2).

import { describe, expect, it } from 'vitest';
import { MldReporter } from '../../src/ndp/mld-reporter.ts';
import { CHANGE_TO_EXCLUDE, CHANGE_TO_INCLUDE, MODE_IS_EXCLUDE } from '../../src/ndp/mld-wire.ts';
import { seededRandom } from '../../src/random.ts';

const G1 = 0xff020000000000000000000000000001ff000001n;
const G2 = 0xff020000000000000000000000000001ff000002n;
const NONE: ReadonlySet<bigint> = new Set();
const join = (group: bigint) => ({ type: CHANGE_TO_EXCLUDE, group, sources: [] });
const leave = (group: bigint) => ({ type: CHANGE_TO_INCLUDE, group, sources: [] });

/** Every report `r` sends from `from` to `until`, stepping by its own deadlines. */
function drain(r: MldReporter, from: number, until: number): Array<{ at: number; groups: bigint[] }> {
  const out: Array<{ at: number; groups: bigint[] }> = [];
  for (let now = from, steps = 0; steps < 100; steps++) {
    const at = r.nextDeadline();
    if (at === undefined || at > until) break;
    now = Math.max(now, at);
    const due = r.due(now, NONE);
    if (due.length > 0) out.push({ at: now, groups: due.map((x) => x.group) });
  }
  return out;
}

describe('MLD reporter', () => {
  it('reports a change at once, then once more within (0, 1000] ms with the defaults', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const r = new MldReporter(seededRandom(seed));
      expect(r.change(join(G1), 0).map((x) => x.group)).toEqual([G1]);
      const later = drain(r, 0, 10_000);
      expect(later).toHaveLength(1);
      expect(later[0]?.groups).toEqual([G1]);
      expect(later[0]?.at).toBeGreaterThan(0);
      expect(later[0]?.at).toBeLessThanOrEqual(1000);
      expect(r.nextDeadline()).toBeUndefined();
    }
  });

  it('robustness 3 repeats twice; robustness 1 never', () => {
    const three = new MldReporter(seededRandom(3), { robustness: 3 });
    three.change(join(G1), 0);
    expect(drain(three, 0, 10_000)).toHaveLength(2);
    const one = new MldReporter(seededRandom(3), { robustness: 1 });
    one.change(join(G1), 0);
    expect(one.nextDeadline()).toBeUndefined();
  });

  it('a newer change of a group replaces the pending one; other groups go in the same repetition', () => {
    const r = new MldReporter(seededRandom(9), { unsolicitedReportIntervalMs: 500 });
    r.change(join(G1), 0);
    r.change(join(G2), 1);
    r.change(leave(G1), 2);
    const at = r.nextDeadline() ?? -1;
    const due = r.due(at, NONE);
    expect(due.map((x) => [x.group, x.type])).toEqual([[G2, CHANGE_TO_EXCLUDE], [G1, CHANGE_TO_INCLUDE]]);
    expect(r.due(at + 10_000, NONE)).toEqual([]);
  });

  it(`at maxPending, the oldest pending change is repeated no more`, () => {
    const r = new MldReporter(seededRandom(5), { maxPending: 2 });
    r.change(join(1n), 0);
    r.change(join(2n), 0);
    r.change(join(3n), 0);
    expect(r.due(r.nextDeadline() ?? -1, NONE).map((x) => x.group)).toEqual([2n, 3n]);
  });

  it('answers a General Query after a random delay in [0, Maximum Response Delay), with every joined group', () => {
    const joined = new Set([G1, G2]);
    const delays: number[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const r = new MldReporter(seededRandom(seed));
      r.query(undefined, 10_000, 1000);
      const at = r.nextDeadline() ?? -1;
      expect(at).toBeGreaterThanOrEqual(1000);
      expect(at).toBeLessThan(11_000);
      expect(r.due(at - 1, joined)).toEqual([]);
      expect(r.due(at, joined)).toEqual([{ type: MODE_IS_EXCLUDE, group: G1, sources: [] }, { type: MODE_IS_EXCLUDE, group: G2, sources: [] }]);
      expect(r.nextDeadline()).toBeUndefined();
      delays.push(at - 1000);
    }
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(5000); // spread, not all at once
  });

  it('§6.2 rules: a sooner General answer covers a later query; a Group-Specific answer keeps the sooner delay; only joined groups', () => {
    const r = new MldReporter(seededRandom(2));
    r.query(undefined, 1000, 0);
    const general = r.nextDeadline() ?? -1;
    r.query(G1, 1_000_000, 0); // later than the general answer: covered by it (rule 1)
    expect(r.nextDeadline()).toBe(general);
    expect(r.due(general, new Set([G1])).map((x) => x.group)).toEqual([G1]);
    expect(r.nextDeadline()).toBeUndefined();

    const g = new MldReporter(seededRandom(3));
    g.query(G1, 100_000, 0);
    const first = g.nextDeadline() ?? -1;
    for (let i = 0; i < 20; i++) g.query(G1, 100_000, 0); // rule 4: the sooner of the delays
    expect(g.nextDeadline()).toBeLessThanOrEqual(first);
    g.query(G2, 0, 0);
    expect(g.due(0, new Set([G1])).map((x) => x.group)).toEqual([]); // G2 is not joined (any more): no record
    const at = g.nextDeadline() ?? -1;
    expect(g.due(at, new Set([G1])).map((x) => x.group)).toEqual([G1]);
  });

  it('at most maxPending groups have an answer planned', () => {
    const r = new MldReporter(seededRandom(4), { maxPending: 2 });
    for (let i = 1n; i <= 5n; i++) r.query(i, 0, 0);
    expect(r.due(0, new Set([1n, 2n, 3n, 4n, 5n])).map((x) => x.group)).toEqual([1n, 2n]);
  });
});
