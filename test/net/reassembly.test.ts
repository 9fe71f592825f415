// The reassembly core both network layers use: every bound at and one past its limit, and the two overlap rules
// (IPv4 keeps an overlap with the same bytes; IPv6 keeps only exact duplicates, RFC 5722 with erratum 3089).

import { describe, expect, it } from 'vitest';
import { FragmentReassembler, type OverlapRule, type ReassemblyEvent, type ReassemblyOptions } from '../../src/net/reassembly.ts';

const OPTIONS: ReassemblyOptions = { maxDatagrams: 4, maxBytes: 64 * 1024, maxFragments: 8, timeoutMs: 60_000 };

function core(rule: OverlapRule, options: Partial<ReassemblyOptions> = {}) {
  const events: ReassemblyEvent[] = [];
  const r = new FragmentReassembler({ ...OPTIONS, ...options }, 65535 - 40, rule, (e) => events.push(e));
  const add = (offset: number, more: boolean, data: number[] | Uint8Array, key = 'a', now = 0): Uint8Array | undefined =>
    r.add({ key, offset, more, data: data instanceof Uint8Array ? data : Uint8Array.from(data) }, now);
  return { r, events, add };
}
const bytes = (n: number, v = 1): number[] => new Array<number>(n).fill(v);

describe('fragment reassembly', () => {
  it('puts fragments together in any order', () => {
    const { add, events } = core('exact-duplicates-only');
    expect(add(16, false, bytes(4, 3))).toBeUndefined();
    expect(add(0, true, bytes(8, 1))).toBeUndefined();
    expect(add(8, true, bytes(8, 2))).toEqual(Uint8Array.from([...bytes(8, 1), ...bytes(8, 2), ...bytes(4, 3)]));
    expect(events).toEqual(['reassembled']);
  });

  it('ignores an exact duplicate under both rules', () => {
    for (const rule of ['identical-ok', 'exact-duplicates-only'] as const) {
      const { add, events, r } = core(rule);
      add(0, true, bytes(8));
      expect(add(0, true, bytes(8))).toBeUndefined();
      expect(events).toEqual(['duplicate']);
      expect(r.inProgress).toBe(1);
    }
  });

  it('IPv6 (RFC 5722): any other overlap discards the whole datagram, later fragments start afresh', () => {
    const { add, events, r } = core('exact-duplicates-only');
    add(0, true, bytes(16));
    expect(add(8, false, bytes(16))).toBeUndefined(); // overlaps 8..16 with the same bytes: still an overlap
    expect(events).toEqual(['overlap']);
    expect(r.inProgress).toBe(0);
  });

  it('IPv4: an overlap with the same bytes is kept, one with other bytes discards the datagram', () => {
    const same = core('identical-ok');
    same.add(0, true, bytes(16));
    expect(same.add(8, false, bytes(16))).toEqual(Uint8Array.from(bytes(24)));
    const other = core('identical-ok');
    other.add(0, true, bytes(16));
    expect(other.add(8, false, bytes(16, 9))).toBeUndefined();
    expect(other.events).toEqual(['overlap']);
  });

  it('bounds fragments per datagram: the one past maxFragments discards it', () => {
    const { add, events, r } = core('exact-duplicates-only');
    for (let i = 0; i < 8; i++) add(8 * i, true, bytes(8));
    expect(r.inProgress).toBe(1);
    expect(add(64, true, bytes(8))).toBeUndefined();
    expect(events).toEqual(['too_many_fragments']);
    expect(r.inProgress).toBe(0);
    expect(r.bytesHeld).toBe(0);
  });

  it('bounds datagrams (oldest evicted), bytes held, the reassembled size, and fragment lengths', () => {
    const d = core('exact-duplicates-only');
    for (const k of ['a', 'b', 'c', 'd', 'e']) d.add(0, true, bytes(8), k);
    expect(d.events).toEqual(['evicted']);
    expect(d.r.inProgress).toBe(4);
    const b = core('exact-duplicates-only', { maxBytes: 32 });
    b.add(0, true, bytes(16), 'a');
    b.add(0, true, bytes(16), 'b');
    b.add(16, true, bytes(8), 'b'); // 40 bytes held: the oldest other datagram goes
    expect(b.events).toEqual(['evicted']);
    expect(b.add(0, true, bytes(40), 'c')).toBeUndefined();
    expect(b.events.at(-1)).toBe('over_limit');
    const big = core('exact-duplicates-only');
    expect(big.add(65535 - 40 - 7, false, bytes(8))).toBeUndefined();
    expect(big.events).toEqual(['too_big']);
    const len = core('exact-duplicates-only');
    len.add(0, true, bytes(7));
    len.add(0, true, []);
    expect(len.events).toEqual(['bad_length', 'bad_length']);
  });

  it('refuses a last fragment that disagrees with what is held', () => {
    const { add, events } = core('exact-duplicates-only');
    add(16, true, bytes(8));
    add(0, false, bytes(8)); // ends at 8, but bytes 16..24 are held
    expect(events).toEqual(['inconsistent']);
  });

  it('gives a datagram up when its time is over, and says when that is', () => {
    const { add, events, r } = core('exact-duplicates-only');
    add(0, true, bytes(8), 'a', 100);
    expect(r.nextDeadline()).toBe(60_100);
    r.poll(60_099);
    expect(r.inProgress).toBe(1);
    r.poll(60_100);
    expect(events).toEqual(['timeout']);
    expect(r.nextDeadline()).toBeUndefined();
  });
});
