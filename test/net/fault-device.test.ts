import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../src/clock.ts';
import { Counters } from '../../src/net/counters.ts';
import { FaultyDevice, parseFaultSpec, type FaultSpec } from '../../src/net/fault-device.ts';
import { createMemoryLink } from '../../src/net/memory-link.ts';

function run(spec: FaultSpec, n = 2000) {
  const timers = new ManualTimers();
  const counters = new Counters();
  const [a, b] = createMemoryLink(timers, 1, 2);
  const faulty = new FaultyDevice(a, spec, timers, counters);
  const got: number[] = [];
  const corrupt: number[] = [];
  b.onFrame((f) => {
    const id = (f[14] ?? 0) * 256 + (f[15] ?? 0);
    got.push(id);
    if (f.subarray(16).some((x) => x !== 0xaa)) corrupt.push(id);
  });
  for (let i = 0; i < n; i++) {
    const f = new Uint8Array(64).fill(0xaa);
    f[14] = i >> 8;
    f[15] = i & 0xff;
    faulty.send(f);
    timers.advance(0.1); // ten frames a millisecond: a reordered frame (held 1 ms) lands among later ones
  }
  timers.advance(100);
  return { got, corrupt, counters };
}

describe('fault injector', () => {
  it('parses the --fault syntax and refuses nonsense', () => {
    expect(parseFaultSpec('drop=0.05,dup=0.01,reorder=0.05,corrupt=0.01,delay=2ms,seed=7')).toEqual({ drop: 0.05, dup: 0.01, reorder: 0.05, corrupt: 0.01, delayMs: 2, seed: 7 });
    for (const bad of ['drop=2', 'loss=0.1', 'delay=3', 'seed=1.5', 'drop', '']) expect(typeof parseFaultSpec(bad)).toBe('string');
  });

  it('is deterministic for a seed', () => {
    const spec: FaultSpec = { drop: 0.1, dup: 0.05, reorder: 0.1, corrupt: 0.05, delayMs: 1, seed: 42 };
    expect(run(spec).got).toEqual(run(spec).got);
    expect(run(spec).got).not.toEqual(run({ ...spec, seed: 43 }).got);
  });

  it('drops, duplicates, reorders and corrupts at about the rates asked', () => {
    const n = 4000;
    const { got, corrupt, counters } = run({ drop: 0.1, dup: 0.05, reorder: 0.1, corrupt: 0.05, delayMs: 0, seed: 3 }, n);
    const drops = counters.get('fault.tx_drop');
    expect(drops / n).toBeGreaterThan(0.07);
    expect(drops / n).toBeLessThan(0.13);
    expect(counters.get('fault.tx_dup')).toBeGreaterThan(n * 0.03);
    expect(got.length).toBe(n - drops + counters.get('fault.tx_dup'));
    expect(corrupt.length).toBeGreaterThan(n * 0.03);
    let inversions = 0;
    for (let i = 1; i < got.length; i++) if ((got[i] ?? 0) < (got[i - 1] ?? 0)) inversions++;
    expect(inversions).toBeGreaterThan(n * 0.05);
  });

  it('with no faults passes every frame through unchanged and in order', () => {
    const { got, corrupt } = run({ drop: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, seed: 1 }, 500);
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(corrupt).toEqual([]);
  });
});
