// ICMP (RFC 792, RFC 1122 §3.2.2): echo replies, destination-unreachable errors (rate-limited), and
// the rules for when never to send an error. Redirects are ignored: we keep our one route.

import { IPV4_ANY, IPV4_BROADCAST } from './addr.ts';
import type { Counters } from './counters.ts';
import type { Ipv4, RxContext } from './ipv4.ts';
import { PROTO_ICMP, type Ipv4Header } from './ipv4-wire.ts';
import {
  ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_REDIRECT, encodeIcmp, isIcmpError, parseIcmp,
} from './icmp-wire.ts';

export interface IcmpOptions {
  /** Errors that may be sent back to back (token bucket size). */
  errorBurst: number;
  /** Errors per second in the long run. */
  errorsPerSecond: number;
  /** Answer echo requests sent to a broadcast address (Linux's icmp_echo_ignore_broadcasts=1 is off here too). */
  answerBroadcastEcho: boolean;
}

export const defaultIcmpOptions: IcmpOptions = { errorBurst: 10, errorsPerSecond: 10, answerBroadcastEcho: false };

/** Raised for ICMP errors about datagrams we sent, so TCP can act on them later. */
export type IcmpErrorListener = (type: number, code: number, quoted: Uint8Array, now: number) => void;

export class Icmp {
  readonly options: IcmpOptions;
  private tokens: number;
  private refilledAt: number | undefined;
  onError: IcmpErrorListener = () => {};

  constructor(
    private readonly ipv4: Ipv4,
    private readonly counters: Counters,
    options: Partial<IcmpOptions> = {},
  ) {
    this.options = { ...defaultIcmpOptions, ...options };
    this.tokens = this.options.errorBurst;
  }

  receive(h: Ipv4Header, payload: Uint8Array, ctx: RxContext): void {
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
      this.ipv4.send(h.src, PROTO_ICMP, encodeIcmp({ type: ICMP_ECHO_REPLY, code: 0, rest: m.rest, data: m.data }), ctx.now);
      return;
    }
    if (m.type === ICMP_REDIRECT) {
      this.counters.inc('icmp.rx_redirect_ignored');
      return;
    }
    if (isIcmpError(m.type)) this.onError(m.type, m.code, m.data, ctx.now);
  }

  /** Sends destination unreachable about a datagram we received, if the rules and the rate limit allow. */
  unreachable(code: number, h: Ipv4Header, ctx: RxContext): void {
    // RFC 1122 §3.2.2: never about a broadcast, a non-unicast source, or an ICMP error.
    if (ctx.linkBroadcast || ctx.ipBroadcast) return;
    if (h.src === IPV4_ANY || h.src === IPV4_BROADCAST || h.src >>> 28 >= 0xe) return;
    if (h.protocol === PROTO_ICMP && isIcmpError(ctx.quote[h.headerLength] ?? 0)) return;
    if (!this.takeToken(ctx.now)) {
      this.counters.inc('icmp.tx_rate_limited');
      return;
    }
    this.counters.inc('icmp.tx_unreachable');
    this.ipv4.send(h.src, PROTO_ICMP, encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code, rest: 0, data: ctx.quote }), ctx.now);
  }

  private takeToken(now: number): boolean {
    const o = this.options;
    if (this.refilledAt !== undefined) {
      this.tokens = Math.min(o.errorBurst, this.tokens + ((now - this.refilledAt) * o.errorsPerSecond) / 1000);
    }
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
