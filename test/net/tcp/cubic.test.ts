// CUBIC (RFC 9438) against its equations at chosen times, its Reno-friendly region and fast convergence, and
// HyStart++ (RFC 9406) leaving the first slow start: the controller driven by hand, one round trip of ACKs at a time.

import { describe, expect, it } from 'vitest';
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, CubicCongestion } from '../../../src/net/tcp/cubic.ts';
import { INITIAL_SSTHRESH } from '../../../src/net/tcp/congestion-control.ts';
import { CSS_ROUNDS, HyStart, N_RTT_SAMPLE } from '../../../src/net/tcp/hystart.ts';

const SMSS = 1000;

/** Drives `cc` for `rounds` round trips of `rttMs` each: every segment of the window acked once, spread over the RTT. */
function rounds(cc: CubicCongestion, from: number, rttMs: number, count: number, rttOf: (round: number) => number = () => rttMs): number {
  let now = from;
  let una = 0;
  for (let r = 0; r < count; r++) {
    const segs = Math.max(1, Math.floor(cc.cwnd / SMSS));
    const max = una + segs * SMSS;
    for (let i = 0; i < segs; i++) {
      una += SMSS;
      cc.onAck(SMSS, { smss: SMSS, una, max, srttMs: rttMs, latestRttMs: rttOf(r) }, now + (rttMs * i) / segs);
    }
    now += rttMs;
  }
  return now;
}

/** A CUBIC after a loss at `wMaxSegs` segments, in congestion avoidance from the reduced window (as recovery leaves it). */
function afterLoss(wMaxSegs: number): CubicCongestion {
  const cc = new CubicCongestion();
  cc.start(SMSS);
  cc.cwnd = wMaxSegs * SMSS;
  cc.onCongestion(wMaxSegs * SMSS, SMSS);
  cc.cwnd = cc.ssthresh;
  return cc;
}

describe('CUBIC (RFC 9438)', () => {
  it('starts with IW10 (RFC 6928) and reduces by β = 0.7 on a loss, W_max the window before it', () => {
    const cc = new CubicCongestion();
    cc.start(SMSS);
    expect(cc.cwnd).toBe(10 * SMSS);
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
    const lost = afterLoss(100);
    expect(lost.ssthresh).toBe(70 * SMSS);
    expect(lost.wMax).toBe(100);
    expect(CUBIC_ALPHA).toBeCloseTo(0.5294, 4); // 3 (1 − 0.7) / (1 + 0.7)
  });

  it('follows W_cubic(t) = C (t − K)³ + W_max: K = ∛(W_max (1 − β) / C), the plateau at W_max around t = K, then convex', () => {
    const cc = afterLoss(100);
    const start = 10_000;
    rounds(cc, start, 100, 1);
    const k = Math.cbrt((100 * (1 - CUBIC_BETA)) / CUBIC_C);
    expect(cc.kSeconds).toBeCloseTo(k, 6); // ∛75 ≈ 4.217 s
    expect(k).toBeCloseTo(4.2172, 3);
    // At chosen times the window (one RTT ahead, as §4.4 aims) is close to the curve.
    const at = (t: number): number => {
      const c = afterLoss(100);
      rounds(c, start, 100, Math.round((t * 1000) / 100));
      return c.cwnd / SMSS;
    };
    for (const t of [1, 2, 3, 4.2, 5, 6, 7]) {
      const expected = CUBIC_C * (t + 0.1 - k) ** 3 + 100;
      expect(Math.abs(at(t) - expected) / expected, `t = ${t} s`).toBeLessThan(0.03);
    }
    // The plateau: between t = K − 1 s and K + 1 s the window barely moves (concave, then convex).
    expect(at(k + 1) - at(k - 1)).toBeLessThan(2);
    expect(at(7) - at(6)).toBeGreaterThan(at(5) - at(4)); // convex beyond W_max
  });

  it('never grows slower than Reno would: on a short RTT the Reno-friendly region (W_est) sets the window', () => {
    const cc = afterLoss(10); // 7 segments, K ≈ 1.96 s: a short RTT makes Reno faster than the cubic
    rounds(cc, 0, 1, 100);
    const wEst = 7 + CUBIC_ALPHA * 100; // α per RTT until W_est reaches W_max, then 1 per RTT
    const expected = 10 + (100 - (10 - 7) / CUBIC_ALPHA);
    expect(cc.cwnd / SMSS).toBeGreaterThan(Math.min(wEst, expected) * 0.9);
    expect(cc.cwnd / SMSS).toBeLessThan(expected * 1.1);
    expect(cc.wCubic(0.1)).toBeLessThan(8); // the cubic alone would still be near 7
  });

  it('fast convergence: a loss below the last W_max leaves W_max at (1 + β)/2 of the window', () => {
    const cc = afterLoss(100);
    cc.cwnd = 80 * SMSS;
    cc.onCongestion(80 * SMSS, SMSS);
    expect(cc.wMax).toBeCloseTo((80 * (1 + CUBIC_BETA)) / 2, 6);
    expect(cc.ssthresh).toBe(56 * SMSS);
    const slow = new CubicCongestion(false);
    slow.cwnd = 100 * SMSS;
    slow.onCongestion(100 * SMSS, SMSS);
    slow.cwnd = 80 * SMSS;
    slow.onCongestion(80 * SMSS, SMSS);
    expect(slow.wMax).toBe(80);
  });

  it('a timeout: one segment, ssthresh once per episode; restart after idle: at most IW', () => {
    const cc = afterLoss(100);
    cc.onTimeout(50 * SMSS, SMSS, true);
    expect([cc.cwnd, cc.ssthresh]).toEqual([SMSS, 70 * SMSS]);
    cc.onTimeout(50 * SMSS, SMSS, false);
    expect(cc.ssthresh).toBe(35 * SMSS);
    cc.cwnd = 60 * SMSS;
    cc.restartAfterIdle(SMSS);
    expect(cc.cwnd).toBe(10 * SMSS);
  });
});

