// ICMPv6 (RFC 4443): echo replies, the errors we send (destination unreachable, parameter problem), rate
// limited (§2.4 (f)) and never where §2.4 (e) forbids them, and the hand-off of neighbour discovery and MLD
// messages to src/ndp. Errors that reach us about what we sent go to the transport that sent it (icmp-errors.ts).

import { IPV6_ANY, isIpv6, isIpv6Multicast } from './addr.ts';
import type { Counters } from './counters.ts';
import { icmpv6TransportError } from './icmp-errors.ts';
import type { IcmpReporter, NetworkLayer, RxContext, TransportErrorSink } from './ip.ts';
import {
  ICMPV6_DEST_UNREACHABLE, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_MLD_QUERY, ICMPV6_PARAMETER_PROBLEM, ICMPV6_REDIRECT,
  ICMPV6_ROUTER_SOLICITATION, UNREACH6_PORT, encodeIcmpv6, isIcmpv6Error, parseIcmpv6, type Icmpv6Message,
} from './icmpv6-wire.ts';
import { NH_ICMPV6, PARAM_UNRECOGNIZED_NEXT_HEADER, PARAM_UNRECOGNIZED_OPTION, type ParameterProblem } from './ipv6-wire.ts';
import { TokenBucket } from './token-bucket.ts';

export interface Icmpv6Options {
  /** Errors that may be sent back to back, and per second in the long run (§2.4 (f)). */
  errorBurst: number;
  errorsPerSecond: number;
}

export const defaultIcmpv6Options: Icmpv6Options = { errorBurst: 10, errorsPerSecond: 10 };

/** Where neighbour discovery and MLD messages go (src/ndp). */
export interface Icmpv6Upcalls {
  neighborDiscovery(m: Icmpv6Message, ctx: RxContext): void;
  multicastListener(m: Icmpv6Message, ctx: RxContext): void;
  /** An error about a datagram we sent (RFC 4443 §3), for its transport. */
  transportError: TransportErrorSink;
}

export class Icmpv6 implements IcmpReporter {
  readonly options: Icmpv6Options;
  private readonly errors: TokenBucket;

  constructor(
    private readonly net: NetworkLayer,
    private readonly up: Icmpv6Upcalls,
    private readonly counters: Counters,
    options: Partial<Icmpv6Options> = {},
  ) {
    this.options = { ...defaultIcmpv6Options, ...options };
    this.errors = new TokenBucket(this.options.errorBurst, this.options.errorsPerSecond);
  }

  receive(payload: Uint8Array, ctx: RxContext): void {
    const parsed = parseIcmpv6(payload, ctx.pseudo);
    if (!parsed.ok) {
      this.counters.inc(`icmp6.rx_bad_${parsed.reason}`);
      return;
    }
    const m = parsed.message;
    this.counters.inc('icmp6.rx');
    if (m.type === ICMPV6_ECHO_REQUEST) {
      // §4.2: the reply carries the request's identifier, sequence and data; to a multicast request we answer
      // from one of our unicast addresses (the network layer picks it).
      if (!isIpv6(ctx.src) || ctx.src === IPV6_ANY) return;
      this.counters.inc('icmp6.tx_echo_reply');
      const src = isIpv6(ctx.dst) && !isIpv6Multicast(ctx.dst) ? ctx.dst : undefined;
      const reply = encodeIcmpv6({ type: ICMPV6_ECHO_REPLY, code: 0, rest: m.rest, body: m.body }, this.net.pseudoSum(src ?? this.net.sourceFor(ctx.src) ?? IPV6_ANY, ctx.src, NH_ICMPV6));
      this.net.send(ctx.src, NH_ICMPV6, reply, ctx.now, src !== undefined ? { src } : {});
      return;
    }
    if (m.type >= ICMPV6_ROUTER_SOLICITATION && m.type <= ICMPV6_REDIRECT) {
      this.counters.inc('icmp6.rx_nd');
      this.up.neighborDiscovery(m, ctx);
      return;
    }
    if (m.type === ICMPV6_MLD_QUERY) {
      this.counters.inc('icmp6.rx_mld');
      this.up.multicastListener(m, ctx);
      return;
    }
    if (!isIcmpv6Error(m.type)) return;
    this.counters.inc('icmp6.rx_error');
    const e = icmpv6TransportError(m, ctx.src, ctx.now);
    if (e !== undefined) this.up.transportError(e);
  }

  portUnreachable(ctx: RxContext): void {
    this.error(ICMPV6_DEST_UNREACHABLE, UNREACH6_PORT, 0, ctx);
  }

  /** A protocol we do not speak: Parameter Problem, unrecognized Next Header, pointing at the field (RFC 8200 §4). */
  unknownProtocol(pointer: number, ctx: RxContext): void {
    this.error(ICMPV6_PARAMETER_PROBLEM, PARAM_UNRECOGNIZED_NEXT_HEADER, pointer, ctx);
  }

  parameterProblem(p: ParameterProblem, ctx: RxContext): void {
    // RFC 8200 §4.2: the 11 option action asks for an error only when the destination was not multicast.
    if (p.unlessMulticast && isIpv6(ctx.dst) && isIpv6Multicast(ctx.dst)) return;
    this.error(ICMPV6_PARAMETER_PROBLEM, p.code, p.pointer, ctx);
  }

  /**
   * An error about a packet we received, when §2.4 (e) allows it: never about an ICMPv6 error, never from the
   * unspecified or a multicast source, never about a packet to a multicast group (except a Parameter Problem
   * about an unrecognized option, (e.3)); and within the rate limit (f).
   */
  private error(type: number, code: number, rest: number, ctx: RxContext): void {
    const src = ctx.src;
    if (!isIpv6(src) || src === IPV6_ANY || isIpv6Multicast(src)) return;
    const toGroup = ctx.ipBroadcast || ctx.linkBroadcast;
    if (toGroup && !(type === ICMPV6_PARAMETER_PROBLEM && code === PARAM_UNRECOGNIZED_OPTION)) return;
    if (ctx.protocol === NH_ICMPV6 && isQuotedIcmpv6Error(ctx.quote)) return;
    if (!this.errors.take(ctx.now)) {
      this.counters.inc('icmp6.tx_rate_limited');
      return;
    }
    this.counters.inc(type === ICMPV6_PARAMETER_PROBLEM ? 'icmp6.tx_param_problem' : 'icmp6.tx_unreachable');
    // From the address the packet was sent to, unless that was a group: then the network layer picks one.
    const from = toGroup || !isIpv6(ctx.dst) ? this.net.sourceFor(src) : ctx.dst;
    if (from === undefined) return;
    const m = encodeIcmpv6({ type, code, rest, body: ctx.quote }, this.net.pseudoSum(from, src, NH_ICMPV6));
    this.net.send(src, NH_ICMPV6, m, ctx.now, { src: from });
  }
}

/** Whether the quoted packet (its fixed header, then the upper layer at once) carries an ICMPv6 error. */
function isQuotedIcmpv6Error(quote: Uint8Array): boolean {
  return quote[6] === NH_ICMPV6 && quote.length > 40 && isIcmpv6Error(quote[40] ?? 255);
}
