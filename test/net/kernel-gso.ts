// What the Linux kernel does with a frame a virtio-net device hands it (virtio_net_hdr_to_skb, then GSO):
// finish a partial TCP checksum, and cut a TSO super-segment into MSS-sized segments, each with its own
// IPv4 length, ID and checksum, sequence number and TCP checksum; FIN and PSH only on the last. Written
// from the kernel's behaviour (tcp_gso_segment, inet_gso_segment), for tests of our offload requests.

import { finish, sumBytes } from '../../src/net/checksum.ts';
import { OffloadFrame } from '../../src/net/device.ts';

const rd16 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
const wr16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
};

/** Adds 16-bit values in one's complement and folds. */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum finished as the kernel does for CHECKSUM_PARTIAL: sum from csum_start over the field's partial value. */
function finishPartial(f: Uint8Array, csumStart: number, csumOffset: number): void {
  const at = csumStart + csumOffset;
  const c = finish(sumBytes(f, csumStart, f.length - csumStart));
  wr16(f, at, c);
}

/** The frames the kernel puts on the wire for one frame we wrote; plain frames pass as they are. */
export function kernelSegment(frame: Uint8Array): Uint8Array[] {
  if (!(frame instanceof OffloadFrame)) return [frame];
  const o = frame.offload;
  if (o.gsoSize === 0) {
    const f = Uint8Array.from(frame);
    finishPartial(f, o.csumStart, o.csumOffset);
    return [f];
  }
  const ipStart = 14;
  const ihl = ((frame[ipStart] ?? 0) & 0x0f) * 4;
  const tcpStart = ipStart + ihl;
  if (tcpStart !== o.csumStart) throw new Error(`csum_start ${o.csumStart} is not the TCP header (${tcpStart})`);
  const hdrLen = o.hdrLen;
  const tcpHdrLen = ((frame[tcpStart + 12] ?? 0) >>> 4) * 4;
  if (hdrLen !== tcpStart + tcpHdrLen) throw new Error(`hdr_len ${hdrLen} is not the headers' length ${tcpStart + tcpHdrLen}`);
  const payload = frame.subarray(hdrLen);
  const oldTcpLen = frame.length - tcpStart;
  const partial = rd16(frame, tcpStart + 16);
  const seq0 = (((frame[tcpStart + 4] ?? 0) << 24) | ((frame[tcpStart + 5] ?? 0) << 16) | (rd16(frame, tcpStart + 6))) >>> 0;
  const id0 = rd16(frame, ipStart + 4);
  const flags = frame[tcpStart + 13] ?? 0;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < payload.length; off += o.gsoSize, i++) {
    const part = payload.subarray(off, Math.min(payload.length, off + o.gsoSize));
    const last = off + part.length >= payload.length;
    const f = new Uint8Array(hdrLen + part.length);
    f.set(frame.subarray(0, hdrLen));
    f.set(part, hdrLen);
    // IPv4: length, ID (incremented per segment), header checksum.
    wr16(f, ipStart + 2, f.length - ipStart);
    wr16(f, ipStart + 4, (id0 + i) & 0xffff);
    wr16(f, ipStart + 10, 0);
    wr16(f, ipStart + 10, finish(sumBytes(f, ipStart, ihl)));
    // TCP: sequence number, FIN and PSH only on the last segment.
    const seq = (seq0 + off) >>> 0;
    f[tcpStart + 4] = seq >>> 24;
    f[tcpStart + 5] = (seq >>> 16) & 0xff;
    wr16(f, tcpStart + 6, seq & 0xffff);
    f[tcpStart + 13] = last ? flags : flags & ~0x09;
    // The partial sum was of the pseudo-header with the whole length: swap in this segment's length.
    const newTcpLen = f.length - tcpStart;
    wr16(f, tcpStart + 16, fold(partial + (~oldTcpLen & 0xffff) + newTcpLen));
    finishPartial(f, o.csumStart, o.csumOffset);
    out.push(f);
  }
  return out;
}
