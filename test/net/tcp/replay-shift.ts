// What the replays of recorded conversations (replay-linux.test.ts over IPv4, replay-linux-ipv6.test.ts) share:
// moving a recorded peer segment's numbers onto the replaying stack's, and letting the event loop catch up.

import type { ManualTimers } from '../../../src/clock.ts';
import { seqAdd } from '../../../src/net/tcp/seq.ts';

/**
 * Moves, in place, the ACK number of the TCP header at `off` and its SACK blocks by `seqDelta` (they name our
 * sequence numbers) and its TSecr by `tsDelta` (it echoes our TSval); the caller recomputes the checksum.
 */
export function shiftPeerNumbers(v: DataView, off: number, seqDelta: number, tsDelta: number): void {
  const move = (at: number, delta: number): void => v.setUint32(at, seqAdd(v.getUint32(at), delta));
  move(off + 8, seqDelta);
  const end = off + ((v.getUint8(off + 12) >>> 4) * 4);
  for (let i = off + 20; i < end;) {
    const kind = v.getUint8(i);
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = v.getUint8(i + 1);
    // SACK blocks (kind 5) hold sequence numbers of ours; the timestamps option (kind 8) echoes our TSval.
    if (kind === 5) for (let j = i + 2; j + 4 <= i + len; j += 4) move(j, seqDelta);
    if (kind === 8 && len === 10) move(i + 6, tsDelta);
    i += Math.max(2, len);
  }
}

/** Lets promise continuations and I/O callbacks (the store's file reads) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** The stack as a replay drives it. */
interface Pollable {
  nextDeadline(): number | undefined;
  poll(now: number): void;
}

/**
 * Polls every deadline of `stack` up to `t` (delayed ACKs, retransmissions), moving the replay's clock and the
 * HTTP server's timers along and letting the application answer after each; then sets the clock to `t`.
 */
export async function pollUntil(
  t: number, stack: Pollable, timers: ManualTimers, clock: { get: () => number; set: (now: number) => void }, take: () => void,
): Promise<void> {
  let rounds = 0;
  for (let d = stack.nextDeadline(); d !== undefined && d <= t; d = stack.nextDeadline()) {
    if (++rounds > 1000) throw new Error(`the stack never went quiet before ${t} ms`);
    const now = Math.max(clock.get(), d);
    clock.set(now);
    timers.advance(now - timers.now());
    stack.poll(now);
    take();
    await settle();
    stack.poll(now);
    take();
  }
  clock.set(t);
  timers.advance(t - timers.now());
}
