// A keyed hash of a connection's 4-tuple and two more words, for SYN cookies (RFC 4987 §3.6) and initial sequence
// numbers (RFC 6528 §3's F()): SipHash-2-4, with the words written into one buffer kept for the purpose.

import { isIpv4, type IpAddr } from '../addr.ts';
import { sipHash24, type SipKey } from '../siphash.ts';

const words = new Uint32Array(12);
const MASK32 = 0xffffffffn;

function put(at: number, a: IpAddr): number {
  if (isIpv4(a)) {
    words[at] = a >>> 0;
    return at + 1;
  }
  words[at] = Number((a >> 96n) & MASK32);
  words[at + 1] = Number((a >> 64n) & MASK32);
  words[at + 2] = Number((a >> 32n) & MASK32);
  words[at + 3] = Number(a & MASK32);
  return at + 4;
}

/** 32 bits of SipHash-2-4 under `key` over (local, remote, the two ports, `a`, `b`). */
export function hashTuple(key: SipKey, local: IpAddr, localPort: number, remote: IpAddr, remotePort: number, a: number, b: number): number {
  let n = put(0, local);
  n = put(n, remote);
  words[n++] = ((localPort << 16) | remotePort) >>> 0;
  words[n++] = a >>> 0;
  words[n++] = b >>> 0;
  return sipHash24(key, words, n);
}
