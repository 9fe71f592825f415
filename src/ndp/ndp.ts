// Neighbour discovery for one interface (RFC 4861), with address autoconfiguration (RFC 4862) and MLDv2
// reports (RFC 3810): it answers solicitations for our addresses, resolves neighbours (neighbor-cache.ts),
// detects duplicate addresses and forms addresses from advertised prefixes (addresses.ts), follows the routers'
// advertisements (router-discovery.ts), and reports the multicast groups it listens to. It tells IPv6 what is
// ours, what is joined and where a packet goes next (`Ipv6Config`). Sans I/O: messages go out through `NdpIo`.

import {
  IPV6_ALL_MLDV2_ROUTERS, IPV6_ALL_NODES, IPV6_ALL_ROUTERS, IPV6_ANY, ipv6MulticastMac, ipv6ToString, isIpv6, isIpv6LinkLocal, isIpv6Multicast,
  solicitedNode, type Ipv6Addr, type MacAddr,
} from '../net/addr.ts';
import type { Counters } from '../net/counters.ts';
import { earliest } from '../net/deadline.ts';
import { ETHERTYPE_IPV6, type LinkSend } from '../net/ethernet.ts';
import type { Icmpv6Message } from '../net/icmpv6-wire.ts';
import type { RxContext } from '../net/ip.ts';
import type { Ipv6Config } from '../net/ipv6.ts';
import type { OutPacket } from '../net/packet.ts';
import type { Random } from '../random.ts';
import { Ipv6Addresses, type AddressOptions, type AddressOrigin } from './addresses.ts';
import { MldReporter, type MldReporterOptions } from './mld-reporter.ts';
import { CHANGE_TO_EXCLUDE, CHANGE_TO_INCLUDE, mldv2Report, parseMldQuery, type MldRecord } from './mld-wire.ts';
import { NeighborCache, type NeighborOptions } from './neighbor-cache.ts';
import { checkNdHeader, neighborAdvertisement, neighborSolicitation, parseNd, routerSolicitation, type NdMessage } from './ndp-wire.ts';
import { RouterDiscovery, type RouterDiscoveryOptions } from './router-discovery.ts';

export interface NdpOptions {
  neighbors: Partial<NeighborOptions>;
  addresses: Partial<AddressOptions>;
  routers: Partial<RouterDiscoveryOptions>;
  mld: Partial<MldReporterOptions>;
}

/** How neighbour discovery sends: ICMPv6 through the IPv6 layer, and queued packets straight to the link. */
export interface NdpIo {
  /** Sends an ICMPv6 message (the checksum is the IPv6 layer's to complete: it knows the pseudo-header). */
  sendIcmpv6(dst: Ipv6Addr, m: Icmpv6Message, now: number, opts: { src: Ipv6Addr; hopLimit: number; routerAlert?: boolean }): void;
  link: LinkSend;
  /** The link MTU or hop limit a router advertised. */
  linkParameters(mtu: number | undefined, hopLimit: number | undefined): void;
  log(line: string): void;
}

/**
 * What neighbour discovery leaves to the stack above it (`takeEvents`): the routers' request for DHCPv6, and an
 * address that duplicate address detection took away (a DHCPv6 lease must then be declined).
 */
export type NdpEvent =
  | { kind: 'dhcpv6'; managed: boolean; other: boolean }
  | { kind: 'duplicate'; address: Ipv6Addr; origin: AddressOrigin };

export class NeighborDiscovery implements Ipv6Config {
  readonly cache: NeighborCache;
  readonly addresses: Ipv6Addresses;
  readonly routers: RouterDiscovery;
  /** The groups we listen to, besides all-nodes: the solicited-node groups of our addresses. */
  private readonly joined = new Set<Ipv6Addr>();
  private readonly mld: MldReporter;
  /** `--gateway6`: the operator's default router, chosen before any advertised one. */
  private staticRouter: Ipv6Addr | undefined;
  private dns: { servers: Ipv6Addr[]; expiresAt: number } | undefined;
  private events: NdpEvent[] = [];

