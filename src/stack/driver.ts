// The thin I/O shell around the sans-I/O stack: frames from a device go in, frames out go to the
// device, and one timer (of the injected Timers) wakes the stack at its next deadline.

import type { TimerHandle, Timers } from '../clock.ts';
import type { NetDevice } from '../net/device.ts';
import { Stack, type StackOptions } from './stack.ts';

/**
 * The longest one timer is set for. Node's setTimeout takes at most 2^31−1 ms (about 24.8 days) and fires a
 * longer delay after 1 ms instead (with a TimeoutOverflowWarning); a deadline further away (a DHCP lease of
 * months, or dnsmasq's `infinite`) is waited for in steps of this size, re-armed each time.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long the stack held the event loop: its longest turn (frames received and answers flushed) since asked. */
export interface TurnMeter {
  /** The longest turn since the last `takeLongest`, in ms, and the frames it received. */
  takeLongest(): { ms: number; frames: number };
}

export class StackDriver implements TurnMeter {
  /** The stack this driver made and runs; its wake-ups come here. */
  readonly stack: Stack;
  private turnStart = 0;
  private turnFrames = 0;
  private longestMs = 0;
  private longestFrames = 0;
  private readonly observers: Array<() => void> = [];
  private timer: TimerHandle | undefined;
  private timerAt: number | undefined;
  private running = false;
  private wakeScheduled = false;

  constructor(
    readonly device: NetDevice,
    readonly timers: Timers,
    options: Omit<StackOptions, 'wake'>,
  ) {
    this.stack = new Stack({ ...options, wake: this.wake });
  }

  /** Sockets queued output from application code: poll once this turn of the event loop is done. */
  readonly wake = (): void => {
    if (this.wakeScheduled || !this.running) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (!this.running) return;
      this.stack.poll(this.timers.now());
      this.flush();
    });
  };

  start(): void {
    this.running = true;
    // A device may hand over many frames in one turn of the event loop: take them all, then flush once.
    let flushQueued = false;
    this.device.onFrame((frame, info) => {
      if (!this.running) return;
      if (!flushQueued) {
        this.turnStart = performance.now();
        this.turnFrames = 0;
      }
      this.turnFrames++;
      this.stack.receive(frame, this.timers.now(), info);
      if (flushQueued) return;
      flushQueued = true;
      queueMicrotask(() => {
        flushQueued = false;
        this.flush();
        this.turnEnded();
      });
    });
    this.stack.start(this.timers.now());
    this.flush();
  }

  takeLongest(): { ms: number; frames: number } {
    const out = { ms: this.longestMs, frames: this.longestFrames };
    this.longestMs = 0;
    this.longestFrames = 0;
    return out;
  }

  private turnEnded(): void {
    const ms = performance.now() - this.turnStart;
    if (ms > this.longestMs) {
      this.longestMs = ms;
      this.longestFrames = this.turnFrames;
    }
  }

  /** Calls `fn` after every flush: once the stack has settled what arrived or fell due (an address, say). */
  observe(fn: () => void): void {
    this.observers.push(fn);
  }

  /** Sends what the stack produced and re-arms the single timer for its next deadline. */
  flush(): void {
    for (const frame of this.stack.takeFrames()) this.device.send(frame);
    for (const fn of this.observers) fn();
    if (!this.running) return;
    const at = this.stack.nextDeadline();
    if (at === this.timerAt) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    this.arm(at);
  }

  /** Sets the one timer for `at`, or for MAX_TIMER_MS when `at` is further: then it only re-arms. */
  private arm(at: number): void {
    const wait = Math.max(0, at - this.timers.now());
    const step = Math.min(wait, MAX_TIMER_MS);
    this.timer = this.timers.setTimer(step, () => {
      this.timer = undefined;
      if (step < wait) {
        this.arm(at);
        return;
      }
      this.timerAt = undefined;
      this.stack.poll(this.timers.now());
      this.flush();
    });
  }

  /**
   * Clean shutdown: the stack says goodbye (DHCP release, a FIN on every connection), frames waiting on ARP and
   * connections closing get up to `graceMs` (until CLOSED or TIME_WAIT), what is left is reset, then the device
   * is closed.
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.stack.stop(this.timers.now());
    this.flush();
    const until = this.timers.now() + graceMs;
    while (this.stack.busy && this.timers.now() < until) {
      await new Promise<void>((r) => this.timers.setTimer(Math.min(50, until - this.timers.now()), r));
    }
    // What did not close within the grace is reset, so that no peer is left waiting on a connection gone.
    this.stack.abandon(this.timers.now());
    this.flush();
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = undefined;
    await this.device.close();
  }
}
