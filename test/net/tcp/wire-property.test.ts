// Every TCP segment the decoder accepts encodes back to bytes it decodes the same way, and no input,
// random or mutated, makes it throw.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { finish, ipv4Pseudo, pseudoHeaderSum, sumBytes } from '../../../src/net/checksum.ts';
import { PROTO_TCP } from '../../../src/net/ipv4-wire.ts';
import { encodeTcp, parseTcp, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';
import { ip } from '../frames.ts';

const SRC = ip('192.168.77.1');
const DST = ip('192.168.77.10');

const segment: fc.Arbitrary<TcpSegment> = fc.record({
  srcPort: fc.integer({ min: 0, max: 65535 }),
  dstPort: fc.integer({ min: 0, max: 65535 }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  ack: fc.integer({ min: 0, max: 0xffffffff }),
  flags: fc.integer({ min: 0, max: 0x3f }),
  window: fc.integer({ min: 0, max: 65535 }),
  urgent: fc.integer({ min: 0, max: 65535 }),
  options: fc.record(
    {
      mss: fc.integer({ min: 0, max: 65535 }),
      windowScale: fc.integer({ min: 0, max: 14 }),
      sackPermitted: fc.constant(true),
      timestamp: fc.record({ value: fc.integer({ min: 0, max: 0xffffffff }), echo: fc.integer({ min: 0, max: 0xffffffff }) }),
    },
    { requiredKeys: [] },
  ),
  payload: fc.uint8Array({ maxLength: 64 }),
});

describe('TCP wire properties', () => {
  it('encode then parse gives the same segment, checksum verified', () => {
    fc.assert(
      fc.property(segment, (s) => {
        const p = parseTcp(encodeTcp(s, ipv4Pseudo(SRC, DST, PROTO_TCP)), ipv4Pseudo(SRC, DST, PROTO_TCP));
        expect(p.ok).toBe(true);
        if (p.ok) expect(p.segment).toEqual(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('random and mutated bytes never throw, and any flipped bit is caught', () => {
    fc.assert(
      fc.property(segment, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 80 }), (s, pos, bit, junk) => {
        const b = encodeTcp(s, ipv4Pseudo(SRC, DST, PROTO_TCP));
        const i = pos % b.length;
        b[i] = (b[i] ?? 0) ^ (1 << bit);
        const p = parseTcp(b, ipv4Pseudo(SRC, DST, PROTO_TCP));
        expect(p.ok).toBe(false); // a single flipped bit always breaks the Internet checksum
        expect(() => parseTcp(junk, ipv4Pseudo(SRC, DST, PROTO_TCP))).not.toThrow();
        expect(() => parseTcp(b.subarray(0, pos % (b.length + 1)), ipv4Pseudo(SRC, DST, PROTO_TCP))).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses option lengths of 0 or 1 and options running past the header', () => {
    const base = encodeTcp({ srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: 0x02, window: 5, urgent: 0, options: { mss: 1460 }, payload: new Uint8Array(0) }, ipv4Pseudo(SRC, DST, PROTO_TCP));
    for (const [kind, len] of [[2, 0], [2, 1], [8, 12], [99, 5]]) {
      const b = base.slice();
      b[20] = kind ?? 0;
      b[21] = len ?? 0;
      b[16] = 0;
      b[17] = 0;
      const fixed = encodeChecksum(b);
      expect(parseTcp(fixed, ipv4Pseudo(SRC, DST, PROTO_TCP))).toEqual({ ok: false, reason: 'options' });
    }
  });
});

/** Recomputes the checksum of hand-edited bytes. */
function encodeChecksum(b: Uint8Array): Uint8Array {
  const c = finish(sumBytes(b, 0, b.length, pseudoHeaderSum(SRC, DST, PROTO_TCP, b.length)));
  b[16] = c >> 8;
  b[17] = c & 0xff;
  return b;
}
