// The DHCP client of RFC 2131 §4.4 (figure 5), sans I/O: fed UDP payloads and the time, it queues what is to be
// done as events (`takeEvents`: messages to send, the address to check, bind or give up, the lease to remember)
// for the stack to apply, and says when it next needs `poll`. No timers, no clock, no files of its own.
//
//   INIT → (DISCOVER) SELECTING → (OFFER / REQUEST) REQUESTING → (ACK) CHECKING → BOUND → (T1) RENEWING → (T2) REBINDING
//   INIT-REBOOT (a saved lease given to `start`) → (REQUEST) REBOOTING → (ACK) CHECKING   (RFC 2131 §3.2, §4.4.2)
//   NAK or no answer in REQUESTING/REBOOTING, NAK in RENEWING/REBINDING, lease expiry → INIT, which discovers at once.
//   CHECKING: a `check` event asks for the new address to be probed (RFC 5227); the answer is `addressChecked`. In use by another host →
//   DHCPDECLINE, DECLINED for declineDelayMs (RFC 2131 §4.4.1: at least 10 s) → INIT. The same when the stack
//   gives a bound address up after a failed defence (`addressConflict`).
//   What is worth remembering across restarts goes out as a `persist` event after each accepted ACK (undefined
//   once the lease is gone: released, NAKed, expired, declined); the caller stores it and hands it back to `start`.
//
// The states and what each holds: dhcp-client-state.ts. The messages: dhcp-messages.ts. Lease times: lease.ts.

import { IPV4_ANY, ipv4ToString, macToString, prefixToMask, type Ipv4Addr, type MacAddr } from '../net/addr.ts';
import { randomU32, type Random } from '../random.ts';
import {
  leaseInUse, type ClientState, type RebootingState, type RenewalState, type RequestingState, type SelectingState,
} from './dhcp-client-state.ts';
import {
  clientIdentifier, declineMessage, discoverMessage, rebootRequestMessage, releaseMessage, renewalRequestMessage,
  selectingRequestMessage, type DhcpClientIdentity, type OutgoingDhcp,
} from './dhcp-messages.ts';
import { DhcpMessageType as T, encodeDhcp, parseDhcp, type DhcpMessage } from './dhcp-wire.ts';
import { backoff, expiryAt, leaseFromAck, renewalRetransmitAt, secsSince, t1At, t2At, type Lease } from './lease.ts';

export type { Lease } from './lease.ts';

/** What the client asks of the stack, in the order it arose; the stack applies each (`takeEvents`). */
export type DhcpEvent =
  /** A DHCP message from UDP port 68 to port 67 of `dst` (IPV4_BROADCAST for broadcast). The stack picks the IP source: the bound address while one is configured, else 0.0.0.0. */
  | { kind: 'send'; payload: Uint8Array; dst: Ipv4Addr }
  /** Check that a newly acked address is free (RFC 2131 §4.4.1, RFC 5227 probing) before use; answer with `addressChecked`. */
  | { kind: 'check'; lease: Lease }
  /** A lease was obtained or renewed: configure (or keep) the address. */
  | { kind: 'bound'; lease: Lease }
  /** The address must no longer be used (lease expired, NAK while bound/renewing/rebinding, a conflict, a move). */
  | { kind: 'lost'; reason: string }
  /** The lease to remember across restarts (for INIT-REBOOT), or undefined: forget it. */
  | { kind: 'persist'; saved: DhcpSavedLease | undefined };

/** What INIT-REBOOT needs from an earlier run. Times are in the client's clock (the `now` it is given). */
export interface DhcpSavedLease {
  address: Ipv4Addr;
  /** The server that granted it (informational: an INIT-REBOOT REQUEST names no server, RFC 2131 §4.3.2). */
  server: Ipv4Addr;
  /** When the lease ends. */
  expiresAt: number;
}

export interface DhcpClientOptions {
  mac: MacAddr;
  random: Random;
  /** Sent as option 12 when given (1..255 bytes of UTF-8). */
  hostname?: string;
  /** First retransmission delay of DISCOVER and REQUEST, doubled each time (RFC 2131 §4.1). */
  initialTimeoutMs: number;
  /** Cap of that doubling. */
  maxTimeoutMs: number;
  /** REQUEST transmissions in REQUESTING before going back to INIT. */
  requestAttempts: number;
  /** Floor of the retransmission delay in RENEWING and REBINDING (RFC 2131 §4.4.5). */
  minRetransmitMs: number;
  /** REQUEST transmissions in REBOOTING (INIT-REBOOT) before going to INIT: a server with no record of us stays silent (RFC 2131 §4.3.2). */
  rebootAttempts: number;
  /** Wait after a DHCPDECLINE before discovering again (RFC 2131 §4.4.1: at least 10 s). */
  declineDelayMs: number;
  /** After this many conflicts in a row (RFC 5227 MAX_CONFLICTS, 10)… */
  maxConflicts: number;
  /** …a new address is tried at most once per this interval (RATE_LIMIT_INTERVAL, 60 s). */
  conflictRateLimitMs: number;
}

