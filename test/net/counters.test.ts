// Counters are a fixed set of names per layer: a misspelt name does not compile (tsc runs before the tests).

import { describe, expect, it } from 'vitest';
import { COUNTER_NAMES, Counters } from '../../src/net/counters.ts';

describe('counters', () => {
  it('count by name, and a name outside the list is a type error', () => {
    const c = new Counters();
    c.inc('tcp.rx_dup_ack');
    c.inc('tcp.rx_dup_ack', 2);
    expect(c.get('tcp.rx_dup_ack')).toBe(3);
    expect(c.get('ip.rx')).toBe(0);
    // @ts-expect-error: a typo is caught by the compiler, not counted under a new name
    c.inc('tcp.rx_dup_akc');
    expect(c.snapshot()).toEqual({ 'tcp.rx_dup_ack': 3, 'tcp.rx_dup_akc': 1 });
  });

  it('lists each name once', () => {
    for (const names of Object.values(COUNTER_NAMES)) expect(new Set(names).size).toBe(names.length);
  });
});
