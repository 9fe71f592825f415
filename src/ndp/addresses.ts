// The interface's IPv6 addresses (RFC 4862), sans I/O: a link-local address at start, addresses formed from
// advertised prefixes (SLAAC) with interface identifiers that are stable per prefix and secret (RFC 7217) or
// EUI-64 (RFC 4291 appendix A), static ones; duplicate address detection before any is used (§5.4, with the
// RFC 7527 nonce to tell our own looped-back solicitation), preferred and valid lifetimes (§5.5.3, §5.5.4:
// deprecated addresses serve the connections they have but are not chosen for new ones), and source address
// selection (RFC 6724, the rules that matter on one interface). What the stack must do comes out as events.

import { createHash } from 'node:crypto';
import { inIpv6Prefix, isIpv6LinkLocal, solicitedNode, withInterfaceId, eui64, writeIpAddr, writeMac, type Ipv6Addr, type MacAddr } from '../net/addr.ts';
import { earliest } from '../net/deadline.ts';
import type { Random } from '../random.ts';

export type AddressState = 'tentative' | 'preferred' | 'deprecated';
export type AddressOrigin = 'link-local' | 'slaac' | 'static' | 'dhcpv6';

export interface Ipv6AddressInfo {
  address: Ipv6Addr;
  prefixLength: number;
  state: AddressState;
  origin: AddressOrigin;
  /** When the preferred and valid lifetimes end; undefined: never. */
  preferredUntil: number | undefined;
  validUntil: number | undefined;
}

export interface AddressOptions {
  /** DupAddrDetectTransmits (§5.1: 1); 0 turns detection off. */
  dadTransmits: number;
  /** RetransTimer: between DAD solicitations, and the wait after the last (RFC 4861 §10: 1 s). */
  retransTimerMs: number;
  /** §5.4.2: the first DAD solicitation waits a random time up to MAX_RTR_SOLICITATION_DELAY (1 s). */
  maxDadDelayMs: number;
  /** `stable` (RFC 7217, the default) or `eui64` interface identifiers. */
  iid: 'stable' | 'eui64';
  /** RFC 7217 §6 IDGEN_RETRIES (3): new identifiers tried after a DAD conflict, stable identifiers only. */
  idgenRetries: number;
  /** Most addresses at once; an advertised prefix past it forms none. */
  maxAddresses: number;
}

export const defaultAddressOptions: AddressOptions = {
  dadTransmits: 1,
  retransTimerMs: 1000,
  maxDadDelayMs: 1000,
  iid: 'stable',
  idgenRetries: 3,
  maxAddresses: 16,
};

export type AddressEvent =
  /** Listen to this multicast group (the solicited-node group of an address, RFC 4861 §7.2.1): MLD and Ethernet. */
  | { kind: 'join'; group: Ipv6Addr }
  | { kind: 'leave'; group: Ipv6Addr }
  /** Send a DAD Neighbor Solicitation for `target` from the unspecified address, with this nonce (RFC 7527). */
  | { kind: 'dad'; target: Ipv6Addr; nonce: Uint8Array }
  /** The address passed DAD and is usable; announce it (an unsolicited NA, RFC 4861 §7.2.6). */
  | { kind: 'added'; address: Ipv6Addr; origin: AddressOrigin; prefix: Ipv6Addr; prefixLength: number }
  | { kind: 'deprecated'; address: Ipv6Addr }
  /** Gone: its valid lifetime ended, or another host has it (`duplicate`). */
  | { kind: 'removed'; address: Ipv6Addr; origin: AddressOrigin; reason: RemovalReason };

/** Why an address went: its valid lifetime ended, another host has it, or its DHCPv6 lease is over. */
export type RemovalReason = 'expired' | 'duplicate' | 'released';

interface Entry extends Ipv6AddressInfo {
  /** Tentative: DAD solicitations sent, when the next step is due, our nonce. */
  dadSent: number;
  dadAt: number | undefined;
  nonce: Uint8Array;
  /** RFC 7217 DAD_Counter: which identifier of this prefix this is. */
  dadCounter: number;
  prefix: Ipv6Addr;
}

