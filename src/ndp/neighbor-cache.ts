// The neighbour cache of RFC 4861 §7.3, sans I/O: each neighbour's link-layer address and reachability state
// (INCOMPLETE, REACHABLE, STALE, DELAY, PROBE) with its timers, a bounded queue of packets per neighbour being
// resolved, and neighbour unreachability detection. It is IPv6's next-hop resolver (`NextHopResolver`), as ARP is
// IPv4's: solicitations, packets and the news that a neighbour is unreachable go out through `NeighborIo`.
//
//   (none) ─send─▶ INCOMPLETE ─NA─▶ REACHABLE (solicited) or STALE; no answer after MAX_MULTICAST_SOLICIT → gone
//   REACHABLE ─ReachableTime─▶ STALE ─send─▶ DELAY ─DELAY_FIRST_PROBE_TIME─▶ PROBE ─MAX_UNICAST_SOLICIT─▶ gone
//   DELAY, PROBE ─confirmation (solicited NA, or the upper layer)─▶ REACHABLE

import type { Ipv6Addr, MacAddr } from '../net/addr.ts';
import type { Counters } from '../net/counters.ts';
import { earliest } from '../net/deadline.ts';
import type { NextHopResolver } from '../net/next-hop.ts';
import type { OutPacket } from '../net/packet.ts';
import type { Random } from '../random.ts';
import { TokenBucket } from '../net/token-bucket.ts';

export type NeighborState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE';

export interface NeighborOptions {
  /** BaseReachableTime (§10: 30 s); a router advertisement may change it. ReachableTime is 0.5–1.5 times it. */
  baseReachableTimeMs: number;
  /** RetransTimer (§10: 1 s): between solicitations; a router advertisement may change it. */
  retransTimerMs: number;
  /** MAX_MULTICAST_SOLICIT (3): multicast solicitations before an INCOMPLETE neighbour is given up. */
  maxMulticastSolicit: number;
  /** MAX_UNICAST_SOLICIT (3): unicast probes before a PROBE neighbour is given up. */
  maxUnicastSolicit: number;
  /** DELAY_FIRST_PROBE_TIME (5 s). */
  delayFirstProbeMs: number;
  /** Most entries; the least recently used that is not being resolved makes room. */
  maxEntries: number;
  /** Most neighbours being resolved at once; the oldest resolution is given up for a new one. */
  maxIncomplete: number;
  /** Most packets waiting for one neighbour; a new one replaces the oldest (§7.2.2). */
  maxQueuedPerNeighbor: number;
  /** Multicast solicitations per second (token bucket of that size): a flood toward absent hosts stays bounded. */
  maxSolicitsPerSecond: number;
}

/** RFC 4861 §10, and the same bounds as ARP's. */
export const defaultNeighborOptions: NeighborOptions = {
  baseReachableTimeMs: 30_000,
  retransTimerMs: 1_000,
  maxMulticastSolicit: 3,
  maxUnicastSolicit: 3,
  delayFirstProbeMs: 5_000,
  maxEntries: 512,
  maxIncomplete: 64,
  maxQueuedPerNeighbor: 16,
  maxSolicitsPerSecond: 100,
};

export interface NeighborIo {
  /** Sends a Neighbor Solicitation for `target`: multicast to its solicited-node group, or unicast to `mac` (a probe). */
  solicit(target: Ipv6Addr, mac: MacAddr | undefined, now: number): void;
  /** Sends a packet that waited for (or found) the neighbour's link-layer address. */
  transmit(mac: MacAddr, packet: Uint8Array | OutPacket, now: number): void;
  /** The neighbour did not answer (§7.3.3): its queued packets are dropped (ICMPv6 address unreachable is the caller's). */
  unreachable(address: Ipv6Addr, dropped: number, now: number): void;
}

interface Entry {
  state: NeighborState;
  mac: MacAddr | undefined;
  isRouter: boolean;
  /** INCOMPLETE: packets waiting; the solicitations sent. PROBE: the probes sent. */
  queue: Array<Uint8Array | OutPacket>;
  sent: number;
  /** When the state's timer next fires (REACHABLE: its end; DELAY: the first probe; INCOMPLETE, PROBE: the next solicitation). */
  at: number | undefined;
  usedAt: number;
}

/** What the cache was told about a neighbour in a message (§7.2.3–§7.2.5, §6.3.4, §8.3). */
export interface NeighborNews {
  address: Ipv6Addr;
  /** The link-layer address the message gave (source or target link-layer address option). */
  mac: MacAddr | undefined;
  /** A solicited advertisement: the neighbour is reachable (§7.3.1). */
  solicited: boolean;
  /** The Override flag of an NA; messages other than NA override (§7.2.3: an NS's source address updates). */
  override: boolean;
  /** The Router flag of an NA, when the message was one. */
  isRouter?: boolean;
}

