// The fast frame path from a TAP fd: a worker thread does blocking reads straight into a ring of slots in
// a SharedArrayBuffer, and wakes the main thread only when the ring goes from empty to not empty; the
// main thread then takes every waiting frame in one go, as views over the ring (no copy, no allocation
// but the view). Writes stay on the main thread (src/net/tap-device.ts).

import { Worker } from 'node:worker_threads';
import { HEAD, SLEEPING, TAIL, drainRing } from './ring-drain.ts';

/**
 * Ring geometry: slots of 2 KiB hold any Ethernet frame of a 1500-byte MTU (and VLAN tags); 1024 of them
 * (2 MiB) hold about 10 ms of frames at 100 000 frames/s, between two turns of the event loop.
 */
const SLOTS = 1024;
const SLOT_SIZE = 2048;
const STOP = 3;

// The worker is plain JavaScript evaluated from this string, so it runs whatever loader started the process.
const WORKER_SOURCE = `
const { readSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const { fd, sab, slots, slotSize } = workerData;
const ctrl = new Int32Array(sab, 0, 8);
const lens = new Int32Array(sab, 32, slots);
const data = new Uint8Array(sab, 32 + 4 * slots, slots * slotSize);
for (;;) {
  if (Atomics.load(ctrl, ${STOP}) !== 0) break;
  const head = Atomics.load(ctrl, ${HEAD});
  const tail = Atomics.load(ctrl, ${TAIL});
  if (((head - tail) | 0) >= slots) { Atomics.wait(ctrl, ${TAIL}, tail, 50); continue; }
  const slot = head & (slots - 1);
  let n;
  try {
    n = readSync(fd, data, slot * slotSize, slotSize, null);
  } catch (err) {
    if (err && (err.code === 'EAGAIN' || err.code === 'EINTR')) continue;
    parentPort.postMessage({ error: String(err && err.code || err) });
    break;
  }
  if (n <= 0) continue;
  lens[slot] = n;
  Atomics.store(ctrl, ${HEAD}, (head + 1) | 0);
  if (Atomics.compareExchange(ctrl, ${SLEEPING}, 1, 0) === 1) parentPort.postMessage(0);
}
`;

export interface TapPumpStats {
  frames: number;
  batches: number;
}

export class TapPump {
  private readonly sab: SharedArrayBuffer;
  private readonly ctrl: Int32Array;
  private readonly lens: Int32Array;
  private readonly slotViews: Uint8Array[];
  private readonly worker: Worker;
  private stopped = false;
  readonly stats: TapPumpStats = { frames: 0, batches: 0 };

  constructor(
    fd: number,
    private readonly receiver: (frame: Uint8Array) => void,
    onError: (code: string) => void,
  ) {
    this.sab = new SharedArrayBuffer(32 + 4 * SLOTS + SLOTS * SLOT_SIZE);
    this.ctrl = new Int32Array(this.sab, 0, 8);
    this.lens = new Int32Array(this.sab, 32, SLOTS);
    const base = 32 + 4 * SLOTS;
    this.slotViews = Array.from({ length: SLOTS }, (_, i) => new Uint8Array(this.sab, base + i * SLOT_SIZE, SLOT_SIZE));
    Atomics.store(this.ctrl, SLEEPING, 1);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { fd, sab: this.sab, slots: SLOTS, slotSize: SLOT_SIZE } });
    this.worker.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'error' in m) onError(String(m.error));
      else this.drain();
    });
    this.worker.on('error', (err) => onError(err.message));
    // The worker is not unref'd: an open device is what keeps a direct-stack process alive.
  }

  /** Takes every frame waiting in the ring (up to a batch), then sleeps or yields and comes back. */
  private drain(): void {
    if (this.stopped) return;
    this.count(drainRing(this.ctrl, this.take, () => this.drain()));
  }

  private readonly take = (tail: number): number => {
    const slot = tail & (SLOTS - 1);
    const view = this.slotViews[slot];
    if (view !== undefined) this.receiver(view.subarray(0, this.lens[slot] ?? 0));
    return (tail + 1) | 0;
  };

  private count(handled: number): void {
    if (handled === 0) return;
    this.stats.frames += handled;
    this.stats.batches++;
  }

  /**
   * Stops the worker without waiting for it: it may sit in a blocking read until the next frame, which
   * must not hold shutdown up. It no longer keeps the process alive; a read it is in ends with the process.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.notify(this.ctrl, TAIL);
    this.worker.unref();
    void this.worker.terminate();
  }
}