/** RFC 4862 §5.5.3 (e): the "two hours" rule that keeps a forged RA from cutting a valid lifetime short. */
const TWO_HOURS_S = 7200;
const INFINITE = 0xffffffff;

export class Ipv6Addresses {
  readonly options: AddressOptions;
  private readonly entries = new Map<Ipv6Addr, Entry>();
  /** How many of our addresses each multicast group is joined for. */
  private readonly groups = new Map<Ipv6Addr, number>();
  private events: AddressEvent[] = [];

  constructor(
    private readonly mac: MacAddr,
    /** The secret of RFC 7217 (kept by the caller across restarts, so the addresses are stable). */
    private readonly secret: Uint8Array,
    private readonly random: Random,
    options: Partial<AddressOptions> = {},
  ) {
    this.options = { ...defaultAddressOptions, ...options };
  }

  takeEvents(): AddressEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  list(): Ipv6AddressInfo[] {
    return [...this.entries.values()].map(({ address, prefixLength, state, origin, preferredUntil, validUntil }) => ({ address, prefixLength, state, origin, preferredUntil, validUntil }));
  }

  /** An address of ours that takes packets (preferred or deprecated; a tentative one does not, §5.4). */
  isAssigned(a: Ipv6Addr): boolean {
    const e = this.entries.get(a);
    return e !== undefined && e.state !== 'tentative';
  }

  isTentative(a: Ipv6Addr): boolean {
    return this.entries.get(a)?.state === 'tentative';
  }

  /** The link-local address (fe80::/64 and our identifier), detected before use (§5.3). */
  addLinkLocal(now: number): void {
    this.add(0xfe80n << 112n, 64, 'link-local', undefined, undefined, now, 0);
  }

  /** A static address (`--ipv6 static A/P`), also detected before use. */
  addStatic(address: Ipv6Addr, prefixLength: number, now: number): void {
    if (this.entries.has(address)) return;
    this.insert({ address, prefixLength, origin: 'static', prefix: address, dadCounter: 0 }, undefined, undefined, now);
  }

  /**
   * The addresses DHCPv6 leases us (RFC 8415 §18.2.10.1), each a /128 (DHCPv6 says nothing of prefixes; what is
   * on-link comes from router advertisements): new ones are detected before use, known ones take the lifetimes
   * given (Infinity: forever), and leased addresses not in `leased` go.
   */
  setLeased(leased: readonly { address: Ipv6Addr; preferredUntil: number; validUntil: number }[], now: number): void {
    const until = (t: number): number | undefined => (t === Infinity ? undefined : t);
    const keep = new Set(leased.map((l) => l.address));
    for (const e of [...this.entries.values()]) if (e.origin === 'dhcpv6' && !keep.has(e.address)) this.remove(e, 'released');
    for (const l of leased) {
      const e = this.entries.get(l.address);
      if (e === undefined) {
        this.insert({ address: l.address, prefixLength: 128, origin: 'dhcpv6', prefix: l.address, dadCounter: 0 }, until(l.preferredUntil), until(l.validUntil), now);
      } else if (e.origin === 'dhcpv6') {
        e.preferredUntil = until(l.preferredUntil);
        e.validUntil = until(l.validUntil);
        if (e.state === 'deprecated' && (e.preferredUntil === undefined || now < e.preferredUntil)) e.state = 'preferred';
      }
    }
  }

  /**
   * An autonomous prefix from a router advertisement (RFC 4862 §5.5.3 (d), (e)): a new address, or new lifetimes
   * for the one we have, by the two-hours rule.
   */
  autoconf(prefix: Ipv6Addr, validLifetime: number, preferredLifetime: number, now: number): void {
    const mine = [...this.entries.values()].find((e) => e.origin === 'slaac' && inIpv6Prefix(e.address, prefix, 64));
    const until = (s: number): number | undefined => (s === INFINITE ? undefined : now + s * 1000);
    if (mine === undefined) {
      if (validLifetime === 0) return;
      this.add(prefix, 64, 'slaac', until(preferredLifetime), until(validLifetime), now, 0);
      return;
    }
    mine.preferredUntil = until(preferredLifetime);
    if (mine.state === 'deprecated' && preferredLifetime > 0) mine.state = 'preferred';
    const remaining = mine.validUntil === undefined ? Infinity : (mine.validUntil - now) / 1000;
    if (validLifetime > TWO_HOURS_S || validLifetime > remaining) mine.validUntil = until(validLifetime);
    else if (remaining > TWO_HOURS_S) mine.validUntil = now + TWO_HOURS_S * 1000;
    // else: keep what remains (at most two hours); an unauthenticated RA cannot shorten it further.
  }

