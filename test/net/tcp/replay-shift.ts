// What the replays of recorded conversations (replay-linux.test.ts over IPv4, replay-linux-ipv6.test.ts) share:
// moving a recorded peer segment's numbers onto the replaying stack's, and letting the event loop catch up.

import { seqAdd } from '../../../src/net/tcp/seq.ts';

/**
 * Moves, in place, the ACK number of the TCP header at `off` and its SACK blocks by `seqDelta` (they name our
 * sequence numbers) and its TSecr by `tsDelta` (it echoes our TSval); the caller recomputes the checksum.
 */
export function shiftPeerNumbers(v: DataView, off: number, seqDelta: number, tsDelta: number): void {
  const move = (at: number, delta: number): void => v.setUint32(at, seqAdd(v.getUint32(at), delta));
  move(off + 8, seqDelta);
  const end = off + ((v.getUint8(off + 12) >>> 4) * 4);
  for (let i = off + 20; i < end;) {
    const kind = v.getUint8(i);
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = v.getUint8(i + 1);
    // SACK blocks (kind 5) hold sequence numbers of ours; the timestamps option (kind 8) echoes our TSval.
    if (kind === 5) for (let j = i + 2; j + 4 <= i + len; j += 4) move(j, seqDelta);
    if (kind === 8 && len === 10) move(i + 6, tsDelta);
    i += Math.max(2, len);
  }
}

/** Lets promise continuations and I/O callbacks (the store's file reads) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
