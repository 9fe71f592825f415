// The composition root of the direct stack, sans I/O: frames and the time go in, frames to send and the
// next deadline come out. A frame travels device → Ethernet → ARP or IPv4 → ICMP/UDP/TCP → socket → app, and
// back down the same layers; every layer is built and wired here, and nowhere else.
//
// The layer contract, which every layer below keeps:
// - I/O is injected at construction: what a layer sends through and whom it tells (an `…Io` object, or the
//   interface of the layer below, such as `NetworkLayer` or `NextHopResolver`). No callback slot is assigned
//   after construction.
// - `receive(data, ctx)` takes one unit from the layer below; `ctx` carries the time and what that layer knew.
// - `poll(now)` does what has fallen due; `nextDeadline()` says when that is next (undefined: nothing planned).
// - Time is passed in, never read from a clock, and never kept to be used later as "now".
// - What a layer sees and drops is counted in `Counters` under the layer's prefix, never thrown.
// - Imports point down: this root → tcp/udp → ip → link; src/arp and src/dhcp import src/net, never the reverse.

import { Acd, type AcdOptions } from '../arp/acd.ts';
import { Arp, type ArpOptions } from '../arp/arp.ts';
import { DhcpClient, type DhcpClientOptions, type DhcpSavedLease, type Lease } from '../dhcp/dhcp-client.ts';
import type { Random } from '../random.ts';
import { IPV4_ANY, ipv4ToString, isIpv6, prefixToMask, type Ipv4Config, type MacAddr } from '../net/addr.ts';
import { Counters } from '../net/counters.ts';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../net/ethernet.ts';
import { EthernetLink } from '../net/ethernet-link.ts';
import type { DeviceOffloads, RxInfo } from '../net/device.ts';
import { Icmp, type IcmpOptions } from '../net/icmp.ts';
import { UNREACH_PROTOCOL } from '../net/icmp-wire.ts';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP, type RxContext, type TransportError } from '../net/ip.ts';
import { Ipv4, type Ipv4Options } from '../net/ipv4.ts';
import { Tcp, type TcpLayerOptions } from '../net/tcp/tcp.ts';
import { Udp } from '../net/udp.ts';
import { type Ipv6Addr } from '../net/addr.ts';
import { encodeIcmpv6 } from '../net/icmpv6-wire.ts';
import { Icmpv6, type Icmpv6Options } from '../net/icmpv6.ts';
import { Ipv6, type Ipv6Options } from '../net/ipv6.ts';
import { NH_ICMPV6 } from '../net/ipv6-wire.ts';
import { NeighborDiscovery, type NdpEvent, type NdpOptions } from '../ndp/ndp.ts';
import { Dhcpv6Client, type Dhcpv6ClientOptions, type Dhcpv6Event, type Dhcpv6Lease } from '../dhcp/dhcpv6-client.ts';
import { ALL_DHCP_RELAY_AGENTS_AND_SERVERS, DHCPV6_CLIENT_PORT, DHCPV6_SERVER_PORT } from '../dhcp/dhcpv6-wire.ts';
import { DualNetwork } from './dual-network.ts';
import { earliest } from '../net/deadline.ts';

export const DHCP_CLIENT_PORT = 68;
export const DHCP_SERVER_PORT = 67;

export interface StackOptions {
  mac: MacAddr;
  /** The largest IP packet on the link. */
  mtu: number;
  random: Random;
  log: (line: string) => void;
  /** A static address (`--ipv4`, `--gateway`), or 'off' for none (IPv6 only); without it the address comes from DHCP. */
  ipv4?: Ipv4Config | 'off' | undefined;
  hostname?: string | undefined;
  arp?: Partial<ArpOptions>;
  ip?: Partial<Ipv4Options>;
  icmp?: Partial<IcmpOptions>;
  dhcp?: Partial<DhcpClientOptions>;
  /** Address conflict detection (RFC 5227) of DHCP addresses: its timing. `probeNum: 0` turns probing off. */
  acd?: Partial<AcdOptions>;
  /** DHCP state kept across restarts by the caller (the stack does no file I/O). */
  dhcpState?: DhcpStateStore | undefined;
  tcp?: Partial<TcpLayerOptions>;
  /** Where the layers count what they do (shared with the device); a new set when absent. */
  counters?: Counters;
  /** What the device finishes for us (checksums, TSO); absent: nothing. */
  offloads?: DeviceOffloads | undefined;
  /** Called when sockets have work to send outside `receive`/`poll`: the driver should poll soon. */
  wake?: () => void;
  /** Called whenever the interface gains, changes or loses its address. */
  onAddress?: (cfg: Ipv4Config | undefined) => void;
  /** IPv6 beside IPv4 (absent: none): neighbour discovery, a link-local address, SLAAC from router advertisements. */
  ipv6?: StackIpv6Options | undefined;
}