describe('HyStart++ (RFC 9406)', () => {
  it('stays in slow start while the round minimum RTT is flat: the window doubles each round', () => {
    const cc = new CubicCongestion();
    cc.start(SMSS);
    rounds(cc, 0, 50, 4);
    expect(cc.cwnd).toBe(160 * SMSS);
    expect(cc.hystart.phase).toBe('slow-start');
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('a rise of the round minimum RTT by the threshold: Conservative Slow Start (¼ growth), then after CSS_ROUNDS congestion avoidance', () => {
    const cc = new CubicCongestion();
    cc.start(SMSS);
    // Rounds 0-2 at 50 ms, then 60 ms: a rise of 10 ms ≥ max(4, min(50/8, 16)) = 6.25 ms.
    let now = rounds(cc, 0, 50, 3);
    const before = cc.cwnd;
    now = rounds(cc, now, 50, 1, () => 60);
    expect(cc.hystart.phase).toBe('css');
    const grownInCss = cc.cwnd - before;
    expect(grownInCss).toBeLessThan(before); // less than slow start's doubling
    const atCss = cc.cwnd;
    now = rounds(cc, now, 60, 1);
    expect(cc.cwnd - atCss).toBeCloseTo(atCss / 4, -3); // a quarter of the window per round
    rounds(cc, now, 60, CSS_ROUNDS);
    expect(cc.hystart.phase).toBe('done');
    expect(cc.ssthresh).toBeLessThan(INITIAL_SSTHRESH);
    expect(cc.cwnd).toBeGreaterThanOrEqual(cc.ssthresh);
  });

  it('back to slow start when the RTT comes down below the CSS baseline; fewer than N_RTT_SAMPLE samples decide nothing', () => {
    const h = new HyStart();
    let una = 0;
    // A round: `samples` ACKs, the first of which starts it (SND.UNA past the last round's end).
    let end = 0;
    const round = (rtt: number, samples: number): void => {
      una = end;
      end = una + samples;
      for (let i = 0; i < samples; i++) h.onAck(una + i, end, rtt);
    };
    round(50, N_RTT_SAMPLE);
    round(70, N_RTT_SAMPLE - 1);
    expect(h.phase).toBe('slow-start'); // not enough samples in the round
    round(50, N_RTT_SAMPLE);
    round(70, N_RTT_SAMPLE);
    expect(h.phase).toBe('css');
    round(40, N_RTT_SAMPLE);
    expect(h.phase).toBe('slow-start');
    h.stop();
    expect(h.onAck(end, end + 1, 10)).toBe(1);
    expect(h.phase).toBe('done');
  });

  it('only the first slow start: after a loss, slow start is the standard one', () => {
    const cc = afterLoss(40);
    cc.onTimeout(20 * SMSS, SMSS, false);
    expect(cc.hystart.phase).toBe('done');
    const w = cc.cwnd;
    rounds(cc, 0, 50, 1, () => 500);
    expect(cc.cwnd).toBe(2 * w);
  });
});
