// IPv6 for one interface (RFC 8200): what we accept (our assigned addresses and the multicast groups we joined),
// extension headers and reassembly, delivery to the protocols above, and the way out: a next hop on-link or a
// default router (via neighbour discovery, `NextHopResolver`), multicast straight to its 33:33 MAC, fragmented
// only for packets that may be (never TCP's). It is the network layer TCP and UDP send through over IPv6.

import { PathMtuCache, type PathMtuOptions } from './path-mtu.ts';
import { isIpv6, isIpv6Multicast, ipv6MulticastMac, readIpv6, type IpAddr, type Ipv6Addr } from './addr.ts';
import { sumBytes } from './checksum.ts';
import type { Counters, LayerCounter } from './counters.ts';
import { ETHERTYPE_IPV6, type LinkRxContext, type LinkSend } from './ethernet.ts';
import type { NetSendOptions, NetworkLayer, RxContext } from './ip.ts';
import {
  IPV6_HEADER_LEN, IPV6_MIN_MTU, NH_FRAGMENT, NH_HOP_BY_HOP, defaultIpv6ChainLimits, encodeFragmentHeader, encodeRouterAlertHeader,
  PARAM_UNRECOGNIZED_NEXT_HEADER, ipv6Pseudo, parseIpv6, writeIpv6Header, type Ipv6ChainLimits, type ParameterProblem,
} from './ipv6-wire.ts';
import type { NextHopResolver } from './next-hop.ts';
import { OutPacket } from './packet.ts';
import { FragmentReassembler, type ReassemblyEvent, type ReassemblyOptions } from './reassembly.ts';
import { randomU32, type Random } from '../random.ts';

export interface Ipv6Options {
  /** The Hop Limit of what we send (RFC 8200 §3; a router advertisement may change it). */
  hopLimit: number;
  reassembly: ReassemblyOptions;
  chain: Ipv6ChainLimits;
  /** Learned path MTUs (path-mtu.ts; RFC 8201 §5.3: 10 minutes). */
  pathMtu: Partial<PathMtuOptions>;
}

/** RFC 8200 §4.5: 60 s to reassemble; the other bounds as IPv4's. */
export const defaultIpv6Options: Ipv6Options = {
  hopLimit: 64,
  reassembly: { maxDatagrams: 16, maxBytes: 256 * 1024, maxFragments: 128, timeoutMs: 60_000 },
  chain: defaultIpv6ChainLimits,
  pathMtu: {},
};

/** What IPv6 asks of the addresses and routes it works with (neighbour discovery keeps both). */
export interface Ipv6Config {
  /** An address of ours that takes packets (not a tentative one). */
  isAssigned(a: Ipv6Addr): boolean;
  /** A multicast group we listen to. */
  isJoined(group: Ipv6Addr): boolean;
  selectSource(dst: Ipv6Addr): Ipv6Addr | undefined;
  /** The next hop for `dst`: itself when on-link, else a default router; undefined when there is no route. */
  nextHop(dst: Ipv6Addr, now: number): Ipv6Addr | undefined;
}

export interface Ipv6Io {
  link: LinkSend;
  nextHop: NextHopResolver<Ipv6Addr>;
  config: Ipv6Config;
  /** A whole datagram for us, dispatched by `ctx.protocol`; false when no protocol takes it (RFC 8200 §4: a Parameter Problem then). */
  deliver(payload: Uint8Array, ctx: RxContext): boolean;
  /** A packet refused with a Parameter Problem owed to its sender (RFC 8200 §4; ICMPv6 decides whether to send it). */
  parameterProblem(problem: ParameterProblem, ctx: RxContext): void;
}

/** IPv6 options of one send beyond the common ones. */
export interface Ipv6SendOptions extends NetSendOptions {
  /** Precede the payload with a Hop-by-Hop header holding a Router Alert (RFC 2711): MLD messages carry one. */
  routerAlert?: boolean;
}

const REASSEMBLY_COUNTER: Record<ReassemblyEvent, LayerCounter<'ip6'>> = {
  too_big: 'ip6.frag_too_big',
  bad_length: 'ip6.frag_bad_length',
  over_limit: 'ip6.frag_over_limit',
  too_many_fragments: 'ip6.frag_too_many',
  inconsistent: 'ip6.frag_inconsistent',
  overlap: 'ip6.frag_overlap',
  duplicate: 'ip6.frag_duplicate',
  timeout: 'ip6.reassembly_timeout',
  evicted: 'ip6.reassembly_evicted',
  reassembled: 'ip6.reassembled',
};

export class Ipv6 implements NetworkLayer {
  readonly options: Ipv6Options;
  private readonly reassembler: FragmentReassembler;
  private nextId: number;
  readonly pathMtu: PathMtuCache;
  private linkMtu: number;