export const defaultDhcpClientOptions: Omit<DhcpClientOptions, 'mac' | 'random'> = Object.freeze({
  initialTimeoutMs: 4000,
  maxTimeoutMs: 64000,
  requestAttempts: 4,
  minRetransmitMs: 60000,
  rebootAttempts: 2,
  declineDelayMs: 10_000,
  maxConflicts: 10,
  conflictRateLimitMs: 60_000,
});

export type DhcpState =
  | 'init' | 'rebooting' | 'selecting' | 'requesting' | 'checking' | 'bound' | 'renewing' | 'rebinding' | 'declined' | 'stopped';

export class DhcpClient {
  private readonly opts: DhcpClientOptions;
  private events: DhcpEvent[] = [];
  private readonly id: DhcpClientIdentity;
  private st: ClientState = { kind: 'init' };
  /**
   * The transaction id of the current exchange. It spans states: one exchange runs SELECTING → REQUESTING →
   * CHECKING → its DECLINE (RFC 2131 §4.4.1), and the `xid` getter reports it in every state.
   */
  private _xid = 0;
  /** Conflicts since the last address we could use (RFC 5227 §2.1.1 rate limiting). */
  private conflicts = 0;

  constructor(
    options: Pick<DhcpClientOptions, 'mac' | 'random'> & Partial<DhcpClientOptions>,
    private readonly log: (line: string) => void,
  ) {
    const d = defaultDhcpClientOptions;
    this.opts = {
      mac: options.mac,
      random: options.random,
      hostname: options.hostname,
      initialTimeoutMs: options.initialTimeoutMs ?? d.initialTimeoutMs,
      maxTimeoutMs: options.maxTimeoutMs ?? d.maxTimeoutMs,
      requestAttempts: options.requestAttempts ?? d.requestAttempts,
      minRetransmitMs: options.minRetransmitMs ?? d.minRetransmitMs,
      rebootAttempts: options.rebootAttempts ?? d.rebootAttempts,
      declineDelayMs: options.declineDelayMs ?? d.declineDelayMs,
      maxConflicts: options.maxConflicts ?? d.maxConflicts,
      conflictRateLimitMs: options.conflictRateLimitMs ?? d.conflictRateLimitMs,
    };
    const hostLen = options.hostname === undefined ? 1 : new TextEncoder().encode(options.hostname).length;
    if (hostLen < 1 || hostLen > 255) throw new RangeError('DhcpClient: hostname must be 1..255 bytes');
    this.id = { mac: options.mac, clientId: clientIdentifier(options.mac), hostname: options.hostname };
  }

  /** What the client asks of the stack since the last call, in order. */
  takeEvents(): DhcpEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  get state(): DhcpState {
    return this.st.kind;
  }

  /** The lease in use (BOUND, RENEWING, REBINDING), else undefined. */
  get lease(): Lease | undefined {
    return leaseInUse(this.st);
  }

  /** The transaction id of the current exchange. */
  get xid(): number {
    return this._xid;
  }

  /**
   * INIT → SELECTING, or with the lease of an earlier run INIT-REBOOT → REBOOTING (an expired one is forgotten).
   * Does nothing while already running.
   */
  start(now: number, saved?: DhcpSavedLease): void {
    if (this.st.kind !== 'init' && this.st.kind !== 'stopped') return;
    if (saved !== undefined) {
      if (now < saved.expiresAt) {
        this.reboot(now, saved.address);
        return;
      }
      this.log(`DHCP: the saved lease of ${ipv4ToString(saved.address)} has expired`);
      this.emit({ kind: 'persist', saved: undefined });
    }
    this.discover(now);
  }

