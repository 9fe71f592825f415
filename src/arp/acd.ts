// IPv4 Address Conflict Detection (RFC 5227), sans I/O: the time is passed in; probes and announcements to send
// and verdicts are queued as events (`takeEvents`) for the stack to apply; `nextDeadline` says when `poll` is next
// due. ACD owns the address being probed: the ARP layer asks it (`AddressWatch.tentative`) and reports each
// conflicting packet back (`conflict`). It holds two independent things:
//
//   probing   one candidate address before it is used (§2.1): wait PROBE_WAIT·random, send PROBE_NUM probes
//             PROBE_MIN..PROBE_MAX apart, wait ANNOUNCE_WAIT; any conflict until then → `probed` with the other
//             host's MAC, none → `probed` without. The announcements that follow (§2.3) are the ARP layer's.
//   defending the configured address (§2.4): a conflicting packet with none in the last DEFEND_INTERVAL → one
//             announcement, keep the address (b); another within DEFEND_INTERVAL → `gave-up` when the policy is
//             `give-up`, or nothing more (the announcement rate limit of (c)) when it is `forever`.
//
// What counts as a conflict is decided by the ARP layer (`ArpConflict`): during probing, any ARP packet whose
// sender IP is the candidate, or a probe for it, from another MAC; while defending, any packet whose sender IP
// is our address from another MAC.

import type { AddressWatch, ArpConflict } from './arp.ts';
import { ipv4ToString, macToString, type Ipv4Addr, type MacAddr } from '../net/addr.ts';
import type { Counters } from '../net/counters.ts';
import type { Random } from '../random.ts';

export interface AcdOptions {
  /** Longest random wait before the first probe (PROBE_WAIT, 1 s). */
  probeWaitMs: number;
  /** Probes sent (PROBE_NUM, 3); 0 turns probing off: the address is declared free at once. */
  probeNum: number;
  /** Spacing of the probes, uniform in [probeMinMs, probeMaxMs] (PROBE_MIN 1 s, PROBE_MAX 2 s). */
  probeMinMs: number;
  probeMaxMs: number;
  /** Wait after the last probe before the address is declared free (ANNOUNCE_WAIT, 2 s). */
  announceWaitMs: number;
  /** Two conflicts closer than this give the address up; at most one defence per interval (DEFEND_INTERVAL, 10 s). */
  defendIntervalMs: number;
}

/** RFC 5227 §1.1. */
export const defaultAcdOptions: AcdOptions = Object.freeze({
  probeWaitMs: 1000,
  probeNum: 3,
  probeMinMs: 1000,
  probeMaxMs: 2000,
  announceWaitMs: 2000,
  defendIntervalMs: 10_000,
});

/**
 * Shorter probing for a switched LAN, where an answer takes well under a millisecond (as NetworkManager's
 * 200 ms `ipv4.dad-timeout`): about half a second from the ACK to a usable address instead of five or more.
 */
export const fastAcdOptions: AcdOptions = Object.freeze({
  probeWaitMs: 100,
  probeNum: 3,
  probeMinMs: 100,
  probeMaxMs: 200,
  announceWaitMs: 200,
  defendIntervalMs: 10_000,
});

export type AcdMode = 'fast' | 'rfc' | 'off';

export function acdOptionsFor(mode: AcdMode): Partial<AcdOptions> {
  return mode === 'rfc' ? defaultAcdOptions : mode === 'fast' ? fastAcdOptions : { probeNum: 0 };
}

/** What ACD asks of the stack, in the order it arose. */
export type AcdEvent =
  /** Send one ARP probe for `address` (RFC 5227 §2.1.1). */
  | { kind: 'probe'; address: Ipv4Addr }
  /** Send one ARP announcement of `address` (§2.4 (b)). */
  | { kind: 'announce'; address: Ipv4Addr }
  /** The verdict on a probed address: `conflictWith` is the other host's MAC, undefined when the address is free. */
  | { kind: 'probed'; address: Ipv4Addr; conflictWith: MacAddr | undefined }
  /** A defended address was claimed again within DEFEND_INTERVAL: stop using it (policy `give-up` only). */
  | { kind: 'gave-up'; address: Ipv4Addr; by: MacAddr };

/** RFC 5227 §2.4: (b) defend once per DEFEND_INTERVAL and give up on a second conflict, or (c) defend forever. */
export type DefendPolicy = 'give-up' | 'forever';

interface Probing {
  address: Ipv4Addr;
  sent: number;
  /** When the next probe goes out, or (once all are sent) when the address is declared free. */
  nextAt: number;
}

interface Defending {
  address: Ipv4Addr;
  policy: DefendPolicy;
  /** When the last conflicting packet that we acted upon arrived. */
  lastConflictAt: number | undefined;
}

