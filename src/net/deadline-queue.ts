// A min-heap of wake-up times with lazy removal, for many items sharing one timer (every TCP connection:
// the stack needs one real timer in all). An item may be woken early: `set` only moves its wake-up
// earlier, never later, so a retransmission timer restarted on every ACK costs no heap work; the owner
// checks on waking what is really due and sets its next time.

interface Entry<T> {
  at: number;
  item: T;
  gen: number;
}

interface Live {
  gen: number;
  at: number;
}

export class DeadlineQueue<T> {
  private heap: Array<Entry<T>> = [];
  private readonly live = new Map<T, Live>();
  private nextGen = 1;

  get size(): number {
    return this.live.size;
  }

  /** Ensures the item is woken no later than `at`. */
  wakeBy(item: T, at: number): void {
    const cur = this.live.get(item);
    if (cur !== undefined && cur.at <= at) return;
    const gen = this.nextGen++;
    this.live.set(item, { gen, at });
    this.push({ at, item, gen });
  }

  /** Forgets the item (its entries are skipped when they surface). */
  delete(item: T): void {
    this.live.delete(item);
  }

  /** The earliest wake-up time. */
  peek(): number | undefined {
    this.dropStale();
    return this.heap[0]?.at;
  }

  /** Removes and returns one item due at `now`, or `undefined`. */
  popDue(now: number): T | undefined {
    this.dropStale();
    const top = this.heap[0];
    if (top === undefined || top.at > now) return undefined;
    this.pop();
    this.live.delete(top.item);
    return top.item;
  }

  private dropStale(): void {
    for (let top = this.heap[0]; top !== undefined && this.live.get(top.item)?.gen !== top.gen; top = this.heap[0]) this.pop();
  }

  private push(e: Entry<T>): void {
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p];
      if (pe === undefined || pe.at <= e.at) break;
      h[i] = pe;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      const le = h[l];
      const re = h[r];
      if (le !== undefined && le.at < mAt) {
        m = l;
        mAt = le.at;
      }
      if (re !== undefined && re.at < mAt) m = r;
      if (m === i) break;
      const me = h[m];
      if (me === undefined) break;
      h[i] = me;
      i = m;
    }
    h[i] = last;
  }
}