  /** A UDP payload received on port 68 from port 67. */
  receive(payload: Uint8Array, now: number): void {
    const msg = parseDhcp(payload);
    if (msg === undefined) return;
    // Only replies to our current transaction (RFC 2131 §4.1: xid matches replies to requests), for our MAC.
    if (msg.op !== 2 || msg.xid !== this._xid || msg.chaddr !== this.opts.mac) return;
    const type = msg.options.messageType;
    const s = this.st;
    switch (s.kind) {
      case 'selecting':
        if (type === T.OFFER) this.onOffer(s, msg, now);
        return;
      case 'rebooting':
        // Any server may answer an INIT-REBOOT REQUEST (it names none).
        if (type === T.ACK) this.onAck(s, msg, now);
        else if (type === T.NAK) {
          // RFC 2131 §3.2 step 3: the remembered address is not ours any more: INIT.
          this.log(`DHCP: NAK received${nakText(msg)}`);
          this.emit({ kind: 'persist', saved: undefined });
          this.discover(now);
        }
        return;
      case 'requesting': {
        // Only the server we selected should answer; ignore anyone else.
        const server = msg.options.serverId;
        if (server !== undefined && server !== s.offer.server) return;
        if (type === T.ACK) this.onAck(s, msg, now);
        else if (type === T.NAK) {
          this.log(`DHCP: NAK received${nakText(msg)}`);
          this.discover(now); // RFC 2131 §4.4.1: NAK → INIT
        }
        return;
      }
      case 'renewing':
      case 'rebinding':
        if (type === T.ACK) this.onAck(s, msg, now);
        else if (type === T.NAK) {
          // RFC 2131 §4.4, figure 5: NAK → stop using the address, INIT.
          this.log(`DHCP: NAK received${nakText(msg)}`);
          this.drop('nak');
          this.discover(now);
        }
        return;
      default:
        return;
    }
  }

  /** Does whatever has fallen due at `now`. */
  poll(now: number): void {
    const s = this.st;
    switch (s.kind) {
      case 'selecting':
        if (now >= s.retransmitAt) this.sendDiscover(now, s.processStartedAt, s.sends);
        return;
      case 'rebooting':
        if (now < s.retransmitAt) return;
        if (s.sends >= this.opts.rebootAttempts) {
          // RFC 2131 §3.2 step 5 allows going on with the remembered address; we prefer a fresh start.
          this.log(`DHCP: no answer to REQUEST for ${ipv4ToString(s.address)}`);
          this.discover(now);
        } else this.sendRebootRequest(now, s.address, s.processStartedAt, s.sends);
        return;
      case 'declined':
        if (now >= s.restartAt) this.discover(now);
        return;
      case 'requesting':
        if (now < s.retransmitAt) return;
        if (s.sends >= this.opts.requestAttempts) {
          this.log('DHCP: no answer to REQUEST');
          this.discover(now);
        } else this.sendSelectingRequest(now, s.offer, s.discoverSecs, s.sends);
        return;
      case 'bound':
      case 'renewing':
      case 'rebinding': {
        const lease = s.lease;
        // The latest deadline first, so that a late poll does not send what is already moot.
        if (now >= expiryAt(lease)) {
          this.log(`DHCP: lease of ${ipv4ToString(lease.address)} expired`);
          this.drop('expired');
          this.discover(now);
        } else if (s.kind !== 'rebinding' && now >= t2At(lease)) {
          this.log(`DHCP: rebinding ${ipv4ToString(lease.address)}`);
          const processStartedAt = s.kind === 'bound' ? now : s.processStartedAt; // a late poll skipped RENEWING
          this.newExchange();
          this.sendRenewal(now, 'rebinding', lease, processStartedAt);
        } else if (s.kind === 'bound' && now >= t1At(lease)) {
          this.log(`DHCP: renewing ${ipv4ToString(lease.address)}`);
          this.newExchange();
          this.sendRenewal(now, 'renewing', lease, now);
        } else if (s.kind !== 'bound' && now >= s.retransmitAt) {
          this.sendRenewal(now, s.kind, lease, s.processStartedAt);
        }
        return;
      }
      default:
        return;
    }
  }

  /** Absolute ms of the next thing `poll` must do; undefined when there is none. */
  nextDeadline(): number | undefined {
    const s = this.st;
    switch (s.kind) {
      case 'selecting':
      case 'requesting':
      case 'rebooting':
        return s.retransmitAt;
      case 'declined':
        return s.restartAt;
      case 'bound':
        return t1At(s.lease);
      case 'renewing':
        return Math.min(s.retransmitAt, t2At(s.lease));
      case 'rebinding':
        return Math.min(s.retransmitAt, expiryAt(s.lease));
      default:
        return undefined;
    }
  }

  /**
   * Gives the address back (RFC 2131 §4.4.6) if we hold one, and stops. An address still being checked was never
   * used: nothing to give back from an unconfigured interface.
   */
  release(now: number): void {
    const lease = leaseInUse(this.st);
    this.st = { kind: 'stopped' };
    if (lease === undefined) return;
    this.newExchange();
    this.transmit(releaseMessage(this.id, this._xid, lease.address, lease.server));
    this.log(`DHCP: released ${ipv4ToString(lease.address)}`);
    this.forget('released');
  }

