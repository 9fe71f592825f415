// Whatever arrives, the receive path never throws, and whatever the stack sends in answer decodes cleanly.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeIcmp, ICMP_ECHO_REQUEST } from '../../src/net/icmp-wire.ts';
import { PROTO_ICMP } from '../../src/net/ipv4-wire.ts';
import { readPcap } from '../../src/net/pcap.ts';
import { Stack } from '../../src/stack/stack.ts';
import { seededRandom } from '../../src/random.ts';
import { decode, echoRequest, ipFrame, OUR_IP, OUR_MAC, staticStack, udpFrame, whoHas } from './frames.ts';

const recorded = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/dnsmasq-kernel-session.pcap', import.meta.url)))).map((r) => r.frame);
const seeds: Uint8Array[] = [
  ...recorded,
  whoHas(OUR_IP),
  echoRequest(new Uint8Array(32)),
  udpFrame({ srcPort: 67, dstPort: 68, payload: new Uint8Array(300) }),
  udpFrame({ srcPort: 5, dstPort: 9, payload: new Uint8Array(4) }),
  ipFrame({ protocol: PROTO_ICMP, id: 3, moreFragments: true }, encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 1, data: new Uint8Array(1000) }).subarray(0, 1000)),
  ipFrame({ protocol: PROTO_ICMP, id: 3, fragmentOffset: 1000 }, new Uint8Array(8)),
];

const mutated = fc
  .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { maxLength: 8 }), fc.nat())
  .map(([seed, edits, cut]) => {
    const b = seed.slice();
    for (const [pos, v, keepHeader] of edits) {
      // Mostly after the Ethernet header, so that mutations reach the upper layers.
      const i = keepHeader ? 14 + (pos % Math.max(1, b.length - 14)) : pos % b.length;
      if (i < b.length) b[i] = v;
    }
    return cut % 4 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
  });

const frame = fc.oneof(mutated, fc.uint8Array({ maxLength: 1600 }), fc.uint8Array({ minLength: 14, maxLength: 100 }).map((b) => {
  const f = b.slice();
  f.set([0x02, 0x00, 0x5e, 0x00, 0x00, 0x42], 0);
  f[12] = 0x08;
  f[13] = b.length % 2 === 0 ? 0x00 : 0x06;
  return f;
}));

describe('receive path properties', () => {
  it('never throws and every frame it sends decodes, with a static address', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(frame, fc.integer({ min: 0, max: 5000 })), { maxLength: 30 }), (frames) => {
        const { stack } = staticStack();
        let now = 0;
        for (const [f, dt] of frames) {
          now += dt;
          stack.receive(f, now);
          stack.poll(now);
          for (const out of stack.takeFrames()) expect(() => decode(out)).not.toThrow();
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('never throws while unconfigured (DHCP running)', () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 30 }), fc.integer({ min: 0, max: 1000 }), (frames, seed) => {
        const stack = new Stack({ mac: OUR_MAC, mtu: 1500, random: seededRandom(seed), log: () => {} });
        stack.start(0);
        let now = 0;
        for (const f of frames) {
          now += 100;
          stack.receive(f, now);
          stack.poll(now);
          for (const out of stack.takeFrames()) expect(() => decode(out)).not.toThrow();
        }
      }),
      { numRuns: 800 },
    );
  });
});
