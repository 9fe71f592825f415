// The main thread's side of a ring one reader thread fills (src/net/tap-ring.ts, src/net/tap-pump.ts): take
// what is waiting, at most a batch per turn of the event loop, then say "asleep" and look once more, so that
// a frame the thread publishes meanwhile is either seen now or wakes us. The thread wakes the main thread
// only when it finds SLEEPING set, which it clears.

/** Control words shared with the thread: where it writes next, where we read next, and whether we sleep. */
export const HEAD = 0;
export const TAIL = 1;
export const SLEEPING = 2;
/** Frames handled per turn of the event loop before yielding to timers and I/O. */
export const MAX_BATCH = 512;
/**
 * Time one turn may spend taking frames before it yields, however few it took: what bounds the event-loop stall
 * when frames are expensive (a flood of SYNs, each answered with a cookie) or the process gets little CPU.
 */
export const MAX_TURN_MS = 5;
/** The clock is read once per this many frames. */
const CLOCK_EVERY = 16;
const monotonic = (): number => performance.now();

/**
 * Takes records from TAIL up to HEAD with `take` (which returns the next tail), publishes the new TAIL, and
 * either sleeps or, after a full batch or MAX_TURN_MS, schedules `again` for the next turn. Returns how many
 * records it took.
 */
export function drainRing(ctrl: Int32Array, take: (tail: number) => number, again: () => void, clock: () => number = monotonic): number {
  let tail = Atomics.load(ctrl, TAIL);
  let handled = 0;
  const until = clock() + MAX_TURN_MS;
  let full = false;
  for (;;) {
    const head = Atomics.load(ctrl, HEAD);
    try {
      while (tail !== head && handled < MAX_BATCH) {
        tail = take(tail);
        handled++;
        if (handled % CLOCK_EVERY === 0 && clock() >= until) {
          full = true;
          break;
        }
      }
    } finally {
      // The records are done with: the thread may write over them now (and may be waiting to). Published
      // even when a receiver threw (the exception goes on up), so that what was taken is not held back.
      Atomics.store(ctrl, TAIL, tail);
      Atomics.notify(ctrl, TAIL);
    }
    if (full || handled >= MAX_BATCH) {
      setImmediate(again);
      return handled;
    }
    Atomics.store(ctrl, SLEEPING, 1);
    if (Atomics.load(ctrl, HEAD) === tail) return handled;
    Atomics.store(ctrl, SLEEPING, 0);
  }
}
