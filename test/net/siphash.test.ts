// SipHash-2-4 against the reference: key 00 01 … 0f, message 00 01 … (n − 1). The values for 0 and 8 bytes are the
// paper's test vectors (vectors_sip64 in the reference code); the others are from a direct 64-bit implementation.

import { describe, expect, it } from 'vitest';
import { sipHash24, sipHashHigh, sipKey } from '../../src/net/siphash.ts';

const key = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i));

/** The message 00 01 … (n − 1) as little-endian 32-bit words. */
function words(n: number): Uint32Array {
  const b = Uint8Array.from({ length: n }, (_, i) => i);
  return new Uint32Array(b.buffer.slice(0, n));
}

function digest(n: number): bigint {
  const lo = sipHash24(key, words(n), n / 4);
  return (BigInt(sipHashHigh()) << 32n) | BigInt(lo);
}

describe('sipHash24', () => {
  it.each([
    [0, 0x726fdb47dd0e0e31n],
    [4, 0xcf2794e0277187b7n],
    [8, 0x93f5f5799a932462n],
    [12, 0x751e8fbc860ee5fbn],
    [16, 0x3f2acc7f57c29bdbn],
    [20, 0xbed65cf21aa2ee98n],
    [36, 0x314dffbe0815a3b4n],
    [40, 0x0e3ea96b5304a7d0n],
  ])('%i bytes: %s', (n, want) => {
    expect(digest(n)).toBe(want);
  });

  it('depends on the key and on every word, and reads only the first n words', () => {
    const w = Uint32Array.from([1, 2, 3, 4, 5]);
    const h = sipHash24(key, w, 4);
    expect(sipHash24(key, Uint32Array.from([1, 2, 3, 4, 99]), 4)).toBe(h);
    for (let i = 0; i < 4; i++) {
      const v = Uint32Array.from(w);
      v[i] = (v[i] ?? 0) ^ 0x80000000;
      expect(sipHash24(key, v, 4)).not.toBe(h);
    }
    expect(sipHash24(sipKey(new Uint8Array(16)), w, 4)).not.toBe(h);
  });
});
