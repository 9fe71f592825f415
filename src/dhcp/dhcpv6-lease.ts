// Lease arithmetic and retransmission of the DHCPv6 client: the lease a Reply grants (RFC 8415 §18.2.10.1,
// §21.4, §21.6), its deadlines, and the retransmission schedule of §15 with the constants of §7.6. Pure
// functions of what they are given; randomness comes in as a parameter.

import { ipv6ToString, type Ipv6Addr } from '../net/addr.ts';
import type { Random } from '../random.ts';
import { DHCPV6_INFINITY, Dhcpv6Status, statusName, type Dhcpv6IaAddress, type Dhcpv6Message } from './dhcpv6-wire.ts';

/** An address the server leased, with absolute deadlines (ms in the client's clock; Infinity: never). */
export interface LeasedAddress {
  address: Ipv6Addr;
  preferredUntil: number;
  validUntil: number;
}

export interface Dhcpv6Lease {
  /** The server's DUID. */
  server: Uint8Array;
  iaid: number;
  /** At least one. */
  addresses: LeasedAddress[];
  /** When to Renew (T1) and Rebind (T2); Infinity: never (RFC 8415 §7.7). */
  t1At: number;
  t2At: number;
  dns: Ipv6Addr[];
}

/** One transmission schedule of RFC 8415 §15: IRT, MRT, MRC, MRD in ms and counts (0: no limit). */
export interface Retransmission {
  irtMs: number;
  mrtMs: number;
  mrc: number;
  mrdMs: number;
  /** The random wait before the first transmission (SOL_MAX_DELAY, INF_MAX_DELAY, CNF_MAX_DELAY), 0 for none. */
  maxDelayMs: number;
}

const S = 1000;
/** RFC 8415 §7.6. */
export const SOLICIT: Retransmission = { irtMs: 1 * S, mrtMs: 3600 * S, mrc: 0, mrdMs: 0, maxDelayMs: 1 * S };
export const REQUEST: Retransmission = { irtMs: 1 * S, mrtMs: 30 * S, mrc: 10, mrdMs: 0, maxDelayMs: 0 };
export const CONFIRM: Retransmission = { irtMs: 1 * S, mrtMs: 4 * S, mrc: 0, mrdMs: 10 * S, maxDelayMs: 1 * S };
/** Renew and Rebind: their MRD is the time left until T2, resp. until the leases end. */
export const RENEW: Retransmission = { irtMs: 10 * S, mrtMs: 600 * S, mrc: 0, mrdMs: 0, maxDelayMs: 0 };
export const REBIND: Retransmission = { irtMs: 10 * S, mrtMs: 600 * S, mrc: 0, mrdMs: 0, maxDelayMs: 0 };
/** At shutdown a Release goes out once (the process is leaving); REL_MAX_RC is 4. */
export const RELEASE: Retransmission = { irtMs: 1 * S, mrtMs: 0, mrc: 4, mrdMs: 0, maxDelayMs: 0 };
export const DECLINE: Retransmission = { irtMs: 1 * S, mrtMs: 0, mrc: 4, mrdMs: 0, maxDelayMs: 0 };
export const INFORMATION_REQUEST: Retransmission = { irtMs: 1 * S, mrtMs: 3600 * S, mrc: 0, mrdMs: 0, maxDelayMs: 1 * S };
/** §21.23: IRT_DEFAULT and IRT_MINIMUM, in seconds. */
export const INFORMATION_REFRESH_DEFAULT_S = 86400;
export const INFORMATION_REFRESH_MIN_S = 600;
/** §21.24, §21.25: a SOL_MAX_RT or INF_MAX_RT outside 60..86400 s is ignored. */
export const MAX_RT_MIN_S = 60;
export const MAX_RT_MAX_S = 86400;

/** RAND of §15: uniform in [-0.1, 0.1]; strictly positive for the first Solicit (§18.2.1). */
function rand(random: Random, positive: boolean): number {
  return positive ? random() * 0.1 + 1e-6 : random() * 0.2 - 0.1;
}

/** RT of the first transmission: IRT + RAND*IRT (§15). */
export function firstRt(r: Retransmission, random: Random, positive = false): number {
  return r.irtMs + rand(random, positive) * r.irtMs;
}

/** RT after `prev`: 2*RTprev + RAND*RTprev, and MRT + RAND*MRT once past MRT (§15). */
export function nextRt(prev: number, r: Retransmission, random: Random): number {
  const rt = 2 * prev + rand(random, false) * prev;
  return r.mrtMs > 0 && rt > r.mrtMs ? r.mrtMs + rand(random, false) * r.mrtMs : rt;
}

