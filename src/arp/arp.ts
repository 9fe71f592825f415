// ARP (RFC 826) for one interface: answers who-has for our address, keeps a cache that ages and is
// refreshed while in use, and holds a bounded queue of IPv4 packets per address being resolved.
// Address conflicts (RFC 5227) are only observed here: a conflicting packet is counted and handed to the
// `AddressWatch` (ACD, acd.ts), which also names the tentative address being probed; what to do about a
// conflict (probe verdicts, defence) is its policy.

import { IPV4_ANY, MAC_BROADCAST, copyBytes, ipv4ToString, isMulticastMac, isUnicastSource, macToString, type Ipv4Addr, type MacAddr } from '../net/addr.ts';
import type { Counters } from '../net/counters.ts';
import { earliest } from '../net/deadline.ts';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, type LinkRxContext, type LinkSend } from '../net/ethernet.ts';
import type { NextHopResolver } from '../net/next-hop.ts';
import { OutPacket } from '../net/packet.ts';
import { TokenBucket } from '../net/token-bucket.ts';
import { ARP_REPLY, ARP_REQUEST, encodeArp, parseArp } from './arp-wire.ts';

/** An ARP packet from another host that conflicts with our address or with the one being probed (RFC 5227). */
export interface ArpConflict {
  /** Our address, or the tentative one being probed. */
  address: Ipv4Addr;
  /** The other host: the packet's sender hardware address. */
  mac: MacAddr;
  /**
   * `sender`: the packet's sender IP is `address` (a request, reply or announcement from a host using it;
   * RFC 5227 §2.1.1 and §2.4); `probe`: an ARP probe (sender IP 0.0.0.0) for the tentative address (§2.1.1).
   */
  kind: 'sender' | 'probe';
  op: typeof ARP_REQUEST | typeof ARP_REPLY;
  /** True when `address` is the tentative one (being probed), false when it is our configured address. */
  tentative: boolean;
}

/** Who watches our addresses for conflicts (RFC 5227): ACD. */
export interface AddressWatch {
  /** The address being probed (§2.1): never answered for nor used, but packets about it are reported. */
  readonly tentative: Ipv4Addr | undefined;
  /** A conflicting packet for our address or the tentative one. */
  conflict(c: ArpConflict, now: number): void;
}

export interface ArpOptions {
  /** How long an entry lives after its last confirmation. */
  cacheTtlMs: number;
  /** A used entry is re-asked (unicast) this long before it would expire. */
  refreshBeforeMs: number;
  /** Most cache entries; the one closest to expiry makes room. */
  maxEntries: number;
  /** Most addresses being resolved at once; packets for one more are dropped. */
  maxPendingAddresses: number;
  /** Most packets waiting for one address; later ones are dropped. */
  maxQueuedPerAddress: number;
  /** Time between requests for an unanswered address (and between refresh requests). */
  retryIntervalMs: number;
  /** Requests sent for one address before its waiting packets are dropped. */
  maxRequests: number;
  /** Gratuitous announcements on taking an address, and their spacing (RFC 5227 §2.3: 2, 2 s apart). */
  announceCount: number;
  announceIntervalMs: number;
  /** Broadcast requests per second (token bucket of that size): a flood of packets for absent hosts
   * cannot turn into a broadcast storm. */
  maxRequestsPerSecond: number;
}

export const defaultArpOptions: ArpOptions = {
  cacheTtlMs: 60_000,
  refreshBeforeMs: 5_000,
  maxEntries: 512,
  maxPendingAddresses: 64,
  maxQueuedPerAddress: 16,
  retryIntervalMs: 1_000,
  maxRequests: 3,
  announceCount: 2,
  announceIntervalMs: 2_000,
  maxRequestsPerSecond: 100,
};

interface Entry {
  mac: MacAddr;
  expiresAt: number;
  used: boolean;
  /** When the next refresh request is due (undefined: no refresh planned). */
  refreshAt: number | undefined;
}

interface Pending {
  queue: Array<Uint8Array | OutPacket>;
  requests: number;
  nextRequestAt: number;
}

export class Arp implements NextHopResolver<Ipv4Addr> {
  readonly options: ArpOptions;
  private address: Ipv4Addr | undefined;
  private readonly cache = new Map<Ipv4Addr, Entry>();
  private readonly pending = new Map<Ipv4Addr, Pending>();
  private announcementsLeft = 0;
  private nextAnnounceAt = 0;
  private readonly requestTokens: TokenBucket;

