// DHCP messages on the wire: the BOOTP fixed fields (RFC 2131 §2, figure 1) and the options we use (RFC 2132).
// Sans I/O and stateless. parseDhcp never throws: anything malformed is `undefined` for the caller to count.

import { copyBytes, readIpv4, readMac, writeIpv4, writeMac, type Ipv4Addr, type MacAddr } from '../net/addr.ts';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

/** Option 53 values (RFC 2132 §9.6). */
export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** Option codes (RFC 2132). */
export const DhcpOptionCode = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTERS: 3,
  DNS_SERVERS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  INTERFACE_MTU: 26,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  CLIENT_ID: 61,
  END: 255,
} as const;

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** The BROADCAST bit of `flags` (RFC 2131 §2, figure 2). */
export const FLAG_BROADCAST = 0x8000;

/** Bytes before the options: op … file (RFC 2131 §2). */
export const FIXED_LEN = 236;
/** 99.130.83.99 (RFC 2131 §3). */
export const MAGIC_COOKIE = 0x63825363;
/** The smallest BOOTP message (RFC 951; RFC 1542 §2.1): some relays drop shorter ones. */
export const MIN_MESSAGE_LEN = 300;

export interface DhcpOptions {
  messageType?: number;
  subnetMask?: Ipv4Addr;
  routers?: Ipv4Addr[];
  dnsServers?: Ipv4Addr[];
  /** Option 26 (RFC 2132 §5.1): the MTU to use on this interface, at least 68. */
  interfaceMtu?: number;
  leaseTime?: number;
  renewalTime?: number;
  rebindingTime?: number;
  serverId?: Ipv4Addr;
  requestedIp?: Ipv4Addr;
  parameterRequestList?: number[];
  clientId?: Uint8Array;
  maxMessageSize?: number;
  hostname?: string;
  /** Option 15 (RFC 2132 §3.17): the domain name the client should use when resolving names. */
  domainName?: string;
  message?: string;
}

export interface DhcpMessage {
  op: 1 | 2;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: Ipv4Addr;
  yiaddr: Ipv4Addr;
  siaddr: Ipv4Addr;
  giaddr: Ipv4Addr;
  chaddr: MacAddr;
  options: DhcpOptions;
}

const C = DhcpOptionCode;
const utf8 = new TextDecoder(); // not fatal: bad bytes become U+FFFD, never an exception
const utf8Encoder = new TextEncoder();

