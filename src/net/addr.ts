// Link and network addresses as plain numbers: an IPv4 address is a uint32, a MAC a 48-bit integer.
// Numbers compare with ===, serve as Map keys and cost nothing to pass around.

export type Ipv4Addr = number;
export type MacAddr = number;

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
