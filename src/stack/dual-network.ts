// The network layer as TCP and UDP see it on a stack with both IPv4 and IPv6: each call goes to the family of
// the address it names. Either family may be absent (a stack without IPv6); a datagram for it is then refused.

import { isIpv4, type IpAddr } from '../net/addr.ts';
import type { Counters } from '../net/counters.ts';
import type { IcmpReporter, NetSendOptions, NetworkLayer, RxContext } from '../net/ip.ts';
import type { OutPacket } from '../net/packet.ts';

export class DualNetwork implements NetworkLayer, IcmpReporter {
  constructor(
    private readonly v4: NetworkLayer,
    private readonly icmp4: IcmpReporter,
    private readonly v6: NetworkLayer | undefined,
    private readonly icmp6: IcmpReporter | undefined,
    private readonly counters: Counters,
  ) {}

  private of(a: IpAddr): NetworkLayer | undefined {
    return isIpv4(a) ? this.v4 : this.v6;
  }

  send(dst: IpAddr, protocol: number, data: Uint8Array | OutPacket, now: number, opts?: NetSendOptions): boolean {
    const net = this.of(dst);
    if (net === undefined) {
      this.counters.inc('ip6.tx_no_address');
      return false;
    }
    return net.send(dst, protocol, data, now, opts);
  }

  pseudoSum(src: IpAddr, dst: IpAddr, protocol: number): number {
    return this.of(dst)?.pseudoSum(src, dst, protocol) ?? 0;
  }

  maxPayload(dst: IpAddr, now?: number): number {
    return this.of(dst)?.maxPayload(dst, now) ?? 0;
  }

  learnPathMtu(dst: IpAddr, mtu: number, now: number): number | undefined {
    return this.of(dst)?.learnPathMtu(dst, mtu, now);
  }

  sourceFor(dst: IpAddr): IpAddr | undefined {
    return this.of(dst)?.sourceFor(dst);
  }

  portUnreachable(ctx: RxContext): void {
    (isIpv4(ctx.src) ? this.icmp4 : this.icmp6)?.portUnreachable(ctx);
  }
}
