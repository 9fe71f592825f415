// Link and network addresses as plain values: an IPv4 address is a uint32 number, an IPv6 address a 128-bit
// bigint, a MAC a 48-bit integer. All compare with ===, serve as Map keys and cost nothing to pass around; an
// `IpAddr` holds either family, told apart by `typeof` (the transport layers never need to know which).

export type Ipv4Addr = number;
export type Ipv6Addr = bigint;
/** An address of either network layer. */
export type IpAddr = Ipv4Addr | Ipv6Addr;
export type MacAddr = number;

export function isIpv4(a: IpAddr): a is Ipv4Addr {
  return typeof a === 'number';
}

export function isIpv6(a: IpAddr): a is Ipv6Addr {
  return typeof a === 'bigint';
}

/** The address as text: dotted quad, or RFC 5952 IPv6 text. */
export function ipToString(a: IpAddr): string {
  return isIpv4(a) ? ipv4ToString(a) : ipv6ToString(a);
}

/** RFC 5952 §4: lower case, leading zeros dropped, the longest run of two or more zero groups as `::`. */
export function ipv6ToString(a: Ipv6Addr): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((a >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export const IPV6_ANY: Ipv6Addr = 0n;
/** ff02::1, all nodes on the link (RFC 4291 §2.7.1). */
export const IPV6_ALL_NODES: Ipv6Addr = 0xff02_0000_0000_0000_0000_0000_0000_0001n;
/** ff02::2, all routers on the link. */
export const IPV6_ALL_ROUTERS: Ipv6Addr = 0xff02_0000_0000_0000_0000_0000_0000_0002n;
/** ff02::16, all MLDv2-capable routers (RFC 3810 §5.2.14). */
export const IPV6_ALL_MLDV2_ROUTERS: Ipv6Addr = 0xff02_0000_0000_0000_0000_0000_0000_0016n;
const MASK128 = (1n << 128n) - 1n;

/**
 * Parses IPv6 text (RFC 4291 §2.2): eight groups of 1–4 hex digits, at most one `::` for a run of zero groups,
 * the last 32 bits optionally as a dotted quad. Zone identifiers and prefixes are not taken. `undefined` otherwise.
 */
export function parseIpv6(text: string): Ipv6Addr | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  // A dotted quad may only end the address.
  if (halves.length === 2 && (halves[0] ?? '').includes('.')) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** A scratch 16 bytes for moving IPv6 addresses in two 64-bit halves (three BigInt steps, not dozens per address). */
const scratch = new Uint8Array(16);
const scratchView = new DataView(scratch.buffer);

export function readIpv6(b: Uint8Array, off: number): Ipv6Addr {
  for (let i = 0; i < 16; i++) scratch[i] = b[off + i] ?? 0;
  return (scratchView.getBigUint64(0) << 64n) | scratchView.getBigUint64(8);
}

export function isIpv6Multicast(a: Ipv6Addr): boolean {
  return a >> 120n === 0xffn;
}

/** fe80::/10 (RFC 4291 §2.5.6). */
export function isIpv6LinkLocal(a: Ipv6Addr): boolean {
  return a >> 118n === 0x3fan;
}

/** The solicited-node multicast address of `a`: ff02::1:ff00:0/104 and its low 24 bits (RFC 4291 §2.7.1). */
export function solicitedNode(a: Ipv6Addr): Ipv6Addr {
  return 0xff02_0000_0000_0000_0000_0001_ff00_0000n | (a & 0xff_ffffn);
}

/** The Ethernet address an IPv6 multicast goes to: 33:33 and the low 32 bits of the group (RFC 2464 §7). */
export function ipv6MulticastMac(group: Ipv6Addr): MacAddr {
  return 0x3333 * 2 ** 32 + Number(group & 0xffff_ffffn);
}

/** The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A): ff:fe in the middle, U/L bit flipped. */
export function eui64(mac: MacAddr): bigint {
  const hi = Math.floor(mac / 2 ** 24) ^ 0x02_0000; // the first octet's universal/local bit
  const lo = mac % 2 ** 24;
  return (BigInt(hi) << 40n) | (0xfffen << 24n) | BigInt(lo);
}

/** The address of `prefix` (its top 64 bits) with interface identifier `iid` (the low 64). */
export function withInterfaceId(prefix: Ipv6Addr, iid: bigint): Ipv6Addr {
  return ((prefix >> 64n) << 64n) | (iid & 0xffff_ffff_ffff_ffffn);
}

/** Whether `a` lies in `prefix`/`len`. */
export function inIpv6Prefix(a: Ipv6Addr, prefix: Ipv6Addr, len: number): boolean {
  if (len <= 0) return true;
  const shift = BigInt(128 - Math.min(128, len));
  return (a & MASK128) >> shift === (prefix & MASK128) >> shift;
}

/** The address in network byte order (4 or 16 bytes), written into `b` at `off`; returns the bytes written. */
export function writeIpAddr(b: Uint8Array, off: number, a: IpAddr): number {
  if (isIpv4(a)) {
    writeIpv4(b, off, a);
    return 4;
  }
  scratchView.setBigUint64(0, a >> 64n);
  scratchView.setBigUint64(8, BigInt.asUintN(64, a));
  b.set(scratch, off);
  return 16;
}

export const IPV4_ANY: Ipv4Addr = 0;
export const IPV4_BROADCAST: Ipv4Addr = 0xffffffff;
export const MAC_BROADCAST: MacAddr = 0xffffffffffff;

export function ipv4ToString(a: Ipv4Addr): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Parses dotted-quad IPv4; `undefined` unless exactly four decimal octets 0–255 without leading zeros. */
export function parseIpv4(s: string): Ipv4Addr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let out = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? '';
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out = out * 256 + n;
  }
  return out >>> 0;
}

