// The thin I/O shell around the sans-I/O stack: frames from a device go in, frames out go to the
// device, and one timer (of the injected Timers) wakes the stack at its next deadline.

import type { TimerHandle, Timers } from '../clock.ts';
import type { NetDevice } from './device.ts';
import type { Stack } from './stack.ts';

export class StackDriver {
  private timer: TimerHandle | undefined;
  private timerAt: number | undefined;
  private running = false;

  constructor(
    readonly stack: Stack,
    readonly device: NetDevice,
    readonly timers: Timers,
  ) {}

  start(): void {
    this.running = true;
    // Sockets queued output from application code: poll once this turn of the event loop is done.
    let scheduled = false;
    this.stack.onWake = () => {
      if (scheduled || !this.running) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (!this.running) return;
        this.stack.poll(this.timers.now());
        this.flush();
      });
    };
    // A device may hand over many frames in one turn of the event loop: take them all, then flush once.
    let flushQueued = false;
    this.device.onFrame((frame, info) => {
      if (!this.running) return;
      this.stack.receive(frame, this.timers.now(), info);
      if (flushQueued) return;
      flushQueued = true;
      queueMicrotask(() => {
        flushQueued = false;
        this.flush();
      });
    });
    this.stack.start(this.timers.now());
    this.flush();
  }

  /** Sends what the stack produced and re-arms the single timer for its next deadline. */
  flush(): void {
    for (const frame of this.stack.takeFrames()) this.device.send(frame);
    if (!this.running) return;
    const at = this.stack.nextDeadline();
    if (at === this.timerAt) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    this.timer = this.timers.setTimer(Math.max(0, at - this.timers.now()), () => {
      this.timer = undefined;
      this.timerAt = undefined;
      this.stack.poll(this.timers.now());
      this.flush();
    });
  }

  /**
   * Clean shutdown: the stack says goodbye (DHCP release), frames still waiting on ARP get up to
   * `graceMs` to leave, then the device is closed.
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.stack.stop(this.timers.now());
    this.flush();
    const until = this.timers.now() + graceMs;
    while (this.stack.busy && this.timers.now() < until) {
      await new Promise<void>((r) => this.timers.setTimer(Math.min(50, until - this.timers.now()), r));
    }
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = undefined;
    await this.device.close();
  }
}