/** The Elapsed Time option: hundredths of a second since the exchange's first message, at most 0xffff (§21.9). */
export function elapsedSince(firstSentAt: number | undefined, now: number): number {
  return firstSentAt === undefined ? 0 : Math.min(0xffff, Math.max(0, Math.floor((now - firstSentAt) / 10)));
}

function deadline(from: number, seconds: number): number {
  return seconds === DHCPV6_INFINITY ? Infinity : from + seconds * 1000;
}

/**
 * The addresses of our IA_NA in `msg` with absolute lifetimes counted from `sentAt` (when the message the Reply
 * answers left, §18.2.10.1); a reason when there is none to use. §21.6: an address whose preferred lifetime
 * exceeds its valid one is discarded; one with valid lifetime 0 is no longer ours and is left out.
 */
export function leaseFromReply(msg: Dhcpv6Message, iaid: number, sentAt: number): Dhcpv6Lease | string {
  if (msg.serverId === undefined) return 'no server identifier';
  const ia = msg.iaNa.find((x) => x.iaid === iaid);
  if (ia === undefined) return 'no IA_NA for us';
  if (ia.status !== undefined && ia.status.code !== Dhcpv6Status.SUCCESS) return `IA_NA ${statusName(ia.status.code)}${ia.status.message === '' ? '' : `: ${ia.status.message}`}`;
  // §21.4: T1 greater than T2, both non-zero: the IA_NA is discarded.
  if (ia.t1 > ia.t2 && ia.t2 > 0) return `T1 ${ia.t1} s greater than T2 ${ia.t2} s`;
  const usable = ia.addresses.filter(
    (a: Dhcpv6IaAddress) => a.preferred <= a.valid && a.valid > 0 && (a.status === undefined || a.status.code === Dhcpv6Status.SUCCESS),
  );
  if (usable.length === 0) return 'no usable address';
  const addresses = usable.map((a) => ({ address: a.address, preferredUntil: deadline(sentAt, a.preferred), validUntil: deadline(sentAt, a.valid) }));
  // §21.4: T1 or T2 left to the client (0): 0.5 and 0.8 of the shortest preferred lifetime. Deprecated addresses
  // (preferred 0) are left out of it, and when all are, the valid lifetimes (never 0 here) stand in: a lease of
  // deprecated addresses alone would otherwise be renewed at once, again and again.
  const preferred = usable.map((a) => a.preferred).filter((p) => p > 0);
  const shortest = Math.min(...(preferred.length > 0 ? preferred : usable.map((a) => a.valid)));
  const share = (f: number): number => (shortest === DHCPV6_INFINITY ? Infinity : sentAt + shortest * f * 1000);
  const t1 = ia.t1 !== 0 ? deadline(sentAt, ia.t1) : share(0.5);
  const t2 = ia.t2 !== 0 ? deadline(sentAt, ia.t2) : share(0.8);
  return { server: msg.serverId, iaid, addresses, t1At: t1, t2At: Math.max(t1, t2), dns: msg.dnsServers ?? [] };
}

/** When the last address of the lease stops being valid: the lease is gone then. */
export function leaseEnd(l: { addresses: LeasedAddress[] }): number {
  return Math.max(...l.addresses.map((a) => a.validUntil));
}

/** `lease` after a Renew or Rebind Reply `fresh`: its addresses updated or added, the others kept until they end. */
export function mergeLease(lease: Dhcpv6Lease, fresh: Dhcpv6Lease): Dhcpv6Lease {
  const byAddr = new Map(lease.addresses.map((a) => [a.address, a]));
  for (const a of fresh.addresses) byAddr.set(a.address, a);
  return { ...fresh, addresses: [...byAddr.values()] };
}

/** The lease without the addresses that ended by `now`. */
export function pruneLease(lease: Dhcpv6Lease, now: number): Dhcpv6Lease {
  return { ...lease, addresses: lease.addresses.filter((a) => now < a.validUntil) };
}

export function describeAddresses(l: { addresses: LeasedAddress[] }): string {
  return l.addresses.map((a) => ipv6ToString(a.address)).join(', ');
}

/** Seconds from `now` until `at`, for the log ("forever" for Infinity). */
export function secondsUntil(at: number, now: number): string {
  return at === Infinity ? 'forever' : `${Math.max(0, Math.round((at - now) / 1000))} s`;
}