  /**
   * A Neighbor Solicitation for `target`: during DAD, one from the unspecified address that is not our own
   * looped back (its nonce differs, RFC 7527 §4.1) means another host tries the same address (§5.4.3).
   */
  solicitationFor(target: Ipv6Addr, fromUnspecified: boolean, nonce: Uint8Array | undefined, now: number): 'duplicate' | 'ours' | 'none' {
    const e = this.entries.get(target);
    if (e === undefined) return 'none';
    if (e.state !== 'tentative') return 'ours';
    if (!fromUnspecified) return 'none'; // address resolution for a tentative address: not answered, not a conflict
    if (nonce !== undefined && sameBytes(nonce, e.nonce)) return 'none'; // our own, looped back
    this.duplicate(e, now);
    return 'duplicate';
  }

  /** A Neighbor Advertisement for `target` (§5.4.4): for a tentative address of ours, another host has it. */
  advertisementFor(target: Ipv6Addr, now: number): 'duplicate' | 'conflict' | 'none' {
    const e = this.entries.get(target);
    if (e === undefined) return 'none';
    if (e.state === 'tentative') {
      this.duplicate(e, now);
      return 'duplicate';
    }
    return 'conflict'; // an assigned address of ours advertised by another host: logged, kept (§5.4.4)
  }

  /**
   * The source address for `dst` (RFC 6724 §5): the destination itself if ours (rule 1), an address of the same
   * scope (rule 2), not a deprecated one (rule 3), the longest matching prefix (rule 8).
   */
  selectSource(dst: Ipv6Addr): Ipv6Addr | undefined {
    let best: Entry | undefined;
    let bestScore = -1;
    for (const e of this.entries.values()) {
      if (e.state === 'tentative') continue;
      if (e.address === dst) return e.address;
      const sameScope = isIpv6LinkLocal(e.address) === (isIpv6LinkLocal(dst) || dst >> 112n === 0xff02n);
      const score = (sameScope ? 1 << 16 : 0) + (e.state === 'preferred' ? 1 << 8 : 0) + commonPrefix(e.address, dst);
      if (score > bestScore) {
        best = e;
        bestScore = score;
      }
    }
    return best?.address;
  }

