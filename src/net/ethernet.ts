// Ethernet II framing (IEEE 802.3 with an EtherType): 6-byte destination, 6-byte source, 2-byte type.

import { readMac, writeMac, type MacAddr } from './addr.ts';
import type { OutPacket } from './packet.ts';

export const ETH_HEADER_LEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

/** Sends a payload in an Ethernet frame to `dst`; an OutPacket gets its header written in its headroom. */
export type LinkSend = (dst: MacAddr, ethertype: number, payload: Uint8Array | OutPacket) => void;

/** What the link layer knows of a packet it hands up to ARP or a network layer. */
export interface LinkRxContext {
  now: number;
  /** The frame came to the link's broadcast address. */
  linkBroadcast: boolean;
  /** The device vouches for the TCP/UDP checksum (see RxInfo). */
  checksumTrusted: boolean;
}

export interface EthernetHeader {
  dst: MacAddr;
  src: MacAddr;
  ethertype: number;
}

/** The header of a frame, or `undefined` when it is too short to hold one. */
export function parseEthernet(frame: Uint8Array): EthernetHeader | undefined {
  if (frame.length < ETH_HEADER_LEN) return undefined;
  return { dst: readMac(frame, 0), src: readMac(frame, 6), ethertype: ((frame[12] ?? 0) << 8) | (frame[13] ?? 0) };
}

export function writeEthernetHeader(buf: Uint8Array, h: EthernetHeader, off = 0): void {
  writeMac(buf, off, h.dst);
  writeMac(buf, off + 6, h.src);
  buf[off + 12] = h.ethertype >>> 8;
  buf[off + 13] = h.ethertype;
}

/** A new frame holding the header and a copy of `payload`. */
export function buildEthernet(h: EthernetHeader, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(ETH_HEADER_LEN + payload.length);
  writeEthernetHeader(frame, h);
  frame.set(payload, ETH_HEADER_LEN);
  return frame;
}
