// ICMP (RFC 792, RFC 1122 §3.2.2): echo replies, destination-unreachable errors (rate-limited), and
// the rules for when never to send an error. Redirects are ignored: we keep our one route. Errors about what we
// sent go to the transport that sent it (`transportError`, icmp-errors.ts).

import { IPV4_ANY, IPV4_BROADCAST, isIpv4 } from './addr.ts';
import type { Counters } from './counters.ts';
import { icmpv4TransportError } from './icmp-errors.ts';
import { PROTO_ICMP, type IcmpReporter, type NetworkLayer, type RxContext, type TransportErrorSink } from './ip.ts';
import {
  ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_REDIRECT, UNREACH_PORT, encodeIcmp, isIcmpError, parseIcmp,
} from './icmp-wire.ts';
import { TokenBucket } from './token-bucket.ts';

export interface IcmpOptions {
  /** Errors that may be sent back to back (token bucket size). */
  errorBurst: number;
  /** Errors per second in the long run. */
  errorsPerSecond: number;
  /** Answer echo requests sent to a broadcast address (Linux's icmp_echo_ignore_broadcasts=1 is off here too). */
  answerBroadcastEcho: boolean;
}

export const defaultIcmpOptions: IcmpOptions = { errorBurst: 10, errorsPerSecond: 10, answerBroadcastEcho: false };

export class Icmp implements IcmpReporter {
  readonly options: IcmpOptions;
  private readonly errors: TokenBucket;

  constructor(
    private readonly net: NetworkLayer,
    private readonly counters: Counters,
    options: Partial<IcmpOptions> = {},
    private readonly transportError: TransportErrorSink = () => {},
  ) {
    this.options = { ...defaultIcmpOptions, ...options };
    this.errors = new TokenBucket(this.options.errorBurst, this.options.errorsPerSecond);
  }

  receive(payload: Uint8Array, ctx: RxContext): void {
    const m = parseIcmp(payload);
    if (m === undefined) {
      this.counters.inc('icmp.rx_malformed');
      return;
    }
    this.counters.inc('icmp.rx');
    if (m.type === ICMP_ECHO_REQUEST) {
      if ((ctx.ipBroadcast || ctx.linkBroadcast) && !this.options.answerBroadcastEcho) {
        this.counters.inc('icmp.rx_broadcast_echo_ignored');
        return;
      }
      // RFC 792: the reply carries the request's identifier, sequence number and data.
      this.counters.inc('icmp.tx_echo_reply');
      this.net.send(ctx.src, PROTO_ICMP, encodeIcmp({ type: ICMP_ECHO_REPLY, code: 0, rest: m.rest, data: m.data }), ctx.now);
      return;
    }
    if (m.type === ICMP_REDIRECT) {
      this.counters.inc('icmp.rx_redirect_ignored');
      return;
    }
    if (!isIcmpError(m.type)) return;
    this.counters.inc('icmp.rx_error');
    const e = icmpv4TransportError(m, ctx.src, ctx.now);
    if (e !== undefined) this.transportError(e);
  }

  portUnreachable(ctx: RxContext): void {
    this.unreachable(UNREACH_PORT, ctx);
  }

  /** Sends destination unreachable about a datagram we received, if the rules and the rate limit allow. */
  unreachable(code: number, ctx: RxContext): void {
    // RFC 1122 §3.2.2: never about a broadcast, a non-unicast source, or an ICMP error.
    if (ctx.linkBroadcast || ctx.ipBroadcast) return;
    const src = ctx.src;
    if (!isIpv4(src) || src === IPV4_ANY || src === IPV4_BROADCAST || src >>> 28 >= 0xe) return;
    const headerLength = ((ctx.quote[0] ?? 0) & 0x0f) * 4;
    if (ctx.protocol === PROTO_ICMP && isIcmpError(ctx.quote[headerLength] ?? 0)) return;
    if (!this.errors.take(ctx.now)) {
      this.counters.inc('icmp.tx_rate_limited');
      return;
    }
    this.counters.inc('icmp.tx_unreachable');
    this.net.send(src, PROTO_ICMP, encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code, rest: 0, data: ctx.quote }), ctx.now);
  }
}
