// The states of the DHCP client (RFC 2131 §4.4, figure 5) as a tagged union: each state holds the data that only
// it has, so none outlives the state that gave it meaning. What spans states (the xid of the current exchange, the
// conflict count) stays on the client. `kind` is what the client's `state` getter reports.

import type { Ipv4Addr } from '../net/addr.ts';
import type { Lease } from './lease.ts';

/** Not started yet; also the moment between giving a lease up and discovering again (figure 5: → INIT). */
export interface InitState {
  kind: 'init';
}

/** After `release`: nothing runs until `start`. */
export interface StoppedState {
  kind: 'stopped';
}

/** DISCOVER sent, waiting for an OFFER (RFC 2131 §4.4.1). */
export interface SelectingState {
  kind: 'selecting';
  /** Start of the acquisition, for `secs` (RFC 2131 §2). */
  processStartedAt: number;
  /** `secs` of the last DISCOVER, which the REQUEST repeats (RFC 2131 §4.4.1). */
  discoverSecs: number;
  /** DISCOVERs sent in this exchange. */
  sends: number;
  retransmitAt: number;
}

/** REQUEST for an offer sent, waiting for that server's ACK or NAK (RFC 2131 §4.4.1). */
export interface RequestingState {
  kind: 'requesting';
  /** The offer being requested. */
  offer: { address: Ipv4Addr; server: Ipv4Addr };
  /** `secs` of the DISCOVER that brought the offer, repeated by each REQUEST (RFC 2131 §4.4.1). */
  discoverSecs: number;
  /** REQUESTs sent for this offer. */
  sends: number;
  /** When the last REQUEST went out: an ACK's lease counts from there (RFC 2131 §4.4.1). */
  sentAt: number;
  retransmitAt: number;
}

/** INIT-REBOOT: REQUEST for the address of an earlier run sent, waiting for any server (RFC 2131 §3.2, §4.4.2). */
export interface RebootingState {
  kind: 'rebooting';
  /** The address asked for again. */
  address: Ipv4Addr;
  processStartedAt: number;
  sends: number;
  sentAt: number;
  retransmitAt: number;
}

/** Acked, and `io.check` is probing the address (RFC 2131 §4.4.1, RFC 5227): not in use yet. */
export interface CheckingState {
  kind: 'checking';
  lease: Lease;
}

/** The address is in use until T1 (RFC 2131 §4.4.5). */
export interface BoundState {
  kind: 'bound';
  lease: Lease;
}

/**
 * RENEWING (from T1: REQUEST unicast to the server, until T2) or REBINDING (from T2: broadcast, until expiry);
 * the lease stays in use meanwhile (RFC 2131 §4.4.5).
 */
export interface RenewalState {
  kind: 'renewing' | 'rebinding';
  lease: Lease;
  /** When this renewal began, for `secs`. */
  processStartedAt: number;
  sentAt: number;
  retransmitAt: number;
}

/** A DHCPDECLINE went out; discovery begins again at `restartAt` (RFC 2131 §4.4.1, RFC 5227 §2.1.1). */
export interface DeclinedState {
  kind: 'declined';
  restartAt: number;
}

export type ClientState =
  | InitState | StoppedState | SelectingState | RequestingState | RebootingState | CheckingState | BoundState | RenewalState | DeclinedState;

/** The lease in use (BOUND, RENEWING, REBINDING), else undefined. */
export function leaseInUse(s: ClientState): Lease | undefined {
  return s.kind === 'bound' || s.kind === 'renewing' || s.kind === 'rebinding' ? s.lease : undefined;
}