export class NeighborCache implements NextHopResolver<Ipv6Addr> {
  readonly options: NeighborOptions;
  private readonly entries = new Map<Ipv6Addr, Entry>();
  private reachableTimeMs: number;
  private readonly solicits: TokenBucket;

  constructor(
    private readonly io: NeighborIo,
    private readonly counters: Counters,
    private readonly random: Random,
    options: Partial<NeighborOptions> = {},
  ) {
    this.options = { ...defaultNeighborOptions, ...options };
    this.reachableTimeMs = this.pickReachableTime();
    this.solicits = new TokenBucket(this.options.maxSolicitsPerSecond, this.options.maxSolicitsPerSecond);
  }

  /** §6.3.4: a router advertisement's Reachable Time (when non-zero) and Retrans Timer (when non-zero). */
  setTimes(baseReachableTimeMs: number, retransTimerMs: number): void {
    if (baseReachableTimeMs > 0 && baseReachableTimeMs !== this.options.baseReachableTimeMs) {
      this.options.baseReachableTimeMs = baseReachableTimeMs;
      this.reachableTimeMs = this.pickReachableTime();
    }
    if (retransTimerMs > 0) this.options.retransTimerMs = retransTimerMs;
  }

  /** ReachableTime in force: BaseReachableTime times a random factor in [0.5, 1.5) (§6.3.2). */
  get reachableTime(): number {
    return this.reachableTimeMs;
  }

  get size(): number {
    return this.entries.size;
  }

  state(address: Ipv6Addr): NeighborState | undefined {
    return this.entries.get(address)?.state;
  }

  lookup(address: Ipv6Addr): MacAddr | undefined {
    return this.entries.get(address)?.mac;
  }

  /** The cache for status displays. */
  list(): { address: Ipv6Addr; mac: MacAddr | undefined; state: NeighborState; isRouter: boolean }[] {
    return [...this.entries].map(([address, e]) => ({ address, mac: e.mac, state: e.state, isRouter: e.isRouter }));
  }

  /** Sends `packet` to the on-link neighbour `nextHop` (§7.2.2, §7.3.3). */
  sendVia(nextHop: Ipv6Addr, packet: Uint8Array | OutPacket, now: number): void {
    const e = this.entries.get(nextHop);
    if (e === undefined) {
      const n = this.create(nextHop, 'INCOMPLETE', undefined, now);
      n.queue.push(packet);
      this.solicitMulticast(nextHop, n, now);
      return;
    }
    e.usedAt = now;
    if (e.state === 'INCOMPLETE' || e.mac === undefined) {
      // §7.2.2: a small queue; when it overflows, the new arrival replaces the oldest.
      if (e.queue.length >= this.options.maxQueuedPerNeighbor) {
        e.queue.shift();
        this.counters.inc('nd.drop_queue_full');
      }
      e.queue.push(packet);
      return;
    }
    this.expire(e, now);
    // §7.3.3: the first packet to a STALE neighbour moves it to DELAY.
    if (e.state === 'STALE') this.enter(e, 'DELAY', now + this.options.delayFirstProbeMs);
    this.io.transmit(e.mac, packet, now);
  }

  /** What a received NS, NA, RS, RA or Redirect said about a neighbour (§7.2.3, §7.2.5, §6.2.6, §6.3.4, §8.3). */
  learn(n: NeighborNews, now: number): void {
    const e = this.entries.get(n.address);
    if (e === undefined) {
      // An NS, RS, RA or Redirect that carries the neighbour's link-layer address makes a STALE entry (§7.2.3,
      // §6.2.6, §6.3.4, §8.3); an NA for a neighbour with no entry is silently discarded (§7.2.5).
      if (n.mac === undefined || n.isRouter !== undefined) return;
      this.create(n.address, 'STALE', n.mac, now).isRouter = n.isRouter ?? false;
      return;
    }
    if (n.isRouter !== undefined) e.isRouter = n.isRouter;
    if (e.state === 'INCOMPLETE') {
      if (n.mac === undefined) return; // §7.2.5: an NA without the address it was asked for is discarded
      e.mac = n.mac;
      this.enter(e, n.solicited ? 'REACHABLE' : 'STALE', n.solicited ? now + this.reachableTimeMs : undefined);
      const queue = e.queue;
      e.queue = [];
      for (const p of queue) this.io.transmit(n.mac, p, now);
      return;
    }
    const changed = n.mac !== undefined && n.mac !== e.mac;
    if (n.isRouter !== undefined && !n.override && changed) {
      // §7.2.5: an NA without Override that names another address: REACHABLE becomes STALE, nothing is updated.
      if (e.state === 'REACHABLE') this.enter(e, 'STALE', undefined);
      return;
    }
    if (changed) e.mac = n.mac;
    if (n.solicited) this.enter(e, 'REACHABLE', now + this.reachableTimeMs);
    else if (changed) this.enter(e, 'STALE', undefined);
  }