export interface StackIpv6Options {
  /** The RFC 7217 secret for stable interface identifiers (kept by the caller, so addresses survive restarts). */
  secret: Uint8Array;
  /** A static address besides the autoconfigured ones, and a default router for it (used before advertised ones). */
  static?: { address: Ipv6Addr; prefixLength: number; gateway?: Ipv6Addr | undefined } | undefined;
  ip?: Partial<Ipv6Options>;
  icmp?: Partial<Icmpv6Options>;
  ndp?: Partial<NdpOptions>;
  /** The DHCPv6 client (run when router advertisements ask for it), or false for none. */
  dhcpv6?: Partial<Dhcpv6ClientOptions> | false;
  /** The DHCPv6 lease kept across restarts by the caller (for Confirm, RFC 8415 §18.2.3). */
  dhcpv6State?: StateStore<Dhcpv6Lease> | undefined;
}

/** Where a lease is remembered between runs: what an earlier run left (in the stack's clock), and how to change it. */
export interface StateStore<T> {
  saved: T | undefined;
  save(lease: T | undefined): void;
}

/** Where the DHCP client's lease is remembered between runs, for INIT-REBOOT (RFC 2131 §3.2). */
export type DhcpStateStore = StateStore<DhcpSavedLease>;

export class Stack {
  readonly counters: Counters;
  readonly mac: MacAddr;
  readonly link: EthernetLink;
  readonly arp: Arp;
  readonly ipv4: Ipv4;
  readonly icmp: Icmp;
  readonly udp: Udp;
  readonly tcp: Tcp;
  /** IPv6, its ICMPv6 and neighbour discovery, when the stack has IPv6. */
  readonly ipv6: Ipv6 | undefined;
  readonly icmp6: Icmpv6 | undefined;
  readonly ndp: NeighborDiscovery | undefined;
  readonly dhcp: DhcpClient | undefined;
  /** Stateful DHCPv6 or Information-request, as the routers ask (RFC 8415), when the stack has IPv6. */
  readonly dhcp6: Dhcpv6Client | undefined;
  /** Where the IPv4 address comes from: DHCP, a static one, or none at all (`--ipv4 off`). */
  readonly ipv4Mode: 'dhcp' | 'static' | 'off';
  /** Probes DHCP addresses before use and defends them afterwards (RFC 5227); idle with a static address. */
  readonly acd: Acd;
  private stopping = false;
  /** The interface MTU of the DHCP lease in use (option 26), if it gave one. */
  private leaseMtu: number | undefined;

