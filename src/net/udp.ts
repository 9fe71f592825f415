// UDP (RFC 768): a port table of receivers and a send call; a datagram to a closed port is answered
// with ICMP port unreachable (RFC 1122 §4.1.3.1).

import type { Ipv4Addr } from './addr.ts';
import type { Counters } from './counters.ts';
import type { Icmp } from './icmp.ts';
import type { Ipv4, RxContext } from './ipv4.ts';
import { PROTO_UDP, type Ipv4Header } from './ipv4-wire.ts';
import { UNREACH_PORT } from './icmp-wire.ts';
import { encodeUdp, parseUdp } from './udp-wire.ts';

export interface UdpReceived {
  src: Ipv4Addr;
  srcPort: number;
  dst: Ipv4Addr;
  dstPort: number;
  /** Valid only during the call: copy what you keep. */
  payload: Uint8Array;
  now: number;
}

export type UdpReceiver = (d: UdpReceived) => void;

export interface UdpSend {
  srcPort: number;
  dst: Ipv4Addr;
  dstPort: number;
  payload: Uint8Array;
  /** Source address; defaults to ours (DHCP uses 0.0.0.0 before it has one). */
  src?: Ipv4Addr;
}

export class Udp {
  private readonly ports = new Map<number, UdpReceiver>();

  constructor(
    private readonly ipv4: Ipv4,
    private readonly icmp: Icmp,
    private readonly counters: Counters,
  ) {}

  /** Binds a port; returns the function that unbinds it. Throws if the port is taken (a programming error). */
  bind(port: number, receiver: UdpReceiver): () => void {
    if (this.ports.has(port)) throw new Error(`UDP port ${port} is already bound`);
    this.ports.set(port, receiver);
    return () => {
      if (this.ports.get(port) === receiver) this.ports.delete(port);
    };
  }

  send(d: UdpSend, now: number): boolean {
    const src = d.src ?? this.ipv4.config?.address;
    if (src === undefined) {
      this.counters.inc('udp.tx_no_address');
      return false;
    }
    this.counters.inc('udp.tx');
    return this.ipv4.send(d.dst, PROTO_UDP, encodeUdp(d, src, d.dst), now, { src });
  }

  receive(h: Ipv4Header, payload: Uint8Array, ctx: RxContext): void {
    const parsed = parseUdp(payload, h.src, h.dst, ctx.checksumTrusted);
    if (!parsed.ok) {
      this.counters.inc(`udp.rx_bad_${parsed.reason}`);
      return;
    }
    const { datagram } = parsed;
    const receiver = this.ports.get(datagram.dstPort);
    if (receiver === undefined) {
      this.counters.inc('udp.rx_closed_port');
      this.icmp.unreachable(UNREACH_PORT, h, ctx);
      return;
    }
    this.counters.inc('udp.rx');
    receiver({ src: h.src, srcPort: datagram.srcPort, dst: h.dst, dstPort: datagram.dstPort, payload: datagram.payload, now: ctx.now });
  }
}