  constructor(
    private readonly mac: MacAddr,
    secret: Uint8Array,
    linkMtu: number,
    private readonly io: NdpIo,
    private readonly counters: Counters,
    random: Random,
    options: Partial<NdpOptions> = {},
  ) {
    this.cache = new NeighborCache(
      {
        solicit: (target, unicast, now) => this.solicit(target, unicast, now),
        transmit: (m, packet, _now) => io.link(m, ETHERTYPE_IPV6, packet),
        unreachable: (address, dropped) => {
          if (dropped > 0) io.log(`IPv6: neighbour ${ipv6ToString(address)} unreachable, ${dropped} packets dropped`);
        },
      },
      counters, random, options.neighbors,
    );
    this.addresses = new Ipv6Addresses(mac, secret, random, options.addresses);
    this.routers = new RouterDiscovery(random, linkMtu, options.routers);
    this.mld = new MldReporter(random, options.mld);
  }

  /** Brings IPv6 up: the link-local address (detected first), then router solicitations. */
  start(now: number): void {
    this.addresses.addLinkLocal(now);
    this.settle(now);
  }

  /** A static address (`--ipv6 ADDR/PREFIX`), detected before use like any other, with its default router if given. */
  addStatic(address: Ipv6Addr, prefixLength: number, now: number, gateway?: Ipv6Addr): void {
    this.addresses.addStatic(address, prefixLength, now);
    if (gateway !== undefined) {
      this.staticRouter = gateway;
      this.io.log(`IPv6: static default router ${ipv6ToString(gateway)}`);
    }
    this.settle(now);
  }

  /** The addresses a DHCPv6 lease gives (see Ipv6Addresses.setLeased): detected, then used. */
  setLeased(leased: readonly { address: Ipv6Addr; preferredUntil: number; validUntil: number }[], now: number): void {
    this.addresses.setLeased(leased, now);
    this.settle(now);
  }

  /** Our link-local address once it passed duplicate address detection. */
  get linkLocal(): Ipv6Addr | undefined {
    return this.addresses.list().find((a) => a.origin === 'link-local' && a.state !== 'tentative')?.address;
  }

  takeEvents(): NdpEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  get hasEvents(): boolean {
    return this.events.length > 0;
  }

  /** DNS servers advertised (RFC 8106), while their lifetime lasts. */
  dnsServers(now: number): Ipv6Addr[] {
    return this.dns !== undefined && now < this.dns.expiresAt ? this.dns.servers : [];
  }

  // ——— Ipv6Config ———

  isAssigned(a: Ipv6Addr): boolean {
    return this.addresses.isAssigned(a);
  }

  isJoined(group: Ipv6Addr): boolean {
    return group === IPV6_ALL_NODES || this.joined.has(group);
  }

  selectSource(dst: Ipv6Addr): Ipv6Addr | undefined {
    return this.addresses.selectSource(dst);
  }

  /** RFC 4861 §5.2 next-hop determination: on-link destinations directly, the rest through a default router. */
  nextHop(dst: Ipv6Addr, now: number): Ipv6Addr | undefined {
    if (isIpv6LinkLocal(dst) || this.routers.isOnLink(dst, now) || this.onLinkByAddress(dst)) return dst;
    return this.staticRouter ?? this.routers.defaultRouters(now)[0];
  }

  /** The 33:33 MACs of the groups we listen to (RFC 2464 §7): Ethernet takes those, and no other multicast. */
  acceptsMac(m: MacAddr): boolean {
    if (m === ipv6MulticastMac(IPV6_ALL_NODES)) return true;
    for (const g of this.joined) if (ipv6MulticastMac(g) === m) return true;
    return false;
  }

  // ——— Input ———

  /** A neighbour discovery message (ICMPv6 types 133–137) that IPv6 delivered. */
  receive(m: Icmpv6Message, ctx: RxContext): void {
    const now = ctx.now;
    const src = ctx.src;
    const dst = ctx.dst;
    if (!isIpv6(src) || !isIpv6(dst)) return;
    const parsed = parseNd(m);
    if (!parsed.ok) {
      this.counters.inc('icmp6.rx_nd_bad');
      return;
    }
    const nd = parsed.message;
    // RFC 4861 §6.1, §7.1: hop limit 255, and the rules that need the IP header.
    if (checkNdHeader(nd, ctx.hopLimit, src, dst) !== undefined) {
      this.counters.inc('icmp6.rx_nd_bad');
      return;
    }
    switch (nd.kind) {
      case 'ns':
        this.onSolicitation(nd, src, now);
        break;
      case 'na':
        this.onAdvertisement(nd, now);
        break;
      case 'ra':
        if (nd.options.sourceLla !== undefined) this.cache.learn({ address: src, mac: nd.options.sourceLla, solicited: false, override: true }, now);
        this.routers.receiveAdvertisement(nd, src, now);
        break;
      case 'rs':
      case 'redirect':
        // §6.2.6: a host discards solicitations; redirects are not followed (we keep our routes).
        break;
    }
    this.settle(now);
  }

