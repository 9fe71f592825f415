// The main thread's side of the native reader's ring (src/net/tap-ring.ts), with a stand-in for the C
// thread that writes records exactly as native/tap.c does: length, bytes, padding to 8, and the wrap marker.

import { describe, expect, it } from 'vitest';
import type { RxInfo } from '../../src/net/device.ts';
import { TapRing } from '../../src/net/tap-ring.ts';
import { drainRing, HEAD, MAX_BATCH, MAX_TURN_MS, SLEEPING, TAIL } from '../../src/net/ring-drain.ts';
import type { TapNative } from '../../src/net/tap-native.ts';

const CTRL = 64;

/** Plays the reader thread: writes frames (with a 10-byte virtio header) into the ring it was given. */
class FakeThread {
  ring: Uint8Array | undefined;
  onReady: (() => void) | undefined;
  stopped = false;

  readonly native: TapNative = {
    open: () => [3, 'tap9'],
    startReader: (_fd, ring, _max, onReady) => {
      this.ring = ring;
      this.onReady = onReady;
      return {};
    },
    stopReader: () => {
      this.stopped = true;
    },
    write: () => 0,
    writeVnet: () => 0,
    lockDown: () => 0,
    clearCaps: () => {},
    VNET_HDR_LEN: 10,
  };

  private get ctrl(): Int32Array {
    const r = this.ring;
    if (r === undefined) throw new Error('not started');
    return new Int32Array(r.buffer, r.byteOffset, CTRL / 4);
  }

  /** Writes one record as the C thread would; false when the ring has no room (the thread would wait). */
  put(frame: Uint8Array, vnetFlags: number, maxRecord: number): boolean {
    const r = this.ring;
    if (r === undefined) throw new Error('not started');
    const size = r.length - CTRL;
    const ctrl = this.ctrl;
    const need = (4 + maxRecord + 7) & ~7;
    let head = Atomics.load(ctrl, 0);
    const used = (head - Atomics.load(ctrl, 1)) >>> 0;
    const off = (head >>> 0) & (size - 1);
    const contiguous = size - off;
    if (size - used < (contiguous < need ? contiguous + need : need)) return false;
    const view = new DataView(r.buffer, r.byteOffset + CTRL, size);
    if (contiguous < need) {
      view.setInt32(off, -1, true);
      head = (head + contiguous) | 0;
      Atomics.store(ctrl, 0, head);
      return this.put(frame, vnetFlags, maxRecord);
    }
    const len = 10 + frame.length;
    view.setInt32(off, len, true);
    r.fill(0, CTRL + off + 4, CTRL + off + 14);
    r[CTRL + off + 4] = vnetFlags;
    r.set(frame, CTRL + off + 14);
    Atomics.store(ctrl, 0, (head + ((4 + len + 7) & ~7)) | 0);
    if (Atomics.compareExchange(ctrl, 2, 1, 0) === 1) this.onReady?.();
    return true;
  }
}

const frameOf = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i + seed) & 0xff);

