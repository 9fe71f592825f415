// The DHCP client of RFC 2131 §4.4 (figure 5), sans I/O: fed UDP payloads and the time, it answers through
// `DhcpIo` and says when it next needs `poll`. No timers, no clock, no randomness, no files of its own.
//
//   INIT → (DISCOVER) SELECTING → (OFFER / REQUEST) REQUESTING → (ACK) CHECKING → BOUND → (T1) RENEWING → (T2) REBINDING
//   INIT-REBOOT (a saved lease given to `start`) → (REQUEST) REBOOTING → (ACK) CHECKING   (RFC 2131 §3.2, §4.4.2)
//   NAK or no answer in REQUESTING/REBOOTING, NAK in RENEWING/REBINDING, lease expiry → INIT, which discovers at once.
//   CHECKING: `io.check` probes the new address (RFC 5227) and answers `addressChecked`. In use by another host →
//   DHCPDECLINE, DECLINED for declineDelayMs (RFC 2131 §4.4.1: at least 10 s) → INIT. The same when the stack
//   gives a bound address up after a failed defence (`addressConflict`).
//   What is worth remembering across restarts goes out through `io.persist` after each accepted ACK (undefined
//   once the lease is gone: released, NAKed, expired, declined); the caller stores it and hands it back to `start`.

import {
  IPV4_ANY, IPV4_BROADCAST, ipv4ToString, macToString, maskToPrefix, prefixToMask, writeMac, type Ipv4Addr, type MacAddr,
} from '../net/addr.ts';
import { randomU32, type Random } from '../random.ts';
import {
  BOOTREQUEST, DhcpMessageType as T, FLAG_BROADCAST, encodeDhcp, parseDhcp, type DhcpMessage, type DhcpOptions,
} from './dhcp-wire.ts';

export interface Lease {
  address: Ipv4Addr;
  prefix: number;
  gateway?: Ipv4Addr | undefined;
  dns: Ipv4Addr[];
  server: Ipv4Addr;
  leaseSeconds: number;
  t1Seconds: number;
  t2Seconds: number;
  /** When the REQUEST that the ACK answered was sent (ms): lease times count from there (RFC 2131 §4.4.1). */
  obtainedAt: number;
}

export interface DhcpIo {
  /** Sends a DHCP message from UDP port 68 to port 67 of `dst` (IPV4_BROADCAST for broadcast). The stack picks the IP source: the bound address while one is configured, else 0.0.0.0. */
  send(payload: Uint8Array, dst: Ipv4Addr): void;
  /** A lease was obtained or renewed: configure (or keep) the address. */
  bound(lease: Lease, now: number): void;
  /** The address must no longer be used (lease expired, or NAK while bound/renewing/rebinding). */
  lost(reason: string): void;
  log(line: string): void;
  /**
   * Checks that a newly acked address is free (RFC 2131 §4.4.1, RFC 5227 probing) before it is used; the answer
   * comes back through `addressChecked`, possibly from within this call. Without it the address is used at once.
   */
  check?(lease: Lease, now: number): void;
  /** The lease to remember across restarts (for INIT-REBOOT), or undefined: forget it. */
  persist?(saved: DhcpSavedLease | undefined): void;
}

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

/** Options we ask for (RFC 2132 §9.8): mask, routers, DNS, lease time, server id, T1, T2. */
const PARAMETER_REQUEST_LIST = [1, 3, 6, 51, 54, 58, 59];
const MAX_MESSAGE_SIZE = 1500;
/** Retransmission delays are randomised by ±1 s (RFC 2131 §4.1). */
const JITTER_MS = 1000;

export class DhcpClient {
  private readonly opts: DhcpClientOptions;
  private readonly io: DhcpIo;
  private readonly clientId: Uint8Array;
  private _state: DhcpState = 'init';
  private _xid = 0;
  private _lease: Lease | undefined;
  /** The offer being requested, in REQUESTING. */
  private offer: { address: Ipv4Addr; server: Ipv4Addr } | undefined;
  /** Transmissions in the current exchange. */
  private sends = 0;
  private lastSentAt = 0;
  private retransmitAt: number | undefined;
  /** Start of the acquisition or renewal process, for `secs` (RFC 2131 §2). */
  private processStartedAt = 0;
  /** `secs` of the last DISCOVER, which the REQUEST repeats (RFC 2131 §4.4.1). */
  private discoverSecs = 0;
  /** The address asked for again in REBOOTING. */
  private rebootAddress: Ipv4Addr = IPV4_ANY;
  /** The acked lease being checked, in CHECKING. */
  private checking: Lease | undefined;
  /** When DECLINED ends. */
  private restartAt = 0;
  /** Conflicts since the last address we could use (RFC 5227 §2.1.1 rate limiting). */
  private conflicts = 0;

