// Proportional Rate Reduction (RFC 6937) driven by hand, one ACK at a time, with the sender's rule that only whole
// segments go out: the proportional part spreads ssthresh / RecoverFS of what is delivered over the recovery (one
// segment every other ACK for a halving), and PRR-SSRB grows back towards ssthresh at most one MSS beyond what
// each ACK delivers.

import { describe, expect, it } from 'vitest';
import { ProportionalRateReduction } from '../../../src/net/tcp/prr.ts';

const MSS = 1000;

/** ACKs each delivering one MSS; returns the segments sent on each and the pipe after each. */
function run(recoverFs: number, ssthresh: number, pipe0: number, acks: number) {
  const prr = new ProportionalRateReduction(recoverFs);
  let pipe = pipe0;
  const sent: number[] = [];
  const pipes: number[] = [];
  for (let i = 0; i < acks; i++) {
    pipe -= MSS; // the ACK delivered one segment: it left the pipe
    const sndcnt = prr.onAck(MSS, pipe, ssthresh, MSS);
    const n = Math.floor(sndcnt / MSS); // cwnd = pipe + sndcnt: whole segments fit
    prr.sent(n * MSS);
    pipe += n * MSS;
    sent.push(n);
    pipes.push(pipe);
  }
  return { sent, pipes, prr };
}

describe('PRR (RFC 6937)', () => {
  it('a halving (RecoverFS 20, ssthresh 10): one segment every other ACK, ssthresh sent by the end, the pipe down to ssthresh smoothly', () => {
    const { sent, pipes, prr } = run(20 * MSS, 10 * MSS, 20 * MSS, 20);
    // The fast retransmission on the first ACK (as Linux forces it); then proportional while the pipe is above
    // ssthresh; once it reaches ssthresh (ACK 18), PRR-SSRB holds it there.
    expect(sent).toEqual([1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1]);
    expect(prr.sentBytes).toBe(10 * MSS);
    expect(pipes.at(-1)).toBe(10 * MSS);
    // Never a burst, never a stall of more than one ACK (RFC 6675 alone would send nothing until the pipe fell to ssthresh).
    expect(Math.min(...pipes)).toBeGreaterThanOrEqual(10 * MSS);
  });

  it("CUBIC's β = 0.7 (RecoverFS 20, ssthresh 14): 7 of every 10 ACKs send, 14 segments in all", () => {
    const { sent, prr } = run(20 * MSS, 14 * MSS, 20 * MSS, 20);
    expect(sent.reduce((a, b) => a + b, 0)).toBe(14);
    expect(prr.sentBytes).toBe(14 * MSS);
    for (let i = 0; i + 10 <= 20; i += 10) expect(sent.slice(i, i + 10).reduce((a, b) => a + b, 0)).toBe(7);
  });

  it('PRR-SSRB: with the pipe far below ssthresh (many losses), at most one MSS more than delivered per ACK, up to ssthresh', () => {
    const { sent, pipes } = run(20 * MSS, 10 * MSS, 5 * MSS, 8);
    expect(sent.slice(0, 3)).toEqual([2, 2, 2]); // slow-start-like: delivered 1, sent 2
    expect(Math.max(...pipes)).toBe(10 * MSS);
    expect(pipes.at(-1)).toBe(10 * MSS); // then one for one at ssthresh
    expect(sent.at(-1)).toBe(1);
  });

  it('never negative, and counts what it is given', () => {
    const prr = new ProportionalRateReduction(10 * MSS);
    prr.sent(5 * MSS);
    expect(prr.onAck(MSS, 9 * MSS, 5 * MSS, MSS)).toBe(0); // ceil(1000 × 5 / 10) − 5000 < 0
    expect(prr.deliveredBytes).toBe(MSS);
    expect(prr.onAck(-500, 9 * MSS, 5 * MSS, MSS)).toBe(0);
    expect(prr.deliveredBytes).toBe(MSS);
  });
});
