// One TCP connection (the TCB of RFC 9293 §3.3.1) as the application and the TCP layer use it: the user calls
// (§3.10.1–§3.10.5: SEND, RECEIVE, CLOSE, ABORT), output, and the timers, over the state and input of
// `ConnectionInput` (connection-input.ts). Application calls only change buffers and flags; the connection then
// tells its host it has work, and the host runs `output` with the time.

import { earliest } from '../deadline.ts';
import { ConnectionInput, EMPTY, type TcpHost } from './connection-input.ts';
import { seqAdd, seqGe, seqGt, seqLt } from './seq.ts';
import {
  TCP_STATES, defaultTcpConfig, tcpStateOrder, type CloseReason, type ConnectionChoices, type Endpoint, type TcpConfig, type TcpConnectionInfo,
  type TcpState,
} from './tcp-config.ts';
import { ACK, RST, SYN, type TcpSegment } from './tcp-wire.ts';
import { ECE } from './ecn.ts';

export { MIN_SND_MSS } from './handshake.ts';
export { TCP_STATES, defaultTcpConfig, tcpStateOrder, type CloseReason, type ConnectionChoices, type Endpoint, type TcpConfig, type TcpConnectionInfo, type TcpHost, type TcpState };

export class TcpConnection extends ConnectionInput {
  private issTaken = !this.active;
  /** The last ICMP soft error about this connection (RFC 1122 §4.2.3.9): told if the connection then fails. */
  private icmpSoftError: string | undefined;

  /** True until an active open has taken its ISN (`open`). */
  get awaitingIss(): boolean {
    return !this.issTaken && this.state === 'SYN_SENT';
  }

  /** An active open takes its ISN (RFC 6528) when its first SYN is due: the layer computes it with the time. */
  open(iss: number): void {
    this.snd.open(iss);
    this.issTaken = true;
  }

  /**
   * In TIME_WAIT, whether `seg` is a SYN that may open a new connection of the same 4-tuple (RFC 6191 §2): with
   * timestamps on both, its TSval is newer than the last one seen; without them, its sequence number is past
   * everything of the old connection (RCV.NXT).
   */
  takesNewIncarnation(seg: TcpSegment): boolean {
    if (this.state !== 'TIME_WAIT' || (seg.flags & (SYN | ACK | RST)) !== SYN) return false;
    const ts = seg.options.timestamp;
    if (this.ts.enabled && ts !== undefined) return seqGt(ts.value, this.ts.recent);
    return seqGt(seg.seq, this.rcv.nxt);
  }

  // ——— ICMP errors and the path (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191, RFC 8201) ———

  /** RFC 5927 §4.1: whether `seq`, quoted by an ICMP error, is of what we have in flight (SND.UNA ≤ seq < SND.MAX). */
  quotesInFlight(seq: number): boolean {
    return seqGe(seq, this.snd.una) && seqLt(seq, this.snd.max);
  }

  /** A hard error (protocol or port unreachable) during the handshake ends it (RFC 1122 §4.2.3.9); true if it did. */
  icmpHardError(description: string): boolean {
    if (this.state !== 'SYN_SENT' && this.state !== 'SYN_RECEIVED') return false;
    this.icmpSoftError = description;
    this.destroy('refused');
    return true;
  }

  /** A soft error, or a hard one once synchronized (RFC 5461 §4.1): kept, and told if the connection then times out. */
  icmpSoftErrorSeen(description: string): void {
    this.icmpSoftError = description;
  }

  get softError(): string | undefined {
    return this.icmpSoftError;
  }

  /** Why the connection failed, with the ICMP error that came before, e.g. "timeout (host unreachable)". */
  get errorText(): string | undefined {
    const e = this.error;
    return e === undefined ? undefined : this.icmpSoftError === undefined ? e : `${e} (${this.icmpSoftError})`;
  }

  /** The path MSS (what a learned path MTU leaves for a segment); what went out too big goes again at once. */
  setPathMss(mss: number): void {
    if (this.snd.setPathMss(mss)) this.host.dirty(this);
  }

  // ——— What the application and status displays read ———

  /** Bytes the application may still queue. */
  get sendSpace(): number {
    return this.canSend ? this.snd.free : 0;
  }

  get canSend(): boolean {
    return !this.snd.closing && (this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT' || this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED');
  }

  /** Bytes waiting to be read. */
  get readable(): number {
    return this.rcv.readable;
  }

  /** True once everything the peer sent has been read and it sent FIN (or the connection is gone). */
  get atEof(): boolean {
    return this.rcv.readable === 0 && (this.rcv.finReceived || this.state === 'CLOSED');
  }

  /** Bytes queued but not yet acknowledged. */
  get unacknowledged(): number {
    return this.snd.unacknowledged;
  }

  get established(): boolean {
    return this.state !== 'SYN_SENT' && this.state !== 'SYN_RECEIVED' && this.state !== 'CLOSED';
  }

  get rtoMs(): number {
    return this.snd.rtoMs;
  }

  get srttMs(): number | undefined {
    return this.snd.srttMs;
  }

  get sackEnabled(): boolean {
    return this.hs.sackOk;
  }

  get timestampsEnabled(): boolean {
    return this.ts.enabled;
  }

  get outOfOrderSegments(): number {
    return this.rcv.outOfOrderSegments;
  }

