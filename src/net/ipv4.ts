// IPv4 for one interface (RFC 791, RFC 1122 §3.3): what we accept, reassembly, delivery to the protocols
// above, and the way out: on-link or through the gateway (via the next-hop resolver, ARP), or to the link
// broadcast. It is the network layer TCP and UDP send through (`NetworkLayer`).

import { PathMtuCache, type PathMtuOptions } from './path-mtu.ts';
import {
  IPV4_ANY, IPV4_BROADCAST, MAC_BROADCAST, isIpv4, isUnicastSource, sameSubnet, subnetBroadcast, type IpAddr, type Ipv4Addr,
  type Ipv4Config,
} from './addr.ts';
import { pseudoHeaderSum } from './checksum.ts';
import type { Counters } from './counters.ts';
import { ETHERTYPE_IPV4, type LinkRxContext, type LinkSend } from './ethernet.ts';
import type { NetSendOptions, NetworkLayer, RxContext } from './ip.ts';
import { Reassembler, type ReassemblyOptions } from './ipv4-reassembly.ts';
import { IPV4_MIN_HEADER, parseIpv4, writeIpv4Header } from './ipv4-wire.ts';
import type { NextHopResolver } from './next-hop.ts';
import { OutPacket } from './packet.ts';
import { randomU32, type Random } from '../random.ts';

export interface Ipv4Options {
  /** TTL of datagrams we send (RFC 1700 default, as Linux). */
  ttl: number;
  reassembly: Partial<ReassemblyOptions>;
  /** Learned path MTUs: how long they hold and how many destinations (path-mtu.ts). */
  pathMtu: Partial<PathMtuOptions>;
}

/** RFC 1191 allows 68; as Linux's min_pmtu, a path MTU is never taken below 552. */
export const IPV4_MIN_PATH_MTU = 552;

export const defaultIpv4Options: Ipv4Options = { ttl: 64, reassembly: {}, pathMtu: {} };

/** What IPv4 needs around it: the link, the next-hop resolver, and where accepted datagrams go. */
export interface Ipv4Io {
  link: LinkSend;
  nextHop: NextHopResolver<Ipv4Addr>;
  /** A whole datagram for us (reassembled if it came in fragments), dispatched by `ctx.protocol`. */
  deliver(payload: Uint8Array, ctx: RxContext): void;
}

export class Ipv4 implements NetworkLayer {
  readonly options: Ipv4Options;
  private cfg: Ipv4Config | undefined;
  private readonly reassembler: Reassembler;
  private nextId: number;
  readonly pathMtu: PathMtuCache;

  /** The link MTU in use: the device's, or lower when DHCP says so (option 26). */
  private mtu: number;

  constructor(
    private readonly deviceMtu: number,
    private readonly io: Ipv4Io,
    private readonly counters: Counters,
    random: Random,
    options: Partial<Ipv4Options> = {},
  ) {
    this.options = { ...defaultIpv4Options, ...options };
    this.mtu = deviceMtu;
    this.reassembler = new Reassembler(counters, this.options.reassembly);
    this.pathMtu = new PathMtuCache(IPV4_MIN_PATH_MTU, this.options.pathMtu);
    this.nextId = randomU32(random) & 0xffff;
  }

  get config(): Ipv4Config | undefined {
    return this.cfg;
  }

  configure(cfg: Ipv4Config | undefined): void {
    this.cfg = cfg;
  }

  receive(packet: Uint8Array, link: LinkRxContext): void {
    const parsed = parseIpv4(packet);
    if (!parsed.ok) {
      this.counters.inc(`ip.rx_bad_${parsed.reason}`);
      return;
    }
    const { header: h } = parsed;
    let payload = parsed.payload;
    const cfg = this.cfg;
    const ipBroadcast = h.dst === IPV4_BROADCAST || (cfg !== undefined && h.dst === subnetBroadcast(cfg));
    // RFC 1122 §3.3.6 and §3.2.1.3: ours, or a broadcast; while unconfigured, whatever reached our MAC (DHCP).
    if (!ipBroadcast && cfg !== undefined && h.dst !== cfg.address) {
      this.counters.inc('ip.rx_not_for_us');
      return;
    }
    // RFC 1122 §3.2.1.3: a source that cannot be a host (broadcast, multicast, class E, loopback) is discarded.
    if (!isUnicastSource(h.src, cfg?.address, cfg?.prefix) || (cfg !== undefined && h.src === cfg.address)) {
      this.counters.inc('ip.rx_bad_source');
      return;
    }
    let quote = packet.subarray(0, Math.min(h.headerLength + 8, h.totalLength));
    if (h.moreFragments || h.fragmentOffset > 0) {
      const whole = this.reassembler.add(h, payload, link.now);
      if (whole === undefined) return;
      payload = whole;
      const q = new Uint8Array(IPV4_MIN_HEADER + Math.min(8, whole.length));
      writeIpv4Header(q, 0, { id: h.id, ttl: h.ttl, protocol: h.protocol, src: h.src, dst: h.dst, tos: h.tos }, IPV4_MIN_HEADER + whole.length);
      q.set(whole.subarray(0, 8), IPV4_MIN_HEADER);
      quote = q;
    }
    this.counters.inc('ip.rx');
    this.io.deliver(payload, {
      now: link.now, src: h.src, dst: h.dst, protocol: h.protocol, linkBroadcast: link.linkBroadcast, ipBroadcast, quote,
      checksumTrusted: link.checksumTrusted, pseudo: this.pseudoSum(h.src, h.dst, h.protocol), hopLimit: h.ttl, ecn: h.tos & 3,
    });
  }