  constructor(
    private readonly mac: MacAddr,
    private readonly send: LinkSend,
    private readonly counters: Counters,
    private readonly log: (line: string) => void,
    private readonly watch: AddressWatch,
    options: Partial<ArpOptions> = {},
  ) {
    this.options = { ...defaultArpOptions, ...options };
    this.requestTokens = new TokenBucket(this.options.maxRequestsPerSecond, this.options.maxRequestsPerSecond);
  }

  /** Our protocol address, or `undefined` while we have none (then we answer no requests). */
  setAddress(address: Ipv4Addr | undefined, now: number): void {
    this.address = address;
    this.announcementsLeft = 0;
    if (address === undefined) {
      for (const [ip, p] of this.pending) this.dropPending(ip, p);
      return;
    }
    this.announcementsLeft = this.options.announceCount;
    this.nextAnnounceAt = now;
    this.poll(now);
  }

  /** An ARP probe for `target` (RFC 5227 §2.1.1): a broadcast request with sender IP 0.0.0.0 and target MAC 0. */
  sendProbe(target: Ipv4Addr): void {
    this.counters.inc('arp.tx_probe');
    this.send(MAC_BROADCAST, ETHERTYPE_ARP, encodeArp({ op: ARP_REQUEST, sha: this.mac, spa: IPV4_ANY, tha: 0, tpa: target }));
  }

  /** One ARP announcement of `address` (RFC 5227 §3): a broadcast request with sender and target IP both `address`. */
  announce(address: Ipv4Addr): void {
    this.counters.inc('arp.tx_announce');
    this.send(MAC_BROADCAST, ETHERTYPE_ARP, encodeArp({ op: ARP_REQUEST, sha: this.mac, spa: address, tha: 0, tpa: address }));
  }

  lookup(ip: Ipv4Addr): MacAddr | undefined {
    return this.cache.get(ip)?.mac;
  }

  get size(): number {
    return this.cache.size;
  }

  /** The cache as it stands, for status displays: each address, its MAC and when the entry expires. */
  entries(): { ip: Ipv4Addr; mac: MacAddr; expiresAt: number }[] {
    return [...this.cache].map(([ip, e]) => ({ ip, mac: e.mac, expiresAt: e.expiresAt }));
  }

  get pendingAddresses(): number {
    return this.pending.size;
  }

  receive(payload: Uint8Array, ctx: LinkRxContext): void {
    const now = ctx.now;
    const p = parseArp(payload);
    if (p === undefined) {
      this.counters.inc('arp.rx_malformed');
      return;
    }
    this.counters.inc('arp.rx');
    if (p.sha === this.mac || p.sha === 0 || isMulticastMac(p.sha) || !isUnicastSource(p.spa)) {
      this.counters.inc('arp.rx_bad_sender');
      return;
    }
    // Someone else uses our address (RFC 5227 §2.4) or the one we probe for (§2.1.1), or probes for the latter:
    // reported, neither learned nor answered.
    const t = this.watch.tentative;
    if (p.spa !== IPV4_ANY && (p.spa === this.address || p.spa === t)) {
      this.conflict({ address: p.spa, mac: p.sha, kind: 'sender', op: p.op, tentative: p.spa !== this.address }, now);
      return;
    }
    if (t !== undefined && p.spa === IPV4_ANY && p.op === ARP_REQUEST && p.tpa === t) {
      this.conflict({ address: t, mac: p.sha, kind: 'probe', op: p.op, tentative: true }, now);
      return;
    }
    // RFC 826 "Packet Reception": update an entry we already have from any ARP packet…
    let merged = false;
    if (p.spa !== IPV4_ANY && this.cache.has(p.spa)) {
      this.learn(p.spa, p.sha, now);
      merged = true;
    }
    const forUs = this.address !== undefined && p.tpa === this.address;
    // …add a new one only when we are the target (or we asked for the sender).
    if (!merged && p.spa !== IPV4_ANY && (forUs || this.pending.has(p.spa))) this.learn(p.spa, p.sha, now);
    if (forUs && p.op === ARP_REQUEST && this.address !== undefined) {
      this.counters.inc('arp.tx_reply');
      this.send(p.sha, ETHERTYPE_ARP, encodeArp({ op: ARP_REPLY, sha: this.mac, spa: this.address, tha: p.sha, tpa: p.spa }));
    }
  }

