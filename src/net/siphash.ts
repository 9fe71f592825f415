// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash for short inputs, as Linux uses for its SYN cookies
// and its sequence numbers (net/core/secure_seq.c, net/ipv4/syncookies.c). Here in 32-bit halves, over 32-bit
// words, without an allocation per call: a cookie costs a few hundred nanoseconds, not an HMAC's microseconds.

/** A SipHash key: 128 bits as four 32-bit words, k0 = (w1 << 32) | w0 and k1 = (w3 << 32) | w2. */
export type SipKey = Readonly<Uint32Array>;

/** The high half of the last digest (see sipHashHigh). */
let lastHigh = 0;

/**
 * SipHash-2-4 of the first `n` 32-bit words of `words`, read as 4n bytes little-endian, under `key`.
 * Returns the low 32 bits of the 64-bit result (the first four bytes of the digest). The state v0..v3 is held in
 * (hi, lo) pairs of locals, and the round is written out in the one loop, so that nothing is called.
 */
export function sipHash24(key: SipKey, words: Readonly<Uint32Array>, n: number): number {
  const k0l = key[0] ?? 0, k0h = key[1] ?? 0, k1l = key[2] ?? 0, k1h = key[3] ?? 0;
  let v0h = (k0h ^ 0x736f6d65) >>> 0, v0l = (k0l ^ 0x70736575) >>> 0;
  let v1h = (k1h ^ 0x646f7261) >>> 0, v1l = (k1l ^ 0x6e646f6d) >>> 0;
  let v2h = (k0h ^ 0x6c796765) >>> 0, v2l = (k0l ^ 0x6e657261) >>> 0;
  let v3h = (k1h ^ 0x74656462) >>> 0, v3l = (k1l ^ 0x79746573) >>> 0;
  let lo = 0, h = 0, l = 0;
  // Blocks of two words; the last block holds what is left (one word or none) and the length in its top byte.
  // One pass more is the finalisation: v2 ^= 0xff, then four rounds instead of two, and no block.
  const blocks = (n >> 1) + 1;
  for (let b = 0; b <= blocks; b++) {
    const final = b === blocks;
    let ml = 0, mh = 0;
    if (final) {
      v2l = (v2l ^ 0xff) >>> 0;
    } else {
      const i = 2 * b;
      ml = i < n ? (words[i] ?? 0) : 0;
      mh = b === blocks - 1 ? (((n * 4) & 0xff) << 24) >>> 0 : (words[i + 1] ?? 0);
      v3h = (v3h ^ mh) >>> 0;
      v3l = (v3l ^ ml) >>> 0;
    }
    for (let r = final ? 4 : 2; r > 0; r--) {
      lo = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0; v0l = lo;
      h = ((v1h << 13) | (v1l >>> 19)) >>> 0; l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
      v1h = (h ^ v0h) >>> 0; v1l = (l ^ v0l) >>> 0;
      h = v0h; v0h = v0l; v0l = h;
      lo = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0; v2l = lo;
      h = ((v3h << 16) | (v3l >>> 16)) >>> 0; l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
      v3h = (h ^ v2h) >>> 0; v3l = (l ^ v2l) >>> 0;
      lo = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0; v0l = lo;
      h = ((v3h << 21) | (v3l >>> 11)) >>> 0; l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
      v3h = (h ^ v0h) >>> 0; v3l = (l ^ v0l) >>> 0;
      lo = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0; v2l = lo;
      h = ((v1h << 17) | (v1l >>> 15)) >>> 0; l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
      v1h = (h ^ v2h) >>> 0; v1l = (l ^ v2l) >>> 0;
      h = v2h; v2h = v2l; v2l = h;
    }
    if (!final) {
      v0h = (v0h ^ mh) >>> 0;
      v0l = (v0l ^ ml) >>> 0;
    }
  }
  lastHigh = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** The high 32 bits of the last sipHash24 (with its low 32 bits, the whole 64-bit digest). */
export function sipHashHigh(): number {
  return lastHigh;
}

/** A key from 16 random bytes. */
export function sipKey(bytes: Uint8Array): SipKey {
  const k = new Uint32Array(4);
  for (let i = 0; i < 4; i++) k[i] = ((bytes[4 * i] ?? 0) | ((bytes[4 * i + 1] ?? 0) << 8) | ((bytes[4 * i + 2] ?? 0) << 16) | ((bytes[4 * i + 3] ?? 0) << 24)) >>> 0;
  return k;
}
