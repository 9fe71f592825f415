// Router discovery on the host side (RFC 4861 §6.3), sans I/O: router solicitations when the interface comes
// up (§6.3.7), and what router advertisements bring (§6.3.4): the default router list, the prefix list
// (on-link determination, §6.3.5), the link MTU, hop limit, reachable time and retrans timer, prefixes for
// stateless autoconfiguration (RFC 4862 §5.5.3), the M and O flags for DHCPv6, and DNS servers (RFC 8106).
// Lifetimes run out by `poll`. What the stack must act on comes out as events (`takeEvents`).

import type { Ipv6Addr } from '../net/addr.ts';
import { earliest } from '../net/deadline.ts';
import { IPV6_MIN_MTU } from '../net/ipv6-wire.ts';
import type { Random } from '../random.ts';
import type { NdMessage, PrefixInfo } from './ndp-wire.ts';

export interface RouterDiscoveryOptions {
  /** MAX_RTR_SOLICITATION_DELAY (1 s): the first solicitation waits a random time up to this. */
  maxSolicitationDelayMs: number;
  /** RTR_SOLICITATION_INTERVAL (4 s). */
  solicitationIntervalMs: number;
  /** MAX_RTR_SOLICITATIONS (3); 0: none (the routers' periodic advertisements will come). */
  maxSolicitations: number;
  /** Most default routers and prefixes kept (each list); a new one past it is ignored. */
  maxRouters: number;
  maxPrefixes: number;
}

export const defaultRouterDiscoveryOptions: RouterDiscoveryOptions = {
  maxSolicitationDelayMs: 1000,
  solicitationIntervalMs: 4000,
  maxSolicitations: 3,
  maxRouters: 8,
  maxPrefixes: 16,
};

/** Infinity in an RA's lifetimes (RFC 4861 §4.6.2). */
export const LIFETIME_INFINITE = 0xffffffff;

export type RouterEvent =
  /** Send a Router Solicitation now. */
  | { kind: 'solicit' }
  /** A prefix for stateless autoconfiguration (RFC 4862 §5.5.3), lifetimes in seconds (0xffffffff: infinite). */
  | { kind: 'autoconf'; prefix: Ipv6Addr; validLifetime: number; preferredLifetime: number }
  /** The routers' M and O flags changed (or were first seen): run DHCPv6 for addresses, or for other configuration. */
  | { kind: 'dhcpv6'; managed: boolean; other: boolean }
  /** The link's MTU (RFC 4861 §6.3.4 MTU option), the current hop limit, reachable time and retrans timer. */
  | { kind: 'link'; mtu: number | undefined; hopLimit: number | undefined; reachableTimeMs: number | undefined; retransTimerMs: number | undefined }
  /** DNS servers (RFC 8106), until `expiresAt`. */
  | { kind: 'dns'; servers: Ipv6Addr[]; expiresAt: number }
  /** The default router list changed. */
  | { kind: 'routers' };

interface Router {
  expiresAt: number;
}

interface OnLinkPrefix {
  prefix: Ipv6Addr;
  length: number;
  /** undefined: infinite. */
  expiresAt: number | undefined;
}

export class RouterDiscovery {
  readonly options: RouterDiscoveryOptions;
  private readonly routers = new Map<Ipv6Addr, Router>();
  private readonly prefixes = new Map<string, OnLinkPrefix>();
  private solicitationsSent = 0;
  private nextSolicitationAt: number | undefined;
  private flags: { managed: boolean; other: boolean } | undefined;
  private events: RouterEvent[] = [];

  constructor(
    private readonly random: Random,
    /** The link's own MTU: an advertised MTU above it is ignored (§6.3.4). */
    private readonly linkMtu: number,
    options: Partial<RouterDiscoveryOptions> = {},
  ) {
    this.options = { ...defaultRouterDiscoveryOptions, ...options };
  }

  takeEvents(): RouterEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** The interface came up (with a link-local address): solicit after a random delay (§6.3.7). */
  start(now: number): void {
    this.solicitationsSent = 0;
    this.nextSolicitationAt = this.options.maxSolicitations > 0 ? now + this.random() * this.options.maxSolicitationDelayMs : undefined;
  }

  /** The default routers in the list (§6.3.6 picks among them), most recently advertised last. */
  defaultRouters(now: number): Ipv6Addr[] {
    return [...this.routers].filter(([, r]) => now < r.expiresAt).map(([a]) => a);
  }

  /** Whether `address` is on-link by an advertised prefix (§6.3.5; link-local addresses always are). */
  isOnLink(address: Ipv6Addr, now: number): boolean {
    if (address >> 118n === 0x3fan) return true;
    for (const p of this.prefixes.values()) {
      if (p.expiresAt !== undefined && now >= p.expiresAt) continue;
      const shift = BigInt(128 - p.length);
      if (address >> shift === p.prefix >> shift) return true;
    }
    return false;
  }

