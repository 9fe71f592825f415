// Hostile IPv6 frames, as hex lines for af-packet-send.py (one frame per line), for test/e2e/hostile-ipv6.test.ts:
//
//   node --import tsx test/e2e/programs/ipv6-hostile-frames.ts ATTACK DST_MAC DST_ADDR COUNT SEED
//
// ATTACK is one of:
//   nd-hop-limit   neighbour solicitations for DST_ADDR with hop limit 64 (RFC 4861 §7.1: must be 255)
//   rh0            echo requests behind a type 0 routing header with segments left 1 (RFC 5095)
//   ext-chain      echo requests behind 20 destination options headers (past the bound on their number)
//   overlap        pairs of fragments of one echo request that overlap (RFC 5722)
//   na-spoof       unsolicited, overriding advertisements of DST_ADDR with a MAC that is not the stack's
//   ns-random      solicitations for random targets in fd77::/64 from random sources, unicast to DST_ADDR
//   ns-ours        solicitations for DST_ADDR from random sources, each with its own MAC (the cache fills)
// Every frame goes to DST_MAC; sources are addresses in fd77::/64 that no namespace has (fd77::dead:…) and MACs
// 02:00:5e:dd:…, so no real host's neighbour entry is disturbed. Built with the project's own encoders; a seeded
// generator makes a run repeatable.

import { ipv6MulticastMac, parseIpv6, parseMac, solicitedNode, writeIpAddr, type Ipv6Addr, type MacAddr } from '../../../src/net/addr.ts';
import { buildEthernet, ETHERTYPE_IPV6 } from '../../../src/net/ethernet.ts';
import { encodeIcmpv6, ICMPV6_ECHO_REQUEST } from '../../../src/net/icmpv6-wire.ts';
import { buildIpv6, encodeFragmentHeader, ipv6Pseudo, NH_DEST_OPTIONS, NH_FRAGMENT, NH_ICMPV6, NH_ROUTING, type Ipv6Out } from '../../../src/net/ipv6-wire.ts';
import { neighborAdvertisement, neighborSolicitation } from '../../../src/ndp/ndp-wire.ts';
import { numeric, positional } from './argv.ts';

const a = positional('ipv6-hostile-frames.ts', ['attack', 'dstMac', 'dstAddr', 'count', 'seed'] as const);
const parsedMac = parseMac(a.dstMac);
const parsedDst = parseIpv6(a.dstAddr);
if (parsedMac === undefined || parsedDst === undefined) {
  process.stderr.write(`bad DST_MAC or DST_ADDR: ${a.dstMac} ${a.dstAddr}\n`);
  process.exit(64);
}
const dstMac: MacAddr = parsedMac;
const dst: Ipv6Addr = parsedDst;
const count = numeric('COUNT', a.count);
let state = numeric('SEED', a.seed) >>> 0 || 1;
/** xorshift32: deterministic for a seed. */
function rand32(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state;
}

const PREFIX = parseIpv6('fd77::') ?? 0n;
const randomSource = (): Ipv6Addr => PREFIX | (0xdeadn << 32n) | BigInt(rand32());
const randomMac = (): MacAddr => 0x02005edd0000 + (rand32() & 0xffff);
const SPOOF_MAC: MacAddr = 0x02005edd_ffff;

function frame(ethDst: MacAddr, ethSrc: MacAddr, h: Ipv6Out, payload: Uint8Array): string {
  return Buffer.from(buildEthernet({ dst: ethDst, src: ethSrc, ethertype: ETHERTYPE_IPV6 }, buildIpv6(h, payload))).toString('hex');
}

function echo(src: Ipv6Addr, id: number, size = 8): Uint8Array {
  return encodeIcmpv6({ type: ICMPV6_ECHO_REQUEST, code: 0, rest: (id << 16) >>> 0, body: new Uint8Array(size) }, ipv6Pseudo(src, dst, NH_ICMPV6));
}

