// Lease arithmetic of the DHCP client: the lease an ACK grants, its deadlines (T1, T2, expiry), the `secs` field,
// and when to retransmit. Pure functions of what they are given; randomness comes in as a parameter.

import { IPV4_ANY, ipv4ToString, maskToPrefix, type Ipv4Addr } from '../net/addr.ts';
import type { Random } from '../random.ts';
import type { DhcpMessage } from './dhcp-wire.ts';

export interface Lease {
  address: Ipv4Addr;
  prefix: number;
  gateway?: Ipv4Addr | undefined;
  dns: Ipv4Addr[];
  /** Option 15, if the server gave one. */
  domain?: string | undefined;
  /** Option 26: the interface MTU the server asks for (RFC 2132 §5.1), when given. */
  mtu?: number | undefined;
  server: Ipv4Addr;
  leaseSeconds: number;
  t1Seconds: number;
  t2Seconds: number;
  /** When the REQUEST that the ACK answered was sent (ms): lease times count from there (RFC 2131 §4.4.1). */
  obtainedAt: number;
}

/** Retransmission delays are randomised by ±1 s (RFC 2131 §4.1). */
export const JITTER_MS = 1000;

/** A lease from an ACK, or why the ACK is unusable. Times count from `obtainedAt` (RFC 2131 §4.4.1). */
export function leaseFromAck(msg: DhcpMessage, obtainedAt: number): Lease | string {
  const o = msg.options;
  if (msg.yiaddr === IPV4_ANY) return 'no address';
  if (o.leaseTime === undefined) return 'no lease time'; // RFC 2131 §4.3.1: an ACK MUST carry it
  if (o.serverId === undefined) return 'no server identifier';
  const prefix = o.subnetMask === undefined ? 24 : maskToPrefix(o.subnetMask);
  if (prefix === undefined) return `non-contiguous subnet mask ${ipv4ToString(o.subnetMask ?? 0)}`;
  // RFC 2131 §4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease; keep T1 ≤ T2 ≤ lease.
  // An infinite lease (0xffffffff, RFC 2131 §3.3) just puts the deadlines 136 years away.
  const leaseSeconds = o.leaseTime;
  const t2Seconds = Math.min(o.rebindingTime ?? leaseSeconds * 0.875, leaseSeconds);
  const t1Seconds = Math.min(o.renewalTime ?? leaseSeconds * 0.5, t2Seconds);
  return {
    address: msg.yiaddr,
    prefix,
    gateway: o.routers?.[0],
    dns: o.dnsServers ?? [],
    domain: o.domainName,
    mtu: o.interfaceMtu,
    server: o.serverId,
    leaseSeconds,
    t1Seconds,
    t2Seconds,
    obtainedAt,
  };
}

/** When RENEWING begins (RFC 2131 §4.4.5). */
export function t1At(l: Lease): number {
  return l.obtainedAt + l.t1Seconds * 1000;
}

/** When REBINDING begins (RFC 2131 §4.4.5). */
export function t2At(l: Lease): number {
  return l.obtainedAt + l.t2Seconds * 1000;
}

/** When the lease ends and the address must go (RFC 2131 §4.4.5). */
export function expiryAt(l: Lease): number {
  return l.obtainedAt + l.leaseSeconds * 1000;
}

/** The `secs` field: whole seconds since the process began, within 16 bits (RFC 2131 §2). */
export function secsSince(start: number, now: number): number {
  return Math.min(0xffff, Math.max(0, Math.floor((now - start) / 1000)));
}

/**
 * Delay after the n-th transmission of DISCOVER or REQUEST: initialTimeoutMs (4 s), doubled each time, capped at
 * maxTimeoutMs (64 s), each ±1 s (RFC 2131 §4.1). Draws one number from `random`.
 */
export function backoff(n: number, timeouts: { initialTimeoutMs: number; maxTimeoutMs: number }, random: Random): number {
  const base = Math.min(timeouts.initialTimeoutMs * 2 ** (n - 1), timeouts.maxTimeoutMs);
  const jitter = Math.min(JITTER_MS, base / 2); // never near zero when tests shrink the timeouts
  return base + (random() * 2 - 1) * jitter;
}

/**
 * When to retransmit a RENEWING or REBINDING REQUEST sent at `now`: after half the time left until `until` (T2,
 * resp. expiry), at least `minRetransmitMs`, never after `until` (RFC 2131 §4.4.5).
 */
export function renewalRetransmitAt(now: number, until: number, minRetransmitMs: number): number {
  return Math.min(now + Math.max(minRetransmitMs, (until - now) / 2), until);
}
