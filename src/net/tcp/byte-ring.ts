// A byte queue on a ring buffer that grows on demand up to a limit and gives memory back when it
// empties, so ten thousand idle connections cost almost nothing. Growth is charged to a shared budget.

import type { MemoryBudget } from './memory-budget.ts';

const INITIAL = 4096;
const NONE = new Uint8Array(0);

/**
 * Rings of the initial size given back on emptying wait here for the next one to need memory: a keep-alive
 * request (a few hundred bytes in, a few hundred out) then costs no allocation, zeroing or garbage.
 * Bounded: at most MAX_POOLED buffers (1 MiB) are kept, across all connections. Their old bytes are never
 * read: a ring only ever exposes what was pushed into it since.
 */
export const MAX_POOLED = 256;
const pool: Uint8Array[] = [];

/** Buffers waiting in the pool now (for tests). */
export function pooledBuffers(): number {
  return pool.length;
}

export class ByteRing {
  private buf: Uint8Array = NONE;
  private head = 0;
  private len = 0;
  private disposeOnEmpty = false;
  /** The most bytes held since the ring last emptied. */
  private peak = 0;

  constructor(
    readonly limit: number,
    private readonly budget?: MemoryBudget,
  ) {}

  /** Bytes allocated now. */
  get capacity(): number {
    return this.buf.length;
  }

  /** Bytes that could still be pushed, counting what the budget would let the ring grow by. */
  get room(): number {
    const growable = this.budget === undefined ? this.limit : Math.min(this.limit, this.buf.length + this.budget.available);
    return Math.max(0, growable - this.len);
  }

  get length(): number {
    return this.len;
  }

  get free(): number {
    return this.limit - this.len;
  }

  /** Appends as much of `data` as fits; returns how many bytes were taken. */
  push(data: Uint8Array): number {
    let n = Math.min(data.length, this.free);
    if (n === 0) return 0;
    if (!this.reserve(this.len + n)) n = Math.min(n, this.buf.length - this.len);
    if (n <= 0) return 0;
    const cap = this.buf.length;
    const tail = (this.head + this.len) % cap;
    const first = Math.min(n, cap - tail);
    this.buf.set(data.subarray(0, first), tail);
    if (first < n) this.buf.set(data.subarray(first, n), 0);
    this.len += n;
    if (this.len > this.peak) this.peak = this.len;
    return n;
  }

  /** `n` bytes from `offset` into the queue, as a view when contiguous and a copy when not. */
  peek(offset: number, n: number): Uint8Array {
    const count = Math.max(0, Math.min(n, this.len - offset));
    if (count === 0) return new Uint8Array(0);
    const cap = this.buf.length;
    const start = (this.head + offset) % cap;
    if (start + count <= cap) return this.buf.subarray(start, start + count);
    const out = new Uint8Array(count);
    const first = cap - start;
    out.set(this.buf.subarray(start, cap), 0);
    out.set(this.buf.subarray(0, count - first), first);
    return out;
  }

  /** Drops `n` bytes from the front. */
  consume(n: number): void {
    const k = Math.min(n, this.len);
    this.len -= k;
    this.head = this.len === 0 ? 0 : (this.head + k) % this.buf.length;
    if (this.len !== 0) return;
    // Empty: give memory back, unless it was well used since the last time (a bulk transfer would
    // otherwise free and grow the ring again for every read).
    if (this.disposeOnEmpty || this.buf.length <= INITIAL || this.peak < this.buf.length / 4) this.resize(0);
    this.peak = 0;
  }

  /** Gives the memory back as soon as the bytes still held have been taken. */
  disposeWhenEmpty(): void {
    this.disposeOnEmpty = true;
    if (this.len === 0) this.resize(0);
  }

  /** Gives all memory back (the connection is gone). */
  dispose(): void {
    this.len = 0;
    this.head = 0;
    this.resize(0);
  }

  /** Takes up to `n` bytes from the front into a new array. */
  take(n: number): Uint8Array {
    const out = this.peek(0, n).slice();
    this.consume(out.length);
    return out;
  }

  /** Grows to hold `need` bytes; false when the budget does not allow it. */
  private reserve(need: number): boolean {
    if (need <= this.buf.length) return true;
    let cap = Math.max(INITIAL, this.buf.length);
    while (cap < need) cap *= 2;
    return this.resize(Math.min(cap, Math.max(need, this.limit)));
  }

  private resize(cap: number): boolean {
    const delta = cap - this.buf.length;
    if (delta > 0 && this.budget !== undefined && !this.budget.tryReserve(delta)) return false;
    if (delta < 0) this.budget?.release(-delta);
    const old = this.buf;
    const next = cap === 0 ? NONE : (cap === INITIAL ? pool.pop() : undefined) ?? new Uint8Array(cap);
    if (this.len > 0) next.set(this.peek(0, this.len), 0);
    this.buf = next;
    this.head = 0;
    if (old.length === INITIAL && pool.length < MAX_POOLED) pool.push(old);
    return true;
  }
}
