// A byte queue on a ring buffer that grows on demand up to a limit and gives memory back when it
// empties, so ten thousand idle connections cost almost nothing.

const INITIAL = 4096;

export class ByteRing {
  private buf: Uint8Array = new Uint8Array(0);
  private head = 0;
  private len = 0;

  constructor(readonly limit: number) {}

  get length(): number {
    return this.len;
  }

  get free(): number {
    return this.limit - this.len;
  }

  /** Appends as much of `data` as fits; returns how many bytes were taken. */
  push(data: Uint8Array): number {
    const n = Math.min(data.length, this.free);
    if (n === 0) return 0;
    this.reserve(this.len + n);
    const cap = this.buf.length;
    const tail = (this.head + this.len) % cap;
    const first = Math.min(n, cap - tail);
    this.buf.set(data.subarray(0, first), tail);
    if (first < n) this.buf.set(data.subarray(first, n), 0);
    this.len += n;
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
    if (this.len === 0 && this.buf.length > INITIAL) this.buf = new Uint8Array(0);
  }

  /** Takes up to `n` bytes from the front into a new array. */
  take(n: number): Uint8Array {
    const out = this.peek(0, n).slice();
    this.consume(out.length);
    return out;
  }

  private reserve(need: number): void {
    if (need <= this.buf.length) return;
    let cap = Math.max(INITIAL, this.buf.length);
    while (cap < need) cap *= 2;
    const next = new Uint8Array(Math.min(cap, Math.max(need, this.limit)));
    next.set(this.peek(0, this.len), 0);
    this.buf = next;
    this.head = 0;
  }
}
