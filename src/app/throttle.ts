// Brute-force throttling: at most `maxFailures` failed logins per (user, source address), and at most
// `maxAddressFailures` per source address across all users, in any `windowMs`. Only failures count, when they
// are known, so a success is never refused or delayed while under the limits (a burst of guesses in flight at
// once is bounded by the hash checks' own queue). Once a limit is reached every attempt it covers is refused,
// the right password too, with the seconds until the oldest failure leaves the window.
// Memory is bounded: at most `maxEntries` (user, address) pairs and as many addresses, each in a Map ordered by
// the last failure, so expired entries are dropped from the front. Past the bound, the entry evicted is the one
// with the fewest failures among the EVICTION_SCAN oldest: a spray of one-failure names (from many addresses,
// since one address is held to its own budget) cannot flush the record of a user under attack.
// Time comes from the injected Clock.

import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';

export interface ThrottleOptions {
  /** Failed logins per user and address allowed in a window; the next attempt is refused. */
  maxFailures: number;
  /** The sliding window. */
  windowMs: number;
  /** Failed logins from one address, whatever the user, allowed in a window; the next attempt is refused. */
  maxAddressFailures: number;
  /** (user, address) pairs remembered at most; as many addresses. */
  maxEntries: number;
}

export const defaultThrottleOptions: ThrottleOptions = {
  maxFailures: 10,
  windowMs: 60_000,
  maxAddressFailures: 100,
  maxEntries: 10_000,
};

/** How many of the oldest entries an eviction looks at for the one with the fewest failures (bounded work). */
export const EVICTION_SCAN = 64;

export type Admission =
  | { kind: 'throttled'; retryAfterSeconds: number }
  /** Go ahead; call `fail()` if the password was wrong. */
  | { kind: 'admitted'; fail: () => void };

interface Entry {
  /** Times of failed attempts, oldest first; never more than maxFailures. */
  times: number[];
  /** The last failure: the Map's order. */
  touched: number;
}

export class LoginThrottle {
  readonly options: ThrottleOptions;
  private readonly entries = new Map<string, Entry>();
  /** Failures per source address, across users. */
  private readonly addresses = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    options: Partial<ThrottleOptions> = {},
  ) {
    this.options = { ...defaultThrottleOptions, ...options };
    const { maxFailures, windowMs, maxEntries, maxAddressFailures } = this.options;
    if (!Number.isSafeInteger(maxFailures) || maxFailures < 1) throw new RangeError('maxFailures must be a whole number ≥ 1');
    if (!Number.isSafeInteger(maxAddressFailures) || maxAddressFailures < 1) throw new RangeError('maxAddressFailures must be a whole number ≥ 1');
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError('windowMs must be > 0');
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a whole number ≥ 1');
  }

  /** (user, address) pairs remembered now. */
  get size(): number {
    return this.entries.size;
  }

  /** Failed attempts counted now for `user` from `address`. */
  failures(user: string, address: string): number {
    const entry = this.entries.get(keyOf(user, address));
    if (entry === undefined) return 0;
    this.prune(entry, this.clock.now());
    return entry.times.length;
  }

  /** Failed attempts counted now from `address`, for any user. */
  addressFailures(address: string): number {
    const entry = this.addresses.get(address);
    if (entry === undefined) return 0;
    this.prune(entry, this.clock.now());
    return entry.times.length;
  }

  admit(user: string, address: string): Admission {
    const now = this.clock.now();
    this.dropExpired(this.entries, now);
    this.dropExpired(this.addresses, now);
    const key = keyOf(user, address);
    const refused = this.over(this.entries.get(key), this.options.maxFailures, now) ?? this.over(this.addresses.get(address), this.options.maxAddressFailures, now);
    if (refused !== undefined) return refused;
    return {
      kind: 'admitted',
      fail: () => {
        this.record(this.entries, key, this.options.maxFailures);
        this.record(this.addresses, address, this.options.maxAddressFailures);
      },
    };
  }

  /** 'throttled' when `entry` holds `limit` failures in the window, with the seconds until the oldest leaves it. */
  private over(entry: Entry | undefined, limit: number, now: number): Admission | undefined {
    if (entry === undefined) return undefined;
    this.prune(entry, now);
    const oldest = entry.times[0];
    if (oldest === undefined || entry.times.length < limit) return undefined;
    return { kind: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil((oldest + this.options.windowMs - now) / 1000)) };
  }

  private record(map: Map<string, Entry>, key: string, limit: number): void {
    const now = this.clock.now();
    const entry = map.get(key) ?? { times: [], touched: now };
    this.prune(entry, now);
    entry.times.push(now);
    if (entry.times.length > limit) entry.times.shift();
    entry.touched = now;
    map.delete(key); // re-inserted last: the Map stays in order of last failure
    map.set(key, entry);
    while (map.size > this.options.maxEntries) this.evict(map, now);
  }

  /** Evicts, among the EVICTION_SCAN oldest entries, the one with the fewest failures in the window (the oldest of those). */
  private evict(map: Map<string, Entry>, now: number): void {
    let victim: string | undefined;
    let fewest = Infinity;
    let seen = 0;
    for (const [key, entry] of map) {
      if (seen++ >= EVICTION_SCAN) break;
      this.prune(entry, now);
      if (entry.times.length < fewest) {
        fewest = entry.times.length;
        victim = key;
      }
    }
    if (victim !== undefined) map.delete(victim);
  }

  /** Removes attempts that have left the window. */
  private prune(entry: Entry, now: number): void {
    const times = entry.times;
    let n = 0;
    while (n < times.length && now - (times[n] ?? 0) >= this.options.windowMs) n++;
    if (n > 0) times.splice(0, n);
  }

  /** Drops entries whose last failure left the window: they sit at the front of the Map. */
  private dropExpired(map: Map<string, Entry>, now: number): void {
    for (const [key, entry] of map) {
      if (now - entry.touched < this.options.windowMs) break;
      map.delete(key);
    }
  }
}

/** The user name enters the key as a digest: a long name costs no more memory than a short one. */
function keyOf(user: string, address: string): string {
  return `${address} ${createHash('sha256').update(user, 'utf8').digest('base64')}`;
}