export function parseDhcp(bytes: Uint8Array): DhcpMessage | undefined {
  if (bytes.length < FIXED_LEN + 4) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const op = bytes[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return undefined;
  if (bytes[1] !== 1 || bytes[2] !== 6) return undefined; // htype Ethernet, hlen 6 (RFC 1700 via RFC 2131 §2)
  if (dv.getUint32(FIXED_LEN) !== MAGIC_COOKIE) return undefined; // RFC 2131 §3
  const options = parseOptions(bytes, FIXED_LEN + 4);
  if (options === undefined) return undefined;
  return {
    op,
    xid: dv.getUint32(4),
    secs: dv.getUint16(8),
    flags: dv.getUint16(10),
    ciaddr: readIpv4(bytes, 12),
    yiaddr: readIpv4(bytes, 16),
    siaddr: readIpv4(bytes, 20),
    giaddr: readIpv4(bytes, 24),
    chaddr: readMac(bytes, 28),
    options,
  };
}

/** The TLV options from `start` (RFC 2132 §2). Overload (52) and RFC 3396 splitting are not supported. */
function parseOptions(b: Uint8Array, start: number): DhcpOptions | undefined {
  const out: DhcpOptions = {};
  const seen = new Set<number>();
  let i = start;
  while (i < b.length) {
    const code = b[i] ?? C.END;
    if (code === C.PAD) {
      i++; // RFC 2132 §3.1: a single octet, no length
      continue;
    }
    if (code === C.END) return out; // RFC 2132 §3.2: what follows is padding
    if (i + 1 >= b.length) return undefined; // no room for the length octet
    const len = b[i + 1] ?? 0;
    const at = i + 2;
    if (at + len > b.length) return undefined; // the value runs past the buffer
    // Every occurrence is validated; the first one wins.
    if (!applyOption(out, code, b.subarray(at, at + len), !seen.has(code))) return undefined;
    seen.add(code);
    i = at + len;
  }
  return out; // no END option: tolerated, as the options ran exactly to the end of the buffer
}

/** Validates one option's value and, if `store`, records it. False when the value is malformed. */
function applyOption(out: DhcpOptions, code: number, v: Uint8Array, store: boolean): boolean {
  switch (code) {
    case C.MESSAGE_TYPE: {
      const t = v[0] ?? 0;
      if (v.length !== 1 || t < DhcpMessageType.DISCOVER || t > DhcpMessageType.INFORM) return false; // §9.6
      if (store) out.messageType = t;
      return true;
    }
    case C.SUBNET_MASK: // §3.3
      return setAddr(v, store, (a) => (out.subnetMask = a));
    case C.SERVER_ID: // §9.7
      return setAddr(v, store, (a) => (out.serverId = a));
    case C.REQUESTED_IP: // §9.1
      return setAddr(v, store, (a) => (out.requestedIp = a));
    case C.ROUTERS: // §3.5: a multiple of 4, at least one
      return setAddrList(v, store, (l) => (out.routers = l));
    case C.DNS_SERVERS: // §3.8
      return setAddrList(v, store, (l) => (out.dnsServers = l));
    case C.LEASE_TIME: // §9.2
      return setU32(v, store, (n) => (out.leaseTime = n));
    case C.RENEWAL_TIME: // §9.11
      return setU32(v, store, (n) => (out.renewalTime = n));
    case C.REBINDING_TIME: // §9.12
      return setU32(v, store, (n) => (out.rebindingTime = n));
    case C.INTERFACE_MTU: {
      // RFC 2132 §5.1: two octets, at least 68
      if (v.length !== 2) return false;
      const n = ((v[0] ?? 0) << 8) | (v[1] ?? 0);
      if (n < 68) return false;
      if (store) out.interfaceMtu = n;
      return true;
    }
    case C.MAX_MESSAGE_SIZE: {
      // §9.10: two octets, at least 576
      if (v.length !== 2) return false;
      const n = ((v[0] ?? 0) << 8) | (v[1] ?? 0);
      if (n < 576) return false;
      if (store) out.maxMessageSize = n;
      return true;
    }
    case C.PARAMETER_REQUEST_LIST: // §9.8: at least one code
      if (v.length < 1) return false;
      if (store) out.parameterRequestList = Array.from(v);
      return true;
    case C.CLIENT_ID: // §9.14: type plus at least one octet
      if (v.length < 2) return false;
      if (store) out.clientId = copyBytes(v);
      return true;
    case C.HOSTNAME: // §3.14: at least one octet
      if (v.length < 1) return false;
      if (store) out.hostname = utf8.decode(v);
      return true;
    case C.DOMAIN_NAME: {
      // §3.17: at least one octet; a name, so printable ASCII only (some servers add a NUL at the end)
      let end = v.length;
      while (end > 0 && v[end - 1] === 0) end--;
      if (end < 1) return false;
      for (let i = 0; i < end; i++) if ((v[i] ?? 0) < 0x21 || (v[i] ?? 0) > 0x7e) return false;
      if (store) out.domainName = String.fromCharCode(...v.subarray(0, end));
      return true;
    }
    case C.MESSAGE: // §9.9: at least one octet
      if (v.length < 1) return false;
      if (store) out.message = utf8.decode(v);
      return true;
    default:
      return true; // unknown options (and overload, 52) are skipped
  }
}

function setAddr(v: Uint8Array, store: boolean, set: (a: Ipv4Addr) => void): boolean {
  if (v.length !== 4) return false;
  if (store) set(readIpv4(v, 0));
  return true;
}

function setAddrList(v: Uint8Array, store: boolean, set: (l: Ipv4Addr[]) => void): boolean {
  if (v.length < 4 || v.length % 4 !== 0) return false;
  if (store) set(Array.from({ length: v.length / 4 }, (_, k) => readIpv4(v, 4 * k)));
  return true;
}

function setU32(v: Uint8Array, store: boolean, set: (n: number) => void): boolean {
  if (v.length !== 4) return false;
  if (store) set(readIpv4(v, 0));
  return true;
}

/**
 * Encodes a message with htype 1, hlen 6, hops 0, empty sname/file, options in a stable order (message type
 * first, then by code), END, zero padding up to 300 bytes. Values are written as given; throws a RangeError
 * only for an option that cannot be represented (an empty value, or one longer than 255 bytes).
 */
export function encodeDhcp(msg: DhcpMessage): Uint8Array {
  const opts = encodeOptions(msg.options);
  const len = Math.max(MIN_MESSAGE_LEN, FIXED_LEN + 4 + opts.length + 1);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  b[0] = msg.op;
  b[1] = 1; // htype: Ethernet
  b[2] = 6; // hlen
  b[3] = 0; // hops
  dv.setUint32(4, msg.xid >>> 0);
  dv.setUint16(8, msg.secs & 0xffff);
  dv.setUint16(10, msg.flags & 0xffff);
  writeIpv4(b, 12, msg.ciaddr);
  writeIpv4(b, 16, msg.yiaddr);
  writeIpv4(b, 20, msg.siaddr);
  writeIpv4(b, 24, msg.giaddr);
  writeMac(b, 28, msg.chaddr); // the rest of the 16-byte chaddr, sname (64) and file (128) stay zero
  dv.setUint32(FIXED_LEN, MAGIC_COOKIE);
  b.set(opts, FIXED_LEN + 4);
  b[FIXED_LEN + 4 + opts.length] = C.END; // the rest is PAD
  return b;
}

function encodeOptions(o: DhcpOptions): Uint8Array {
  const parts: number[] = [];
  const put = (code: number, value: ArrayLike<number>): void => {
    if (value.length < 1 || value.length > 255) {
      throw new RangeError(`encodeDhcp: option ${code} needs 1..255 bytes, got ${value.length}`);
    }
    parts.push(code, value.length, ...Array.from(value));
  };
  const addr = (a: Ipv4Addr): number[] => [(a >>> 24) & 0xff, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff];
  const u32 = addr;
  if (o.messageType !== undefined) put(C.MESSAGE_TYPE, [o.messageType]);
  if (o.subnetMask !== undefined) put(C.SUBNET_MASK, addr(o.subnetMask));
  if (o.routers !== undefined) put(C.ROUTERS, o.routers.flatMap(addr));
  if (o.dnsServers !== undefined) put(C.DNS_SERVERS, o.dnsServers.flatMap(addr));
  if (o.hostname !== undefined) put(C.HOSTNAME, utf8Encoder.encode(o.hostname));
  if (o.domainName !== undefined) put(C.DOMAIN_NAME, [...o.domainName].map((c) => c.charCodeAt(0) & 0xff));
  if (o.interfaceMtu !== undefined) put(C.INTERFACE_MTU, [(o.interfaceMtu >>> 8) & 0xff, o.interfaceMtu & 0xff]);
  if (o.requestedIp !== undefined) put(C.REQUESTED_IP, addr(o.requestedIp));
  if (o.leaseTime !== undefined) put(C.LEASE_TIME, u32(o.leaseTime));
  if (o.serverId !== undefined) put(C.SERVER_ID, addr(o.serverId));
  if (o.parameterRequestList !== undefined) put(C.PARAMETER_REQUEST_LIST, o.parameterRequestList);
  if (o.message !== undefined) put(C.MESSAGE, utf8Encoder.encode(o.message));
  if (o.maxMessageSize !== undefined) put(C.MAX_MESSAGE_SIZE, [(o.maxMessageSize >>> 8) & 0xff, o.maxMessageSize & 0xff]);
  if (o.renewalTime !== undefined) put(C.RENEWAL_TIME, u32(o.renewalTime));
  if (o.rebindingTime !== undefined) put(C.REBINDING_TIME, u32(o.rebindingTime));
  if (o.clientId !== undefined) put(C.CLIENT_ID, o.clientId);
  return Uint8Array.from(parts, (x) => x & 0xff);
}
