// SYN cookies (RFC 4987 §3.6): when a listener's backlog is full, the SYN-ACK's ISN carries what the
// handshake needs and no state is kept. The 32 bits: a 5-bit clock of 64 s periods, 7 bits of the
// peer's options (MSS index, window scale, SACK-permitted) and 20 bits of a keyed hash (SipHash-2-4, as Linux's
// cookies) over the 4-tuple, the peer's ISN, the clock and those options. Timestamps are not kept in cookie mode.

import type { IpAddr } from '../addr.ts';
import { sipKey, type SipKey } from '../siphash.ts';
import type { TcpOptions } from './tcp-wire.ts';
import { hashTuple } from './tuple-hash.ts';

const MSS_TABLE = [536, 1220, 1440, 1460] as const;
const NO_SCALE = 15;

export interface CookieOffer {
  mss: number;
  windowScale: number | undefined;
  sackPermitted: boolean;
}

export class SynCookies {
  static readonly periodMs = 64_000;
  /** A cookie is good for the period it was made in and the next one. */
  static readonly lifetimeMs = 2 * SynCookies.periodMs;

  private readonly key: SipKey;

  /** `secret`: 16 random bytes. */
  constructor(secret: Uint8Array) {
    this.key = sipKey(secret);
  }

  /** The ISN to send and the options our SYN-ACK answers with. */
  make(local: IpAddr, localPort: number, remote: IpAddr, remotePort: number, peerIsn: number, offer: CookieOffer, now: number, ourShift: number, ourMss = 1460): { iss: number; options: TcpOptions } {
    let mssIndex = 0;
    for (let i = 0; i < MSS_TABLE.length; i++) if ((MSS_TABLE[i] ?? 0) <= offer.mss) mssIndex = i;
    const ws = offer.windowScale === undefined ? NO_SCALE : Math.min(14, offer.windowScale);
    const enc = mssIndex | (ws << 2) | ((offer.sackPermitted ? 1 : 0) << 6);
    const t = this.period(now);
    const iss = ((t << 27) | (enc << 20) | this.mac(local, localPort, remote, remotePort, peerIsn, t, enc)) >>> 0;
    const options: TcpOptions = { mss: ourMss };
    if (ws !== NO_SCALE) options.windowScale = ourShift;
    if (offer.sackPermitted) options.sackPermitted = true;
    return { iss, options };
  }

  /** The peer's options if `cookie` (our ISN) is one we made lately for this handshake, else undefined. */
  check(local: IpAddr, localPort: number, remote: IpAddr, remotePort: number, peerIsn: number, cookie: number, now: number): TcpOptions | undefined {
    const t = cookie >>> 27;
    const enc = (cookie >>> 20) & 0x7f;
    const age = (this.period(now) - t + 32) % 32;
    if (age > 1) return undefined;
    if ((cookie & 0xfffff) !== this.mac(local, localPort, remote, remotePort, peerIsn, t, enc)) return undefined;
    const ws = (enc >>> 2) & 0xf;
    const opts: TcpOptions = { mss: MSS_TABLE[enc & 3] ?? 536 };
    if (ws !== NO_SCALE) opts.windowScale = ws;
    if ((enc >>> 6) & 1) opts.sackPermitted = true;
    return opts;
  }

  private period(now: number): number {
    return Math.floor(now / SynCookies.periodMs) & 0x1f;
  }

  private mac(local: IpAddr, localPort: number, remote: IpAddr, remotePort: number, peerIsn: number, t: number, enc: number): number {
    return hashTuple(this.key, local, localPort, remote, remotePort, peerIsn, (t << 8) | enc) & 0xfffff;
  }
}
