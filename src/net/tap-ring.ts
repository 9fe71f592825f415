// The receive side of the native TAP binding (native/tap.c): its reader thread writes frames into a ring
// in a SharedArrayBuffer and wakes the main thread only when the ring goes from empty to not empty; the
// main thread then takes every waiting frame in one go, as views over the ring (no copy).

import type { RxInfo } from './device.ts';
import { SLEEPING, drainRing } from './ring-drain.ts';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, type TapNative } from './tap-native.ts';

// The ring's control words (see native/tap.c); HEAD, TAIL and SLEEPING are src/net/ring-drain.ts's.
const CTRL_BYTES = 64;
const READ_ERRNO = 3;
const FULL_WAITS = 4;
const TOO_BIG = 5;

const TRUSTED: RxInfo = Object.freeze({ checksumTrusted: true });
const PLAIN: RxInfo = Object.freeze({ checksumTrusted: false });

export interface TapRingOptions {
  /** Bytes of the ring's data area, a power of two: a burst the main thread has not reached yet waits here. */
  ringBytes: number;
  /** The largest record read: the virtio-net header and the largest frame the TAP hands over. */
  maxRecord: number;
  /** Records start with a virtio_net_hdr of this many bytes (IFF_VNET_HDR); 0: none. */
  vnetHdrLen: number;
}

export interface TapRingStats {
  frames: number;
  batches: number;
  /** Times the reader thread found the ring full and waited for the main thread. */
  readonly fullWaits: number;
  /** Frames longer than the largest record, dropped by the reader thread. */
  readonly tooBig: number;
}

export class TapRing {
  private readonly ctrl: Int32Array;
  private readonly words: Int32Array;
  private readonly data: Uint8Array;
  private readonly mask: number;
  private readonly handle: object;
  private stopped = false;
  private readonly counts = { frames: 0, batches: 0 };

  constructor(
    private readonly native: TapNative,
    fd: number,
    private readonly opts: TapRingOptions,
    private readonly receiver: (frame: Uint8Array, info: RxInfo) => void,
    private readonly onError: (code: string) => void,
  ) {
    const sab = new SharedArrayBuffer(CTRL_BYTES + opts.ringBytes);
    this.ctrl = new Int32Array(sab, 0, CTRL_BYTES / 4);
    this.words = new Int32Array(sab, CTRL_BYTES, opts.ringBytes / 4);
    this.data = new Uint8Array(sab, CTRL_BYTES, opts.ringBytes);
    this.mask = opts.ringBytes - 1;
    Atomics.store(this.ctrl, SLEEPING, 1);
    // The thread's callback keeps the process alive: an open device is what keeps a direct stack running.
    this.handle = native.startReader(fd, new Uint8Array(sab), opts.maxRecord, () => this.drain());
  }

  get stats(): TapRingStats {
    return { ...this.counts, fullWaits: Atomics.load(this.ctrl, FULL_WAITS), tooBig: Atomics.load(this.ctrl, TOO_BIG) };
  }

  /** Takes every frame waiting in the ring (up to a batch), then sleeps or yields and comes back. */
  private drain(): void {
    if (this.stopped) return;
    const err = Atomics.load(this.ctrl, READ_ERRNO);
    if (err !== 0) {
      Atomics.store(this.ctrl, READ_ERRNO, 0);
      this.onError(`read errno ${err}`);
    }
    // Records taken, wrap markers included; frames are counted as they are handed over.
    if (drainRing(this.ctrl, this.take, () => this.drain()) > 0) this.counts.batches++;
  }

  /** One record at `tail`: a frame to the receiver, or the wrap marker; returns the next record's position. */
  private readonly take = (tail: number): number => {
    const { data, words, mask } = this;
    const off = tail & mask;
    const len = words[off >>> 2] ?? 0;
    if (len < 0) return (tail + (mask + 1 - off)) | 0; // the rest of the area is unused: go on at its start
    const start = off + 4;
    const hdr = this.opts.vnetHdrLen;
    if (len > hdr) {
      const flags = hdr > 0 ? (data[start] ?? 0) : 0;
      const info = flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID) ? TRUSTED : PLAIN;
      this.counts.frames++;
      this.receiver(data.subarray(start + hdr, start + len), info);
    }
    return (tail + ((4 + len + 7) & ~7)) | 0;
  };


  /** Stops the thread (it waits in poll(2) beside an eventfd, so this returns at once) and joins it. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.native.stopReader(this.handle);
  }
}
