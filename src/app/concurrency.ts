// A bound on work running at once, with a bounded queue behind it: at most `maxRunning` tasks run, up to
// `maxQueued` more wait their turn (first come, first served), and past that a task is refused at once.

export type Limited<T> = { busy: false; value: T } | { busy: true };

export class ConcurrencyLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxRunning: number,
    readonly maxQueued: number,
  ) {
    if (!Number.isSafeInteger(maxRunning) || maxRunning < 1) throw new RangeError('maxRunning must be a whole number ≥ 1');
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 0) throw new RangeError('maxQueued must be a whole number ≥ 0');
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a slot is free; `{ busy: true }` without running it when the queue is full too. */
  async run<T>(task: () => Promise<T>): Promise<Limited<T>> {
    if (this.running < this.maxRunning) {
      this.running++;
    } else {
      if (this.waiting.length >= this.maxQueued) return { busy: true };
      // The finishing task hands its slot over: `running` stays counted for us.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    try {
      return { busy: false, value: await task() };
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }
}
