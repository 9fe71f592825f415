// The transmit half of the frame path: the main thread copies each frame into a slot of a ring in a
// SharedArrayBuffer (a memcpy, no system call) and a worker thread writes the slots to the TAP fd, one
// write per frame as a TAP requires. When the ring is full the frame is written directly instead.

import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const SLOTS = 2048;
const SLOT_SIZE = 2048;
const HEAD = 0;
const TAIL = 1;
const STOP = 2;
const ERRORS = 3;

const WORKER_SOURCE = `
const { writeSync } = require('node:fs');
const { workerData } = require('node:worker_threads');
const { fd, sab, slots, slotSize } = workerData;
const ctrl = new Int32Array(sab, 0, 8);
const lens = new Int32Array(sab, 32, slots);
const data = new Uint8Array(sab, 32 + 4 * slots, slots * slotSize);
for (;;) {
  const tail = Atomics.load(ctrl, ${TAIL});
  if (Atomics.load(ctrl, ${HEAD}) === tail) {
    if (Atomics.load(ctrl, ${STOP}) !== 0) break;
    Atomics.wait(ctrl, ${HEAD}, tail, 100);
    continue;
  }
  const slot = tail & (slots - 1);
  try {
    writeSync(fd, data, slot * slotSize, lens[slot], null);
  } catch (err) {
    Atomics.add(ctrl, ${ERRORS}, 1);
  }
  Atomics.store(ctrl, ${TAIL}, (tail + 1) | 0);
}
`;

export class TapWriter {
  private readonly ctrl: Int32Array;
  private readonly lens: Int32Array;
  private readonly data: Uint8Array;
  private readonly worker: Worker;
  private stopped = false;
  /** Frames written on the main thread because the ring was full (or too big for a slot). */
  direct = 0;

  constructor(private readonly fd: number) {
    const sab = new SharedArrayBuffer(32 + 4 * SLOTS + SLOTS * SLOT_SIZE);
    this.ctrl = new Int32Array(sab, 0, 8);
    this.lens = new Int32Array(sab, 32, SLOTS);
    this.data = new Uint8Array(sab, 32 + 4 * SLOTS, SLOTS * SLOT_SIZE);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { fd, sab, slots: SLOTS, slotSize: SLOT_SIZE } });
    this.worker.unref(); // the reader keeps the process alive while the device is open
  }

  /** Write errors the worker met so far. */
  get errors(): number {
    return Atomics.load(this.ctrl, ERRORS);
  }

  /** Queues one frame; throws only where a direct write throws. */
  send(frame: Uint8Array): void {
    const head = Atomics.load(this.ctrl, HEAD);
    const tail = Atomics.load(this.ctrl, TAIL);
    if (this.stopped || ((head - tail) | 0) >= SLOTS || frame.length > SLOT_SIZE) {
      // Full: keep order by waiting for the worker to drain what is queued, then write here.
      this.direct++;
      while (!this.stopped && Atomics.load(this.ctrl, TAIL) !== Atomics.load(this.ctrl, HEAD)) Atomics.wait(this.ctrl, TAIL, Atomics.load(this.ctrl, TAIL), 1);
      writeSync(this.fd, frame);
      return;
    }
    const slot = head & (SLOTS - 1);
    this.data.set(frame, slot * SLOT_SIZE);
    this.lens[slot] = frame.length;
    Atomics.store(this.ctrl, HEAD, (head + 1) | 0);
    if (head === tail) Atomics.notify(this.ctrl, HEAD); // the worker may be waiting on an empty ring
  }

  /** Lets the worker write what is queued, then end. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.notify(this.ctrl, HEAD);
  }
}