  /** RFC 9293 §3.1, RFC 768: source, destination, zero and protocol (the length is the transport's to add). */
  pseudoSum(src: IpAddr, dst: IpAddr, protocol: number): number {
    return isIpv4(src) && isIpv4(dst) ? pseudoHeaderSum(src, dst, protocol, 0) : 0;
  }

  /**
   * The interface MTU a DHCP server gives (RFC 2132 §5.1, option 26), within [576, the device's MTU]; undefined:
   * the device's. Returns the MTU now in use.
   */
  setMtu(mtu: number | undefined): number {
    this.mtu = mtu === undefined ? this.deviceMtu : Math.min(this.deviceMtu, Math.max(576, Math.floor(mtu)));
    return this.mtu;
  }

  get linkMtu(): number {
    return this.mtu;
  }

  maxPayload(dst: IpAddr, now?: number): number {
    return (now === undefined ? this.mtu : (this.pathMtu.get(dst, now) ?? this.mtu)) - IPV4_MIN_HEADER;
  }

  /** RFC 1191 §6.3: the path MTU to `dst` lowered, never under 552. */
  learnPathMtu(dst: IpAddr, mtu: number, now: number): number | undefined {
    return isIpv4(dst) ? this.pathMtu.lower(dst, mtu, this.mtu, now) : undefined;
  }

  sourceFor(_dst: IpAddr): Ipv4Addr | undefined {
    return this.cfg?.address;
  }

  /**
   * Sends a datagram, fragmenting it when it is larger than the MTU; false when it was dropped here.
   * An OutPacket payload gets the IPv4 header written into its headroom (no copy).
   */
  send(dst: IpAddr, protocol: number, data: Uint8Array | OutPacket, now: number, opts: NetSendOptions = {}): boolean {
    const cfg = this.cfg;
    const src = opts.src ?? cfg?.address;
    if (!isIpv4(dst) || (src !== undefined && !isIpv4(src))) {
      this.counters.inc('ip.tx_wrong_family');
      return false;
    }
    if (src === undefined) {
      this.counters.inc('ip.tx_no_address');
      return false;
    }
    const broadcast = dst === IPV4_BROADCAST || (cfg !== undefined && dst === subnetBroadcast(cfg));
    let nextHop = dst;
    if (!broadcast) {
      if (cfg === undefined || dst === IPV4_ANY || dst >>> 28 === 0xe) {
        this.counters.inc('ip.tx_no_route');
        return false;
      }
      if (!sameSubnet(cfg, dst)) {
        if (cfg.gateway === undefined) {
          this.counters.inc('ip.tx_no_route');
          return false;
        }
        nextHop = cfg.gateway;
      }
    }
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0xffff;
    const base = { id, ttl: opts.hopLimit ?? this.options.ttl, protocol, src, dst, tos: opts.tos ?? 0, dontFragment: opts.dontFragment ?? false };
    const maxData = this.maxPayload(dst, now);
    // A TSO super-segment is one packet past the MTU: the device cuts it, each piece under the MTU.
    const tso = data instanceof OutPacket && data.offload !== undefined && data.offload.gsoSize > 0;
    if (data.length <= maxData || (tso && IPV4_MIN_HEADER + data.length <= 65535)) {
      const packet = data instanceof OutPacket ? data : OutPacket.copyOf(data);
      const at = packet.prepend(IPV4_MIN_HEADER);
      writeIpv4Header(packet.buf, at, base, packet.length);
      this.output(packet, nextHop, broadcast, now);
      return true;
    }
    const payload = data instanceof OutPacket ? data.view() : data;
    if (base.dontFragment || IPV4_MIN_HEADER + payload.length > 65535) {
      this.counters.inc('ip.tx_too_big');
      return false;
    }
    // RFC 791 §3.2 fragmentation: every fragment but the last carries a multiple of 8 bytes.
    const step = Math.floor(maxData / 8) * 8;
    for (let off = 0; off < payload.length; off += step) {
      const part = payload.subarray(off, Math.min(payload.length, off + step));
      const packet = new Uint8Array(IPV4_MIN_HEADER + part.length);
      writeIpv4Header(packet, 0, { ...base, fragmentOffset: off, moreFragments: off + step < payload.length }, packet.length);
      packet.set(part, IPV4_MIN_HEADER);
      this.output(packet, nextHop, broadcast, now);
      this.counters.inc('ip.tx_fragment');
    }
    return true;
  }

  poll(now: number): void {
    this.reassembler.poll(now);
  }

  nextDeadline(): number | undefined {
    return this.reassembler.nextDeadline();
  }

  get reassembly(): Reassembler {
    return this.reassembler;
  }

  private output(packet: Uint8Array | OutPacket, nextHop: Ipv4Addr, broadcast: boolean, now: number): void {
    this.counters.inc('ip.tx');
    if (broadcast) this.io.link(MAC_BROADCAST, ETHERTYPE_IPV4, packet);
    else this.io.nextHop.sendVia(nextHop, packet, now);
  }
}
