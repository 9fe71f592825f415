// What the transport layers (TCP, UDP) see of the network layer below them, whichever family it is: an
// address of either kind (`IpAddr`), the pseudo-header sum the network layer supplies (RFC 9293 §3.1 for IPv4,
// RFC 8200 §8.1 for IPv6), the largest packet a route takes, and a context for each datagram delivered up.
// Transport code imports this file and never the IPv4 (or IPv6) layer itself.

import type { IpAddr } from './addr.ts';
import type { OutPacket } from './packet.ts';

/** IANA protocol numbers: the IPv4 Protocol field and the IPv6 Next Header field share them. */
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** What the network layer knows of a datagram it delivers up (valid only during the call). */
export interface RxContext {
  now: number;
  src: IpAddr;
  dst: IpAddr;
  protocol: number;
  /** The frame came to the link's broadcast (or a multicast) address. */
  linkBroadcast: boolean;
  /** The datagram was sent to a broadcast (or multicast) IP address, not to ours alone. */
  ipBroadcast: boolean;
  /** The original header and the first 8 bytes of data, as ICMP errors quote them (RFC 792, RFC 1122 §3.2.2). */
  quote: Uint8Array;
  /** The device vouches for the TCP/UDP checksum (see RxInfo): it is not checked again. */
  checksumTrusted: boolean;
  /** The pseudo-header sum for this datagram's addresses and protocol, without the length (see `pseudoSum`). */
  pseudo: number;
  /** The IPv4 TTL or IPv6 Hop Limit it arrived with (neighbour discovery wants 255, RFC 4861 §6.1). */
  hopLimit: number;
  /** The ECN field it arrived with (RFC 3168 §5: 0 not ECT, 1 and 2 ECT, 3 CE). */
  ecn: number;
}

/** Receives a transport protocol's payload. */
export type TransportReceiver = (payload: Uint8Array, ctx: RxContext) => void;

export interface NetSendOptions {
  /** Source address; defaults to the one the network layer picks for `dst`. DHCP sends from 0.0.0.0. */
  src?: IpAddr;
  dontFragment?: boolean;
  tos?: number;
  /** IPv6 Hop Limit or IPv4 TTL, instead of the layer's default (neighbour discovery sends 255, MLD 1). */
  hopLimit?: number;
}

/** The network layer as TCP and UDP use it. */
export interface NetworkLayer {
  /**
   * Sends a transport payload to `dst`; false when it was dropped here (no address, no route, too big). An
   * OutPacket gets the network header written into its headroom.
   */
  send(dst: IpAddr, protocol: number, data: Uint8Array | OutPacket, now: number, opts?: NetSendOptions): boolean;
  /**
   * The one's-complement sum of the pseudo-header's addresses and protocol, not folded, without the length: the
   * transport checksum adds its own length and bytes to it.
   */
  pseudoSum(src: IpAddr, dst: IpAddr, protocol: number): number;
  /**
   * The largest transport packet (its header included) a datagram to `dst` carries without fragmentation: with
   * `now`, what the path takes as far as is known (learned MTUs); without, what the link takes (the MSS option
   * announces what we can receive, RFC 9293 §3.7.1).
   */
  maxPayload(dst: IpAddr, now?: number): number;
  /**
   * A transport layer vouches (RFC 5927 §4.1) for an ICMP report that the path to `dst` takes at most `mtu` bytes
   * (RFC 1191, RFC 8201): the path MTU is lowered (never under the family's floor); the new one, or undefined
   * when nothing changed.
   */
  learnPathMtu(dst: IpAddr, mtu: number, now: number): number | undefined;
  /** The source address for a datagram to `dst`, or undefined while there is none. */
  sourceFor(dst: IpAddr): IpAddr | undefined;
}

/** The ICMP errors a transport layer asks for about a datagram it received. */
export interface IcmpReporter {
  /** Port unreachable (RFC 1122 §4.1.3.1), if the rules and the rate limit allow. */
  portUnreachable(ctx: RxContext): void;
}

/**
 * An ICMP or ICMPv6 error about a datagram we sent, for the transport that sent it (RFC 1122 §4.2.3.9, §3.2.2.1;
 * RFC 4443 §3): what happened, and the quoted datagram's addresses, protocol and first transport bytes.
 */
export interface TransportError {
  kind: 'unreachable' | 'too-big' | 'time-exceeded' | 'parameter-problem';
  /** An end host says the protocol or port is not there (RFC 1122 §4.2.3.9 "hard"); the rest are soft. */
  hard: boolean;
  /** For `too-big`: the MTU reported; 0 when an old IPv4 router named none (RFC 1191 §4). */
  mtu: number;
  /** The refused datagram's length (IPv4 total length), for the RFC 1191 §7 plateaus when `mtu` is 0. */
  quotedLength: number;
  /** What it is, for logs and the socket's error ("port unreachable", "host unreachable"…). */
  description: string;
  /** The quoted datagram: our address, the destination, the protocol, and at least 8 bytes of its transport header. */
  src: IpAddr;
  dst: IpAddr;
  protocol: number;
  transport: Uint8Array;
  /** Who sent the ICMP error. */
  reporter: IpAddr;
  now: number;
}

export type TransportErrorSink = (e: TransportError) => void;