  constructor(private readonly options: StackOptions) {
    this.counters = options.counters ?? new Counters();
    this.ipv4Mode = options.ipv4 === undefined ? 'dhcp' : options.ipv4 === 'off' ? 'off' : 'static';
    const mac = options.mac;
    const counters = this.counters;
    this.mac = mac;
    this.link = new EthernetLink(mac, counters, (m) => this.ndp?.acceptsMac(m) ?? false);
    // ACD watches our addresses: ARP reports each conflicting packet to it (RFC 5227), and asks it which
    // address is being probed.
    this.acd = new Acd(options.log, options.random, counters, options.acd);
    this.arp = new Arp(mac, this.link.send, counters, options.log, this.acd, options.arp);
    this.ipv4 = new Ipv4(options.mtu, { link: this.link.send, nextHop: this.arp, deliver: (p, ctx) => this.deliver(p, ctx) }, counters, options.random, options.ip);
    this.icmp = new Icmp(this.ipv4, counters, options.icmp, (e) => this.transportError(e));
    const v6 = options.ipv6;
    if (v6 !== undefined) {
      const ndp = new NeighborDiscovery(mac, v6.secret, options.mtu, {
        sendIcmpv6: (dst, m, now, o) => {
          const ip6 = this.ipv6;
          ip6?.send(dst, NH_ICMPV6, encodeIcmpv6(m, ip6.pseudoSum(o.src, dst, NH_ICMPV6)), now, o);
        },
        link: this.link.send,
        linkParameters: (mtu, hopLimit) => {
          if (mtu !== undefined) this.ipv6?.setMtu(mtu);
          if (hopLimit !== undefined) this.ipv6?.setHopLimit(hopLimit);
        },
        log: options.log,
      }, counters, options.random, v6.ndp);
      this.ndp = ndp;
      this.ipv6 = new Ipv6(options.mtu, {
        link: this.link.send, nextHop: ndp, config: ndp,
        deliver: (p, ctx) => this.deliver6(p, ctx),
        parameterProblem: (problem, ctx) => this.icmp6?.parameterProblem(problem, ctx),
      }, counters, options.random, v6.ip);
      this.icmp6 = new Icmpv6(this.ipv6, { neighborDiscovery: (m, ctx) => ndp.receive(m, ctx), multicastListener: (m, ctx) => ndp.receiveQuery(m, ctx), transportError: (e) => this.transportError(e) }, counters, v6.icmp);
    }
    this.dhcp6 = v6 === undefined || v6.dhcpv6 === false ? undefined : new Dhcpv6Client({ mac, random: options.random, ...v6.dhcpv6 }, counters, options.log);
    this.dhcp6?.restore(v6?.dhcpv6State?.saved);
    // TCP and UDP see one network layer of both families.
    const net = new DualNetwork(this.ipv4, this.icmp, this.ipv6, this.icmp6, counters);
    this.udp = new Udp(net, net, counters);
    const off = options.offloads;
    const tcpOffloads = off === undefined ? {} : { checksumOffload: off.txChecksum, tsoMaxBytes: off.txChecksum ? off.tsoMaxBytes : 0 };
    this.tcp = new Tcp(net, counters, options.random, { mss: options.mtu - 40, ...tcpOffloads, ...options.tcp }, options.wake);
    if (options.ipv4 === undefined) {
      const dhcp = new DhcpClient({ mac, random: options.random, ...(options.hostname !== undefined ? { hostname: options.hostname } : {}), ...options.dhcp }, options.log);
      this.dhcp = dhcp;
      this.udp.bind(DHCP_CLIENT_PORT, (d) => {
        if (d.srcPort !== DHCP_SERVER_PORT) return;
        dhcp.receive(d.payload, d.now);
        this.settleAddressing(d.now);
      });
    }
    const dhcp6 = this.dhcp6;
    if (dhcp6 !== undefined) {
      this.udp.bind(DHCPV6_CLIENT_PORT, (d) => {
        if (d.srcPort !== DHCPV6_SERVER_PORT) return;
        dhcp6.receive(d.payload, d.now);
        this.settleAddressing(d.now);
      });
    }
  }

  /**
   * Applies what DHCP and ACD asked for, until neither asks more: the address configuration's events are
   * applied here, and only here (a DHCP ACK → check → ACD probes → probed → DHCP binds → the address is set).
   */
  private settleAddressing(now: number): void {
    const dhcp = this.dhcp;
    for (let round = 0; round < 64; round++) {
      const fromDhcp = dhcp?.takeEvents() ?? [];
      const fromAcd = this.acd.takeEvents();
      const fromNdp = this.ndp?.takeEvents() ?? [];
      const fromDhcp6 = this.dhcp6?.takeEvents() ?? [];
      if (fromDhcp.length === 0 && fromAcd.length === 0 && fromNdp.length === 0 && fromDhcp6.length === 0) return;
      for (const e of fromDhcp) {
        switch (e.kind) {
          case 'send':
            this.udp.send({ srcPort: DHCP_CLIENT_PORT, dst: e.dst, dstPort: DHCP_SERVER_PORT, payload: e.payload, src: this.ipv4.config?.address ?? IPV4_ANY }, now);
            break;
          case 'check':
            // RFC 2131 §4.4.1 and RFC 5227 §2.1: probe a new address before configuring it.
            this.acd.probe(e.lease.address, now);
            break;
          case 'bound':
            this.bind(e.lease, now);
            break;
          case 'lost':
            // While stopping, the address stays until the RELEASE has left (it may wait for ARP).
            if (!this.stopping) this.setAddress(undefined, now);
            break;
          case 'persist':
            this.options.dhcpState?.save(e.saved);
            break;
        }
      }
      for (const e of fromAcd) {
        switch (e.kind) {
          case 'probe':
            this.arp.sendProbe(e.address);
            break;
          case 'announce':
            this.arp.announce(e.address);
            break;
          case 'probed':
            dhcp?.addressChecked(e.address, e.conflictWith, now);
            break;
          case 'gave-up':
            dhcp?.addressConflict(e.address, e.by, now);
            break;
        }
      }
      this.applyIpv6Addressing(fromNdp, fromDhcp6, now);
    }
  }