  constructor(
    mtu: number,
    private readonly io: Ipv6Io,
    private readonly counters: Counters,
    random: Random,
    options: Partial<Ipv6Options> = {},
  ) {
    this.options = { ...defaultIpv6Options, ...options };
    this.linkMtu = Math.max(IPV6_MIN_MTU, mtu);
    this.reassembler = new FragmentReassembler(this.options.reassembly, 65535, 'exact-duplicates-only', (e) => counters.inc(REASSEMBLY_COUNTER[e]));
    this.nextId = randomU32(random);
    this.pathMtu = new PathMtuCache(IPV6_MIN_MTU, this.options.pathMtu);
  }

  /** The link MTU (a router advertisement's MTU option may lower it, never under 1280). */
  get mtu(): number {
    return this.linkMtu;
  }

  setMtu(mtu: number): void {
    this.linkMtu = Math.max(IPV6_MIN_MTU, mtu);
  }

  setHopLimit(hopLimit: number): void {
    if (hopLimit > 0) this.options.hopLimit = hopLimit;
  }

  receive(packet: Uint8Array, link: LinkRxContext): void {
    const parsed = parseIpv6(packet, this.options.chain);
    if (!parsed.ok) {
      this.counters.inc(`ip6.rx_bad_${parsed.reason}`);
      const problem = parsed.problem;
      // A Parameter Problem comes only from a sound fixed header (parseIpv6 checks it first), so its addresses hold.
      if (problem !== undefined) {
        this.io.parameterProblem(problem, this.context(packet, readIpv6(packet, 8), readIpv6(packet, 24), packet[6] ?? 0, packet[7] ?? 0, link));
      }
      return;
    }
    const { header: h } = parsed;
    const multicast = isIpv6Multicast(h.dst);
    // RFC 4291 §2.7, RFC 8200: ours, or a group we listen to; a multicast source is never valid.
    if (multicast ? !this.io.config.isJoined(h.dst) : !this.io.config.isAssigned(h.dst)) {
      this.counters.inc('ip6.rx_not_for_us');
      return;
    }
    if (isIpv6Multicast(h.src)) {
      this.counters.inc('ip6.rx_bad_source');
      return;
    }
    let protocol = parsed.protocol;
    let payload = parsed.payload;
    let pointer = parsed.protocolPointer;
    if (parsed.fragment !== undefined) {
      const f = parsed.fragment;
      const whole = this.reassembler.add({ key: `${h.src}/${h.dst}/${f.id}`, offset: f.offset, more: f.moreFragments, data: payload }, link.now);
      if (whole === undefined) return;
      // The fragmentable part may begin with more extension headers (RFC 8200 §4.5): walk them as in one packet.
      const again = new Uint8Array(IPV6_HEADER_LEN + whole.length);
      writeIpv6Header(again, 0, { ...h, nextHeader: f.nextHeader }, whole.length);
      again.set(whole, IPV6_HEADER_LEN);
      const inner = parseIpv6(again, this.options.chain);
      if (!inner.ok || inner.fragment !== undefined) {
        this.counters.inc('ip6.rx_bad_reassembled');
        return;
      }
      protocol = inner.protocol;
      payload = inner.payload;
      pointer = inner.protocolPointer;
      packet = again;
    }
    this.counters.inc('ip6.rx');
    const ctx = { ...this.context(packet, h.src, h.dst, protocol, h.hopLimit, link), ipBroadcast: multicast, linkBroadcast: link.linkBroadcast || multicast };
    if (this.io.deliver(payload, ctx)) return;
    this.counters.inc('ip6.rx_unknown_protocol');
    this.io.parameterProblem({ code: PARAM_UNRECOGNIZED_NEXT_HEADER, pointer, unlessMulticast: false }, ctx);
  }

  private context(packet: Uint8Array, src: Ipv6Addr, dst: Ipv6Addr, protocol: number, hopLimit: number, link: LinkRxContext): RxContext {
    return {
      now: link.now, src, dst, protocol, hopLimit, linkBroadcast: link.linkBroadcast, ipBroadcast: isIpv6Multicast(dst),
      // RFC 4443 §2.4 (c): an error quotes as much of the offending packet as fits in the minimum MTU.
      quote: packet.subarray(0, Math.min(packet.length, IPV6_MIN_MTU - IPV6_HEADER_LEN - 8)),
      // The pseudo-header's addresses summed straight from the header's bytes (8–39): no BigInt work per packet.
      checksumTrusted: link.checksumTrusted, pseudo: sumBytes(packet, 8, 32, protocol), ecn: ((packet[1] ?? 0) >> 4) & 3,
    };
  }

