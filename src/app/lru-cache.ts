// A least-recently-used cache bounded twice: by the bytes its values hold and by how many values it holds,
// whatever their size. The byte bound alone would let values that cost nothing (an empty file's) pile up
// without end; the entry bound alone would let a few large ones take any amount of memory.
//
// One Map does it all: its insertion order is the age, so the first entry is the least recently used; making an
// entry the most recent is a delete and a set, and evicting walks from the front. Sans-I/O: no clock, no timers.

export interface LruCacheOptions<V> {
  /** Most value bytes held (a non-negative integer); 0 keeps nothing, not even values that cost no bytes. */
  maxBytes: number;
  /** Most values held (a positive integer). */
  maxEntries: number;
  /** What a value costs in bytes. Must not change while the value is held: it is asked again when it goes. */
  sizeOf: (value: V) => number;
}

export class LruCache<K, V> {
  /** Insertion order is age: the first entry is the least recently used. */
  private readonly map = new Map<K, V>();
  private heldBytes = 0;
  readonly maxBytes: number;
  readonly maxEntries: number;
  private readonly sizeOf: (value: V) => number;

  constructor(opts: LruCacheOptions<V>) {
    const { maxBytes, maxEntries } = opts;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer, not ${maxBytes}`);
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, not ${maxEntries}`);
    this.maxBytes = maxBytes;
    this.maxEntries = maxEntries;
    this.sizeOf = opts.sizeOf;
  }

  /** Value bytes held now; never more than `maxBytes`. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Values held now; never more than `maxEntries`. */
  get size(): number {
    return this.map.size;
  }

  /** The value held for `key`, leaving its age as it was (see `touch`). */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Makes `key`'s value, if held, the most recently used. */
  touch(key: K): void {
    const value = this.map.get(key);
    if (value === undefined) return;
    this.map.delete(key); // most recently used: to the end
    this.map.set(key, value);
  }

  /**
   * Holds `value` for `key` as the most recent (in place of any value held for it), then evicts the least
   * recently used until within both bounds. A value larger than `maxBytes` is not held (nor, with `maxBytes` 0,
   * any value), and the one held before for `key` is gone all the same. Returns how many values were evicted.
   */
  set(key: K, value: V): number {
    this.delete(key);
    const cost = this.sizeOf(value);
    if (this.maxBytes === 0 || cost > this.maxBytes) return 0;
    this.map.set(key, value);
    this.heldBytes += cost;
    let evicted = 0;
    // Never reaches the new entry: it fits within maxBytes alone, and maxEntries is at least 1.
    for (const [oldKey, old] of this.map) {
      if (this.heldBytes <= this.maxBytes && this.map.size <= this.maxEntries) break;
      this.map.delete(oldKey);
      this.heldBytes -= this.sizeOf(old);
      evicted++;
    }
    return evicted;
  }

  /** Lets `key`'s value go, if held. */
  delete(key: K): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.heldBytes -= this.sizeOf(old);
  }

  /** Lets every value go. */
  clear(): void {
    this.map.clear();
    this.heldBytes = 0;
  }

  /** The keys held now, least recently used first. */
  keys(): K[] {
    return [...this.map.keys()];
  }
}