  /** Sends an IPv4 packet to a next hop on the link, resolving its hardware address first if needed. */
  sendVia(nextHop: Ipv4Addr, packet: Uint8Array | OutPacket, now: number): void {
    const e = this.cache.get(nextHop);
    if (e !== undefined && now < e.expiresAt) {
      e.used = true;
      this.send(e.mac, ETHERTYPE_IPV4, packet);
      return;
    }
    let p = this.pending.get(nextHop);
    if (p === undefined) {
      if (this.address === undefined) {
        this.counters.inc('arp.drop_no_address');
        return;
      }
      if (this.pending.size >= this.options.maxPendingAddresses) {
        // Make room by giving up the oldest resolution: packets for hosts that never answer (a flood of
        // SYNs from absent addresses, say) cannot keep a real neighbour from being resolved.
        const oldest = this.pending.entries().next().value;
        if (oldest !== undefined) this.dropPending(oldest[0], oldest[1]);
        this.counters.inc('arp.pending_evicted');
      }
      p = { queue: [], requests: 0, nextRequestAt: now };
      this.pending.set(nextHop, p);
    }
    if (p.queue.length >= this.options.maxQueuedPerAddress) {
      this.counters.inc('arp.drop_queue_full');
      return;
    }
    p.queue.push(packet instanceof OutPacket ? packet : copyBytes(packet)); // an OutPacket is ours already
    if (p.requests === 0) this.poll(now);
  }

  /** Does what has fallen due: requests, refreshes, expiry, announcements. */
  poll(now: number): void {
    const o = this.options;
    for (const [ip, p] of this.pending) {
      if (now < p.nextRequestAt) continue;
      if (p.requests >= o.maxRequests) {
        this.dropPending(ip, p);
        continue;
      }
      p.requests++;
      p.nextRequestAt = now + o.retryIntervalMs;
      this.request(ip, MAC_BROADCAST, now);
    }
    for (const [ip, e] of this.cache) {
      if (now >= e.expiresAt) {
        this.cache.delete(ip);
        this.counters.inc('arp.expired');
      } else if (e.refreshAt !== undefined && now >= e.refreshAt) {
        if (e.used) {
          // Refresh an entry in use with a unicast request before it expires (as Linux's "probe" state).
          this.request(ip, e.mac, now);
          e.refreshAt = now + o.retryIntervalMs < e.expiresAt ? now + o.retryIntervalMs : undefined;
        } else {
          e.refreshAt = undefined;
        }
      }
    }
    if (this.announcementsLeft > 0 && now >= this.nextAnnounceAt && this.address !== undefined) {
      this.log(`ARP: sending gratuitous from ${ipv4ToString(this.address)}`);
      this.announce(this.address);
      this.announcementsLeft--;
      this.nextAnnounceAt = now + o.announceIntervalMs;
    }
  }

  nextDeadline(): number | undefined {
    let d = this.announcementsLeft > 0 ? this.nextAnnounceAt : undefined;
    for (const p of this.pending.values()) d = earliest(d, p.nextRequestAt);
    for (const e of this.cache.values()) d = earliest(d, e.refreshAt ?? e.expiresAt);
    return d;
  }

  private conflict(c: ArpConflict, now: number): void {
    this.counters.inc('arp.conflict');
    this.watch.conflict(c, now);
  }

  private learn(ip: Ipv4Addr, mac: MacAddr, now: number): void {
    const o = this.options;
    const old = this.cache.get(ip);
    if (old === undefined && this.cache.size >= o.maxEntries) this.evictOne();
    this.cache.set(ip, {
      mac,
      expiresAt: now + o.cacheTtlMs,
      used: false,
      refreshAt: o.refreshBeforeMs > 0 ? now + o.cacheTtlMs - o.refreshBeforeMs : undefined,
    });
    const p = this.pending.get(ip);
    if (p !== undefined) {
      this.pending.delete(ip);
      const e = this.cache.get(ip);
      if (e) e.used = true;
      for (const packet of p.queue) this.send(mac, ETHERTYPE_IPV4, packet);
    }
  }

  private evictOne(): void {
    let victim: Ipv4Addr | undefined;
    let soonest = Infinity;
    for (const [ip, e] of this.cache) {
      if (e.expiresAt < soonest) {
        soonest = e.expiresAt;
        victim = ip;
      }
    }
    if (victim !== undefined) {
      this.cache.delete(victim);
      this.counters.inc('arp.evicted');
    }
  }

  private dropPending(ip: Ipv4Addr, p: Pending): void {
    this.pending.delete(ip);
    this.counters.inc('arp.drop_unresolved', p.queue.length);
  }

  private request(target: Ipv4Addr, dstMac: MacAddr, now: number): void {
    if (this.address === undefined) return;
    if (dstMac === MAC_BROADCAST && !this.requestTokens.take(now)) {
      this.counters.inc('arp.tx_request_limited');
      return;
    }
    this.counters.inc('arp.tx_request');
    this.send(dstMac, ETHERTYPE_ARP, encodeArp({ op: ARP_REQUEST, sha: this.mac, spa: this.address, tha: 0, tpa: target }));
  }
}
