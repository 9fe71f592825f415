// Tail loss probes (RFC 8985 §7): when the last segments of a flight are lost, no ACK comes back to tell, and
// only the retransmission timer would repair them. Instead, about two round trips after the last send, one probe
// goes out: new data if there is some and the peer's window takes it, else the last segment again. Its ACK (and
// SACK) then starts ordinary recovery. One probe per tail; after it, the retransmission timer as before.
// With SACK only (the probe's SACK is what tells the loss, §7.1).

import { seqAdd, seqDiff, seqLt } from './seq.ts';
import type { RecoverySender } from './loss-recovery.ts';

/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time, added when one segment alone is in flight. */
export const WC_DEL_ACK_MS = 200;
/** The probe timeout without an RTT sample yet (§7.2). */
export const PTO_WITHOUT_SRTT_MS = 1000;

/** What a probe needs of the sender besides what recovery does. */
export interface ProbeSender extends RecoverySender {
  /** SND.NXT and the right edge of the peer's window (SND.UNA + SND.WND). */
  readonly nxt: number;
  readonly windowEnd: number;
}

export class TailLossProbe {
  private at: number | undefined;
  /** TLP.end_seq (§7.3): SND.MAX after the probe, while its episode lasts. */
  private endSeq: number | undefined;
  private probeWasRetransmission = false;

  get deadline(): number | undefined {
    return this.at;
  }

  /** An episode is under way: a probe went out and its ACK has not come. */
  get outstanding(): boolean {
    return this.endSeq !== undefined;
  }

  /**
   * §7.2: (re)schedules the probe timeout after new data went out or an ACK advanced SND.UNA: PTO = 2·SRTT, plus
   * WCDelAckT when one segment alone is in flight, and never after the retransmission timer (`rtoAt`).
   */
  arm(now: number, srttMs: number | undefined, rtoAt: number | undefined, flightSegments: number): void {
    if (this.endSeq !== undefined) return; // one probe per tail (§7.3)
    let pto = srttMs === undefined ? PTO_WITHOUT_SRTT_MS : 2 * srttMs;
    if (flightSegments <= 1) pto += WC_DEL_ACK_MS;
    this.at = Math.min(now + Math.max(1, pto), rtoAt ?? Infinity);
  }

  disarm(): void {
    this.at = undefined;
  }

  /** The episode ends (a timeout, or recovery took over). */
  reset(): void {
    this.at = undefined;
    this.endSeq = undefined;
  }

  due(now: number): boolean {
    return this.at !== undefined && now >= this.at;
  }

  /**
   * §7.3: the probe: one segment of new data when there is some and the peer's window takes it, else the last
   * segment sent, again. Returns whether anything went out.
   */
  fire(s: ProbeSender, now: number): boolean {
    this.at = undefined;
    const outstanding = seqDiff(s.max, s.una);
    if (outstanding <= 0) return false;
    let retransmission = false;
    const unsent = seqDiff(s.dataEnd, s.nxt);
    const room = seqDiff(s.windowEnd, s.nxt);
    if (unsent > 0 && room > 0 && s.nxt === s.max) {
      s.transmit(s.nxt, Math.min(s.segPayload, unsent, room), now);
    } else {
      // The last segment's worth of data (and the FIN, which transmit adds when the data ends there).
      const sentEnd = seqLt(s.max, s.dataEnd) ? s.max : s.dataEnd;
      const dataOut = Math.max(0, seqDiff(sentEnd, s.una));
      const len = Math.min(s.segPayload, dataOut);
      s.transmit(seqAdd(s.una, dataOut - len), len, now);
      retransmission = true;
    }
    this.endSeq = s.max;
    this.probeWasRetransmission = retransmission;
    s.count('tcp.tlp');
    return true;
  }

  /**
   * An ACK up to `ack`: once it covers the probe the episode ends. §7.4: a probe that was a retransmission and
   * was needed means a loss was repaired ('repaired': the caller answers it as congestion, once). Without D-SACK
   * to tell a needless probe, every such one counts as needed (the cautious side). When recovery began during
   * the episode (the probe's SACK showed the hole), recovery's own response answers the loss: the episode ends
   * without a second one.
   */
  onAck(ack: number, inRecovery: boolean): 'none' | 'repaired' | 'done' {
    if (this.endSeq !== undefined && inRecovery) this.endSeq = undefined;
    if (this.endSeq === undefined || seqLt(ack, this.endSeq)) return 'none';
    this.endSeq = undefined;
    return this.probeWasRetransmission ? 'repaired' : 'done';
  }
}
