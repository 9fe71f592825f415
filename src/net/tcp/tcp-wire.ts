// TCP segments (RFC 9293 §3.1): header, options (§3.2: EOL, NOP, MSS; RFC 7323 window scale and
// timestamps; RFC 2018 SACK), checksum over the pseudo-header. Parsing validates every length. The
// pseudo-header's sum of addresses and protocol comes from the network layer (`NetworkLayer.pseudoSum`),
// whichever family it is; the length is added here.

import { finish, sumBytes } from '../checksum.ts';
import { HEADROOM, OutPacket } from '../packet.ts';

export const TCP_MIN_HEADER = 20;

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;

export interface TcpOptions {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as [left, right) sequence pairs. */
  sack?: Array<[number, number]>;
  timestamp?: { value: number; echo: number };
}

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  options: TcpOptions;
  payload: Uint8Array;
}

export type TcpParse = { ok: true; segment: TcpSegment } | { ok: false; reason: 'short' | 'offset' | 'checksum' | 'options' };

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

function u32(b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}

function parseOptions(b: Uint8Array, start: number, end: number): TcpOptions | undefined {
  const o: TcpOptions = {};
  let i = start;
  while (i < end) {
    const kind = b[i] ?? 0;
    if (kind === 0) break; // EOL
    if (kind === 1) {
      i++; // NOP
      continue;
    }
    if (i + 1 >= end) return undefined;
    const len = b[i + 1] ?? 0;
    if (len < 2 || i + len > end) return undefined;
    if (kind === 2) {
      if (len !== 4) return undefined;
      o.mss = u16(b, i + 2);
    } else if (kind === 3) {
      if (len !== 3) return undefined;
      o.windowScale = b[i + 2] ?? 0;
    } else if (kind === 4) {
      if (len !== 2) return undefined;
      o.sackPermitted = true;
    } else if (kind === 5) {
      if ((len - 2) % 8 !== 0 || len === 2) return undefined;
      o.sack = [];
      for (let j = i + 2; j < i + len; j += 8) o.sack.push([u32(b, j), u32(b, j + 4)]);
    } else if (kind === 8) {
      if (len !== 10) return undefined;
      o.timestamp = { value: u32(b, i + 2), echo: u32(b, i + 6) };
    }
    // Unknown kinds are skipped by their length (RFC 9293 §3.2: MUST ignore options it does not implement).
    i += len;
  }
  return o;
}

/**
 * Parses and verifies a segment. The checksum is checked (RFC 9293 §3.10.7) unless the device vouches
 * for it (`checksumTrusted`: the kernel verified it, or the packet never left this machine).
 */
export function parseTcp(b: Uint8Array, pseudo: number, checksumTrusted = false): TcpParse {
  if (b.length < TCP_MIN_HEADER) return { ok: false, reason: 'short' };
  const offset = ((b[12] ?? 0) >>> 4) * 4;
  if (offset < TCP_MIN_HEADER || offset > b.length) return { ok: false, reason: 'offset' };
  if (!checksumTrusted && finish(sumBytes(b, 0, b.length, pseudo + b.length)) !== 0) return { ok: false, reason: 'checksum' };
  const options = parseOptions(b, TCP_MIN_HEADER, offset);
  if (options === undefined) return { ok: false, reason: 'options' };
  return {
    ok: true,
    segment: {
      srcPort: u16(b, 0),
      dstPort: u16(b, 2),
      seq: u32(b, 4),
      ack: u32(b, 8),
      flags: b[13] ?? 0, // with ECE and CWR (RFC 3168 §6.1)
      window: u16(b, 14),
      urgent: u16(b, 18),
      options,
      payload: b.subarray(offset),
    },
  };
}

function optionsLength(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.windowScale !== undefined) n += 4; // NOP + 3
  if (o.sackPermitted) n += 4; // NOP NOP + 2 (or paired with timestamps)
  if (o.timestamp) n += 12; // NOP NOP + 10
  if (o.sack && o.sack.length > 0) n += 4 + 8 * o.sack.length; // NOP NOP + 2 + 8n
  return n;
}

function w16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Encodes a segment with its checksum; options are laid out 4-byte aligned with NOPs, as Linux does. */
export function encodeTcp(s: TcpSegment, pseudo: number): Uint8Array {
  return encodeTcpPacket(s, pseudo, 0).view();
}

/**
 * The same, into a packet with `headroom` bytes free in front for the IPv4 and Ethernet headers. With
 * `gsoSize` (0 or more), the checksum is left partial for the device (the pseudo-header sum, as Linux leaves
 * it for CHECKSUM_PARTIAL), and when it is above 0 the payload is a super-segment the device cuts (TSO).
 */
export function encodeTcpPacket(s: TcpSegment, pseudo: number, headroom = HEADROOM, gsoSize?: number): OutPacket {
  const optLen = optionsLength(s.options);
  const headerLen = TCP_MIN_HEADER + optLen;
  const packet = OutPacket.alloc(headerLen + s.payload.length, headroom);
  const b = packet.buf.subarray(packet.start);
  w16(b, 0, s.srcPort);
  w16(b, 2, s.dstPort);
  w32(b, 4, s.seq);
  w32(b, 8, s.ack);
  b[12] = (headerLen / 4) << 4;
  b[13] = s.flags;
  w16(b, 14, s.window);
  w16(b, 16, 0); // the buffer is not zeroed: the checksum field must be, before summing
  w16(b, 18, s.urgent);
  let i = TCP_MIN_HEADER;
  const o = s.options;
  if (o.mss !== undefined) {
    b.set([2, 4], i);
    w16(b, i + 2, o.mss);
    i += 4;
  }
  if (o.sackPermitted) {
    b.set([1, 1, 4, 2], i);
    i += 4;
  }
  if (o.timestamp) {
    b.set([1, 1, 8, 10], i);
    w32(b, i + 4, o.timestamp.value);
    w32(b, i + 8, o.timestamp.echo);
    i += 12;
  }
  if (o.windowScale !== undefined) {
    b.set([1, 3, 3, o.windowScale], i);
    i += 4;
  }
  if (o.sack && o.sack.length > 0) {
    b.set([1, 1, 5, 2 + 8 * o.sack.length], i);
    i += 4;
    for (const [l, r] of o.sack) {
      w32(b, i, l);
      w32(b, i + 4, r);
      i += 8;
    }
  }
  b.set(s.payload, headerLen);
  if (gsoSize !== undefined) {
    w16(b, 16, ~finish(pseudo + b.length) & 0xffff);
    packet.offload = { l4Start: packet.start, l4HeaderLen: headerLen, csumOffset: 16, gsoSize };
    return packet;
  }
  const c = finish(sumBytes(b, 0, b.length, pseudo + b.length));
  w16(b, 16, c);
  return packet;
}

/** SEG.LEN (RFC 9293 §3.4): data plus one for each of SYN and FIN. */
export function segmentLength(s: TcpSegment): number {
  return s.payload.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0);
}

export function flagsToString(f: number): string {
  const names: Array<[number, string]> = [[SYN, 'S'], [FIN, 'F'], [RST, 'R'], [PSH, 'P'], [ACK, '.'], [URG, 'U']];
  return names.filter(([bit]) => f & bit).map(([, n]) => n).join('') || '-';
}
