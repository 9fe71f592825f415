// The DHCPv6 client of RFC 8415 §18, sans I/O: fed UDP payloads, the routers' M and O flags and the time, it
// queues what is to be done as events (`takeEvents`: messages to send, addresses to configure or drop,
// information, the lease to remember) for the stack to apply, and says when it next needs `poll`.
//
//   idle → (the RA sets M) SOLICITING → (Advertise; at once for preference 255, else the best one after the
//   first RT) REQUESTING → (Reply) BOUND → (T1) RENEWING → (T2) REBINDING → (leases end) SOLICITING
//   idle, with a saved lease → CONFIRMING → (Success, or no answer within CNF_MAX_RD) BOUND; NotOnLink → SOLICITING
//   the RA sets O only → INFORMING → (Reply) INFORMED → (information refresh time) INFORMING
//   DAD finds a leased address in use (`addressConflict`) → DECLINING → SOLICITING; `release` at shutdown → STOPPED
//
// Every message carries our DUID-LL and goes to All_DHCP_Relay_Agents_and_Servers from the link-local address
// (§13.1); replies count only with our transaction id and our DUID (§16). Times: lease.ts's absolute ms.

import { type Ipv6Addr, type MacAddr, ipv6ToString } from '../net/addr.ts';
import type { Counters } from '../net/counters.ts';
import type { Random } from '../random.ts';
import {
  CONFIRM, DECLINE, INFORMATION_REFRESH_DEFAULT_S, INFORMATION_REFRESH_MIN_S, INFORMATION_REQUEST, MAX_RT_MAX_S, MAX_RT_MIN_S, REBIND,
  RELEASE, RENEW, REQUEST, SOLICIT, describeAddresses, elapsedSince, firstRt, leaseEnd, leaseFromReply, mergeLease, nextRt, pruneLease, secondsUntil,
  type Dhcpv6Lease, type LeasedAddress, type Retransmission,
} from './dhcpv6-lease.ts';
import {
  DHCPV6_INFINITY, Dhcpv6Option as O, Dhcpv6Status, Dhcpv6Type as T, duidLl, duidToHex, encodeDhcpv6, parseDhcpv6, sameDuid, statusName,
  type Dhcpv6IaNa, type Dhcpv6Message,
} from './dhcpv6-wire.ts';

export type { Dhcpv6Lease, LeasedAddress } from './dhcpv6-lease.ts';

export type Dhcpv6Event =
  /** A message from port 546 of our link-local address to port 547 of All_DHCP_Relay_Agents_and_Servers. */
  | { kind: 'send'; payload: Uint8Array }
  /** Configure these addresses (detected before use, RFC 8415 §18.2.10.1), with these lifetimes; others leased before go. */
  | { kind: 'bound'; lease: Dhcpv6Lease }
  /** No leased address may be used any more. */
  | { kind: 'lost'; reason: string }
  /** The lease to remember across restarts (for Confirm), or undefined: forget it. */
  | { kind: 'persist'; saved: Dhcpv6Lease | undefined }
  /** Other configuration from an Information-request (§18.2.6). */
  | { kind: 'information'; dns: Ipv6Addr[] };

export interface Dhcpv6ClientOptions {
  mac: MacAddr;
  random: Random;
  /** REQUEST transmissions before soliciting again (REQ_MAX_RC, §7.6: 10). */
  requestAttempts: number;
  /** DECLINE transmissions (DEC_MAX_RC: 4). */
  declineAttempts: number;
  /** How long a Confirm waits for an answer before the saved lease is used as it is (CNF_MAX_RD: 10 s). */
  confirmMaxMs: number;
}

export const defaultDhcpv6ClientOptions: Omit<Dhcpv6ClientOptions, 'mac' | 'random'> = Object.freeze({
  requestAttempts: REQUEST.mrc,
  declineAttempts: DECLINE.mrc,
  confirmMaxMs: CONFIRM.mrdMs,
});

/** One exchange's transmissions (§15): the next is due at `at`; `endsAt` is its MRD. */
interface Exchange {
  xid: number;
  schedule: Retransmission;
  sends: number;
  rt: number;
  at: number;
  firstSentAt: number | undefined;
  /** When the last message went out: a Reply's lifetimes count from there. */
  sentAt: number;
  endsAt: number;
}

