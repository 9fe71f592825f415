// Whatever arrives, the receive path never throws, and whatever the stack sends in answer decodes cleanly. The
// inputs must also reach the layers they are meant to try: each test counts how many got past each layer's
// checks and fails if a layer is hardly reached (a generator that only ever fed the Ethernet parser would pass
// the first two properties without testing anything above it).

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum, finish, sumBytes } from '../../src/net/checksum.ts';
import { encodeIcmp, ICMP_ECHO_REQUEST } from '../../src/net/icmp-wire.ts';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../../src/net/ipv4-wire.ts';
import { SYN, encodeTcp } from '../../src/net/tcp/tcp-wire.ts';
import { ipv4Pseudo } from '../../src/net/checksum.ts';
import { readPcap } from '../../src/net/pcap.ts';
import type { CounterName } from '../../src/net/counters.ts';
import { Stack } from '../../src/stack/stack.ts';
import { seededRandom } from '../../src/random.ts';
import { decode, echoRequest, ipFrame, OUR_IP, OUR_MAC, PEER_IP, staticStack, udpFrame, whoHas } from './frames.ts';

const recorded = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/dnsmasq-kernel-session.pcap', import.meta.url)))).map((r) => r.frame);
/** Hand-built frames of each protocol, picked as often as the recorded session's frames together. */
const built: Uint8Array[] = [
  whoHas(OUR_IP),
  echoRequest(new Uint8Array(32)),
  udpFrame({ srcPort: 67, dstPort: 68, payload: new Uint8Array(300) }),
  udpFrame({ srcPort: 5, dstPort: 9, payload: new Uint8Array(4) }),
  ipFrame({ protocol: PROTO_ICMP, id: 3, moreFragments: true }, encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 1, data: new Uint8Array(1000) }).subarray(0, 1000)),
  ipFrame({ protocol: PROTO_ICMP, id: 3, fragmentOffset: 1000 }, new Uint8Array(8)),
  ipFrame({ protocol: PROTO_TCP }, encodeTcp({ srcPort: 4000, dstPort: 80, seq: 1, ack: 0, flags: SYN, window: 1000, urgent: 0, options: { mss: 1460 }, payload: new Uint8Array(0) }, ipv4Pseudo(PEER_IP, OUR_IP, PROTO_TCP))),
];

/**
 * Checksums made right again after a mutation (IPv4 header; ICMP, UDP, TCP), so that what a mutation did to the
 * fields behind a checksum reaches the layer that reads them instead of stopping at the checksum.
 */
function refix(frame: Uint8Array): Uint8Array {
  const b = frame.slice();
  if (b.length < 34 || b[12] !== 0x08 || b[13] !== 0x00) return b;
  const ihl = ((b[14] ?? 0) & 0x0f) * 4;
  if (ihl < 20 || 14 + ihl > b.length) return b;
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  v.setUint16(24, 0);
  v.setUint16(24, checksum(b, 14, ihl));
  const start = 14 + ihl;
  const end = Math.min(b.length, 14 + v.getUint16(16));
  if (end <= start || v.getUint16(20) & 0x3fff) return b; // a fragment: its checksum covers the whole datagram
  const len = end - start;
  const proto = b[23] ?? 0;
  const at = proto === PROTO_ICMP ? 2 : proto === PROTO_UDP ? 6 : proto === PROTO_TCP ? 16 : -1;
  if (at < 0 || len < at + 2) return b;
  v.setUint16(start + at, 0);
  const pseudo = proto === PROTO_ICMP ? 0 : ipv4Pseudo(v.getUint32(26), v.getUint32(30), proto) + len;
  v.setUint16(start + at, finish(sumBytes(b, start, len, pseudo)));
  return b;
}

const mutated = fc
  .tuple(fc.oneof(fc.constantFrom(...recorded), fc.constantFrom(...built)), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { maxLength: 8 }), fc.nat())
  .map(([seed, edits, cut]) => {
    const b = seed.slice();
    for (const [pos, v, keepHeader] of edits) {
      // Mostly after the Ethernet header, so that mutations reach the upper layers.
      const i = keepHeader ? 14 + (pos % Math.max(1, b.length - 14)) : pos % b.length;
      if (i < b.length) b[i] = v;
    }
    return cut % 4 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
  });

