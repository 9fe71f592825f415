// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.

/**
 * Adds `len` bytes of `b` from `off` to a running sum (not yet folded). Eight bytes a round: four
 * 16-bit words added at once; a double holds the sum exactly for any packet size (2^53 ≫ 65535 · 2^16).
 */
export function sumBytes(b: Uint8Array, off: number, len: number, sum = 0): number {
  const end = off + len;
  let i = off;
  let acc = 0;
  for (const stop = end - 7; i < stop; i += 8) {
    acc += ((b[i] as number) << 8) + (b[i + 1] as number) + ((b[i + 2] as number) << 8) + (b[i + 3] as number)
      + ((b[i + 4] as number) << 8) + (b[i + 5] as number) + ((b[i + 6] as number) << 8) + (b[i + 7] as number);
  }
  for (; i + 1 < end; i += 2) acc += ((b[i] as number) << 8) | (b[i + 1] as number);
  if (i < end) acc += (b[i] as number) << 8;
  return sum + acc;
}

/** Folds a running sum to 16 bits and complements it. */
export function finish(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function checksum(b: Uint8Array, off = 0, len = b.length - off): number {
  return finish(sumBytes(b, off, len));
}

/** The IPv4 pseudo-header sum for UDP and TCP (RFC 768, RFC 9293 §3.1). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** The IPv4 pseudo-header sum of addresses and protocol, without the length (what the transport codecs take). */
export function ipv4Pseudo(src: number, dst: number, protocol: number): number {
  return pseudoHeaderSum(src, dst, protocol, 0);
}