  /**
   * The verdict on the `check` event of `address`: free (`conflictWith` undefined) → BOUND; in use by the host with MAC
   * `conflictWith` → DHCPDECLINE, and discovery again after declineDelayMs. Ignored unless that address is being checked.
   */
  addressChecked(address: Ipv4Addr, conflictWith: MacAddr | undefined, now: number): void {
    const s = this.st;
    if (s.kind !== 'checking' || s.lease.address !== address) return;
    if (conflictWith === undefined) {
      this.bind(s.lease, false);
      return;
    }
    this.enterDeclined(now);
    this.decline(s.lease.address, s.lease.server, conflictWith);
  }

  /**
   * Another host (MAC `by`) uses our bound `address` and defending it failed (RFC 5227 §2.4 (b)): stop using it,
   * DHCPDECLINE it (so that the server does not hand it to us again), discover again after declineDelayMs.
   */
  addressConflict(address: Ipv4Addr, by: MacAddr, now: number): void {
    const lease = leaseInUse(this.st);
    if (lease === undefined || lease.address !== address) return;
    this.enterDeclined(now); // decline() forgets the saved lease
    this.lose('conflict');
    this.newExchange();
    this.decline(address, lease.server, by);
  }

  // --- transitions ---

  /** INIT: a fresh exchange, DISCOVER broadcast, SELECTING (RFC 2131 §4.4.1). */
  private discover(now: number): void {
    this.st = { kind: 'init' };
    this.log('DHCP: start discovery');
    this.newExchange();
    this.sendDiscover(now, now, 0);
  }

  private onOffer(s: SelectingState, msg: DhcpMessage, now: number): void {
    const server = msg.options.serverId;
    if (msg.yiaddr === IPV4_ANY || server === undefined) return; // RFC 2131 §4.3.1: an offer names both
    this.log(`DHCP: offer received: ${ipv4ToString(msg.yiaddr)}`);
    // Same xid (RFC 2131 §4.4.1), new retransmission schedule.
    this.sendSelectingRequest(now, { address: msg.yiaddr, server }, s.discoverSecs, 0);
  }

  private onAck(s: RequestingState | RebootingState | RenewalState, msg: DhcpMessage, now: number): void {
    const lease = leaseFromAck(msg, s.sentAt);
    if (typeof lease === 'string') {
      this.log(`DHCP: ignoring ACK: ${lease}`);
      return;
    }
    const held = leaseInUse(s);
    if (held !== undefined && held.address === lease.address) {
      this.bind(lease, true);
      return;
    }
    if (held !== undefined) {
      // A renewal that moves us to another address: the old one goes, the new one is checked like any other.
      this.log(`DHCP: the server moved us from ${ipv4ToString(held.address)} to ${ipv4ToString(lease.address)}`);
      this.drop('address changed');
    }
    // RFC 2131 §4.4.1: check the address before using it.
    this.st = { kind: 'checking', lease };
    this.emit({ kind: 'check', lease });
  }

  /** BOUND with `lease`: tell the stack, remember it. */
  private bind(lease: Lease, renewed: boolean): void {
    this.st = { kind: 'bound', lease };
    this.conflicts = 0;
    const a = ipv4ToString(lease.address);
    if (renewed) this.log(`DHCP: lease of ${a} renewed for ${lease.leaseSeconds} s`);
    else {
      const gw = lease.gateway === undefined ? '' : ipv4ToString(lease.gateway);
      this.log(`DHCP offer received and bound to ${a} nm ${ipv4ToString(prefixToMask(lease.prefix))} gw [${gw}]`);
    }
    this.emit({ kind: 'persist', saved: { address: lease.address, server: lease.server, expiresAt: expiryAt(lease) } });
    this.emit({ kind: 'bound', lease });
  }

  /** DHCPDECLINE of `address` (RFC 2131 §4.4.1) in the current exchange, once DECLINED is entered; the saved lease is forgotten. */
  private decline(address: Ipv4Addr, server: Ipv4Addr, by: MacAddr): void {
    this.log(`DHCP: conflict on ${ipv4ToString(address)} from ${macToString(by)} (declined)`);
    this.transmit(declineMessage(this.id, this._xid, address, server, by));
    this.emit({ kind: 'persist', saved: undefined });
  }

