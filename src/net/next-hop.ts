// How a network layer hands a packet to the link: to a next hop named by its network address, which some
// neighbour protocol resolves to a link address (ARP for IPv4, RFC 826; neighbour discovery for IPv6,
// RFC 4861), holding the packet in a bounded queue until it is resolved or given up.

import type { OutPacket } from './packet.ts';

export interface NextHopResolver<A> {
  /** Sends `packet` to the on-link neighbour `nextHop`: at once when its link address is known, else once resolved. */
  sendVia(nextHop: A, packet: Uint8Array | OutPacket, now: number): void;
}