describe('TapRing: frames from the native reader thread', () => {
  it('hands over every frame in order, byte-exact, across many wraps of the ring, and says which are vouched for', async () => {
    const t = new FakeThread();
    const got: { frame: Uint8Array; info: RxInfo }[] = [];
    const maxRecord = 10 + 1514;
    const ring = new TapRing(t.native, 3, { ringBytes: 16 * 1024, maxRecord, vnetHdrLen: 10 }, (frame, info) => got.push({ frame: frame.slice(), info }), () => {});
    const sent: Uint8Array[] = [];
    let i = 0;
    // 2000 frames of varied sizes through a 16 KiB ring: it wraps about a hundred times.
    while (i < 2000) {
      const f = frameOf(60 + ((i * 97) % 1455), i);
      if (!t.put(f, i % 3 === 0 ? 2 : i % 3 === 1 ? 1 : 0, maxRecord)) {
        await new Promise((r) => setImmediate(r)); // the main thread drains; the "thread" then goes on
        continue;
      }
      sent.push(f);
      i++;
    }
    for (let k = 0; k < 10 && got.length < sent.length; k++) await new Promise((r) => setImmediate(r));
    expect(got.length).toBe(2000);
    for (let k = 0; k < sent.length; k++) {
      expect(got[k]?.frame).toEqual(sent[k]);
      // DATA_VALID (2) and NEEDS_CSUM (1) are vouched for; 0 is not.
      expect(got[k]?.info.checksumTrusted).toBe(k % 3 !== 2);
    }
    expect(ring.stats.frames).toBe(2000);
    ring.stop();
    expect(t.stopped).toBe(true);
  });

  it('takes at most a batch per turn of the event loop, then comes back for the rest', async () => {
    const t = new FakeThread();
    let n = 0;
    let turns = 0;
    const maxRecord = 10 + 100;
    const ring = new TapRing(t.native, 3, { ringBytes: 256 * 1024, maxRecord, vnetHdrLen: 10 }, () => n++, () => {});
    // The main thread is busy (not asleep) while 1500 frames arrive; then one wake-up.
    const ctrl = new Int32Array(t.ring?.buffer ?? new ArrayBuffer(64), t.ring?.byteOffset ?? 0, 16);
    Atomics.store(ctrl, 2, 0);
    for (let i = 0; i < 1500; i++) expect(t.put(frameOf(60, i), 0, maxRecord)).toBe(true);
    expect(n).toBe(0);
    t.onReady?.();
    // It drains up to 512 (fewer if they took MAX_TURN_MS), then yields to the event loop and comes back.
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(512);
    while (n < 1500 && turns < 10) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    expect(n).toBe(1500);
    expect(turns).toBeGreaterThanOrEqual(2);
    expect(ring.stats.batches).toBeGreaterThanOrEqual(3);
    ring.stop();
  });
});

describe('drainRing: what one turn of the event loop may take', () => {
  /** A ring of `n` one-slot records; `take` advances by one and spends `costMs` of the hand-moved clock. */
  function ring(n: number, costMs: number): { ctrl: Int32Array; taken: () => number; again: () => number; run: () => number } {
    const ctrl = new Int32Array(16);
    Atomics.store(ctrl, HEAD, n);
    let now = 0;
    let taken = 0;
    let again = 0;
    const take = (tail: number): number => {
      taken++;
      now += costMs;
      return tail + 1;
    };
    return { ctrl, taken: () => taken, again: () => again, run: () => drainRing(ctrl, take, () => again++, () => now) };
  }

  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('takes at most MAX_BATCH frames, then comes back next turn; an empty ring goes to sleep', async () => {
    const r = ring(2000, 0);
    expect(r.run()).toBe(MAX_BATCH);
    expect(r.again()).toBe(0);
    await nextTurn();
    expect(r.again()).toBe(1);
    expect(Atomics.load(r.ctrl, TAIL)).toBe(MAX_BATCH);
    const e = ring(3, 0);
    expect(e.run()).toBe(3);
    await nextTurn();
    expect(e.again()).toBe(0);
    expect(Atomics.load(e.ctrl, SLEEPING)).toBe(1);
  });

  it('stops at MAX_TURN_MS when frames are expensive, however few it took', async () => {
    // 0.1 ms a frame: 512 would be 51 ms; the turn ends after 5 ms (checked every 16 frames).
    const r = ring(2000, 0.1);
    const n = r.run();
    expect(n).toBeGreaterThanOrEqual(MAX_TURN_MS / 0.1);
    expect(n).toBeLessThanOrEqual(MAX_TURN_MS / 0.1 + 16);
    await nextTurn();
    expect(r.again()).toBe(1);
    expect(Atomics.load(r.ctrl, TAIL)).toBe(n);
  });
});
