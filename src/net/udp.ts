// UDP (RFC 768): a port table of receivers and a send call over either network layer; a datagram to a closed
// port is answered with ICMP port unreachable (RFC 1122 §4.1.3.1).

import type { IpAddr } from './addr.ts';
import type { Counters } from './counters.ts';
import { PROTO_UDP, type IcmpReporter, type NetworkLayer, type RxContext } from './ip.ts';
import { encodeUdp, parseUdp } from './udp-wire.ts';

export interface UdpReceived {
  src: IpAddr;
  srcPort: number;
  dst: IpAddr;
  dstPort: number;
  /** Valid only during the call: copy what you keep. */
  payload: Uint8Array;
  now: number;
}

export type UdpReceiver = (d: UdpReceived) => void;

export interface UdpSend {
  srcPort: number;
  dst: IpAddr;
  dstPort: number;
  payload: Uint8Array;
  /** Source address; defaults to the network layer's choice (DHCP uses 0.0.0.0 before it has one). */
  src?: IpAddr;
}

export class Udp {
  private readonly ports = new Map<number, UdpReceiver>();

  constructor(
    private readonly net: NetworkLayer,
    private readonly icmp: IcmpReporter,
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
    const src = d.src ?? this.net.sourceFor(d.dst);
    if (src === undefined) {
      this.counters.inc('udp.tx_no_address');
      return false;
    }
    this.counters.inc('udp.tx');
    return this.net.send(d.dst, PROTO_UDP, encodeUdp(d, this.net.pseudoSum(src, d.dst, PROTO_UDP)), now, { src });
  }

  receive(payload: Uint8Array, ctx: RxContext): void {
    const parsed = parseUdp(payload, ctx.pseudo, ctx.checksumTrusted);
    if (!parsed.ok) {
      this.counters.inc(`udp.rx_bad_${parsed.reason}`);
      return;
    }
    const { datagram } = parsed;
    const receiver = this.ports.get(datagram.dstPort);
    if (receiver === undefined) {
      this.counters.inc('udp.rx_closed_port');
      this.icmp.portUnreachable(ctx);
      return;
    }
    this.counters.inc('udp.rx');
    receiver({ src: ctx.src, srcPort: datagram.srcPort, dst: ctx.dst, dstPort: datagram.dstPort, payload: datagram.payload, now: ctx.now });
  }
}
