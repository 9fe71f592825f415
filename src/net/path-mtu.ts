// What the network layer has learned of paths (RFC 1191 §6.3, RFC 8201 §5): the MTU of the path to a destination
// when an ICMP "fragmentation needed" (IPv4) or "packet too big" (IPv6) said it is below the link's. Only lowered
// here; an entry ages out after `expiryMs` (RFC 1191 §6.3: 10 minutes), so that a larger MTU is tried again.
// Bounded: the least recently learned entry goes when `maxEntries` are held. Expiry is lazy (no timer): a lookup
// of an aged entry forgets it.

import type { IpAddr } from './addr.ts';

export interface PathMtuOptions {
  /** How long a learned path MTU holds (RFC 1191 §6.3, RFC 8201 §5.3: 10 min). */
  expiryMs: number;
  /** Destinations remembered at once. */
  maxEntries: number;
}

export const defaultPathMtuOptions: PathMtuOptions = { expiryMs: 600_000, maxEntries: 1024 };

/** RFC 1191 §7: the plateaus to try when a router's "fragmentation needed" names no MTU. */
const PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** The largest plateau below `quotedLength` (the length of the datagram the router refused). */
export function plateauBelow(quotedLength: number): number {
  return PLATEAUS.find((p) => p < quotedLength) ?? 68;
}

export class PathMtuCache {
  readonly options: PathMtuOptions;
  private readonly entries = new Map<IpAddr, { mtu: number; expiresAt: number }>();

  constructor(
    /** The least MTU ever used (IPv4: 552, as Linux's min_pmtu; IPv6: 1280, RFC 8200 §5). */
    readonly floor: number,
    options: Partial<PathMtuOptions> = {},
  ) {
    this.options = { ...defaultPathMtuOptions, ...options };
  }

  get size(): number {
    return this.entries.size;
  }

  /** The path MTU learned for `dst`, or undefined: the link's. */
  get(dst: IpAddr, now: number): number | undefined {
    if (this.entries.size === 0) return undefined;
    const e = this.entries.get(dst);
    if (e === undefined) return undefined;
    if (now >= e.expiresAt) {
      this.entries.delete(dst);
      return undefined;
    }
    return e.mtu;
  }

  /**
   * `mtu` reported for the path to `dst`, on a link of `linkMtu`: the path MTU becomes it (never under the floor)
   * if that is below what is known; the new value, or undefined when nothing was lowered.
   */
  lower(dst: IpAddr, mtu: number, linkMtu: number, now: number): number | undefined {
    const current = this.get(dst, now) ?? linkMtu;
    const next = Math.max(this.floor, Math.floor(mtu));
    if (next >= current) return undefined;
    this.entries.delete(dst);
    this.entries.set(dst, { mtu: next, expiresAt: now + this.options.expiryMs });
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.options.maxEntries) break;
      this.entries.delete(k);
    }
    return next;
  }
}