  /** An MLD query (RFC 3810 §6.2): our groups (or the one asked about, if ours) are reported after a random delay. */
  receiveQuery(m: Icmpv6Message, ctx: RxContext): void {
    const q = parseMldQuery(m);
    if (q === undefined || ctx.hopLimit !== 1) return;
    if (q.group !== IPV6_ANY && !this.joined.has(q.group)) return;
    this.mld.query(q.group === IPV6_ANY ? undefined : q.group, q.maxResponseMs, ctx.now);
  }

  private onSolicitation(ns: Extract<NdMessage, { kind: 'ns' }>, src: Ipv6Addr, now: number): void {
    const fromUnspecified = src === IPV6_ANY;
    const verdict = this.addresses.solicitationFor(ns.target, fromUnspecified, ns.options.nonce, now);
    if (verdict === 'duplicate') {
      this.io.log(`IPv6: ${ipv6ToString(ns.target)} is in use by another host (DAD): not used`);
      return;
    }
    if (verdict !== 'ours') return;
    // §7.2.3: learn the sender, then answer; §7.2.4: to a solicitation from :: (another host's DAD for our
    // address), the advertisement goes to all nodes, not solicited.
    if (!fromUnspecified && ns.options.sourceLla !== undefined) this.cache.learn({ address: src, mac: ns.options.sourceLla, solicited: false, override: true }, now);
    const na = neighborAdvertisement(ns.target, { router: false, solicited: !fromUnspecified, override: true }, { targetLla: this.mac });
    this.io.sendIcmpv6(fromUnspecified ? IPV6_ALL_NODES : src, na, now, { src: ns.target, hopLimit: 255 });
  }

  private onAdvertisement(na: Extract<NdMessage, { kind: 'na' }>, now: number): void {
    const verdict = this.addresses.advertisementFor(na.target, now);
    if (verdict === 'duplicate') {
      this.io.log(`IPv6: ${ipv6ToString(na.target)} is in use by another host (DAD): not used`);
      return;
    }
    if (verdict === 'conflict') {
      // §5.4.4 of RFC 4862: another host advertises an address of ours; logged and counted, the address kept.
      this.counters.inc('nd.conflict');
      this.io.log(`IPv6: another host advertises our ${ipv6ToString(na.target)}`);
      return;
    }
    this.cache.learn({ address: na.target, mac: na.options.targetLla, solicited: na.solicited, override: na.override, isRouter: na.router }, now);
  }

  // ——— Output ———

  /** §7.2.2: a multicast solicitation to the target's solicited-node group, or a unicast probe, from one of our addresses. */
  private solicit(target: Ipv6Addr, unicast: MacAddr | undefined, now: number): void {
    const src = this.addresses.selectSource(target);
    if (src === undefined) return; // no usable address yet: nothing to resolve from
    const ns = neighborSolicitation(target, { sourceLla: this.mac });
    if (unicast === undefined) this.io.sendIcmpv6(solicitedNode(target), ns, now, { src, hopLimit: 255 });
    else this.io.sendIcmpv6(target, ns, now, { src, hopLimit: 255 });
  }

  /** MLDv2 reports go to all MLDv2 routers with hop limit 1 and a Router Alert, from the link-local address or :: (§5.2.13). */
  private report(records: MldRecord[], now: number): void {
    const ll = this.linkLocal ?? IPV6_ANY;
    this.io.sendIcmpv6(IPV6_ALL_MLDV2_ROUTERS, mldv2Report(records), now, { src: ll, hopLimit: 1, routerAlert: true });
  }