  /** A Router Advertisement that passed validation (ndp-wire's parse and checkNdHeader), from `src`. */
  receiveAdvertisement(ra: Extract<NdMessage, { kind: 'ra' }>, src: Ipv6Addr, now: number): void {
    const o = this.options;
    // §6.3.7: a host stops soliciting once it has an advertisement.
    this.nextSolicitationAt = undefined;
    // §6.3.4: the default router list.
    if (ra.routerLifetime === 0) {
      if (this.routers.delete(src)) this.events.push({ kind: 'routers' });
    } else if (this.routers.has(src) || this.routers.size < o.maxRouters) {
      const isNew = !this.routers.has(src);
      this.routers.delete(src);
      this.routers.set(src, { expiresAt: now + ra.routerLifetime * 1000 });
      if (isNew) this.events.push({ kind: 'routers' });
    }
    const flags = { managed: ra.managed, other: ra.other };
    if (this.flags === undefined || this.flags.managed !== flags.managed || this.flags.other !== flags.other) {
      this.flags = flags;
      this.events.push({ kind: 'dhcpv6', ...flags });
    }
    const mtu = ra.options.mtu;
    const usableMtu = mtu !== undefined && mtu >= IPV6_MIN_MTU && mtu <= this.linkMtu ? mtu : undefined;
    if (usableMtu !== undefined || ra.curHopLimit > 0 || ra.reachableTime > 0 || ra.retransTimer > 0) {
      this.events.push({
        kind: 'link',
        mtu: usableMtu,
        hopLimit: ra.curHopLimit > 0 ? ra.curHopLimit : undefined,
        reachableTimeMs: ra.reachableTime > 0 ? ra.reachableTime : undefined,
        retransTimerMs: ra.retransTimer > 0 ? ra.retransTimer : undefined,
      });
    }
    for (const p of ra.options.prefixes) this.takePrefix(p, now);
    const dns = ra.options.dns;
    if (dns !== undefined) this.events.push({ kind: 'dns', servers: dns.servers, expiresAt: dns.lifetime === LIFETIME_INFINITE ? Infinity : now + dns.lifetime * 1000 });
  }

  /** §6.3.4 for the on-link flag, RFC 4862 §5.5.3 (a)–(c) for the autonomous one. */
  private takePrefix(p: PrefixInfo, now: number): void {
    // Link-local prefixes are never taken from an advertisement (§6.3.4, RFC 4862 §5.5.3 (b)).
    if (p.prefix >> 118n === 0x3fan) return;
    if (p.onLink) {
      const key = `${p.prefix}/${p.prefixLength}`;
      if (p.validLifetime === 0) {
        this.prefixes.delete(key);
      } else if (this.prefixes.has(key) || this.prefixes.size < this.options.maxPrefixes) {
        const expiresAt = p.validLifetime === LIFETIME_INFINITE ? undefined : now + p.validLifetime * 1000;
        this.prefixes.set(key, { prefix: p.prefix, length: p.prefixLength, expiresAt });
      }
    }
    // RFC 4862 §5.5.3 (c): a preferred lifetime above the valid one means the option is ignored; (d): on
    // Ethernet an interface identifier is 64 bits, so only /64 prefixes form addresses (RFC 4291 §2.5.1).
    if (p.autonomous && p.preferredLifetime <= p.validLifetime && p.prefixLength === 64) {
      this.events.push({ kind: 'autoconf', prefix: p.prefix, validLifetime: p.validLifetime, preferredLifetime: p.preferredLifetime });
    }
  }

  poll(now: number): void {
    if (this.nextSolicitationAt !== undefined && now >= this.nextSolicitationAt) {
      this.solicitationsSent++;
      this.events.push({ kind: 'solicit' });
      this.nextSolicitationAt = this.solicitationsSent < this.options.maxSolicitations ? now + this.options.solicitationIntervalMs : undefined;
    }
    let changed = false;
    for (const [a, r] of this.routers) {
      if (now >= r.expiresAt) {
        this.routers.delete(a);
        changed = true;
      }
    }
    if (changed) this.events.push({ kind: 'routers' });
    for (const [k, p] of this.prefixes) if (p.expiresAt !== undefined && now >= p.expiresAt) this.prefixes.delete(k);
  }

  nextDeadline(): number | undefined {
    let d = this.nextSolicitationAt;
    for (const r of this.routers.values()) d = earliest(d, r.expiresAt);
    for (const p of this.prefixes.values()) d = earliest(d, p.expiresAt);
    return d;
  }
}
