// Fragment reassembly for either network layer (RFC 791 §3.2 and RFC 815 for IPv4; RFC 8200 §4.5 and RFC 5722
// for IPv6), bounded in datagrams, bytes, fragments per datagram and time; the CPU a datagram costs is bounded
// with its fragments (each fragment is compared with those held, so their number is the bound that matters).
// Overlaps: a fragment that repeats one held, byte for byte, is a duplicate and ignored; any other overlap
// discards the whole datagram, so overlapping fragments can never change data already received (IPv6 must,
// RFC 5722 §4 with its erratum 3089; IPv4 keeps identical overlaps, as it always may).

import { copyBytes } from './addr.ts';

export interface ReassemblyOptions {
  /** Datagrams being reassembled at once; the oldest is dropped to make room. */
  maxDatagrams: number;
  /** Fragment bytes held in all; the oldest datagrams are dropped to make room. */
  maxBytes: number;
  /** Fragments held for one datagram; one more discards it. */
  maxFragments: number;
  /** Time from a datagram's first fragment until it is given up. */
  timeoutMs: number;
}

/** What befell a fragment or a datagram; each family counts these under its own names. */
export type ReassemblyEvent =
  | 'too_big' | 'bad_length' | 'over_limit' | 'too_many_fragments' | 'inconsistent' | 'overlap' | 'duplicate' | 'timeout'
  | 'evicted' | 'reassembled';

/** How overlapping fragments are judged: IPv4 keeps an overlap that carries the same bytes; IPv6 keeps none. */
export type OverlapRule = 'identical-ok' | 'exact-duplicates-only';

export interface FragmentIn {
  /** Which datagram: source, destination, protocol (IPv4) and identification. */
  key: string;
  /** Offset in bytes, and whether more fragments follow. */
  offset: number;
  more: boolean;
  data: Uint8Array;
}

interface Fragment {
  offset: number;
  data: Uint8Array;
}

interface Datagram {
  firstAt: number;
  fragments: Fragment[];
  /** Payload length, known once the last fragment (MF = 0) has arrived. */
  total: number | undefined;
  bytes: number;
}

export class FragmentReassembler {
  /** Insertion order is age order: the first key is the oldest datagram. */
  private readonly datagrams = new Map<string, Datagram>();
  private heldBytes = 0;

  constructor(
    readonly options: ReassemblyOptions,
    /** The largest reassembled payload (65535 less the fixed header). */
    private readonly maxPayload: number,
    private readonly overlaps: OverlapRule,
    private readonly count: (e: ReassemblyEvent) => void,
  ) {}

  get inProgress(): number {
    return this.datagrams.size;
  }

  get bytesHeld(): number {
    return this.heldBytes;
  }

  /** Adds a fragment; returns the whole payload when this one completes its datagram. */
  add(f: FragmentIn, now: number): Uint8Array | undefined {
    const start = f.offset;
    const end = start + f.data.length;
    if (end > this.maxPayload) return this.reject('too_big');
    if (f.more && (f.data.length === 0 || f.data.length % 8 !== 0)) return this.reject('bad_length');
    if (f.data.length > this.options.maxBytes) return this.reject('over_limit');
    let d = this.datagrams.get(f.key);
    if (d === undefined) {
      while (this.datagrams.size >= this.options.maxDatagrams) this.evictOldest();
      d = { firstAt: now, fragments: [], total: undefined, bytes: 0 };
      this.datagrams.set(f.key, d);
    }
    if (!f.more) {
      if ((d.total !== undefined && d.total !== end) || d.fragments.some((g) => g.offset + g.data.length > end)) return this.discard(f.key, d, 'inconsistent');
      d.total = end;
    } else if (d.total !== undefined && end > d.total) {
      return this.discard(f.key, d, 'inconsistent');
    }
    for (const g of d.fragments) {
      const lo = Math.max(start, g.offset);
      const hi = Math.min(end, g.offset + g.data.length);
      const same = lo >= hi || sameBytes(g.data, lo - g.offset, f.data, lo - start, hi - lo);
      if (this.overlaps === 'exact-duplicates-only') {
        if (lo >= hi) continue;
        if (g.offset === start && g.data.length === f.data.length && same) {
          this.count('duplicate');
          return undefined;
        }
        return this.discard(f.key, d, 'overlap');
      }
      if (!same) return this.discard(f.key, d, 'overlap');
      if (lo === start && hi === end) {
        this.count('duplicate'); // all of it inside one held, the same bytes
        return undefined;
      }
    }
    if (d.fragments.length >= this.options.maxFragments) return this.discard(f.key, d, 'too_many_fragments');
    d.fragments.push({ offset: start, data: copyBytes(f.data) });
    d.bytes += f.data.length;
    this.heldBytes += f.data.length;
    while (this.heldBytes > this.options.maxBytes) {
      const oldest = this.datagrams.keys().next().value;
      if (oldest === undefined || oldest === f.key) break;
      this.evictOldest();
    }
    if (this.heldBytes > this.options.maxBytes) return this.discard(f.key, d, 'over_limit');
    return this.tryComplete(f.key, d);
  }

  poll(now: number): void {
    for (const [key, d] of this.datagrams) {
      if (now >= d.firstAt + this.options.timeoutMs) this.discard(key, d, 'timeout');
    }
  }

  nextDeadline(): number | undefined {
    const first = this.datagrams.values().next().value;
    return first === undefined ? undefined : first.firstAt + this.options.timeoutMs;
  }

  private tryComplete(key: string, d: Datagram): Uint8Array | undefined {
    // Held bytes (overlaps counted twice) short of the total cannot cover it: no sort until they could.
    if (d.total === undefined || d.bytes < d.total) return undefined;
    const sorted = [...d.fragments].sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const f of sorted) {
      if (f.offset > covered) return undefined;
      covered = Math.max(covered, f.offset + f.data.length);
    }
    if (covered < d.total) return undefined;
    const out = new Uint8Array(d.total);
    for (const f of sorted) out.set(f.data, f.offset);
    this.remove(key, d);
    this.count('reassembled');
    return out;
  }

  private reject(e: ReassemblyEvent): undefined {
    this.count(e);
    return undefined;
  }

  private discard(key: string, d: Datagram, e: ReassemblyEvent): undefined {
    this.remove(key, d);
    return this.reject(e);
  }

  private evictOldest(): void {
    const first = this.datagrams.entries().next().value;
    if (first !== undefined) this.discard(first[0], first[1], 'evicted');
  }

  private remove(key: string, d: Datagram): void {
    this.datagrams.delete(key);
    this.heldBytes -= d.bytes;
  }
}

function sameBytes(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ai + i] !== b[bi + i]) return false;
  return true;
}
