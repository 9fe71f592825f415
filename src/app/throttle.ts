// Brute-force throttling: at most `maxFailures` failed logins per (user, source address) in any `windowMs`.
// Only failures count, when they are known, so a success is never refused or delayed while the pair is
// under its limit (a burst of guesses in flight at once is bounded by the hash checks' own queue). Once the
// limit is reached every attempt is refused, the right password too, with the seconds until the oldest
// failure leaves the window. Memory is bounded: at most `maxEntries` (user, address) pairs, kept in a Map ordered by
// their last attempt, so expired pairs are dropped from the front and, past the bound, the pair attempted
// longest ago is evicted. Time comes from the injected Clock.

import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';

export interface ThrottleOptions {
  /** Failed logins per user and address allowed in a window; the next attempt is refused. */
  maxFailures: number;
  /** The sliding window. */
  windowMs: number;
  /** (user, address) pairs remembered at most. */
  maxEntries: number;
}

export const defaultThrottleOptions: ThrottleOptions = {
  maxFailures: 10,
  windowMs: 60_000,
  maxEntries: 10_000,
};

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

  constructor(
    private readonly clock: Clock,
    options: Partial<ThrottleOptions> = {},
  ) {
    this.options = { ...defaultThrottleOptions, ...options };
    const { maxFailures, windowMs, maxEntries } = this.options;
    if (!Number.isSafeInteger(maxFailures) || maxFailures < 1) throw new RangeError('maxFailures must be a whole number ≥ 1');
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

  admit(user: string, address: string): Admission {
    const now = this.clock.now();
    this.dropExpired(now);
    const key = keyOf(user, address);
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.prune(entry, now);
      const oldest = entry.times[0];
      if (oldest !== undefined && entry.times.length >= this.options.maxFailures) {
        return { kind: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil((oldest + this.options.windowMs - now) / 1000)) };
      }
    }
    return { kind: 'admitted', fail: () => this.recordFailure(key) };
  }

  private recordFailure(key: string): void {
    const now = this.clock.now();
    const entry = this.entries.get(key) ?? { times: [], touched: now };
    this.prune(entry, now);
    entry.times.push(now);
    if (entry.times.length > this.options.maxFailures) entry.times.shift();
    entry.touched = now;
    this.entries.delete(key); // re-inserted last: the Map stays in order of last failure
    this.entries.set(key, entry);
    while (this.entries.size > this.options.maxEntries) {
      const first = this.entries.keys().next();
      if (first.done === true) break;
      this.entries.delete(first.value);
    }
  }

  /** Removes attempts that have left the window. */
  private prune(entry: Entry, now: number): void {
    const times = entry.times;
    let n = 0;
    while (n < times.length && now - (times[n] ?? 0) >= this.options.windowMs) n++;
    if (n > 0) times.splice(0, n);
  }

  /** Drops pairs whose last attempt left the window: they sit at the front of the Map. */
  private dropExpired(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.touched < this.options.windowMs) break;
      this.entries.delete(key);
    }
  }
}

/** The user name enters the key as a digest: a long name costs no more memory than a short one. */
function keyOf(user: string, address: string): string {
  return `${address} ${createHash('sha256').update(user, 'utf8').digest('base64')}`;
}