  pseudoSum(src: IpAddr, dst: IpAddr, protocol: number): number {
    return isIpv6(src) && isIpv6(dst) ? ipv6Pseudo(src, dst, protocol) : 0;
  }

  maxPayload(dst: IpAddr, now?: number): number {
    return (now === undefined ? this.linkMtu : (this.pathMtu.get(dst, now) ?? this.linkMtu)) - IPV6_HEADER_LEN;
  }

  /** RFC 8201 §4: the path MTU to `dst` lowered, never under 1280 (RFC 8200 §5). */
  learnPathMtu(dst: IpAddr, mtu: number, now: number): number | undefined {
    return isIpv6(dst) ? this.pathMtu.lower(dst, mtu, this.linkMtu, now) : undefined;
  }

  sourceFor(dst: IpAddr): Ipv6Addr | undefined {
    return isIpv6(dst) ? this.io.config.selectSource(dst) : undefined;
  }

  /**
   * Sends a datagram; false when it was dropped here. Larger than the MTU, it is fragmented (RFC 8200 §4.5) unless
   * `dontFragment` says it must not be (TCP sizes its own segments). An OutPacket gets its header in its headroom.
   */
  send(dst: IpAddr, protocol: number, data: Uint8Array | OutPacket, now: number, opts: Ipv6SendOptions = {}): boolean {
    if (!isIpv6(dst) || (opts.src !== undefined && !isIpv6(opts.src))) {
      this.counters.inc('ip6.tx_wrong_family');
      return false;
    }
    const src = opts.src ?? this.io.config.selectSource(dst);
    if (src === undefined) {
      this.counters.inc('ip6.tx_no_address');
      return false;
    }
    const multicast = isIpv6Multicast(dst);
    const hop = multicast ? dst : this.io.config.nextHop(dst, now);
    if (hop === undefined) {
      this.counters.inc('ip6.tx_no_route');
      return false;
    }
    const hopLimit = opts.hopLimit ?? this.options.hopLimit;
    const base = { nextHeader: protocol, hopLimit, src, dst, trafficClass: opts.tos ?? 0 };
    let body: Uint8Array | OutPacket = data;
    if (opts.routerAlert === true) {
      const view = data instanceof OutPacket ? data.view() : data;
      const hbh = encodeRouterAlertHeader(protocol);
      const b = new Uint8Array(hbh.length + view.length);
      b.set(hbh);
      b.set(view, hbh.length);
      body = b;
      base.nextHeader = NH_HOP_BY_HOP;
    }
    const maxData = this.maxPayload(dst, now);
    const tso = body instanceof OutPacket && body.offload !== undefined && body.offload.gsoSize > 0;
    if (body.length <= maxData || (tso && body.length <= 65535)) {
      const packet = body instanceof OutPacket ? body : OutPacket.copyOf(body);
      const at = packet.prepend(IPV6_HEADER_LEN);
      writeIpv6Header(packet.buf, at, base, packet.length - IPV6_HEADER_LEN);
      this.output(packet, hop, multicast, now);
      return true;
    }
    const payload = body instanceof OutPacket ? body.view() : body;
    if (opts.dontFragment === true || payload.length > 65535 - 8) {
      this.counters.inc('ip6.tx_too_big');
      return false;
    }
    // RFC 8200 §4.5: every fragment but the last carries a multiple of 8 bytes; one identification per datagram.
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    const step = Math.floor((maxData - 8) / 8) * 8;
    for (let off = 0; off < payload.length; off += step) {
      const part = payload.subarray(off, Math.min(payload.length, off + step));
      const frag = encodeFragmentHeader({ nextHeader: base.nextHeader, offset: off, moreFragments: off + step < payload.length, id });
      const packet = new Uint8Array(IPV6_HEADER_LEN + 8 + part.length);
      writeIpv6Header(packet, 0, { ...base, nextHeader: NH_FRAGMENT }, 8 + part.length);
      packet.set(frag, IPV6_HEADER_LEN);
      packet.set(part, IPV6_HEADER_LEN + 8);
      this.output(packet, hop, multicast, now);
      this.counters.inc('ip6.tx_fragment');
    }
    return true;
  }

  poll(now: number): void {
    this.reassembler.poll(now);
  }

  nextDeadline(): number | undefined {
    return this.reassembler.nextDeadline();
  }

  private output(packet: Uint8Array | OutPacket, hop: Ipv6Addr, multicast: boolean, now: number): void {
    this.counters.inc('ip6.tx');
    if (multicast) this.io.link(ipv6MulticastMac(hop), ETHERTYPE_IPV6, packet);
    else this.io.nextHop.sendVia(hop, packet, now);
  }
}
