// Explicit Congestion Notification for one connection (RFC 3168 §6.1): agreed in the handshake (an ECN-setup SYN
// carries ECE and CWR, its SYN-ACK ECE alone), then our new data leaves marked ECT(0); a router's CE mark on
// what we receive is echoed with ECE on every ACK until the peer's CWR (§6.1.3); an ECE we receive is answered
// as a loss would be, once per window of data, without any retransmission, and our next new segment carries CWR
// (§6.1.2). `off`: never; `passive` (the default, as Linux's tcp_ecn=2): only when the peer asks; `on`: we ask too.

import { seqLt } from './seq.ts';

export const ECE = 0x40;
export const CWR = 0x80;
/** IP ECN codepoints (RFC 3168 §5). */
export const ECN_NOT_ECT = 0;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

export type EcnMode = 'off' | 'passive' | 'on';

export class EcnState {
  agreed = false;
  /** The receiver saw CE: ECE on every ACK until the peer's CWR. */
  private echoing = false;
  /** An ECE was answered: no new response until SND.UNA passes this (one per window, §6.1.2). */
  private answeredUntil: number | undefined;
  private cwrPending = false;

  constructor(readonly mode: EcnMode) {}

  /** The flags of our SYN: an ECN-setup SYN when we ask (§6.1.1). */
  synFlags(): number {
    return this.mode === 'on' ? ECE | CWR : 0;
  }

  /** The peer's SYN (passive open): ECN is agreed when it asks and we take it; the SYN-ACK's flags (ECE alone). */
  peerSyn(flags: number): number {
    this.agreed = this.mode !== 'off' && (flags & (ECE | CWR)) === (ECE | CWR);
    return this.agreed ? ECE : 0;
  }

  /** The SYN-ACK to our SYN (active open): agreed when we asked and it has ECE without CWR (§6.1.1). */
  peerSynAck(flags: number): void {
    this.agreed = this.mode === 'on' && (flags & (ECE | CWR)) === ECE;
  }

  /** A segment arrived with IP ECN codepoint `ecn`: CE starts the echo, the peer's CWR ends it (§6.1.3). */
  received(flags: number, ecn: number): boolean {
    if (!this.agreed) return false;
    if (flags & CWR) this.echoing = false;
    if (ecn !== ECN_CE) return false;
    this.echoing = true;
    return true;
  }

  /** ECE on our ACKs while echoing. */
  ackFlags(): number {
    return this.agreed && this.echoing ? ECE : 0;
  }

  /** An ACK with `flags` moved SND.UNA to `una` (SND.MAX `max`): true when its ECE calls for a congestion response now. */
  onAck(flags: number, una: number, max: number): boolean {
    // The window answered is over once SND.UNA reaches its end; forgotten then, so that sequence numbers
    // wrapping round (2 GiB on) never make an old mark look like the current window's.
    if (this.answeredUntil !== undefined && !seqLt(una, this.answeredUntil)) this.answeredUntil = undefined;
    if (!this.agreed || !(flags & ECE)) return false;
    if (this.answeredUntil !== undefined) return false;
    this.answeredUntil = max;
    this.cwrPending = true;
    return true;
  }

  /** The flags (CWR, once after a response) and whether to mark ECT(0), for a segment of new data or not. */
  dataFlags(newData: boolean): number {
    if (!this.agreed || !newData || !this.cwrPending) return 0;
    this.cwrPending = false;
    return CWR;
  }

  /** §6.1.4, §6.1.5: only new data is sent ECN-capable: no SYN, pure ACK or retransmission. */
  ect(newData: boolean): boolean {
    return this.agreed && newData;
  }
}