export function prefixToMask(prefix: number): Ipv4Addr {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The prefix length of a contiguous netmask, or `undefined` when the mask has holes. */
export function maskToPrefix(mask: Ipv4Addr): number | undefined {
  for (let p = 0; p <= 32; p++) if (prefixToMask(p) === mask >>> 0) return p;
  return undefined;
}

export function readIpv4(b: Uint8Array, off: number): Ipv4Addr {
  return (((b[off] ?? 0) << 24) | ((b[off + 1] ?? 0) << 16) | ((b[off + 2] ?? 0) << 8) | (b[off + 3] ?? 0)) >>> 0;
}

export function writeIpv4(b: Uint8Array, off: number, a: Ipv4Addr): void {
  b[off] = a >>> 24;
  b[off + 1] = a >>> 16;
  b[off + 2] = a >>> 8;
  b[off + 3] = a;
}

export function readMac(b: Uint8Array, off: number): MacAddr {
  return ((b[off] ?? 0) * 2 ** 40) + ((b[off + 1] ?? 0) * 2 ** 32) + readIpv4(b, off + 2);
}

export function writeMac(b: Uint8Array, off: number, m: MacAddr): void {
  const hi = Math.floor(m / 2 ** 32);
  b[off] = hi >>> 8;
  b[off + 1] = hi;
  writeIpv4(b, off + 2, m % 2 ** 32);
}

export function macToString(m: MacAddr): string {
  const b = new Uint8Array(6);
  writeMac(b, 0, m);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Parses `aa:bb:cc:dd:ee:ff` (or with `-`); `undefined` otherwise. */
export function parseMac(s: string): MacAddr | undefined {
  const m = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/.exec(s);
  if (!m) return undefined;
  const b = Uint8Array.from([m[1], m[3], m[4], m[5], m[6], m[7]], (h) => parseInt(h ?? '0', 16));
  return readMac(b, 0);
}

export function isMulticastMac(m: MacAddr): boolean {
  return (Math.floor(m / 2 ** 40) & 1) === 1;
}

/** A random locally administered unicast MAC (first octet x2, x6, xA or xE). */
export function randomLocalMac(random: () => number): MacAddr {
  const b = Uint8Array.from({ length: 6 }, () => Math.floor(random() * 256));
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return readMac(b, 0);
}

export interface Ipv4Config {
  address: Ipv4Addr;
  prefix: number;
  gateway?: Ipv4Addr | undefined;
}

export function subnetBroadcast(c: Ipv4Config): Ipv4Addr {
  return (c.address | ~prefixToMask(c.prefix)) >>> 0;
}

export function sameSubnet(c: Ipv4Config, a: Ipv4Addr): boolean {
  const mask = prefixToMask(c.prefix);
  return ((c.address & mask) >>> 0) === ((a & mask) >>> 0);
}

/**
 * A copy of the bytes in a new Uint8Array. (`Buffer.prototype.slice` returns a view, not a copy, and
 * device frames may be Buffers over memory that the next read reuses.)
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

/**
 * True when `a` can be a host's source address (RFC 1122 §3.2.1.3): not limited or subnet broadcast,
 * not multicast or class E, not loopback. 0.0.0.0 passes (a host asking for an address uses it).
 */
export function isUnicastSource(a: Ipv4Addr, ours?: Ipv4Addr, prefix?: number): boolean {
  if (a === IPV4_BROADCAST || a >>> 28 >= 0xe || a >>> 24 === 127) return false;
  if (ours !== undefined && prefix !== undefined && prefix < 31 && a === subnetBroadcast({ address: ours, prefix })) return false;
  return true;
}
