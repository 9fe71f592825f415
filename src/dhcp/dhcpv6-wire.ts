// DHCPv6 messages on the wire (RFC 8415 §8, §21): a client/server message (type, transaction id, options) and
// the options a client uses: client and server identifiers (DUIDs, §11), IA_NA with its addresses and status
// codes, option request, preference, elapsed time, rapid commit, DNS servers (RFC 3646), information refresh
// time and the servers' SOL_MAX_RT / INF_MAX_RT. Sans I/O and stateless. parseDhcpv6 never throws: anything
// malformed is a reason for the caller to count. Relay messages (types 12, 13) are not for a client.

import { readIpv6, writeIpAddr, type Ipv6Addr } from '../net/addr.ts';

export const DHCPV6_CLIENT_PORT = 546;
export const DHCPV6_SERVER_PORT = 547;
/** All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1). */
export const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = 0xff02_0000_0000_0000_0000_0000_0001_0002n;

/** Message types (RFC 8415 §7.3). */
export const Dhcpv6Type = {
  SOLICIT: 1,
  ADVERTISE: 2,
  REQUEST: 3,
  CONFIRM: 4,
  RENEW: 5,
  REBIND: 6,
  REPLY: 7,
  RELEASE: 8,
  DECLINE: 9,
  RECONFIGURE: 10,
  INFORMATION_REQUEST: 11,
} as const;

/** Option codes (RFC 8415 §21, RFC 3646 §3). */
export const Dhcpv6Option = {
  CLIENTID: 1,
  SERVERID: 2,
  IA_NA: 3,
  IAADDR: 5,
  ORO: 6,
  PREFERENCE: 7,
  ELAPSED_TIME: 8,
  STATUS_CODE: 13,
  RAPID_COMMIT: 14,
  DNS_SERVERS: 23,
  INFORMATION_REFRESH_TIME: 32,
  SOL_MAX_RT: 82,
  INF_MAX_RT: 83,
} as const;

/** Status codes (RFC 8415 §21.13). */
export const Dhcpv6Status = {
  SUCCESS: 0,
  UNSPEC_FAIL: 1,
  NO_ADDRS_AVAIL: 2,
  NO_BINDING: 3,
  NOT_ON_LINK: 4,
  USE_MULTICAST: 5,
} as const;

/** RFC 8415 §7.7: the lifetime and T1/T2 value meaning "forever". */
export const DHCPV6_INFINITY = 0xffffffff;

/** RFC 8415 §11.1: a DUID is at most 128 octets besides its 2-octet type. */
export const MAX_DUID_LEN = 130;
/** Parsing keeps at most this many IA_NAs, addresses per IA_NA and DNS servers; the rest is skipped. */
export const MAX_IA_NA = 4;
export const MAX_IA_ADDRS = 8;
export const MAX_DNS_SERVERS = 8;
/** A status message longer than this is cut (it only goes to the log). */
export const MAX_STATUS_TEXT = 256;

export interface Dhcpv6StatusCode {
  code: number;
  message: string;
}

/** An IAADDR option (RFC 8415 §21.6): an address with its lifetimes in seconds. */
export interface Dhcpv6IaAddress {
  address: Ipv6Addr;
  preferred: number;
  valid: number;
  status?: Dhcpv6StatusCode | undefined;
}

/** An IA_NA option (RFC 8415 §21.4): an identity association for non-temporary addresses. */
export interface Dhcpv6IaNa {
  iaid: number;
  /** Seconds until Renew (T1) and Rebind (T2). */
  t1: number;
  t2: number;
  addresses: Dhcpv6IaAddress[];
  status?: Dhcpv6StatusCode | undefined;
}

export interface Dhcpv6Message {
  type: number;
  /** 24 bits (RFC 8415 §8). */
  xid: number;
  clientId?: Uint8Array | undefined;
  serverId?: Uint8Array | undefined;
  iaNa: Dhcpv6IaNa[];
  /** Option codes requested (ORO, §21.7). */
  oro?: number[] | undefined;
  /** 0..255 (§21.8); absent counts as 0. */
  preference?: number | undefined;
  /** Hundredths of a second since the client began the exchange, at most 0xffff (§21.9). */
  elapsed?: number | undefined;
  status?: Dhcpv6StatusCode | undefined;
  rapidCommit?: boolean | undefined;
  dnsServers?: Ipv6Addr[] | undefined;
  /** Seconds (§21.23). */
  informationRefreshTime?: number | undefined;
  solMaxRt?: number | undefined;
  infMaxRt?: number | undefined;
}

export type Dhcpv6Parse = { ok: true; message: Dhcpv6Message } | { ok: false; reason: string };

/** Walks the options in `b[start, end)`: calls `each` with code and body; a reason when one overruns. */
function walkOptions(b: Uint8Array, start: number, end: number, each: (code: number, body: Uint8Array) => string | undefined): string | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = start;
  while (off < end) {
    if (end - off < 4) return 'truncated option header';
    const code = v.getUint16(off);
    const len = v.getUint16(off + 2);
    if (off + 4 + len > end) return `option ${code} overruns its container`;
    const bad = each(code, b.subarray(off + 4, off + 4 + len));
    if (bad !== undefined) return bad;
    off += 4 + len;
  }
  return undefined;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function parseStatus(body: Uint8Array): Dhcpv6StatusCode | string {
  if (body.length < 2) return 'short status code';
  const text = new TextDecoder('utf-8', { fatal: false }).decode(body.subarray(2, 2 + MAX_STATUS_TEXT));
  return { code: view(body).getUint16(0), message: text };
}