  /** IPv6's share of settleAddressing: the routers' M/O flags to DHCPv6, its leases to the address list, DAD verdicts back. */
  private applyIpv6Addressing(fromNdp: NdpEvent[], fromDhcp6: Dhcpv6Event[], now: number): void {
    const ndp = this.ndp;
    const dhcp6 = this.dhcp6;
    if (ndp === undefined) return;
    for (const e of fromNdp) {
      if (e.kind === 'dhcpv6') dhcp6?.routerFlags(e.managed, e.other, now);
      else if (e.origin === 'dhcpv6') dhcp6?.addressConflict(e.address, now);
    }
    for (const e of fromDhcp6) {
      switch (e.kind) {
        case 'send': {
          // RFC 8415 §13.1: from the link-local address, to All_DHCP_Relay_Agents_and_Servers.
          const src = ndp.linkLocal;
          if (src === undefined) this.counters.inc('udp.tx_no_address');
          else this.udp.send({ srcPort: DHCPV6_CLIENT_PORT, dst: ALL_DHCP_RELAY_AGENTS_AND_SERVERS, dstPort: DHCPV6_SERVER_PORT, payload: e.payload, src }, now);
          break;
        }
        case 'bound':
          ndp.setLeased(e.lease.addresses, now);
          break;
        case 'lost':
          // While stopping, the addresses stay until the RELEASE has left.
          if (!this.stopping) ndp.setLeased([], now);
          break;
        case 'persist':
          this.options.ipv6?.dhcpv6State?.save(e.saved);
          break;
        case 'information':
          break;
      }
    }
  }

  /** Brings the interface up: the static address at once, or DHCP discovery. */
  start(now: number): void {
    if (this.options.ipv4 === 'off') {
      this.options.log('IPv4: off (no DHCP, no address)');
    } else if (this.options.ipv4 !== undefined) {
      const c = this.options.ipv4;
      this.options.log(`IPv4: static ${ipv4ToString(c.address)}/${c.prefix}${c.gateway !== undefined ? ` gw ${ipv4ToString(c.gateway)}` : ''}`);
      this.setAddress(c, now);
    } else {
      this.dhcp?.start(now, this.options.dhcpState?.saved);
    }
    this.settleAddressing(now);
    const v6 = this.options.ipv6;
    this.ndp?.start(now);
    if (v6?.static !== undefined) this.ndp?.addStatic(v6.static.address, v6.static.prefixLength, now, v6.static.gateway);
  }

  /** One frame from the device, valid only during the call; `info` is what the device knows of it. */
  receive(frame: Uint8Array, now: number, info?: RxInfo): void {
    const rx = this.link.receive(frame);
    if (rx === undefined) return;
    const ctx = { now, linkBroadcast: rx.broadcast, checksumTrusted: info?.checksumTrusted === true };
    if (rx.ethertype === ETHERTYPE_ARP) {
      this.arp.receive(rx.payload, ctx);
      this.settleAddressing(now); // a conflict may have moved ACD
    } else if (rx.ethertype === ETHERTYPE_IPV4) this.ipv4.receive(rx.payload, ctx);
    else if (rx.ethertype === ETHERTYPE_IPV6 && this.ipv6 !== undefined) {
      this.ipv6.receive(rx.payload, ctx);
      if (this.ndp?.hasEvents === true) this.settleAddressing(now); // an advertisement asking for DHCPv6, a DAD verdict
    }
    else this.counters.inc('eth.rx_unknown_type');
  }

  /** A datagram IPv4 accepted, to the protocol it names. */
  private deliver(payload: Uint8Array, ctx: RxContext): void {
    switch (ctx.protocol) {
      case PROTO_TCP:
        this.tcp.receive(payload, ctx);
        return;
      case PROTO_UDP:
        this.udp.receive(payload, ctx);
        return;
      case PROTO_ICMP:
        this.icmp.receive(payload, ctx);
        return;
      default:
        // RFC 1122 §3.2.2.1: a protocol we do not speak is answered with protocol unreachable.
        this.counters.inc('ip.rx_unknown_protocol');
        this.icmp.unreachable(UNREACH_PROTOCOL, ctx);
    }
  }