  constructor(options: Pick<DhcpClientOptions, 'mac' | 'random'> & Partial<DhcpClientOptions>, io: DhcpIo) {
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
    this.io = io;
    // RFC 2132 §9.14: hardware type 1 (Ethernet) followed by the MAC.
    this.clientId = new Uint8Array(7);
    this.clientId[0] = 1;
    writeMac(this.clientId, 1, options.mac);
  }

  get state(): DhcpState {
    return this._state;
  }

  /** The lease in use (BOUND, RENEWING, REBINDING), else undefined. */
  get lease(): Lease | undefined {
    return this._lease;
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
    if (this._state !== 'init' && this._state !== 'stopped') return;
    if (saved !== undefined) {
      if (now < saved.expiresAt) {
        this.reboot(now, saved.address);
        return;
      }
      this.io.log(`DHCP: the saved lease of ${ipv4ToString(saved.address)} has expired`);
      this.io.persist?.(undefined);
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
    switch (this._state) {
      case 'selecting':
        if (type === T.OFFER) this.onOffer(msg, now);
        return;
      case 'rebooting':
        // Any server may answer an INIT-REBOOT REQUEST (it names none).
        if (type === T.ACK) this.onAck(msg, now);
        else if (type === T.NAK) {
          // RFC 2131 §3.2 step 3: the remembered address is not ours any more: INIT.
          this.io.log(`DHCP: NAK received${nakText(msg)}`);
          this.io.persist?.(undefined);
          this.discover(now);
        }
        return;
      case 'requesting': {
        // Only the server we selected should answer; ignore anyone else.
        const server = msg.options.serverId;
        if (server !== undefined && server !== this.offer?.server) return;
        if (type === T.ACK) this.onAck(msg, now);
        else if (type === T.NAK) {
          this.io.log(`DHCP: NAK received${nakText(msg)}`);
          this.discover(now); // RFC 2131 §4.4.1: NAK → INIT
        }
        return;
      }
      case 'renewing':
      case 'rebinding':
        if (type === T.ACK) this.onAck(msg, now);
        else if (type === T.NAK) {
          // RFC 2131 §4.4, figure 5: NAK → stop using the address, INIT.
          this.io.log(`DHCP: NAK received${nakText(msg)}`);
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
    const due = (t: number | undefined): boolean => t !== undefined && now >= t;
    switch (this._state) {
      case 'selecting':
        if (due(this.retransmitAt)) this.sendDiscover(now);
        return;
      case 'rebooting':
        if (!due(this.retransmitAt)) return;
        if (this.sends >= this.opts.rebootAttempts) {
          // RFC 2131 §3.2 step 5 allows going on with the remembered address; we prefer a fresh start.
          this.io.log(`DHCP: no answer to REQUEST for ${ipv4ToString(this.rebootAddress)}`);
          this.discover(now);
        } else this.sendRebootRequest(now);
        return;
      case 'declined':
        if (now >= this.restartAt) this.discover(now);
        return;
      case 'requesting':
        if (!due(this.retransmitAt)) return;
        if (this.sends >= this.opts.requestAttempts) {
          this.io.log('DHCP: no answer to REQUEST');
          this.discover(now);
        } else this.sendSelectingRequest(now);
        return;
      case 'bound':
      case 'renewing':
      case 'rebinding': {
        const lease = this._lease;
        if (lease === undefined) return;
        // The latest deadline first, so that a late poll does not send what is already moot.
        if (now >= expiryAt(lease)) {
          this.io.log(`DHCP: lease of ${ipv4ToString(lease.address)} expired`);
          this.drop('expired');
          this.discover(now);
        } else if (this._state !== 'rebinding' && now >= t2At(lease)) {
          this.io.log(`DHCP: rebinding ${ipv4ToString(lease.address)}`);
          if (this._state === 'bound') this.processStartedAt = now; // a late poll skipped RENEWING
          this._state = 'rebinding';
          this.newExchange();
          this.sendRenewal(now);
        } else if (this._state === 'bound' && now >= t1At(lease)) {
          this.io.log(`DHCP: renewing ${ipv4ToString(lease.address)}`);
          this._state = 'renewing';
          this.processStartedAt = now;
          this.newExchange();
          this.sendRenewal(now);
        } else if (this._state !== 'bound' && due(this.retransmitAt)) {
          this.sendRenewal(now);
        }
        return;
      }
      default:
        return;
    }
  }

  /** Absolute ms of the next thing `poll` must do; undefined when there is none. */
  nextDeadline(): number | undefined {
    const lease = this._lease;
    switch (this._state) {
      case 'selecting':
      case 'requesting':
      case 'rebooting':
        return this.retransmitAt;
      case 'declined':
        return this.restartAt;
      case 'bound':
        return lease && t1At(lease);
      case 'renewing':
        return lease && Math.min(this.retransmitAt ?? Infinity, t2At(lease));
      case 'rebinding':
        return lease && Math.min(this.retransmitAt ?? Infinity, expiryAt(lease));
      default:
        return undefined;
    }
  }

  /** Gives the address back (RFC 2131 §4.4.6) if we hold one, and stops. */
  release(now: number): void {
    const lease = this._lease;
    if (lease !== undefined) {
      this.newExchange();
      // RFC 2131 §4.4.6, table 5: unicast to the server, ciaddr set, server id required.
      this.transmit(
        { messageType: T.RELEASE, serverId: lease.server, clientId: this.clientId },
        { ciaddr: lease.address, flags: 0, secs: 0 }, lease.server, now, undefined,
      );
      this.io.log(`DHCP: released ${ipv4ToString(lease.address)}`);
    }
    this._state = 'stopped';
    this.retransmitAt = undefined;
    this.offer = undefined;
    this.checking = undefined; // acked but never used: nothing to give back from an unconfigured interface
    if (lease !== undefined) this.drop('released');
  }

  /**
   * The verdict of `io.check` on `address`: free (`conflictWith` undefined) → BOUND; in use by the host with MAC
   * `conflictWith` → DHCPDECLINE, and discovery again after declineDelayMs. Ignored unless that address is being checked.
   */
  addressChecked(address: Ipv4Addr, conflictWith: MacAddr | undefined, now: number): void {
    const lease = this.checking;
    if (this._state !== 'checking' || lease === undefined || lease.address !== address) return;
    this.checking = undefined;
    if (conflictWith === undefined) this.bind(lease, now, false);
    else this.decline(lease.address, lease.server, conflictWith, now);
  }

  /**
   * Another host (MAC `by`) uses our bound `address` and defending it failed (RFC 5227 §2.4 (b)): stop using it,
   * DHCPDECLINE it (so that the server does not hand it to us again), discover again after declineDelayMs.
   */
  addressConflict(address: Ipv4Addr, by: MacAddr, now: number): void {
    const lease = this._lease;
    if (lease === undefined || lease.address !== address) return;
    if (this._state !== 'bound' && this._state !== 'renewing' && this._state !== 'rebinding') return;
    this._lease = undefined; // decline() forgets the saved lease
    this.io.lost('conflict');
    this.newExchange();
    this.decline(address, lease.server, by, now);
  }

  // --- transitions ---

  /** INIT: a fresh exchange, DISCOVER broadcast, SELECTING (RFC 2131 §4.4.1). */
  private discover(now: number): void {
    this._state = 'init';
    this.io.log('DHCP: start discovery');
    this.offer = undefined;
    this.checking = undefined;
    this.processStartedAt = now;
    this.newExchange();
    this._state = 'selecting';
    this.sendDiscover(now);
  }

  private onOffer(msg: DhcpMessage, now: number): void {
    const server = msg.options.serverId;
    if (msg.yiaddr === IPV4_ANY || server === undefined) return; // RFC 2131 §4.3.1: an offer names both
    this.io.log(`DHCP: offer received: ${ipv4ToString(msg.yiaddr)}`);
    this.offer = { address: msg.yiaddr, server };
    this._state = 'requesting';
    this.sends = 0; // same xid (RFC 2131 §4.4.1), new retransmission schedule
    this.sendSelectingRequest(now);
  }

  private onAck(msg: DhcpMessage, now: number): void {
    const lease = leaseFromAck(msg, this.lastSentAt);
    if (typeof lease === 'string') {
      this.io.log(`DHCP: ignoring ACK: ${lease}`);
      return;
    }
    this.offer = undefined;
    this.retransmitAt = undefined;
    const held = this._lease;
    if (held !== undefined && held.address !== lease.address) {
      // A renewal that moves us to another address: the old one goes, the new one is checked like any other.
      this.io.log(`DHCP: the server moved us from ${ipv4ToString(held.address)} to ${ipv4ToString(lease.address)}`);
      this.drop('address changed');
    }
    if (this._lease === undefined && this.io.check !== undefined) {
      // RFC 2131 §4.4.1: check the address before using it. State first: the answer may come from within.
      this._state = 'checking';
      this.checking = lease;
      this.io.check(lease, now);
      return;
    }
    this.bind(lease, now, this._lease !== undefined);
  }

  /** BOUND with `lease`: tell the stack, remember it. */
  private bind(lease: Lease, now: number, renewed: boolean): void {
    this._lease = lease;
    this._state = 'bound';
    this.conflicts = 0;
    const a = ipv4ToString(lease.address);
    if (renewed) this.io.log(`DHCP: lease of ${a} renewed for ${lease.leaseSeconds} s`);
    else {
      const gw = lease.gateway === undefined ? '' : ipv4ToString(lease.gateway);
      this.io.log(`DHCP offer received and bound to ${a} nm ${ipv4ToString(prefixToMask(lease.prefix))} gw [${gw}]`);
    }
    this.io.persist?.({ address: lease.address, server: lease.server, expiresAt: expiryAt(lease) });
    this.io.bound(lease, now);
  }

  /**
   * DHCPDECLINE of `address` (RFC 2131 §4.4.1, table 5: broadcast, ciaddr 0, requested IP and server id, a
   * message; no parameter list, no hostname), then DECLINED: discovery starts again after declineDelayMs, or
   * after conflictRateLimitMs once maxConflicts conflicts came in a row (RFC 5227 §2.1.1).
   */
  private decline(address: Ipv4Addr, server: Ipv4Addr, by: MacAddr, now: number): void {
    const m = macToString(by);
    this.io.log(`DHCP: conflict on ${ipv4ToString(address)} from ${m} (declined)`);
    this.transmit(
      { messageType: T.DECLINE, requestedIp: address, serverId: server, clientId: this.clientId, message: `address in use by ${m}` },
      { ciaddr: IPV4_ANY, flags: 0, secs: 0 }, IPV4_BROADCAST, now, undefined,
    );
    this.io.persist?.(undefined);
    this.conflicts++;
    const o = this.opts;
    const wait = this.conflicts >= o.maxConflicts ? Math.max(o.declineDelayMs, o.conflictRateLimitMs) : o.declineDelayMs;
    this._state = 'declined';
    this.restartAt = now + wait;
  }

  /** INIT-REBOOT: ask for the address of an earlier run again (RFC 2131 §3.2, §4.4.2). */
  private reboot(now: number, address: Ipv4Addr): void {
    this.io.log(`DHCP: reboot: asking for ${ipv4ToString(address)} again`);
    this.rebootAddress = address;
    this.offer = undefined;
    this.processStartedAt = now;
    this.newExchange();
    this._state = 'rebooting';
    this.sendRebootRequest(now);
  }

  /** Forgets the lease, here and in what is remembered across restarts, and tells the stack. */
  private drop(reason: string): void {
    this._lease = undefined;
    this.io.persist?.(undefined);
    this.io.lost(reason);
  }

  // --- sending ---

  private newExchange(): void {
    this._xid = randomU32(this.opts.random); // RFC 2131 §4.4.1: a random xid per exchange
    this.sends = 0;
  }

  private sendDiscover(now: number): void {
    this.discoverSecs = secsSince(this.processStartedAt, now);
    this.transmit(
      { messageType: T.DISCOVER, ...this.requestOptions() },
      { ciaddr: IPV4_ANY, flags: FLAG_BROADCAST, secs: this.discoverSecs }, IPV4_BROADCAST, now,
      now + this.backoff(this.sends + 1),
    );
  }

  /** The REQUEST answering an OFFER: broadcast, ciaddr 0, requested IP and server id (RFC 2131 §4.3.2, table 5). */
  private sendSelectingRequest(now: number): void {
    const offer = this.offer;
    if (offer === undefined) return;
    this.transmit(
      { messageType: T.REQUEST, requestedIp: offer.address, serverId: offer.server, ...this.requestOptions() },
      { ciaddr: IPV4_ANY, flags: FLAG_BROADCAST, secs: this.discoverSecs }, IPV4_BROADCAST, now,
      now + this.backoff(this.sends + 1),
    );
  }

  /** The INIT-REBOOT REQUEST: broadcast, ciaddr 0, requested IP, no server id (RFC 2131 §4.3.2, table 5). */
  private sendRebootRequest(now: number): void {
    this.transmit(
      { messageType: T.REQUEST, requestedIp: this.rebootAddress, ...this.requestOptions() },
      { ciaddr: IPV4_ANY, flags: FLAG_BROADCAST, secs: secsSince(this.processStartedAt, now) }, IPV4_BROADCAST, now,
      now + this.backoff(this.sends + 1),
    );
  }

  /**
   * RENEWING: unicast to the server; REBINDING: broadcast. Both with ciaddr and without requested IP or server id,
   * retransmitted after half the time left until T2 (resp. expiry), at least minRetransmitMs (RFC 2131 §4.4.5).
   */
  private sendRenewal(now: number): void {
    const lease = this._lease;
    if (lease === undefined) return;
    const rebinding = this._state === 'rebinding';
    const until = rebinding ? expiryAt(lease) : t2At(lease);
    this.transmit(
      { messageType: T.REQUEST, ...this.requestOptions() },
      { ciaddr: lease.address, flags: 0, secs: secsSince(this.processStartedAt, now) },
      rebinding ? IPV4_BROADCAST : lease.server, now,
      Math.min(now + Math.max(this.opts.minRetransmitMs, (until - now) / 2), until),
    );
  }

  /** Options of every DISCOVER and REQUEST. */
  private requestOptions(): DhcpOptions {
    const o: DhcpOptions = {
      clientId: this.clientId,
      parameterRequestList: PARAMETER_REQUEST_LIST,
      maxMessageSize: MAX_MESSAGE_SIZE,
    };
    if (this.opts.hostname !== undefined) o.hostname = this.opts.hostname;
    return o;
  }

  /** Sends one message of the current exchange; state is updated first, so `io.send` may re-enter. */
  private transmit(
    options: DhcpOptions, f: { ciaddr: Ipv4Addr; flags: number; secs: number }, dst: Ipv4Addr, now: number,
    retransmitAt: number | undefined,
  ): void {
    const msg: DhcpMessage = {
      op: BOOTREQUEST, xid: this._xid, secs: f.secs, flags: f.flags,
      ciaddr: f.ciaddr, yiaddr: IPV4_ANY, siaddr: IPV4_ANY, giaddr: IPV4_ANY, chaddr: this.opts.mac, options,
    };
    this.sends++;
    this.lastSentAt = now;
    this.retransmitAt = retransmitAt;
    this.io.send(encodeDhcp(msg), dst);
  }

  /** Delay after the n-th transmission: 4 s, 8 s, … capped at 64 s, each ±1 s (RFC 2131 §4.1). */
  private backoff(n: number): number {
    const base = Math.min(this.opts.initialTimeoutMs * 2 ** (n - 1), this.opts.maxTimeoutMs);
    const jitter = Math.min(JITTER_MS, base / 2); // never near zero when tests shrink the timeouts
    return base + (this.opts.random() * 2 - 1) * jitter;
  }
}

/** A lease from an ACK, or why the ACK is unusable. Times count from `obtainedAt` (RFC 2131 §4.4.1). */
function leaseFromAck(msg: DhcpMessage, obtainedAt: number): Lease | string {
  const o = msg.options;
  if (msg.yiaddr === IPV4_ANY) return 'no address';
  if (o.leaseTime === undefined) return 'no lease time'; // RFC 2131 §4.3.1: an ACK MUST carry it
  if (o.serverId === undefined) return 'no server identifier';
  const prefix = o.subnetMask === undefined ? 24 : maskToPrefix(o.subnetMask);
  if (prefix === undefined) return `non-contiguous subnet mask ${ipv4ToString(o.subnetMask ?? 0)}`;
  // RFC 2131 §4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease; keep T1 ≤ T2 ≤ lease.
  // An infinite lease (0xffffffff, RFC 2131 §3.3) just puts the deadlines 136 years away.
  const leaseSeconds = o.leaseTime;
  const t2Seconds = Math.min(o.rebindingTime ?? leaseSeconds * 0.875, leaseSeconds);
  const t1Seconds = Math.min(o.renewalTime ?? leaseSeconds * 0.5, t2Seconds);
  return {
    address: msg.yiaddr,
    prefix,
    gateway: o.routers?.[0],
    dns: o.dnsServers ?? [],
    server: o.serverId,
    leaseSeconds,
    t1Seconds,
    t2Seconds,
    obtainedAt,
  };
}

function t1At(l: Lease): number {
  return l.obtainedAt + l.t1Seconds * 1000;
}

function t2At(l: Lease): number {
  return l.obtainedAt + l.t2Seconds * 1000;
}

function expiryAt(l: Lease): number {
  return l.obtainedAt + l.leaseSeconds * 1000;
}

function secsSince(start: number, now: number): number {
  return Math.min(0xffff, Math.max(0, Math.floor((now - start) / 1000)));
}

function nakText(msg: DhcpMessage): string {
  return msg.options.message === undefined ? '' : `: ${msg.options.message}`;
}