type State =
  | { kind: 'idle' }
  | { kind: 'stopped' }
  | { kind: 'soliciting'; ex: Exchange; best: { msg: Dhcpv6Message; ia: Dhcpv6IaNa } | undefined }
  | { kind: 'requesting'; ex: Exchange; server: Uint8Array; hint: Dhcpv6IaNa }
  | { kind: 'confirming'; ex: Exchange; saved: Dhcpv6Lease }
  | { kind: 'bound'; lease: Dhcpv6Lease }
  | { kind: 'renewing' | 'rebinding'; ex: Exchange; lease: Dhcpv6Lease }
  | { kind: 'declining'; ex: Exchange; server: Uint8Array; addresses: LeasedAddress[] }
  | { kind: 'informing'; ex: Exchange }
  | { kind: 'informed'; refreshAt: number };

export type Dhcpv6State = State['kind'];

export class Dhcpv6Client {
  private readonly opts: Dhcpv6ClientOptions;
  private readonly duid: Uint8Array;
  /** RFC 8415 §12: an IAID that stays the same across restarts; the MAC's low 32 bits. */
  readonly iaid: number;
  private st: State = { kind: 'idle' };
  private events: Dhcpv6Event[] = [];
  private saved: Dhcpv6Lease | undefined;
  private managed = false;
  /** SOL_MAX_RT and INF_MAX_RT as the servers set them (§21.24, §21.25). */
  private solMaxRtMs = SOLICIT.mrtMs;
  private infMaxRtMs = INFORMATION_REQUEST.mrtMs;
  private dns: Ipv6Addr[] = [];

  constructor(
    options: Pick<Dhcpv6ClientOptions, 'mac' | 'random'> & Partial<Dhcpv6ClientOptions>,
    private readonly counters: Counters,
    private readonly log: (line: string) => void,
  ) {
    this.opts = { ...defaultDhcpv6ClientOptions, ...options };
    this.duid = duidLl(options.mac);
    this.iaid = options.mac % 2 ** 32;
  }