const frame = fc.oneof(mutated, mutated.map(refix), fc.uint8Array({ maxLength: 1600 }), fc.uint8Array({ minLength: 14, maxLength: 100 }).map((b) => {
  const f = b.slice();
  f.set([0x02, 0x00, 0x5e, 0x00, 0x00, 0x42], 0);
  f[12] = 0x08;
  f[13] = b.length % 2 === 0 ? 0x00 : 0x06;
  return f;
}));

/** Per layer, how many of a test's inputs reached it (the layer's own counter of what it accepted or looked at). */
const REACH = {
  ethernet: ['eth.rx'],
  arp: ['arp.rx'],
  ipv4: ['ip.rx'],
  icmp: ['icmp.rx', 'icmp.rx_malformed'],
  udp: ['udp.rx', 'udp.rx_closed_port', 'udp.rx_bad_checksum', 'udp.rx_bad_length', 'udp.rx_bad_short'],
  tcp: ['tcp.rx', 'tcp.rx_bad_checksum', 'tcp.rx_bad_offset', 'tcp.rx_bad_options', 'tcp.rx_bad_short'],
} satisfies Record<string, CounterName[]>;

class Reach {
  readonly seen: Record<string, number> = {};
  outputs = 0;
  add(stack: Stack): void {
    for (const [layer, names] of Object.entries(REACH)) this.seen[layer] = (this.seen[layer] ?? 0) + names.reduce((n, c) => n + stack.counters.get(c), 0);
  }

  expectAtLeast(floors: Record<keyof typeof REACH, number>, outputs: number): void {
    for (const [layer, floor] of Object.entries(floors)) expect(this.seen[layer] ?? 0, `${layer} reached by ${this.seen[layer]} inputs`).toBeGreaterThanOrEqual(floor);
    expect(this.outputs, 'frames sent in answer').toBeGreaterThanOrEqual(outputs);
  }
}

describe('receive path properties', () => {
  it('never throws and every frame it sends decodes, with a static address', () => {
    const reach = new Reach();
    fc.assert(
      fc.property(fc.array(fc.tuple(frame, fc.integer({ min: 0, max: 5000 })), { maxLength: 30 }), (frames) => {
        const { stack } = staticStack();
        let now = 0;
        for (const [f, dt] of frames) {
          now += dt;
          stack.receive(f, now);
          stack.poll(now);
          for (const out of stack.takeFrames()) {
            reach.outputs++;
            expect(() => decode(out)).not.toThrow();
          }
        }
        reach.add(stack);
      }),
      { numRuns: 1500 },
    );
    // About 1500 × 15 inputs; typical reach: ethernet ~7 000, ARP ~240, IPv4 ~530, ICMP ~80, UDP ~390, TCP ~60,
    // and ~550 frames sent in answer. The floors are a third of that or less: they fail when a layer stops
    // being reached, not when a run is unlucky.
    reach.expectAtLeast({ ethernet: 3000, arp: 80, ipv4: 200, icmp: 20, udp: 130, tcp: 15 }, 200);
  });

  it('never throws while unconfigured (DHCP running)', () => {
    const reach = new Reach();
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 30 }), fc.integer({ min: 0, max: 1000 }), (frames, seed) => {
        const stack = new Stack({ mac: OUR_MAC, mtu: 1500, random: seededRandom(seed), log: () => {} });
        stack.start(0);
        let now = 0;
        for (const f of frames) {
          now += 100;
          stack.receive(f, now);
          stack.poll(now);
          for (const out of stack.takeFrames()) {
            reach.outputs++;
            expect(() => decode(out)).not.toThrow();
          }
        }
        reach.add(stack);
      }),
      { numRuns: 800 },
    );
    // Typical: ethernet ~3 800, ARP ~130, IPv4 ~360, ICMP ~100, UDP ~210, TCP ~40; ~720 frames out (DISCOVERs
    // and answers).
    reach.expectAtLeast({ ethernet: 1500, arp: 40, ipv4: 120, icmp: 30, udp: 70, tcp: 10 }, 400);
  });
});
