// The TCP buffers' ring: growth within the budget, memory given back on emptying, and the bounded pool
// of small buffers that spares a keep-alive request its allocations without ever showing old bytes.

import { describe, expect, it } from 'vitest';
import { ByteRing, MAX_POOLED, pooledBuffers } from '../../../src/net/tcp/byte-ring.ts';
import { MemoryBudget } from '../../../src/net/tcp/memory-budget.ts';

const bytes = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

describe('ByteRing', () => {
  it('gives a small ring back to the pool on emptying and takes it again, never showing the old bytes', () => {
    const a = new ByteRing(64 * 1024);
    a.push(bytes(300, 0xaa));
    expect(a.capacity).toBe(4096);
    const before = pooledBuffers();
    a.consume(300);
    expect(a.capacity).toBe(0);
    expect(pooledBuffers()).toBe(Math.min(MAX_POOLED, before + 1));
    const b = new ByteRing(64 * 1024);
    b.push(bytes(10, 0x55));
    expect(pooledBuffers()).toBe(Math.min(MAX_POOLED, before + 1) - 1);
    // Only what b was given is there, though its memory held a's bytes.
    expect(b.peek(0, 4096)).toEqual(bytes(10, 0x55));
    expect(b.take(100)).toEqual(bytes(10, 0x55));
  });

  it('keeps at most MAX_POOLED buffers however many rings empty at once', () => {
    const rings = Array.from({ length: MAX_POOLED + 50 }, () => new ByteRing(64 * 1024));
    for (const r of rings) r.push(bytes(100, 1));
    for (const r of rings) r.consume(100);
    expect(pooledBuffers()).toBe(MAX_POOLED);
  });

  it('charges the budget for pooled buffers as for new ones, and releases on emptying', () => {
    const budget = new MemoryBudget(8192);
    const r = new ByteRing(64 * 1024, budget);
    r.push(bytes(100, 1));
    expect(budget.available).toBe(8192 - 4096);
    r.consume(100);
    expect(budget.available).toBe(8192);
  });

  it('grows past the initial size and keeps a well-used large ring across empties', () => {
    const r = new ByteRing(1 << 20);
    r.push(bytes(100_000, 7));
    expect(r.capacity).toBe(131072);
    r.consume(100_000);
    expect(r.capacity).toBe(131072); // peak was over a quarter of it: kept for the next burst
    r.push(bytes(1000, 8));
    r.consume(1000);
    expect(r.capacity).toBe(0); // this time it was little used: given back
  });
});