  /**
   * An ICMP or ICMPv6 error about something we sent, to the transport that sent it. TCP checks it against its
   * sequence space before it believes it (RFC 5927); for what else IPv6 sends (UDP, ICMPv6: echo replies and
   * the like), a packet too big lowers the path MTU as it is, never under 1280 (RFC 8201 §4).
   */
  private transportError(e: TransportError): void {
    if (e.protocol === PROTO_TCP) this.tcp.icmpError(e);
    else if (e.kind === 'too-big' && isIpv6(e.dst)) this.ipv6?.learnPathMtu(e.dst, e.mtu, e.now);
  }

  /** A datagram IPv6 accepted, to the protocol it names; false for one we do not speak. */
  private deliver6(payload: Uint8Array, ctx: RxContext): boolean {
    switch (ctx.protocol) {
      case PROTO_TCP:
        this.tcp.receive(payload, ctx);
        return true;
      case PROTO_UDP:
        this.udp.receive(payload, ctx);
        return true;
      case NH_ICMPV6:
        this.icmp6?.receive(payload, ctx);
        return true;
      default:
        return false;
    }
  }

  /** Does whatever has fallen due by `now`. */
  poll(now: number): void {
    this.arp.poll(now);
    this.ipv6?.poll(now);
    this.ndp?.poll(now);
    this.acd.poll(now);
    this.ipv4.poll(now);
    this.dhcp?.poll(now);
    this.dhcp6?.poll(now);
    this.settleAddressing(now);
    this.tcp.poll(now);
  }

  /** The earliest time `poll` has work to do, or `undefined` when nothing is scheduled. */
  nextDeadline(): number | undefined {
    return earliest(
      this.arp.nextDeadline(), this.acd.nextDeadline(), this.ipv4.nextDeadline(), this.dhcp?.nextDeadline(), this.tcp.nextDeadline(),
      this.ipv6?.nextDeadline(), this.ndp?.nextDeadline(), this.dhcp6?.nextDeadline(),
    );
  }

  /** The frames produced since the last call, in order. */
  takeFrames(): Uint8Array[] {
    return this.link.takeFrames();
  }

  /** Clean shutdown: gives a DHCP lease back (RFC 2131 §4.4.6). */
  stop(now: number): void {
    this.stopping = true;
    this.acd.cancelProbe();
    this.acd.defend(undefined, 'give-up');
    this.dhcp?.release(now);
    this.dhcp6?.release(now);
    this.settleAddressing(now);
    this.tcp.closeAll();
  }

  /**
   * True while a shutdown still has something to wait for: frames waiting on ARP, or a connection not yet
   * CLOSED or in TIME_WAIT (our FIN unacknowledged, or the peer's still to come).
   */
  get busy(): boolean {
    return this.arp.pendingAddresses > 0 || this.tcp.stillOpen > 0;
  }

  /** The shutdown's grace is over: connections still open are reset, and the resets go out now. */
  abandon(now: number): void {
    this.tcp.abortAll();
    this.poll(now);
  }

  private bind(lease: Lease, now: number): void {
    // RFC 2132 §5.1: the server's interface MTU (option 26), if any, replaces the device's.
    if (lease.mtu !== this.leaseMtu) {
      this.leaseMtu = lease.mtu;
      const mtu = this.ipv4.setMtu(lease.mtu);
      if (lease.mtu !== undefined) this.options.log(`DHCP: interface MTU ${mtu} (option 26${mtu !== lease.mtu ? `, ${lease.mtu} asked` : ''})`);
    }
    const cfg: Ipv4Config = { address: lease.address, prefix: lease.prefix, gateway: lease.gateway };
    const cur = this.ipv4.config;
    if (cur !== undefined && cur.address === cfg.address && cur.prefix === cfg.prefix && cur.gateway === cfg.gateway) return;
    this.setAddress(cfg, now);
  }

  private setAddress(cfg: Ipv4Config | undefined, now: number): void {
    this.ipv4.configure(cfg);
    this.arp.setAddress(cfg?.address, now);
    // A DHCP address is defended and given up on a second conflict within DEFEND_INTERVAL (RFC 5227 §2.4 (b)):
    // the server then hands out another one after our DECLINE.
    if (this.dhcp !== undefined) this.acd.defend(cfg?.address, 'give-up');
    this.options.onAddress?.(cfg);
  }
}

export function describeConfig(c: Ipv4Config): string {
  return `${ipv4ToString(c.address)} nm ${ipv4ToString(prefixToMask(c.prefix))} gw [${c.gateway !== undefined ? ipv4ToString(c.gateway) : ''}]`;
}
