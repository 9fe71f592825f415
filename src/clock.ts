// Time as the rest of the code sees it: a monotonic millisecond clock and one-shot timers.
// Everything that waits takes a `Timers` so tests drive time by hand (`ManualTimers`) and never sleep.

export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
}

export interface TimerHandle {
  cancel(): void;
}

export interface Timers extends Clock {
  /** Calls `fn` once, `delayMs` from now, unless cancelled first. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

/** The process's real clock. Timers are unref'd: a pending timeout alone never keeps Node alive. */
export const systemTimers: Timers = {
  now: () => performance.now(),
  setTimer(delayMs, fn) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; timers fire in deadline order, ties in creation order. */
export class ManualTimers implements Timers {
  private time: number;
  private seq = 0;
  private pending: ManualTimer[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: ManualTimer = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.pending.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers still armed. */
  get armed(): number {
    return this.pending.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, each at its own deadline. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.pending = this.pending.filter((t) => !t.cancelled);
      let next: ManualTimer | undefined;
      for (const t of this.pending) {
        if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (next === undefined) break;
      next.cancelled = true;
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = end;
  }
}

/** Settles with the promise's value, or with `'timeout'` if `ms` pass first; the timer is always cleared. */
export function withTimeout<T>(timers: Timers, promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  if (ms <= 0) return Promise.resolve('timeout');
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = timers.setTimer(ms, () => {
      if (settled) return;
      settled = true;
      resolve('timeout');
    });
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        reject(err);
      },
    );
  });
}
