// Reassembly of fragmented IPv4 datagrams (RFC 791 §3.2, RFC 815), bounded in datagrams, bytes and time.
// Fragments that overlap with different bytes discard the whole datagram (the rule RFC 5722 sets for
// IPv6), so overlapping fragments can never change data already received.

import { copyBytes } from './addr.ts';
import type { Counters, LayerCounter } from './counters.ts';
import type { Ipv4Header } from './ipv4-wire.ts';

export interface ReassemblyOptions {
  /** Datagrams being reassembled at once; the oldest is dropped to make room. */
  maxDatagrams: number;
  /** Fragment bytes held in all; the oldest datagrams are dropped to make room. */
  maxBytes: number;
  /** Time from a datagram's first fragment until it is given up. */
  timeoutMs: number;
}

export const defaultReassemblyOptions: ReassemblyOptions = {
  maxDatagrams: 16,
  maxBytes: 256 * 1024,
  timeoutMs: 30_000,
};

/** The largest IPv4 datagram: 65535 bytes, 20 of them header. */
const MAX_PAYLOAD = 65535 - 20;

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

export class Reassembler {
  readonly options: ReassemblyOptions;
  /** Insertion order is age order: the first key is the oldest datagram. */
  private readonly datagrams = new Map<string, Datagram>();
  private heldBytes = 0;

  constructor(
    private readonly counters: Counters,
    options: Partial<ReassemblyOptions> = {},
  ) {
    this.options = { ...defaultReassemblyOptions, ...options };
  }

  get inProgress(): number {
    return this.datagrams.size;
  }

  get bytesHeld(): number {
    return this.heldBytes;
  }

  /** Adds a fragment; returns the whole payload when this one completes its datagram. */
  add(h: Ipv4Header, payload: Uint8Array, now: number): Uint8Array | undefined {
    const start = h.fragmentOffset;
    const end = start + payload.length;
    if (end > MAX_PAYLOAD) return this.reject('ip.frag_too_big');
    if (h.moreFragments && (payload.length === 0 || payload.length % 8 !== 0)) return this.reject('ip.frag_bad_length');
    if (payload.length > this.options.maxBytes) return this.reject('ip.frag_over_limit');
    const key = `${h.src}/${h.dst}/${h.protocol}/${h.id}`;
    let d = this.datagrams.get(key);
    if (d === undefined) {
      while (this.datagrams.size >= this.options.maxDatagrams) this.evictOldest();
      d = { firstAt: now, fragments: [], total: undefined, bytes: 0 };
      this.datagrams.set(key, d);
    }
    if (!h.moreFragments) {
      if ((d.total !== undefined && d.total !== end) || d.fragments.some((f) => f.offset + f.data.length > end)) {
        return this.discard(key, d, 'ip.frag_inconsistent');
      }
      d.total = end;
    } else if (d.total !== undefined && end > d.total) {
      return this.discard(key, d, 'ip.frag_inconsistent');
    }
    for (const f of d.fragments) {
      const lo = Math.max(start, f.offset);
      const hi = Math.min(end, f.offset + f.data.length);
      for (let i = lo; i < hi; i++) {
        if (f.data[i - f.offset] !== payload[i - start]) return this.discard(key, d, 'ip.frag_overlap');
      }
      if (lo === start && hi === end) {
        this.counters.inc('ip.frag_duplicate');
        return undefined;
      }
    }
    d.fragments.push({ offset: start, data: copyBytes(payload) });
    d.bytes += payload.length;
    this.heldBytes += payload.length;
    while (this.heldBytes > this.options.maxBytes) {
      const oldest = this.datagrams.keys().next().value;
      if (oldest === undefined || oldest === key) break;
      this.evictOldest();
    }
    if (this.heldBytes > this.options.maxBytes) return this.discard(key, d, 'ip.frag_over_limit');
    return this.tryComplete(key, d);
  }

  poll(now: number): void {
    for (const [key, d] of this.datagrams) {
      if (now >= d.firstAt + this.options.timeoutMs) this.discard(key, d, 'ip.reassembly_timeout');
    }
  }

  nextDeadline(): number | undefined {
    const first = this.datagrams.values().next().value;
    return first === undefined ? undefined : first.firstAt + this.options.timeoutMs;
  }

  private tryComplete(key: string, d: Datagram): Uint8Array | undefined {
    if (d.total === undefined) return undefined;
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
    this.counters.inc('ip.reassembled');
    return out;
  }

  private reject(reason: LayerCounter<'ip'>): undefined {
    this.counters.inc(reason);
    return undefined;
  }

  private discard(key: string, d: Datagram, reason: LayerCounter<'ip'>): undefined {
    this.remove(key, d);
    return this.reject(reason);
  }

  private evictOldest(): void {
    const first = this.datagrams.entries().next().value;
    if (first !== undefined) this.discard(first[0], first[1], 'ip.reassembly_evicted');
  }

  private remove(key: string, d: Datagram): void {
    this.datagrams.delete(key);
    this.heldBytes -= d.bytes;
  }
}