  takeEvents(): Dhcpv6Event[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  get hasEvents(): boolean {
    return this.events.length > 0;
  }

  get state(): Dhcpv6State {
    return this.st.kind;
  }

  /** Our DUID (DUID-LL, RFC 8415 §11.4). */
  get clientId(): Uint8Array {
    return this.duid;
  }

  /** The lease in use (BOUND, RENEWING, REBINDING), else undefined. */
  get lease(): Dhcpv6Lease | undefined {
    const s = this.st;
    return s.kind === 'bound' || s.kind === 'renewing' || s.kind === 'rebinding' ? s.lease : undefined;
  }

  /** DNS servers from the lease or the last Information-request. */
  get dnsServers(): Ipv6Addr[] {
    return this.lease?.dns ?? this.dns;
  }

  /** The transaction id of the exchange under way, if any. */
  get xid(): number | undefined {
    const s = this.st;
    return 'ex' in s ? s.ex.xid : undefined;
  }

  /** The lease of an earlier run (in this client's clock), confirmed when the routers first ask for DHCPv6. */
  restore(saved: Dhcpv6Lease | undefined): void {
    this.saved = saved;
  }

  /**
   * The routers' M (addresses by DHCPv6) and O (other configuration) flags, as first seen or changed (RFC 4861
   * §4.2): M starts stateful DHCPv6 (Confirm of a saved lease, else Solicit); O alone an Information-request.
   * The client goes on as it is when the flags go away: leases run out by their lifetimes.
   */
  routerFlags(managed: boolean, other: boolean, now: number): void {
    const s = this.st;
    if (s.kind === 'stopped') return;
    if (managed && !this.managed && (s.kind === 'idle' || s.kind === 'informing' || s.kind === 'informed')) {
      this.managed = true;
      const saved = this.saved;
      this.saved = undefined;
      if (saved !== undefined && leaseEnd(saved) > now) this.confirm(saved, now);
      else {
        if (saved !== undefined) this.emit({ kind: 'persist', saved: undefined });
        this.log('DHCPv6: soliciting (the router asks for addresses by DHCPv6)');
        this.solicit(now);
      }
    } else if (other && s.kind === 'idle') {
      this.log('DHCPv6: asking for other configuration (the router sets O)');
      this.st = { kind: 'informing', ex: this.exchange({ ...INFORMATION_REQUEST, mrtMs: this.infMaxRtMs }, now) };
    }
  }

  /** A UDP payload received on port 546 from port 547. */
  receive(payload: Uint8Array, now: number): void {
    this.counters.inc('dhcp6.rx');
    const parsed = parseDhcpv6(payload);
    if (!parsed.ok) {
      this.counters.inc('dhcp6.rx_bad');
      return;
    }
    const m = parsed.message;
    const s = this.st;
    // §16.3, §16.10: an answer to our exchange names us and its server.
    if (!('ex' in s) || m.xid !== s.ex.xid || !sameDuid(m.clientId, this.duid) || m.serverId === undefined) {
      this.counters.inc('dhcp6.rx_ignored');
      return;
    }
    this.learnMaxRt(m);
    if (s.kind === 'soliciting' && m.type === T.ADVERTISE) this.onAdvertise(s, m, now);
    else if (m.type === T.REPLY && s.kind !== 'soliciting') this.onReply(s, m, now);
    else this.counters.inc('dhcp6.rx_ignored');
  }

  poll(now: number): void {
    const s = this.st;
    switch (s.kind) {
      case 'idle':
      case 'stopped':
        return;
      case 'informed':
        if (now >= s.refreshAt) this.st = { kind: 'informing', ex: this.exchange({ ...INFORMATION_REQUEST, mrtMs: this.infMaxRtMs }, now) };
        // fall through to send at once when due
        break;
      case 'bound':
      case 'renewing':
      case 'rebinding':
        if (this.pollLease(s, now)) return;
        break;
      default:
        break;
    }
    const t = this.st;
    if (!('ex' in t) || now < t.ex.at) return;
    // §18.2.1: the first RT is over: the best Advertise collected meanwhile is taken.
    if (t.kind === 'soliciting' && t.best !== undefined) {
      this.request(t.best.msg, t.best.ia, now);
      return;
    }
    if (t.ex.sends > 0 && this.exhausted(t, now)) return;
    this.transmit(t, now);
  }

  nextDeadline(): number | undefined {
    const s = this.st;
    switch (s.kind) {
      case 'idle':
      case 'stopped':
        return undefined;
      case 'informed':
        return finite(s.refreshAt);
      case 'bound':
        return finite(Math.min(s.lease.t1At, nextExpiry(s.lease)));
      case 'renewing':
        return finite(Math.min(s.ex.at, s.lease.t2At, nextExpiry(s.lease)));
      case 'rebinding':
        return finite(Math.min(s.ex.at, nextExpiry(s.lease)));
      default:
        return s.ex.at;
    }
  }

  /** Shutdown (§18.2.7): the leased addresses are given back, once (the process is leaving), and forgotten. */
  release(now: number): void {
    const lease = this.lease;
    this.st = { kind: 'stopped' };
    if (lease === undefined) return;
    const ex = this.exchange(RELEASE, now);
    this.send({ type: T.RELEASE, xid: ex.xid, serverId: lease.server, iaNa: [this.iaOf(lease.addresses)] }, ex, now);
    this.log(`DHCPv6: released ${describeAddresses(lease)}`);
    this.emit({ kind: 'persist', saved: undefined });
    this.emit({ kind: 'lost', reason: 'released' });
  }

  /** Duplicate address detection found leased `address` in use by another host (§18.2.8): Decline, then Solicit. */
  addressConflict(address: Ipv6Addr, now: number): void {
    const lease = this.lease;
    if (lease === undefined || !lease.addresses.some((a) => a.address === address)) return;
    this.log(`DHCPv6: ${ipv6ToString(address)} is in use by another host: declining it`);
    this.emit({ kind: 'persist', saved: undefined });
    this.emit({ kind: 'lost', reason: 'duplicate' });
    const declined = lease.addresses.filter((a) => a.address === address);
    this.st = { kind: 'declining', ex: this.exchange(DECLINE, now), server: lease.server, addresses: declined };
    this.poll(now);
  }

  // ——— Receiving ———

  /** §18.2.9: an Advertise without an address for us is ignored; preference 255 is taken at once. */
  private onAdvertise(s: Extract<State, { kind: 'soliciting' }>, m: Dhcpv6Message, now: number): void {
    const ia = m.iaNa.find((x) => x.iaid === this.iaid);
    const noAddrs = m.status?.code === Dhcpv6Status.NO_ADDRS_AVAIL || ia === undefined || ia.addresses.every((a) => a.valid === 0) ||
      (ia.status !== undefined && ia.status.code !== Dhcpv6Status.SUCCESS);
    if (noAddrs || ia === undefined) {
      this.counters.inc('dhcp6.rx_ignored');
      return;
    }
    const pref = m.preference ?? 0;
    this.log(`DHCPv6: advertise from ${duidToHex(m.serverId ?? new Uint8Array(0))}: ${ia.addresses.map((a) => ipv6ToString(a.address)).join(', ')} (preference ${pref})`);
    if (s.best === undefined || pref > (s.best.msg.preference ?? 0)) s.best = { msg: m, ia };
    // §18.2.1: once the first RT has passed (retransmitting), the first Advertise is acted upon at once.
    if (pref === 255 || s.ex.sends > 1) this.request(s.best.msg, s.best.ia, now);
  }

  private onReply(s: Exclude<State, { kind: 'idle' | 'stopped' | 'bound' | 'informed' | 'soliciting' }>, m: Dhcpv6Message, now: number): void {
    const top = m.status?.code ?? Dhcpv6Status.SUCCESS;
    switch (s.kind) {
      case 'informing':
        this.onInformation(m, now);
        return;
      case 'declining':
        this.log('DHCPv6: decline acknowledged');
        this.solicit(now);
        return;
      case 'confirming':
        if (top === Dhcpv6Status.NOT_ON_LINK) {
          this.log(`DHCPv6: ${describeAddresses(s.saved)} not on this link any more`);
          this.emit({ kind: 'persist', saved: undefined });
          this.solicit(now);
        } else if (top === Dhcpv6Status.SUCCESS) {
          this.log(`DHCPv6: ${describeAddresses(s.saved)} confirmed`);
          this.bind(s.saved, now, false);
        } else this.counters.inc('dhcp6.rx_ignored');
        return;
      default:
        break;
    }
    if (top === Dhcpv6Status.NOT_ON_LINK && s.kind === 'requesting') {
      this.log('DHCPv6: the server says the addresses asked for are not on this link');
      this.solicit(now);
      return;
    }
    if (top !== Dhcpv6Status.SUCCESS) {
      // §18.2.10: UnspecFail, UseMulticast (we always multicast): retransmit on schedule.
      this.log(`DHCPv6: reply with ${statusName(top)}${m.status?.message ? `: ${m.status.message}` : ''}`);
      return;
    }
    const ia = m.iaNa.find((x) => x.iaid === this.iaid);
    if (ia?.status?.code === Dhcpv6Status.NO_BINDING && (s.kind === 'renewing' || s.kind === 'rebinding')) {
      // §18.2.10.1: the server has no record of the IA: ask for it again with a Request.
      this.log('DHCPv6: the server has no binding for us: requesting again');
      this.request(m, this.iaOf(s.lease.addresses), now);
      return;
    }
    const fresh = leaseFromReply(m, this.iaid, s.ex.sentAt);
    if (s.kind === 'requesting') {
      if (typeof fresh !== 'string') this.bind(fresh, now, false);
      else {
        this.log(`DHCPv6: reply unusable: ${fresh}`);
        this.solicit(now); // §18.2.10.1: NoAddrsAvail and the like: try the servers again
      }
      return;
    }
    // Renew, Rebind (§18.2.10.1): an address with valid lifetime 0 is withdrawn; the others keep their lifetimes.
    const withdrawn = new Set(ia?.addresses.filter((a) => a.valid === 0).map((a) => a.address));
    const kept = { ...s.lease, addresses: s.lease.addresses.filter((a) => !withdrawn.has(a.address)) };
    if (typeof fresh !== 'string') this.bind(mergeLease(kept, fresh), now, true);
    else if (withdrawn.size > 0) {
      this.log(`DHCPv6: the server withdrew ${[...withdrawn].map(ipv6ToString).join(', ')}`);
      if (kept.addresses.length === 0) this.lose('withdrawn', now);
      else this.bind(kept, now, true);
    } else this.log(`DHCPv6: reply unusable: ${fresh}`);
  }

  private onInformation(m: Dhcpv6Message, now: number): void {
    this.dns = m.dnsServers ?? [];
    const irt = m.informationRefreshTime ?? INFORMATION_REFRESH_DEFAULT_S;
    const refreshAt = irt === DHCPV6_INFINITY ? Infinity : now + Math.max(irt, INFORMATION_REFRESH_MIN_S) * 1000;
    this.st = { kind: 'informed', refreshAt };
    this.log(`DHCPv6: information received: DNS ${this.dns.length === 0 ? 'none' : this.dns.map(ipv6ToString).join(', ')}, refreshed in ${secondsUntil(refreshAt, now)}`);
    this.emit({ kind: 'information', dns: this.dns });
  }

  private learnMaxRt(m: Dhcpv6Message): void {
    const ok = (n: number | undefined): n is number => n !== undefined && n >= MAX_RT_MIN_S && n <= MAX_RT_MAX_S;
    if (ok(m.solMaxRt)) this.solMaxRtMs = m.solMaxRt * 1000;
    if (ok(m.infMaxRt)) this.infMaxRtMs = m.infMaxRt * 1000;
  }

  // ——— Transitions ———

  private solicit(now: number): void {
    this.st = { kind: 'soliciting', ex: this.exchange({ ...SOLICIT, mrtMs: this.solMaxRtMs }, now, true), best: undefined };
  }

  private request(m: Dhcpv6Message, ia: Dhcpv6IaNa, now: number): void {
    const server = m.serverId ?? new Uint8Array(0);
    this.st = { kind: 'requesting', ex: this.exchange(REQUEST, now), server, hint: this.iaOf(ia.addresses.map((a) => ({ address: a.address, preferredUntil: 0, validUntil: 0 }))) };
    this.poll(now);
  }

  private confirm(saved: Dhcpv6Lease, now: number): void {
    this.log(`DHCPv6: confirming ${describeAddresses(saved)} from the last run`);
    this.st = { kind: 'confirming', ex: this.exchange({ ...CONFIRM, mrdMs: this.opts.confirmMaxMs }, now), saved };
  }

  private bind(lease: Dhcpv6Lease, now: number, renewed: boolean): void {
    const kept = pruneLease(lease, now);
    if (kept.addresses.length === 0) {
      this.lose('expired', now);
      return;
    }
    this.st = { kind: 'bound', lease: kept };
    const a = kept.addresses[0];
    const life = a === undefined ? '' : ` (valid ${secondsUntil(a.validUntil, now)}, preferred ${secondsUntil(a.preferredUntil, now)})`;
    this.log(`DHCPv6: ${renewed ? 'renewed' : 'leased'} ${describeAddresses(kept)}${life}, renew in ${secondsUntil(kept.t1At, now)}`);
    this.emit({ kind: 'persist', saved: kept });
    this.emit({ kind: 'bound', lease: kept });
  }

  /** Lease deadlines in BOUND, RENEWING, REBINDING; true when the state changed to one without a message due. */
  private pollLease(s: Extract<State, { kind: 'bound' | 'renewing' | 'rebinding' }>, now: number): boolean {
    const lease = pruneLease(s.lease, now);
    if (lease.addresses.length === 0) {
      this.log(`DHCPv6: lease of ${describeAddresses(s.lease)} ended`);
      this.lose('expired', now);
      return false;
    }
    if (lease.addresses.length !== s.lease.addresses.length) {
      s.lease = lease;
      this.emit({ kind: 'bound', lease });
    }
    if (s.kind !== 'rebinding' && now >= lease.t2At) {
      this.log(`DHCPv6: rebinding ${describeAddresses(lease)}`);
      this.st = { kind: 'rebinding', ex: this.exchange({ ...REBIND, mrdMs: leaseEnd(lease) - now }, now), lease };
    } else if (s.kind === 'bound' && now >= lease.t1At) {
      this.log(`DHCPv6: renewing ${describeAddresses(lease)}`);
      this.st = { kind: 'renewing', ex: this.exchange({ ...RENEW, mrdMs: lease.t2At - now }, now), lease };
    } else return s.kind === 'bound';
    return false;
  }

  /** An exchange's MRC or MRD ran out (§15); what follows depends on the message. True: handled. */
  private exhausted(s: Extract<State, { ex: Exchange }>, now: number): boolean {
    const o = this.opts;
    const count = s.kind === 'requesting' ? o.requestAttempts : s.kind === 'declining' ? o.declineAttempts : 0;
    if (!((count > 0 && s.ex.sends >= count) || now >= s.ex.endsAt)) return false;
    switch (s.kind) {
      case 'requesting':
        this.log('DHCPv6: no reply to REQUEST');
        this.solicit(now);
        break;
      case 'declining':
        this.solicit(now);
        break;
      case 'confirming':
        // §18.2.3: no answer: the addresses are used with the lifetimes last known.
        this.log(`DHCPv6: no reply to CONFIRM: using ${describeAddresses(s.saved)} as leased`);
        this.bind(s.saved, now, false);
        return true;
      default:
        return false; // renewing, rebinding: their ends are the lease's deadlines (pollLease)
    }
    this.poll(now);
    return true;
  }

  private lose(reason: string, now: number): void {
    this.emit({ kind: 'persist', saved: undefined });
    this.emit({ kind: 'lost', reason });
    this.log(`DHCPv6: addresses given up (${reason})`);
    if (this.managed) this.solicit(now);
    else this.st = { kind: 'idle' };
  }

  // ——— Sending ———

  /**
   * A new exchange (§15): a fresh transaction id, the first message after the schedule's random delay. The
   * first RT of a Solicit is never shorter than IRT (§18.2.1: RAND strictly positive).
   */
  private exchange(schedule: Retransmission, now: number, firstPositive = false): Exchange {
    const random = this.opts.random;
    const xid = Math.floor(random() * 0x1000000) & 0xffffff;
    const rt = firstRt(schedule, random, firstPositive);
    const at = now + random() * schedule.maxDelayMs;
    return { xid, schedule, sends: 0, rt, at, firstSentAt: undefined, sentAt: now, endsAt: schedule.mrdMs > 0 ? now + schedule.mrdMs : Infinity };
  }

  /** Sends the state's message and plans the next transmission (§15). */
  private transmit(s: Extract<State, { ex: Exchange }>, now: number): void {
    const ex = s.ex;
    const base = { xid: ex.xid, iaNa: [] as Dhcpv6IaNa[] };
    let m: Dhcpv6Message;
    switch (s.kind) {
      case 'soliciting':
        m = { ...base, type: T.SOLICIT, iaNa: [this.iaOf([])], oro: [O.DNS_SERVERS, O.SOL_MAX_RT] };
        break;
      case 'requesting':
        m = { ...base, type: T.REQUEST, serverId: s.server, iaNa: [s.hint], oro: [O.DNS_SERVERS, O.SOL_MAX_RT] };
        break;
      case 'confirming':
        m = { ...base, type: T.CONFIRM, iaNa: [this.iaOf(s.saved.addresses)] };
        break;
      case 'renewing':
        m = { ...base, type: T.RENEW, serverId: s.lease.server, iaNa: [this.iaOf(s.lease.addresses)], oro: [O.DNS_SERVERS, O.SOL_MAX_RT] };
        break;
      case 'rebinding':
        m = { ...base, type: T.REBIND, iaNa: [this.iaOf(s.lease.addresses)], oro: [O.DNS_SERVERS, O.SOL_MAX_RT] };
        break;
      case 'declining':
        m = { ...base, type: T.DECLINE, serverId: s.server, iaNa: [this.iaOf(s.addresses)] };
        break;
      case 'informing':
        m = { ...base, type: T.INFORMATION_REQUEST, oro: [O.DNS_SERVERS, O.INFORMATION_REFRESH_TIME, O.INF_MAX_RT] };
        break;
    }
    this.send(m, ex, now);
  }

  private send(m: Dhcpv6Message, ex: Exchange, now: number): void {
    ex.firstSentAt ??= now;
    m.clientId = this.duid;
    m.elapsed = elapsedSince(ex.firstSentAt, now);
    if (ex.sends > 0) ex.rt = nextRt(ex.rt, ex.schedule, this.opts.random);
    ex.sends++;
    ex.sentAt = now;
    // §15: MRD cuts the last wait short (never to a time already past: no message twice at one instant).
    ex.at = ex.endsAt > now ? Math.min(now + ex.rt, ex.endsAt) : now + ex.rt;
    this.counters.inc('dhcp6.tx');
    this.emit({ kind: 'send', payload: encodeDhcpv6(m) });
  }

  /** Our IA_NA with `addresses` (§18.2: T1, T2 and lifetimes 0: the server decides). */
  private iaOf(addresses: LeasedAddress[]): Dhcpv6IaNa {
    return { iaid: this.iaid, t1: 0, t2: 0, addresses: addresses.map((a) => ({ address: a.address, preferred: 0, valid: 0 })) };
  }

  private emit(e: Dhcpv6Event): void {
    this.events.push(e);
  }
}

/** The earliest end of a leased address that ends before the lease does (an address dropped early). */
function nextExpiry(l: Dhcpv6Lease): number {
  return Math.min(...l.addresses.map((a) => a.validUntil));
}

function finite(t: number): number | undefined {
  return Number.isFinite(t) ? t : undefined;
}
