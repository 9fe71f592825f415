// The messages a DHCP client sends, with the fixed fields and options RFC 2131 table 5 gives each: DISCOVER,
// the REQUESTs of SELECTING, INIT-REBOOT, RENEWING and REBINDING, DECLINE and RELEASE, and where each goes.
// Pure: the caller passes the xid and `secs`, and encodes and sends the result.

import { IPV4_ANY, IPV4_BROADCAST, macToString, writeMac, type Ipv4Addr, type MacAddr } from '../net/addr.ts';
import { BOOTREQUEST, DhcpMessageType as T, FLAG_BROADCAST, type DhcpMessage, type DhcpOptions } from './dhcp-wire.ts';

/** Options we ask for (RFC 2132 §9.8): mask, routers, DNS, lease time, server id, T1, T2. */
export const PARAMETER_REQUEST_LIST = [1, 3, 6, 15, 26, 51, 54, 58, 59];
/** Option 57 (RFC 2132 §9.10): the largest message we accept. */
export const MAX_MESSAGE_SIZE = 1500;

/** What names this client in every message. */
export interface DhcpClientIdentity {
  /** chaddr. */
  mac: MacAddr;
  /** Option 61. */
  clientId: Uint8Array;
  /** Option 12 of DISCOVER and REQUEST, when given. */
  hostname: string | undefined;
}

/** A message to send, and to whom: IPV4_BROADCAST, or the server's address. */
export interface OutgoingDhcp {
  msg: DhcpMessage;
  dst: Ipv4Addr;
}

/** RFC 2132 §9.14: hardware type 1 (Ethernet) followed by the MAC. */
export function clientIdentifier(mac: MacAddr): Uint8Array {
  const id = new Uint8Array(7);
  id[0] = 1;
  writeMac(id, 1, mac);
  return id;
}

/** DISCOVER: broadcast, ciaddr 0, the BROADCAST flag (RFC 2131 §4.4.1, table 5). */
export function discoverMessage(id: DhcpClientIdentity, xid: number, secs: number): OutgoingDhcp {
  return {
    msg: bootRequest(id, xid, { ciaddr: IPV4_ANY, flags: FLAG_BROADCAST, secs }, { messageType: T.DISCOVER, ...requestOptions(id) }),
    dst: IPV4_BROADCAST,
  };
}

/** The REQUEST answering an OFFER: broadcast, ciaddr 0, requested IP and server id (RFC 2131 §4.3.2, table 5). */
export function selectingRequestMessage(
  id: DhcpClientIdentity, xid: number, secs: number, offer: { address: Ipv4Addr; server: Ipv4Addr },
): OutgoingDhcp {
  return {
    msg: bootRequest(
      id, xid, { ciaddr: IPV4_ANY, flags: FLAG_BROADCAST, secs },
      { messageType: T.REQUEST, requestedIp: offer.address, serverId: offer.server, ...requestOptions(id) },
    ),
    dst: IPV4_BROADCAST,
  };
}

/** The INIT-REBOOT REQUEST: broadcast, ciaddr 0, requested IP, no server id (RFC 2131 §4.3.2, table 5). */
export function rebootRequestMessage(id: DhcpClientIdentity, xid: number, secs: number, address: Ipv4Addr): OutgoingDhcp {
  return {
    msg: bootRequest(
      id, xid, { ciaddr: IPV4_ANY, flags: FLAG_BROADCAST, secs }, { messageType: T.REQUEST, requestedIp: address, ...requestOptions(id) },
    ),
    dst: IPV4_BROADCAST,
  };
}

/**
 * The REQUEST of RENEWING (unicast to `server`) or REBINDING (`server` undefined: broadcast): ciaddr set, no
 * BROADCAST flag, no requested IP or server id (RFC 2131 §4.3.2, §4.4.5, table 5).
 */
export function renewalRequestMessage(
  id: DhcpClientIdentity, xid: number, secs: number, address: Ipv4Addr, server: Ipv4Addr | undefined,
): OutgoingDhcp {
  return {
    msg: bootRequest(id, xid, { ciaddr: address, flags: 0, secs }, { messageType: T.REQUEST, ...requestOptions(id) }),
    dst: server ?? IPV4_BROADCAST,
  };
}

/**
 * DHCPDECLINE of `address`, in use by the host with MAC `by` (RFC 2131 §4.4.1, table 5): broadcast, ciaddr 0,
 * requested IP, server id and a message; no parameter list, no hostname.
 */
export function declineMessage(id: DhcpClientIdentity, xid: number, address: Ipv4Addr, server: Ipv4Addr, by: MacAddr): OutgoingDhcp {
  return {
    msg: bootRequest(
      id, xid, { ciaddr: IPV4_ANY, flags: 0, secs: 0 },
      { messageType: T.DECLINE, requestedIp: address, serverId: server, clientId: id.clientId, message: `address in use by ${macToString(by)}` },
    ),
    dst: IPV4_BROADCAST,
  };
}

/** DHCPRELEASE of `address` (RFC 2131 §4.4.6, table 5): unicast to the server, ciaddr set, server id required. */
export function releaseMessage(id: DhcpClientIdentity, xid: number, address: Ipv4Addr, server: Ipv4Addr): OutgoingDhcp {
  return {
    msg: bootRequest(id, xid, { ciaddr: address, flags: 0, secs: 0 }, { messageType: T.RELEASE, serverId: server, clientId: id.clientId }),
    dst: server,
  };
}

/** Options of every DISCOVER and REQUEST. */
function requestOptions(id: DhcpClientIdentity): DhcpOptions {
  const o: DhcpOptions = {
    clientId: id.clientId,
    parameterRequestList: PARAMETER_REQUEST_LIST,
    maxMessageSize: MAX_MESSAGE_SIZE,
  };
  if (id.hostname !== undefined) o.hostname = id.hostname;
  return o;
}

/** A BOOTREQUEST of ours: yiaddr, siaddr and giaddr are 0 in everything a client sends (RFC 2131 table 5). */
function bootRequest(
  id: DhcpClientIdentity, xid: number, f: { ciaddr: Ipv4Addr; flags: number; secs: number }, options: DhcpOptions,
): DhcpMessage {
  return {
    op: BOOTREQUEST, xid, secs: f.secs, flags: f.flags,
    ciaddr: f.ciaddr, yiaddr: IPV4_ANY, siaddr: IPV4_ANY, giaddr: IPV4_ANY, chaddr: id.mac, options,
  };
}