function one(i: number): string[] {
  const src = randomSource();
  switch (a.attack) {
    case 'nd-hop-limit':
      return [frame(ipv6MulticastMac(solicitedNode(dst)), SPOOF_MAC, { nextHeader: NH_ICMPV6, hopLimit: 64, src, dst: solicitedNode(dst) },
        encodeIcmpv6(neighborSolicitation(dst, { sourceLla: SPOOF_MAC }), ipv6Pseudo(src, solicitedNode(dst), NH_ICMPV6)))];
    case 'rh0': {
      // Routing header type 0: next header, length 2 (16 bytes of one address), type 0, segments left 1, reserved.
      const rh = new Uint8Array(24);
      rh[0] = NH_ICMPV6;
      rh[1] = 2;
      rh[3] = 1;
      writeIpAddr(rh, 8, src);
      const e = echo(src, i);
      const p = new Uint8Array(rh.length + e.length);
      p.set(rh);
      p.set(e, rh.length);
      return [frame(dstMac, SPOOF_MAC, { nextHeader: NH_ROUTING, hopLimit: 64, src, dst }, p)];
    }
    case 'ext-chain': {
      const n = 20;
      const e = echo(src, i);
      const p = new Uint8Array(8 * n + e.length);
      for (let k = 0; k < n; k++) p.set(Uint8Array.of(k === n - 1 ? NH_ICMPV6 : NH_DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0), 8 * k); // PadN of 4
      p.set(e, 8 * n);
      return [frame(dstMac, SPOOF_MAC, { nextHeader: NH_DEST_OPTIONS, hopLimit: 64, src, dst }, p)];
    }
    case 'overlap': {
      // One 64-byte echo request in two fragments: bytes 0–47, then 40–71 (overlapping 40–47).
      const e = echo(src, i, 56);
      const id = rand32();
      const f1 = new Uint8Array(8 + 48);
      f1.set(encodeFragmentHeader({ nextHeader: NH_ICMPV6, offset: 0, moreFragments: true, id }));
      f1.set(e.subarray(0, 48), 8);
      const f2 = new Uint8Array(8 + 24);
      f2.set(encodeFragmentHeader({ nextHeader: NH_ICMPV6, offset: 40, moreFragments: false, id }));
      f2.set(e.subarray(40, 64), 8);
      const h: Ipv6Out = { nextHeader: NH_FRAGMENT, hopLimit: 64, src, dst };
      return [frame(dstMac, SPOOF_MAC, h, f1), frame(dstMac, SPOOF_MAC, h, f2)];
    }
    case 'na-spoof': {
      const na = neighborAdvertisement(dst, { router: false, solicited: false, override: true }, { targetLla: SPOOF_MAC });
      const allNodes = parseIpv6('ff02::1') ?? 0n;
      return [frame(ipv6MulticastMac(allNodes), SPOOF_MAC, { nextHeader: NH_ICMPV6, hopLimit: 255, src, dst: allNodes }, encodeIcmpv6(na, ipv6Pseudo(src, allNodes, NH_ICMPV6)))];
    }
    case 'ns-random': {
      // Unicast to our address and MAC (as a unicast probe is), so that they pass Ethernet's group filter and reach ND.
      const mac = randomMac();
      return [frame(dstMac, mac, { nextHeader: NH_ICMPV6, hopLimit: 255, src, dst },
        encodeIcmpv6(neighborSolicitation(PREFIX | BigInt(rand32()), { sourceLla: mac }), ipv6Pseudo(src, dst, NH_ICMPV6)))];
    }
    case 'ns-ours': {
      const mac = randomMac();
      const group = solicitedNode(dst);
      return [frame(ipv6MulticastMac(group), mac, { nextHeader: NH_ICMPV6, hopLimit: 255, src, dst: group },
        encodeIcmpv6(neighborSolicitation(dst, { sourceLla: mac }), ipv6Pseudo(src, group, NH_ICMPV6)))];
    }
    default:
      process.stderr.write(`unknown attack ${a.attack}\n`);
      process.exit(64);
  }
}

const out: string[] = [];
for (let i = 0; i < count; i++) out.push(...one(i));
process.stdout.write(`${out.join('\n')}\n`);