  /** Applies what the address list and router discovery asked for, until they ask no more. */
  private settle(now: number): void {
    for (let round = 0; round < 16; round++) {
      const fromAddresses = this.addresses.takeEvents();
      const fromRouters = this.routers.takeEvents();
      if (fromAddresses.length === 0 && fromRouters.length === 0) return;
      for (const e of fromAddresses) {
        switch (e.kind) {
          case 'join':
            this.joined.add(e.group);
            this.report(this.mld.change({ type: CHANGE_TO_EXCLUDE, group: e.group, sources: [] }, now), now);
            break;
          case 'leave':
            this.joined.delete(e.group);
            this.report(this.mld.change({ type: CHANGE_TO_INCLUDE, group: e.group, sources: [] }, now), now);
            break;
          case 'dad':
            // RFC 4862 §5.4.2: from the unspecified address to the solicited-node group, without a source address option.
            this.io.sendIcmpv6(solicitedNode(e.target), neighborSolicitation(e.target, { nonce: e.nonce }), now, { src: IPV6_ANY, hopLimit: 255 });
            break;
          case 'added':
            this.io.log(`IPv6: ${ipv6ToString(e.address)} ready (${e.origin})`);
            if (e.origin === 'slaac') this.io.log(`SLAAC: ${ipv6ToString(e.address)}/${e.prefixLength} from prefix ${ipv6ToString(e.prefix)}/${e.prefixLength}`);
            if (e.origin === 'dhcpv6') this.io.log(`DHCPv6: bound to ${ipv6ToString(e.address)}`);
            // RFC 4861 §7.2.6: tell the link at once (neighbours may have cached another host's address for it).
            this.io.sendIcmpv6(IPV6_ALL_NODES, neighborAdvertisement(e.address, { router: false, solicited: false, override: true }, { targetLla: this.mac }), now, { src: e.address, hopLimit: 255 });
            if (e.origin === 'link-local') this.routers.start(now);
            break;
          case 'deprecated':
            this.io.log(`IPv6: ${ipv6ToString(e.address)} deprecated (its preferred lifetime ended)`);
            break;
          case 'removed':
            this.io.log(`IPv6: ${ipv6ToString(e.address)} removed (${e.reason})`);
            if (e.reason === 'duplicate') this.events.push({ kind: 'duplicate', address: e.address, origin: e.origin });
            break;
        }
      }
      for (const e of fromRouters) {
        switch (e.kind) {
          case 'solicit': {
            const src = this.linkLocal;
            // §6.3.7: from the link-local address with our link-layer address (or from :: without it).
            const rs = routerSolicitation(src === undefined ? {} : { sourceLla: this.mac });
            this.io.sendIcmpv6(IPV6_ALL_ROUTERS, rs, now, { src: src ?? IPV6_ANY, hopLimit: 255 });
            break;
          }
          case 'autoconf':
            this.addresses.autoconf(e.prefix, e.validLifetime, e.preferredLifetime, now);
            break;
          case 'link':
            if (e.reachableTimeMs !== undefined || e.retransTimerMs !== undefined) this.cache.setTimes(e.reachableTimeMs ?? 0, e.retransTimerMs ?? 0);
            this.io.linkParameters(e.mtu, e.hopLimit);
            break;
          case 'dns':
            this.dns = { servers: e.servers, expiresAt: e.expiresAt };
            break;
          case 'dhcpv6':
            this.events.push({ kind: 'dhcpv6', managed: e.managed, other: e.other });
            break;
          case 'routers':
            break;
        }
      }
    }
  }

  poll(now: number): void {
    this.cache.poll(now);
    this.addresses.poll(now);
    this.routers.poll(now);
    this.settle(now);
    const repeated = this.mld.due(now, this.joined);
    if (repeated.length > 0) this.report(repeated, now);
  }

  nextDeadline(): number | undefined {
    return earliest(this.cache.nextDeadline(), this.addresses.nextDeadline(), this.routers.nextDeadline(), this.mld.nextDeadline());
  }

  /** A destination inside the prefix of one of our addresses (a static /64, say) is on-link too. */
  private onLinkByAddress(dst: Ipv6Addr): boolean {
    for (const a of this.addresses.list()) {
      if (a.origin !== 'static' || isIpv6Multicast(dst)) continue;
      const shift = BigInt(128 - a.prefixLength);
      if (a.address >> shift === dst >> shift) return true;
    }
    return false;
  }

  /** Resolves (or queues for) the neighbour `nextHop`; the cache's NextHopResolver. */
  sendVia(nextHop: Ipv6Addr, packet: Uint8Array | OutPacket, now: number): void {
    this.cache.sendVia(nextHop, packet, now);
  }
}