  info(): TcpConnectionInfo {
    const s = this.snd;
    return {
      state: this.state, local: { ...this.local }, remote: { ...this.remote },
      sndUna: s.una, sndNxt: s.nxt, sndMax: s.max, sndWnd: s.window, sndMss: s.peerMss, sndShift: s.windowShift, rcvShift: this.rcv.windowShift,
      rcvNxt: this.rcv.nxt, rcvWnd: this.rcv.window,
      cwnd: s.cc.cwnd, ssthresh: s.cc.ssthresh, congestionControl: s.cc.name, lossRecovery: s.recoveryInUse, inRecovery: s.inRecovery,
      rtoMs: s.rtoMs, srttMs: s.srttMs, unacknowledged: s.unacknowledged, readable: this.rcv.readable,
      sack: this.hs.sackOk, timestamps: this.ts.enabled,
    };
  }

  // ——— The application's side ———

  /** Nagle off for this connection (RFC 9293 §3.7.4). */
  get noDelay(): boolean {
    return this.snd.noDelay;
  }

  set noDelay(off: boolean) {
    this.snd.noDelay = off;
    this.host.dirty(this); // a segment Nagle held back may go now
  }

  /** Keep-alive idle time for this connection (0: off). */
  get keepAliveIdleMs(): number {
    return this.keepAlive.idleMs;
  }

  set keepAliveIdleMs(ms: number) {
    this.keepAlive.idleMs = ms;
  }

  /** Queues bytes to send; returns how many were taken (RFC 9293 §3.10.2 SEND). */
  write(data: Uint8Array): number {
    if (!this.canSend) return 0;
    const n = this.snd.write(data);
    if (n > 0) this.host.dirty(this);
    return n;
  }

  /** Takes up to `max` received bytes; the window opens as the application reads (§3.10.3 RECEIVE). */
  read(max = Infinity): Uint8Array {
    const out = this.rcv.read(max);
    if (out.length > 0 && this.rcv.ackWanted) this.host.dirty(this);
    return out;
  }

  /** Graceful close: a FIN after the queued data; unread and later data is dropped (§3.10.4 CLOSE). */
  close(): void {
    this.rcv.closeRead();
    this.shutdownWrite();
  }

  /** Closes only our sending direction (half-close): reads continue until the peer's FIN. */
  shutdownWrite(): void {
    if (this.state === 'SYN_SENT') {
      this.destroy(undefined);
      return;
    }
    this.snd.queueFin();
    this.host.dirty(this);
  }

  /**
   * Abort (§3.10.5 ABORT): everything released now; the RST to the peer (if it knows us) goes out with the
   * next output, which has the time.
   */
  abort(): void {
    if (this.state === 'CLOSED') return;
    if (this.state !== 'SYN_SENT' && this.state !== 'TIME_WAIT') this.host.resetLater(this, this.snd.nxt);
    this.destroy('aborted');
  }

  // ——— Output ———

  /** Sends whatever is due: SYN, retransmissions, new data within the windows, FIN, or a lone ACK. */
  output(now: number): void {
    const st = this.state;
    if (st === 'CLOSED') return;
    if (st === 'TIME_WAIT') {
      if (this.rcv.ackWanted) this.sendAck(now);
      return;
    }
    if (st === 'SYN_SENT' || st === 'SYN_RECEIVED') {
      if (!this.hs.sent || this.rcv.ackWanted) {
        const syn = this.hs.syn(now, st === 'SYN_RECEIVED');
        // RFC 3168 §6.1.1: an ECN-setup SYN asks (ECE and CWR); the SYN-ACK agrees with ECE alone.
        const ecnFlags = st === 'SYN_SENT' ? this.ecn.synFlags() : this.ecn.agreed ? ECE : 0;
        this.emitRaw({ ...syn, flags: syn.flags | ecnFlags, payload: EMPTY }, now);
        this.hs.synSent(now);
      }
      return;
    }
    const sent = this.snd.output(now);
    if (!sent && this.rcv.ackDue(now)) this.sendAck(now);
    this.keepAlive.arm(this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT');
  }

  // ——— Timers ———

  /** The next time `poll` has something to do. */
  nextDeadline(): number | undefined {
    return earliest(this.snd.rtoDeadline, this.snd.probeDeadline, this.snd.persistDeadline, this.timeWaitAt, this.finWait2At, this.rcv.delayedAckAt, this.keepAlive.deadline);
  }

  poll(now: number): void {
    if (this.timeWaitAt !== undefined && now >= this.timeWaitAt) {
      this.host.count('tcp.time_wait_expired');
      this.destroy(undefined);
      return;
    }
    if (this.finWait2At !== undefined && now >= this.finWait2At) {
      this.host.count('tcp.fin_wait_2_timeout');
      this.destroy('timeout');
      return;
    }
    if (this.state !== 'SYN_SENT' && this.state !== 'SYN_RECEIVED') this.snd.probeTail(now);
    if (this.snd.rtoDue(now)) {
      const handshake = this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED';
      if (this.snd.retransmitTimeout(now, handshake) === 'give-up') {
        if (!handshake) this.sendRst(this.snd.nxt, now);
        this.destroy('timeout');
        return;
      }
      if (handshake) this.hs.sent = false;
    }
    if (this.snd.probeWindow(now) === 'give-up') {
      this.sendRst(this.snd.nxt, now);
      this.destroy('timeout');
      return;
    }
    const k = this.keepAlive.fire(now, this.snd.inFlight);
    if (k === 'give-up') {
      this.host.count('tcp.keepalive_timeout');
      this.destroy('timeout');
      return;
    }
    if (k === 'probe') {
      // RFC 9293 §3.8.4: a segment the peer must ACK (SEG.SEQ = SND.NXT − 1, no data).
      this.host.count('tcp.keepalive_probe');
      this.emit(seqAdd(this.snd.nxt, -1), this.rcv.nxt, ACK, EMPTY, now, 0);
    }
    this.output(now);
    if (this.state !== 'TIME_WAIT' && this.state !== 'CLOSED') this.snd.keepTimerRunning(now);
  }

}