  /** An upper layer saw forward progress (§7.3.1: new data acknowledged): the neighbour is reachable. */
  confirm(address: Ipv6Addr, now: number): void {
    const e = this.entries.get(address);
    if (e === undefined || e.mac === undefined) return;
    this.enter(e, 'REACHABLE', now + this.reachableTimeMs);
  }

  /** Forgets a neighbour (its address changed hands, or the interface lost its address). */
  forget(address: Ipv6Addr): void {
    this.entries.delete(address);
  }

  poll(now: number): void {
    const o = this.options;
    for (const [address, e] of this.entries) {
      if (e.at === undefined || now < e.at) continue;
      switch (e.state) {
        case 'INCOMPLETE':
          if (e.sent >= o.maxMulticastSolicit) this.giveUp(address, e, now);
          else this.solicitMulticast(address, e, now);
          break;
        case 'REACHABLE':
          this.enter(e, 'STALE', undefined);
          break;
        case 'DELAY':
          this.enter(e, 'PROBE', now);
          e.sent = 0;
          this.probe(address, e, now);
          break;
        case 'PROBE':
          if (e.sent >= o.maxUnicastSolicit) this.giveUp(address, e, now);
          else this.probe(address, e, now);
          break;
        case 'STALE':
          break;
      }
    }
  }

  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const e of this.entries.values()) d = earliest(d, e.at);
    return d;
  }

  /** REACHABLE whose time is over is STALE (also checked lazily, between polls). */
  private expire(e: Entry, now: number): void {
    if (e.state === 'REACHABLE' && e.at !== undefined && now >= e.at) this.enter(e, 'STALE', undefined);
  }

  private enter(e: Entry, state: NeighborState, at: number | undefined): void {
    e.state = state;
    e.at = at;
    if (state !== 'INCOMPLETE' && state !== 'PROBE') e.sent = 0;
  }

  private create(address: Ipv6Addr, state: NeighborState, mac: MacAddr | undefined, now: number): Entry {
    const o = this.options;
    if (state === 'INCOMPLETE') {
      let incomplete = 0;
      for (const e of this.entries.values()) if (e.state === 'INCOMPLETE') incomplete++;
      if (incomplete >= o.maxIncomplete) this.evict(true, now);
    }
    if (this.entries.size >= o.maxEntries) this.evict(false, now);
    const e: Entry = { state, mac, isRouter: false, queue: [], sent: 0, at: undefined, usedAt: now };
    this.entries.set(address, e);
    return e;
  }

  /** Makes room: the oldest resolution (`incomplete`), or the least recently used entry not being resolved. */
  private evict(incomplete: boolean, now: number): void {
    let victim: [Ipv6Addr, Entry] | undefined;
    for (const kv of this.entries) {
      const e = kv[1];
      if ((e.state === 'INCOMPLETE') !== incomplete) continue;
      if (victim === undefined || e.usedAt < victim[1].usedAt) victim = kv;
    }
    if (victim === undefined) return;
    this.counters.inc('nd.evicted');
    if (incomplete) this.giveUp(victim[0], victim[1], now);
    else this.entries.delete(victim[0]);
  }

  private solicitMulticast(address: Ipv6Addr, e: Entry, now: number): void {
    e.at = now + this.options.retransTimerMs;
    if (!this.solicits.take(now)) {
      this.counters.inc('nd.tx_solicit_limited');
      return;
    }
    e.sent++;
    this.counters.inc('nd.tx_solicit');
    this.io.solicit(address, undefined, now);
  }

  private probe(address: Ipv6Addr, e: Entry, now: number): void {
    e.sent++;
    e.at = now + this.options.retransTimerMs;
    this.counters.inc('nd.tx_probe');
    this.io.solicit(address, e.mac, now);
  }

  private giveUp(address: Ipv6Addr, e: Entry, now: number): void {
    this.entries.delete(address);
    this.counters.inc('nd.unreachable');
    this.io.unreachable(address, e.queue.length, now);
  }

  private pickReachableTime(): number {
    return Math.floor(this.options.baseReachableTimeMs * (0.5 + this.random()));
  }
}
