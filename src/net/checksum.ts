// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.

/** Adds `len` bytes of `b` from `off` to a running 32-bit sum (not yet folded). */
export function sumBytes(b: Uint8Array, off: number, len: number, sum = 0): number {
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if (i < end) sum += (b[i] ?? 0) << 8;
  // Fold often enough that the running sum stays exact in a double.
  return sum > 0xffffffff ? (sum & 0xffff) + Math.floor(sum / 0x10000) : sum;
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