function parseIaAddress(body: Uint8Array): Dhcpv6IaAddress | string {
  if (body.length < 24) return 'short IAADDR';
  const v = view(body);
  const a: Dhcpv6IaAddress = { address: readIpv6(body, 0), preferred: v.getUint32(16), valid: v.getUint32(20) };
  const bad = walkOptions(body, 24, body.length, (code, sub) => {
    if (code !== Dhcpv6Option.STATUS_CODE || a.status !== undefined) return undefined;
    const s = parseStatus(sub);
    if (typeof s === 'string') return s;
    a.status = s;
    return undefined;
  });
  return bad ?? a;
}

function parseIaNa(body: Uint8Array): Dhcpv6IaNa | string {
  if (body.length < 12) return 'short IA_NA';
  const v = view(body);
  const ia: Dhcpv6IaNa = { iaid: v.getUint32(0), t1: v.getUint32(4), t2: v.getUint32(8), addresses: [] };
  const bad = walkOptions(body, 12, body.length, (code, sub) => {
    if (code === Dhcpv6Option.IAADDR) {
      const a = parseIaAddress(sub);
      if (typeof a === 'string') return a;
      if (ia.addresses.length < MAX_IA_ADDRS) ia.addresses.push(a);
    } else if (code === Dhcpv6Option.STATUS_CODE && ia.status === undefined) {
      const s = parseStatus(sub);
      if (typeof s === 'string') return s;
      ia.status = s;
    }
    return undefined;
  });
  return bad ?? ia;
}

/** A DHCPv6 client/server message, or why it is not one. Options seen twice keep their first value. */
export function parseDhcpv6(b: Uint8Array): Dhcpv6Parse {
  if (b.length < 4) return { ok: false, reason: 'shorter than the message header' };
  const v = view(b);
  const type = b[0] ?? 0;
  if (type === 12 || type === 13) return { ok: false, reason: 'relay message' };
  const m: Dhcpv6Message = { type, xid: v.getUint32(0) & 0xffffff, iaNa: [] };
  const fixed = (body: Uint8Array, len: number, name: string): string | undefined => (body.length === len ? undefined : `${name} of ${body.length} bytes`);
  const bad = walkOptions(b, 4, b.length, (code, body) => {
    const bv = view(body);
    switch (code) {
      case Dhcpv6Option.CLIENTID:
      case Dhcpv6Option.SERVERID: {
        if (body.length < 2 || body.length > MAX_DUID_LEN) return `DUID of ${body.length} bytes`;
        if (code === Dhcpv6Option.CLIENTID) m.clientId ??= body.slice();
        else m.serverId ??= body.slice();
        return undefined;
      }
      case Dhcpv6Option.IA_NA: {
        const ia = parseIaNa(body);
        if (typeof ia === 'string') return ia;
        if (m.iaNa.length < MAX_IA_NA) m.iaNa.push(ia);
        return undefined;
      }
      case Dhcpv6Option.ORO: {
        if (body.length % 2 !== 0) return 'odd option request';
        m.oro ??= Array.from({ length: body.length / 2 }, (_, i) => bv.getUint16(i * 2));
        return undefined;
      }
      case Dhcpv6Option.PREFERENCE:
        m.preference ??= body[0];
        return fixed(body, 1, 'preference');
      case Dhcpv6Option.ELAPSED_TIME:
        if (body.length === 2) m.elapsed ??= bv.getUint16(0);
        return fixed(body, 2, 'elapsed time');
      case Dhcpv6Option.STATUS_CODE: {
        const s = parseStatus(body);
        if (typeof s === 'string') return s;
        m.status ??= s;
        return undefined;
      }
      case Dhcpv6Option.RAPID_COMMIT:
        m.rapidCommit = true;
        return fixed(body, 0, 'rapid commit');
      case Dhcpv6Option.DNS_SERVERS: {
        if (body.length % 16 !== 0) return 'DNS servers not a multiple of 16 bytes';
        m.dnsServers ??= Array.from({ length: Math.min(MAX_DNS_SERVERS, body.length / 16) }, (_, i) => readIpv6(body, i * 16));
        return undefined;
      }
      case Dhcpv6Option.INFORMATION_REFRESH_TIME:
      case Dhcpv6Option.SOL_MAX_RT:
      case Dhcpv6Option.INF_MAX_RT: {
        if (body.length !== 4) return `option ${code} of ${body.length} bytes`;
        const n = bv.getUint32(0);
        if (code === Dhcpv6Option.INFORMATION_REFRESH_TIME) m.informationRefreshTime ??= n;
        else if (code === Dhcpv6Option.SOL_MAX_RT) m.solMaxRt ??= n;
        else m.infMaxRt ??= n;
        return undefined;
      }
      default:
        return undefined; // §16: options a client does not know are skipped
    }
  });
  return bad === undefined ? { ok: true, message: m } : { ok: false, reason: bad };
}

