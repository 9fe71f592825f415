// A SYN flood from one source is dropped early (RFC 4987 §3 lists the defences; this is the "filtering" one): once
// a listener answers with cookies, each source address may have at most `perSecond` cookies (burst as many), and
// what it sends beyond is dropped before any answer is built or written. A flood from many sources passes here
// (each source has a budget of its own) and is met by the cookies' cheapness instead.
//
// The budgets live in a fixed table of `slots` token buckets indexed by a keyed hash of the address (SipHash-2-4
// under a secret of this run, so that nobody can aim forged sources at the slot of a chosen client), two typed
// arrays: no allocation and no table upkeep per SYN, however many sources a flood forges. Two sources that share a
// slot share a budget; with 4096 slots a forged-source flood of 100 000 SYNs/s puts ~25/s in each, far below it.

import { isIpv4, type IpAddr } from '../addr.ts';
import { sipHash24, type SipKey } from '../siphash.ts';

export interface SynFloodOptions {
  /** Cookies per second one source address may have (and as many back to back). */
  perSecond: number;
  /** Budgets kept (a power of two): sources are spread over them by a hash of the address. */
  slots: number;
}

export const defaultSynFloodOptions: SynFloodOptions = { perSecond: 1000, slots: 4096 };
/** The most slots a table may have (8 MiB of budgets). */
export const MAX_SYN_FLOOD_SLOTS = 1 << 20;

const words = new Uint32Array(4);
const MASK32 = 0xffffffffn;

/** 32 bits of SipHash-2-4 of an address under `key`. */
function slotHash(key: SipKey, a: IpAddr): number {
  if (isIpv4(a)) {
    words[0] = a >>> 0;
    return sipHash24(key, words, 1);
  }
  words[0] = Number((a >> 96n) & MASK32);
  words[1] = Number((a >> 64n) & MASK32);
  words[2] = Number((a >> 32n) & MASK32);
  words[3] = Number(a & MASK32);
  return sipHash24(key, words, 4);
}

export class SynFloodGuard {
  private readonly tokens: Float64Array;
  /** When each slot was last refilled; NaN: never used (a full bucket). */
  private readonly refilledAt: Float64Array;
  private readonly shift: number;

  constructor(
    private readonly key: SipKey,
    readonly options: SynFloodOptions = defaultSynFloodOptions,
  ) {
    const slots = options.slots;
    if (!(slots >= 1 && (slots & (slots - 1)) === 0 && slots <= MAX_SYN_FLOOD_SLOTS)) throw new RangeError(`synFlood.slots must be a power of two up to ${MAX_SYN_FLOOD_SLOTS}, not ${slots}`);
    this.tokens = new Float64Array(slots);
    this.refilledAt = new Float64Array(slots).fill(NaN);
    this.shift = 32 - Math.log2(slots);
  }

  /** Whether a SYN from `src` may be answered with a cookie at `now`. */
  allow(src: IpAddr, now: number): boolean {
    const i = this.shift === 32 ? 0 : slotHash(this.key, src) >>> this.shift;
    const rate = this.options.perSecond;
    const last = this.refilledAt[i] ?? NaN;
    let t = Number.isNaN(last) ? rate : Math.min(rate, (this.tokens[i] ?? 0) + ((now - last) * rate) / 1000);
    this.refilledAt[i] = now;
    if (t < 1) {
      this.tokens[i] = t;
      return false;
    }
    t -= 1;
    this.tokens[i] = t;
    return true;
  }
}
