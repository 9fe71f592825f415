// ARP packets for IPv4 over Ethernet (RFC 826): 28 bytes after the Ethernet header.

import { readIpv4, readMac, writeIpv4, writeMac, type Ipv4Addr, type MacAddr } from '../net/addr.ts';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpPacket {
  op: typeof ARP_REQUEST | typeof ARP_REPLY;
  /** Sender hardware and protocol address. */
  sha: MacAddr;
  spa: Ipv4Addr;
  /** Target hardware and protocol address. */
  tha: MacAddr;
  tpa: Ipv4Addr;
}

/** Parses an Ethernet/IPv4 ARP packet; `undefined` for any other kind or a short one. */
export function parseArp(b: Uint8Array): ArpPacket | undefined {
  if (b.length < ARP_LEN) return undefined;
  const htype = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  const ptype = ((b[2] ?? 0) << 8) | (b[3] ?? 0);
  if (htype !== 1 || ptype !== 0x0800 || b[4] !== 6 || b[5] !== 4) return undefined;
  const op = ((b[6] ?? 0) << 8) | (b[7] ?? 0);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) return undefined;
  return { op, sha: readMac(b, 8), spa: readIpv4(b, 14), tha: readMac(b, 18), tpa: readIpv4(b, 24) };
}

export function encodeArp(p: ArpPacket): Uint8Array {
  const b = new Uint8Array(ARP_LEN);
  b.set([0, 1, 0x08, 0x00, 6, 4, 0, p.op]);
  writeMac(b, 8, p.sha);
  writeIpv4(b, 14, p.spa);
  writeMac(b, 18, p.tha);
  writeIpv4(b, 24, p.tpa);
  return b;
}