export class Acd implements AddressWatch {
  readonly options: AcdOptions;
  private probing: Probing | undefined;
  private defending: Defending | undefined;
  private events: AcdEvent[] = [];

  constructor(
    private readonly log: (line: string) => void,
    private readonly random: Random,
    private readonly counters: Counters,
    options: Partial<AcdOptions> = {},
  ) {
    const o = { ...defaultAcdOptions, ...options };
    if (!(o.probeMinMs >= 0 && o.probeMaxMs >= o.probeMinMs && o.probeWaitMs >= 0 && o.announceWaitMs >= 0 && o.probeNum >= 0)) {
      throw new RangeError('Acd: need 0 ≤ probeMinMs ≤ probeMaxMs and non-negative waits and probeNum');
    }
    this.options = o;
  }

  /** The address being probed, if any: the tentative address ARP watches for conflicts (RFC 5227 §2.1.1). */
  get tentative(): Ipv4Addr | undefined {
    return this.probing?.address;
  }

  /** What ACD asks of the stack since the last call, in order. */
  takeEvents(): AcdEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** The address being defended, if any. */
  get defendedAddress(): Ipv4Addr | undefined {
    return this.defending?.address;
  }

  /**
   * Starts probing `address` (replacing any probing in progress). The verdict comes as a `probed` event, at once
   * when `probeNum` is 0.
   */
  probe(address: Ipv4Addr, now: number): void {
    if (this.options.probeNum === 0) {
      this.probing = undefined;
      this.events.push({ kind: 'probed', address, conflictWith: undefined });
      return;
    }
    this.log(`ACD: probing ${ipv4ToString(address)}`);
    this.probing = { address, sent: 0, nextAt: now + this.random() * this.options.probeWaitMs };
  }

  /** Abandons any probing, without a verdict. */
  cancelProbe(): void {
    this.probing = undefined;
  }

  /** Defends `address` from now on (undefined: defend nothing). */
  defend(address: Ipv4Addr | undefined, policy: DefendPolicy): void {
    this.defending = address === undefined ? undefined : { address, policy, lastConflictAt: undefined };
  }

  /** A conflicting ARP packet, as the ARP layer reported it. */
  conflict(c: ArpConflict, now: number): void {
    const p = this.probing;
    if (c.tentative) {
      if (p === undefined || p.address !== c.address) return;
      this.counters.inc('acd.conflict');
      this.probing = undefined;
      this.events.push({ kind: 'probed', address: p.address, conflictWith: c.mac });
      return;
    }
    const d = this.defending;
    if (d === undefined || d.address !== c.address || c.kind !== 'sender') {
      // Nobody defends this address (a static one, say): the conflict is only reported.
      this.log(`ARP: conflict: ${ipv4ToString(c.address)} is also claimed by ${macToString(c.mac)}`);
      return;
    }
    this.counters.inc('acd.conflict');
    const a = ipv4ToString(d.address);
    const m = macToString(c.mac);
    const recent = d.lastConflictAt !== undefined && now - d.lastConflictAt < this.options.defendIntervalMs;
    if (!recent) {
      // RFC 5227 §2.4 (b): record the time, broadcast one announcement, keep the address.
      d.lastConflictAt = now;
      this.counters.inc('acd.defend');
      this.log(`ACD: defended ${a} against ${m}`);
      this.events.push({ kind: 'announce', address: d.address });
      return;
    }
    if (d.policy === 'forever') {
      // (c): keep it, but never more than one defence per DEFEND_INTERVAL.
      this.counters.inc('acd.defend_limited');
      return;
    }
    // (b): a second conflict within DEFEND_INTERVAL: cease using the address.
    this.counters.inc('acd.give_up');
    this.log(`ACD: ${a} claimed again by ${m} within ${this.options.defendIntervalMs / 1000} s: giving it up`);
    this.defending = undefined;
    this.events.push({ kind: 'gave-up', address: d.address, by: c.mac });
  }

  /** Sends the probe that has fallen due, or declares the address free. */
  poll(now: number): void {
    const p = this.probing;
    if (p === undefined || now < p.nextAt) return;
    const o = this.options;
    if (p.sent < o.probeNum) {
      p.sent++;
      // The next step counts from now: a late poll never sends two probes back to back.
      p.nextAt = p.sent < o.probeNum ? now + o.probeMinMs + this.random() * (o.probeMaxMs - o.probeMinMs) : now + o.announceWaitMs;
      this.counters.inc('acd.probe');
      this.events.push({ kind: 'probe', address: p.address });
      return;
    }
    this.probing = undefined;
    this.events.push({ kind: 'probed', address: p.address, conflictWith: undefined });
  }

  nextDeadline(): number | undefined {
    return this.probing?.nextAt;
  }
}
