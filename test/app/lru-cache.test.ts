import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/app/lru-cache.ts';

/** A cache of strings that cost their length in bytes. */
function strings(maxBytes: number, maxEntries: number): LruCache<string, string> {
  return new LruCache({ maxBytes, maxEntries, sizeOf: (v: string) => v.length });
}

describe('LruCache', () => {
  it('evicts the least recently set when over maxEntries, and says how many went', () => {
    const c = strings(1000, 3);
    expect(c.set('a', 'x')).toBe(0);
    expect(c.set('b', 'x')).toBe(0);
    expect(c.set('c', 'x')).toBe(0);
    expect(c.set('d', 'x')).toBe(1);
    expect(c.keys()).toEqual(['b', 'c', 'd']);
    expect(c.size).toBe(3);
    expect(c.bytes).toBe(3);
  });

  it('evicts from the oldest until within maxBytes, several at once if need be', () => {
    const c = strings(10, 100);
    c.set('a', 'aaa');
    c.set('b', 'bbb');
    c.set('c', 'ccc');
    expect(c.bytes).toBe(9);
    expect(c.set('d', 'dddddddd')).toBe(3); // 8 bytes leave 2 for the rest, and each costs 3
    expect(c.keys()).toEqual(['d']);
    expect(c.bytes).toBe(8);
  });

  it('holds a value of exactly maxBytes', () => {
    const c = strings(4, 10);
    c.set('a', 'a');
    expect(c.set('b', 'bbbb')).toBe(1);
    expect(c.keys()).toEqual(['b']);
    expect(c.bytes).toBe(4);
  });

  it('counts empty values against maxEntries but not against maxBytes', () => {
    const c = strings(1, 3);
    c.set('full', 'x');
    for (const k of ['e1', 'e2']) expect(c.set(k, '')).toBe(0);
    expect(c.bytes).toBe(1);
    expect(c.set('e3', '')).toBe(1); // a fourth entry: the oldest goes, though it is the only one costing bytes
    expect(c.keys()).toEqual(['e1', 'e2', 'e3']);
    expect(c.bytes).toBe(0);
    for (let i = 0; i < 100; i++) c.set(`more${i}`, '');
    expect(c.size).toBe(3); // empty values cannot pile up without end
    expect(c.bytes).toBe(0);
  });

  it('with maxBytes 0 holds nothing, not even a value that costs no bytes', () => {
    const c = strings(0, 10);
    expect(c.set('a', '')).toBe(0);
    expect(c.set('b', 'b')).toBe(0);
    expect(c.size).toBe(0);
    expect(c.peek('a')).toBeUndefined();
  });

  it('does not hold a value larger than maxBytes, and lets the one held before for that key go', () => {
    const c = strings(4, 10);
    c.set('a', 'aa');
    c.set('k', 'kk');
    expect(c.set('k', 'kkkkk')).toBe(0); // nothing evicted: the large value is simply not held
    expect(c.peek('k')).toBeUndefined();
    expect(c.keys()).toEqual(['a']);
    expect(c.bytes).toBe(2);
  });

  it('setting a key again replaces its value and its cost, and makes it the most recent', () => {
    const c = strings(100, 10);
    c.set('a', 'aaaa');
    c.set('b', 'b');
    c.set('a', 'a');
    expect(c.keys()).toEqual(['b', 'a']);
    expect(c.bytes).toBe(2);
    expect(c.peek('a')).toBe('a');
  });

  it('touch makes a key the most recently used; peek leaves the order alone', () => {
    const c = strings(100, 3);
    c.set('a', 'a');
    c.set('b', 'b');
    c.set('c', 'c');
    expect(c.peek('a')).toBe('a');
    expect(c.keys()).toEqual(['a', 'b', 'c']);
    c.touch('a');
    expect(c.keys()).toEqual(['b', 'c', 'a']);
    c.touch('absent'); // nothing to move, nothing added
    expect(c.keys()).toEqual(['b', 'c', 'a']);
    c.set('d', 'd');
    expect(c.keys()).toEqual(['c', 'a', 'd']); // 'b' was now the least recently used
  });

  it('delete and clear give their bytes back', () => {
    const c = strings(100, 10);
    c.set('a', 'aaa');
    c.set('b', 'bb');
    c.delete('a');
    c.delete('absent');
    expect(c.keys()).toEqual(['b']);
    expect(c.bytes).toBe(2);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.bytes).toBe(0);
    expect(c.peek('b')).toBeUndefined();
  });

  it('refuses bounds that are not integers in range', () => {
    const sizeOf = (v: string): number => v.length;
    expect(() => new LruCache({ maxBytes: -1, maxEntries: 1, sizeOf })).toThrow(RangeError);
    expect(() => new LruCache({ maxBytes: 1.5, maxEntries: 1, sizeOf })).toThrow(RangeError);
    expect(() => new LruCache({ maxBytes: 1, maxEntries: 0, sizeOf })).toThrow(RangeError);
    expect(() => new LruCache({ maxBytes: 1, maxEntries: Number.POSITIVE_INFINITY, sizeOf })).toThrow(RangeError);
    expect(new LruCache({ maxBytes: 0, maxEntries: 1, sizeOf }).maxBytes).toBe(0);
  });

  it('agrees with a plain model under any sequence of operations, and never exceeds either bound', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 7 }), len: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant('touch' as const), key: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 7 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (maxBytes, maxEntries, ops) => {
        const c = strings(maxBytes, maxEntries);
        const model: [string, string][] = []; // oldest first
        const remove = (k: string): void => {
          const i = model.findIndex(([mk]) => mk === k);
          if (i >= 0) model.splice(i, 1);
        };
        const bytes = (): number => model.reduce((n, [, v]) => n + v.length, 0);
        for (const o of ops) {
          const key = `k${o.key}`;
          if (o.kind === 'set') {
            const value = 'v'.repeat(o.len);
            remove(key);
            let evicted = 0;
            if (maxBytes > 0 && value.length <= maxBytes) {
              model.push([key, value]);
              while (bytes() > maxBytes || model.length > maxEntries) {
                model.shift();
                evicted++;
              }
            }
            expect(c.set(key, value)).toBe(evicted);
          } else if (o.kind === 'touch') {
            const i = model.findIndex(([mk]) => mk === key);
            if (i >= 0) model.push(...model.splice(i, 1));
            c.touch(key);
          } else {
            remove(key);
            c.delete(key);
          }
          expect(c.keys()).toEqual(model.map(([k]) => k));
          expect(c.bytes).toBe(bytes());
          expect(c.bytes).toBeLessThanOrEqual(maxBytes);
          expect(c.size).toBeLessThanOrEqual(maxEntries);
        }
      }),
      { seed: 20261204, numRuns: 300 },
    );
  });
});