  poll(now: number): void {
    const o = this.options;
    for (const e of [...this.entries.values()]) {
      if (e.state === 'tentative') {
        if (e.dadAt === undefined || now < e.dadAt) continue;
        if (e.dadSent < o.dadTransmits) {
          e.dadSent++;
          e.dadAt = now + o.retransTimerMs;
          this.events.push({ kind: 'dad', target: e.address, nonce: e.nonce });
        } else {
          this.assign(e, now);
        }
        continue;
      }
      if (e.validUntil !== undefined && now >= e.validUntil) {
        this.remove(e, 'expired');
        continue;
      }
      if (e.state === 'preferred' && e.preferredUntil !== undefined && now >= e.preferredUntil) {
        e.state = 'deprecated';
        this.events.push({ kind: 'deprecated', address: e.address });
      }
    }
  }

  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const e of this.entries.values()) {
      if (e.state === 'tentative') d = earliest(d, e.dadAt);
      else d = earliest(d, e.validUntil, e.state === 'preferred' ? e.preferredUntil : undefined);
    }
    return d;
  }

  private add(prefix: Ipv6Addr, prefixLength: number, origin: AddressOrigin, preferredUntil: number | undefined, validUntil: number | undefined, now: number, dadCounter: number): void {
    const address = withInterfaceId(prefix, this.interfaceId(prefix, dadCounter));
    this.insert({ address, prefixLength, origin, prefix, dadCounter }, preferredUntil, validUntil, now);
  }

  private insert(a: { address: Ipv6Addr; prefixLength: number; origin: AddressOrigin; prefix: Ipv6Addr; dadCounter: number }, preferredUntil: number | undefined, validUntil: number | undefined, now: number): void {
    if (this.entries.size >= this.options.maxAddresses || this.entries.has(a.address)) return;
    const nonce = Uint8Array.from({ length: 6 }, () => Math.floor(this.random() * 256));
    const dadOff = this.options.dadTransmits === 0;
    const e: Entry = {
      ...a, state: 'tentative', preferredUntil, validUntil, nonce, dadSent: 0,
      // §5.4.2: a random delay before the first solicitation (the whole wait when DAD is off is none).
      dadAt: now + (dadOff ? 0 : this.random() * this.options.maxDadDelayMs),
    };
    this.entries.set(a.address, e);
    // §5.4.2: join the solicited-node group before sending the solicitation, to hear another host's.
    this.join(solicitedNode(a.address));
    if (dadOff) this.assign(e, now);
  }

  private assign(e: Entry, now: number): void {
    e.dadAt = undefined;
    e.state = e.preferredUntil !== undefined && now >= e.preferredUntil ? 'deprecated' : 'preferred';
    this.events.push({ kind: 'added', address: e.address, origin: e.origin, prefix: e.prefix, prefixLength: e.prefixLength });
  }

  private duplicate(e: Entry, now: number): void {
    this.remove(e, 'duplicate');
    // RFC 7217 §6: a stable identifier of a SLAAC prefix is tried again with the next DAD_Counter, a few times.
    if (e.origin === 'slaac' && this.options.iid === 'stable' && e.dadCounter < this.options.idgenRetries) {
      this.add(e.prefix, 64, 'slaac', e.preferredUntil, e.validUntil, now, e.dadCounter + 1);
    }
  }

  private remove(e: Entry, reason: RemovalReason): void {
    this.entries.delete(e.address);
    this.leave(solicitedNode(e.address));
    this.events.push({ kind: 'removed', address: e.address, origin: e.origin, reason });
  }

  private join(group: Ipv6Addr): void {
    const n = this.groups.get(group) ?? 0;
    this.groups.set(group, n + 1);
    if (n === 0) this.events.push({ kind: 'join', group });
  }

  private leave(group: Ipv6Addr): void {
    const n = this.groups.get(group) ?? 0;
    if (n <= 1) {
      this.groups.delete(group);
      if (n === 1) this.events.push({ kind: 'leave', group });
    } else {
      this.groups.set(group, n - 1);
    }
  }

  /**
   * The interface identifier for `prefix`: RFC 7217 §5, the first 64 bits of SHA-256 over the prefix, the
   * interface (our MAC), the DAD counter and the secret, skipping the reserved identifiers of RFC 5453; or the
   * EUI-64 one when asked.
   */
  private interfaceId(prefix: Ipv6Addr, dadCounter: number): bigint {
    if (this.options.iid === 'eui64') return eui64(this.mac);
    const prefixBytes = new Uint8Array(16);
    writeIpAddr(prefixBytes, 0, prefix);
    for (let counter = dadCounter; ; counter++) {
      // Prefix (its 64 bits), Net_Iface (the MAC), DAD_Counter, secret_key; no Network_ID (optional in §5).
      const input = new Uint8Array(8 + 6 + 1);
      input.set(prefixBytes.subarray(0, 8), 0);
      writeMac(input, 8, this.mac);
      input[14] = counter & 0xff;
      const digest = createHash('sha256').update(input).update(this.secret).digest();
      const iid = digest.readBigUInt64BE(0);
      if (!isReservedIid(iid)) return iid;
    }
  }
}

/** RFC 5453: the subnet-router anycast identifier (0), the reserved subnet anycast range, the proxy-MIP range. */
function isReservedIid(iid: bigint): boolean {
  return iid === 0n || iid >= 0xfdff_ffff_ffff_ff80n || (iid >= 0x0200_5eff_fe00_0000n && iid <= 0x0200_5eff_fe00_5212n);
}

function commonPrefix(a: Ipv6Addr, b: Ipv6Addr): number {
  let x = a ^ b;
  let bits = 128;
  while (x > 0n) {
    x >>= 1n;
    bits--;
  }
  return bits;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