// ——— Encoding ———

/** Appends option headers and bodies to a growing list of chunks. */
class OptionWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  raw(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  option(code: number, body: Uint8Array): void {
    const h = new Uint8Array(4);
    const v = view(h);
    v.setUint16(0, code);
    v.setUint16(2, body.length);
    this.raw(h);
    this.raw(body);
  }

  u16(code: number, n: number): void {
    const b = new Uint8Array(2);
    view(b).setUint16(0, n);
    this.option(code, b);
  }

  u32(code: number, n: number): void {
    const b = new Uint8Array(4);
    view(b).setUint32(0, n >>> 0);
    this.option(code, b);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

function statusBody(s: Dhcpv6StatusCode): Uint8Array {
  const text = new TextEncoder().encode(s.message);
  const b = new Uint8Array(2 + text.length);
  view(b).setUint16(0, s.code);
  b.set(text, 2);
  return b;
}

function iaNaBody(ia: Dhcpv6IaNa): Uint8Array {
  const w = new OptionWriter();
  const head = new Uint8Array(12);
  const hv = view(head);
  hv.setUint32(0, ia.iaid >>> 0);
  hv.setUint32(4, ia.t1 >>> 0);
  hv.setUint32(8, ia.t2 >>> 0);
  w.raw(head);
  for (const a of ia.addresses) {
    const aw = new OptionWriter();
    const fixed = new Uint8Array(24);
    writeIpAddr(fixed, 0, a.address);
    view(fixed).setUint32(16, a.preferred >>> 0);
    view(fixed).setUint32(20, a.valid >>> 0);
    aw.raw(fixed);
    if (a.status !== undefined) aw.option(Dhcpv6Option.STATUS_CODE, statusBody(a.status));
    w.option(Dhcpv6Option.IAADDR, aw.bytes());
  }
  if (ia.status !== undefined) w.option(Dhcpv6Option.STATUS_CODE, statusBody(ia.status));
  return w.bytes();
}

/** The bytes of `m`, options in the order of RFC 8415 §21 codes; what parseDhcpv6 reads back. */
export function encodeDhcpv6(m: Dhcpv6Message): Uint8Array {
  const w = new OptionWriter();
  const head = new Uint8Array(4);
  view(head).setUint32(0, (m.xid & 0xffffff) >>> 0);
  head[0] = m.type;
  w.raw(head);
  if (m.clientId !== undefined) w.option(Dhcpv6Option.CLIENTID, m.clientId);
  if (m.serverId !== undefined) w.option(Dhcpv6Option.SERVERID, m.serverId);
  for (const ia of m.iaNa) w.option(Dhcpv6Option.IA_NA, iaNaBody(ia));
  if (m.oro !== undefined) {
    const b = new Uint8Array(m.oro.length * 2);
    m.oro.forEach((code, i) => view(b).setUint16(i * 2, code));
    w.option(Dhcpv6Option.ORO, b);
  }
  if (m.preference !== undefined) w.option(Dhcpv6Option.PREFERENCE, Uint8Array.of(m.preference));
  if (m.elapsed !== undefined) w.u16(Dhcpv6Option.ELAPSED_TIME, m.elapsed);
  if (m.status !== undefined) w.option(Dhcpv6Option.STATUS_CODE, statusBody(m.status));
  if (m.rapidCommit === true) w.option(Dhcpv6Option.RAPID_COMMIT, new Uint8Array(0));
  if (m.dnsServers !== undefined) {
    const b = new Uint8Array(m.dnsServers.length * 16);
    m.dnsServers.forEach((a, i) => writeIpAddr(b, i * 16, a));
    w.option(Dhcpv6Option.DNS_SERVERS, b);
  }
  if (m.informationRefreshTime !== undefined) w.u32(Dhcpv6Option.INFORMATION_REFRESH_TIME, m.informationRefreshTime);
  if (m.solMaxRt !== undefined) w.u32(Dhcpv6Option.SOL_MAX_RT, m.solMaxRt);
  if (m.infMaxRt !== undefined) w.u32(Dhcpv6Option.INF_MAX_RT, m.infMaxRt);
  return w.bytes();
}

/** DUID-LL (RFC 8415 §11.4): type 3, hardware type 1 (Ethernet), the MAC. Stable as long as the MAC is. */
export function duidLl(mac: number): Uint8Array {
  const b = new Uint8Array(10);
  const v = view(b);
  v.setUint16(0, 3);
  v.setUint16(2, 1);
  v.setUint16(4, Math.floor(mac / 2 ** 32));
  v.setUint32(6, mac % 2 ** 32);
  return b;
}

export function sameDuid(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

export function duidToHex(d: Uint8Array): string {
  return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function statusName(code: number): string {
  const names = ['Success', 'UnspecFail', 'NoAddrsAvail', 'NoBinding', 'NotOnLink', 'UseMulticast'];
  return names[code] ?? `status ${code}`;
}