  /**
   * DECLINED after one more conflict: discovery starts again after declineDelayMs (RFC 2131 §4.4.1), or after
   * conflictRateLimitMs once maxConflicts conflicts came in a row (RFC 5227 §2.1.1).
   */
  private enterDeclined(now: number): void {
    this.conflicts++;
    const o = this.opts;
    const wait = this.conflicts >= o.maxConflicts ? Math.max(o.declineDelayMs, o.conflictRateLimitMs) : o.declineDelayMs;
    this.st = { kind: 'declined', restartAt: now + wait };
  }

  /** INIT-REBOOT: ask for the address of an earlier run again (RFC 2131 §3.2, §4.4.2). */
  private reboot(now: number, address: Ipv4Addr): void {
    this.log(`DHCP: reboot: asking for ${ipv4ToString(address)} again`);
    this.newExchange();
    this.sendRebootRequest(now, address, now, 0);
  }

  /**
   * Stops using the lease: INIT until the caller says where next (figure 5: NAK, expiry → INIT), forgotten
   * here and in what is remembered across restarts, and the stack is told.
   */
  private drop(reason: string): void {
    this.st = { kind: 'init' };
    this.forget(reason);
  }

  /** Forgets the lease in what is remembered across restarts, and tells the stack to stop using it. */
  private forget(reason: string): void {
    this.emit({ kind: 'persist', saved: undefined });
    this.lose(reason);
  }

  /** The stack is to stop using the address. */
  private lose(reason: string): void {
    this.log(`DHCP: address given up (${reason})`);
    this.emit({ kind: 'lost', reason });
  }

  private emit(e: DhcpEvent): void {
    this.events.push(e);
  }

  // --- sending: each enters the state it sends in first ---

  private newExchange(): void {
    this._xid = randomU32(this.opts.random); // RFC 2131 §4.4.1: a random xid per exchange
  }

  /** SELECTING: the DISCOVER after `sends` of them, retransmitted with backoff (RFC 2131 §4.1). */
  private sendDiscover(now: number, processStartedAt: number, sends: number): void {
    const discoverSecs = secsSince(processStartedAt, now);
    const retransmitAt = now + backoff(sends + 1, this.opts, this.opts.random);
    this.st = { kind: 'selecting', processStartedAt, discoverSecs, sends: sends + 1, retransmitAt };
    this.transmit(discoverMessage(this.id, this._xid, discoverSecs));
  }

  /** REQUESTING: the REQUEST for `offer` after `sends` of them; `secs` repeats the DISCOVER's (RFC 2131 §4.4.1). */
  private sendSelectingRequest(now: number, offer: RequestingState['offer'], discoverSecs: number, sends: number): void {
    const retransmitAt = now + backoff(sends + 1, this.opts, this.opts.random);
    this.st = { kind: 'requesting', offer, discoverSecs, sends: sends + 1, sentAt: now, retransmitAt };
    this.transmit(selectingRequestMessage(this.id, this._xid, discoverSecs, offer));
  }

  /** REBOOTING: the INIT-REBOOT REQUEST for `address` after `sends` of them (RFC 2131 §4.3.2). */
  private sendRebootRequest(now: number, address: Ipv4Addr, processStartedAt: number, sends: number): void {
    const retransmitAt = now + backoff(sends + 1, this.opts, this.opts.random);
    this.st = { kind: 'rebooting', address, processStartedAt, sends: sends + 1, sentAt: now, retransmitAt };
    this.transmit(rebootRequestMessage(this.id, this._xid, secsSince(processStartedAt, now), address));
  }

  /**
   * RENEWING: unicast to the server; REBINDING: broadcast. Retransmitted after half the time left until T2
   * (resp. expiry), at least minRetransmitMs (RFC 2131 §4.4.5).
   */
  private sendRenewal(now: number, kind: RenewalState['kind'], lease: Lease, processStartedAt: number): void {
    const rebinding = kind === 'rebinding';
    const until = rebinding ? expiryAt(lease) : t2At(lease);
    const retransmitAt = renewalRetransmitAt(now, until, this.opts.minRetransmitMs);
    this.st = { kind, lease, processStartedAt, sentAt: now, retransmitAt };
    this.transmit(
      renewalRequestMessage(this.id, this._xid, secsSince(processStartedAt, now), lease.address, rebinding ? undefined : lease.server),
    );
  }

  private transmit(out: OutgoingDhcp): void {
    this.emit({ kind: 'send', payload: encodeDhcp(out.msg), dst: out.dst });
  }
}

function nakText(msg: DhcpMessage): string {
  return msg.options.message === undefined ? '' : `: ${msg.options.message}`;
}
