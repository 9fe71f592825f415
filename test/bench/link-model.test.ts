// The link emulator's model with a hand-moved clock: delay and jitter keep order, the rate limit serializes and
// drops at its queue's tail, random and burst loss come at their rates, duplicates and reordering happen as asked,
// and the spec text is checked.

import { describe, expect, it } from 'vitest';
import { LinkDirection, cleanLink, parseLinkSpec, type LinkSpec } from '../../bench/link-model.ts';
import { seededRandom } from '../../src/random.ts';

const frame = (n: number, size = 1500): Uint8Array => {
  const f = new Uint8Array(size);
  f[0] = n & 0xff;
  f[1] = (n >> 8) & 0xff;
  return f;
};
const id = (f: Uint8Array): number => (f[0] ?? 0) | ((f[1] ?? 0) << 8);
const link = (spec: Partial<LinkSpec>, seed = 1) => new LinkDirection({ ...cleanLink, ...spec }, seededRandom(seed));

describe('link model', () => {
  it('delays by delayMs; jitter never reorders', () => {
    const l = link({ delayMs: 10, jitterMs: 5 });
    for (let i = 0; i < 100; i++) l.push(frame(i), i * 0.1);
    expect(l.due(9.9)).toEqual([]);
    const out = l.due(30);
    expect(out.map(id)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('serializes at the rate (1500 bytes at 12 Mbit/s: 1 ms each) and drops at the queue tail', () => {
    const l = link({ rateMbit: 12, queueFrames: 10 });
    for (let i = 0; i < 20; i++) l.push(frame(i), 0);
    expect(l.counters.queueDrops).toBe(10);
    expect(l.due(0.99).length).toBe(0);
    expect(l.due(1.0).length).toBe(1);
    expect(l.due(5.0).length).toBe(4);
    expect(l.due(100).length).toBe(5);
  });

  it('random loss at its rate; bursts lose in runs', () => {
    const l = link({ loss: 0.1 });
    for (let i = 0; i < 20_000; i++) l.push(frame(i, 60), 0);
    expect(l.counters.lost / 20_000).toBeGreaterThan(0.09);
    expect(l.counters.lost / 20_000).toBeLessThan(0.11);
    const b = link({ burst: { toBad: 0.01, toGood: 0.2, lossBad: 1 } }, 3);
    const kept = new Set<number>();
    for (let i = 0; i < 20_000; i++) b.push(frame(i, 60), 0);
    for (const f of b.due(1)) kept.add(id(f));
    // Mean burst length 1 / 0.2 = 5 frames; loss about 0.01 / (0.01 + 0.2) ≈ 4.8 %.
    let runs = 0;
    let lostInRuns = 0;
    for (let i = 0, inRun = false; i < 20_000; i++) {
      const lost = !kept.has(i);
      if (lost && !inRun) runs++;
      if (lost) lostInRuns++;
      inRun = lost;
    }
    expect(b.counters.lost / 20_000).toBeGreaterThan(0.03);
    expect(b.counters.lost / 20_000).toBeLessThan(0.07);
    expect(lostInRuns / runs).toBeGreaterThan(3);
  });

  it('duplicates and reorders as asked', () => {
    const l = link({ delayMs: 1, duplicate: 0.1, reorder: 0.1, reorderMs: 5 });
    for (let i = 0; i < 1000; i++) l.push(frame(i), i * 0.01);
    const out = l.due(1000).map(id);
    expect(out.length).toBe(1000 + l.counters.duplicated);
    expect(l.counters.duplicated).toBeGreaterThan(50);
    let inversions = 0;
    for (let i = 1; i < out.length; i++) if ((out[i] ?? 0) < (out[i - 1] ?? 0)) inversions++;
    expect(inversions).toBeGreaterThan(50);
  });

  it('reads spec text, and says what is wrong with bad text', () => {
    expect(parseLinkSpec('delay=10,rate=100,loss=0.02,burst=0.01/0.3/0.5')).toMatchObject({ delayMs: 10, rateMbit: 100, loss: 0.02, burst: { toBad: 0.01, toGood: 0.3, lossBad: 0.5 } });
    expect(parseLinkSpec('')).toEqual(cleanLink);
    expect(parseLinkSpec('loss=2')).toMatch(/loss must be a probability/);
    expect(parseLinkSpec('speed=1')).toMatch(/unknown link setting 'speed'/);
    expect(parseLinkSpec('burst=1/2')).toMatch(/burst must be/);
  });
});
