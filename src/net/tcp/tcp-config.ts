// What a TCP connection is configured with, and the few types every part of it shares.

import type { IpAddr } from '../addr.ts';
import type { CongestionControlName } from './congestion-control.ts';
import type { LossRecoveryName } from './loss-recovery.ts';
import type { EcnMode } from './ecn.ts';

export type TcpState =
  | 'SYN_SENT' | 'SYN_RECEIVED' | 'ESTABLISHED' | 'FIN_WAIT_1' | 'FIN_WAIT_2'
  | 'CLOSE_WAIT' | 'CLOSING' | 'LAST_ACK' | 'TIME_WAIT' | 'CLOSED';

/** Every TCP state, in the order of a connection's life; a state added to TcpState must be added here. */
const STATE_ORDER: Readonly<Record<TcpState, number>> = {
  SYN_SENT: 0, SYN_RECEIVED: 1, ESTABLISHED: 2, FIN_WAIT_1: 3, FIN_WAIT_2: 4,
  CLOSE_WAIT: 5, CLOSING: 6, LAST_ACK: 7, TIME_WAIT: 8, CLOSED: 9,
};
export const TCP_STATES = (Object.keys(STATE_ORDER) as TcpState[]).sort((a, b) => STATE_ORDER[a] - STATE_ORDER[b]);

export function tcpStateOrder(s: TcpState): number {
  return STATE_ORDER[s];
}

export interface TcpConfig {
  /** Our MSS (MTU − 40), announced in our SYN (RFC 9293 §3.7.1). */
  mss: number;
  /** Bytes the application may queue for sending. */
  sendBufferSize: number;
  /** Bytes held for the application; the receive window is what is free of it. */
  receiveBufferSize: number;
  /** Out-of-order segments held per connection (their bytes never exceed the receive window). */
  maxOutOfOrderSegments: number;
  /** RFC 6298 (2.1) initial RTO. */
  initialRtoMs: number;
  /** The RTO floor: RFC 6298 (2.4) suggests 1 s; a lower one keeps a tail loss on a fast link short. */
  minRtoMs: number;
  maxRtoMs: number;
  /** Retransmissions of data or FIN before the connection is given up. */
  maxRetransmits: number;
  /** Retransmissions of a SYN or SYN-ACK before the attempt is given up. */
  synRetries: number;
  /** 2×MSL (RFC 9293 §3.4.2). */
  timeWaitMs: number;
  /** How long FIN_WAIT_2 may wait for the peer's FIN once the application is gone (as Linux's tcp_fin_timeout). */
  finWait2TimeoutMs: number;
  /** How long the peer may keep its window shut while we have data, before the connection is given up. */
  zeroWindowTimeoutMs: number;
  /** Delayed ACK timer (RFC 9293 §3.8.6.3: under 0.5 s; an ACK at least every second full segment). */
  delayedAckMs: number;
  /** Offer window scaling (RFC 7323 §2), timestamps (RFC 7323 §3) and SACK (RFC 2018). */
  windowScaling: boolean;
  timestamps: boolean;
  sack: boolean;
  /** Nagle's algorithm off (RFC 9293 §3.7.4); connections may change it. */
  noDelay: boolean;
  /** Keep-alive (RFC 9293 §3.8.4): idle time before probing (0: off), probe interval, probes before giving up. */
  keepAliveIdleMs: number;
  keepAliveIntervalMs: number;
  keepAliveProbes: number;
  /** The device finishes TCP checksums (virtio-net NEEDS_CSUM): segments leave with the pseudo-header sum only. */
  checksumOffload: boolean;
  /** The largest TCP/IPv4 packet the device cuts into segments itself (TSO); 0: every segment is one MSS at most. */
  tsoMaxBytes: number;
  /** How the congestion window grows and shrinks (a connection may choose its own). */
  congestionControl: CongestionControlName;
  /**
   * How losses are found and repaired, when the peer agrees to SACK (else `newreno`): `rack` (RACK-TLP, RFC 8985:
   * by time), `sack` (RFC 6675: DupThresh SACKed segments), or `newreno` (RFC 6582, SACK blocks unused even when
   * agreed). A connection may choose its own.
   */
  lossRecovery: LossRecoveryName;
  /** Tail loss probes (RFC 8985 §7) with SACK (either `rack` or `sack`). */
  tailLossProbe: boolean;
  /** ECN (RFC 3168): `passive` takes it when the peer asks, `on` asks too, `off` never. */
  ecn: EcnMode;
}

/** The least MSS we send with, whatever the peer announces (as Linux's TCP_MIN_MSS). */
export const MIN_SND_MSS = 88;

export const defaultTcpConfig: TcpConfig = {
  mss: 1460,
  sendBufferSize: 256 * 1024,
  receiveBufferSize: 256 * 1024,
  maxOutOfOrderSegments: 512,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 60_000,
  maxRetransmits: 12,
  synRetries: 6,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  zeroWindowTimeoutMs: 300_000,
  delayedAckMs: 40,
  windowScaling: true,
  timestamps: true,
  sack: true,
  checksumOffload: false,
  tsoMaxBytes: 0,
  noDelay: false,
  keepAliveIdleMs: 0,
  keepAliveIntervalMs: 75_000,
  keepAliveProbes: 9,
  congestionControl: 'cubic',
  lossRecovery: 'rack',
  tailLossProbe: true,
  ecn: 'passive',
};

export interface Endpoint {
  address: IpAddr;
  port: number;
}

export type CloseReason = 'reset' | 'timeout' | 'refused' | 'aborted' | undefined;

/** A connection's own choice of algorithms, over the layer's defaults. */
export interface ConnectionChoices {
  congestionControl?: CongestionControlName;
  lossRecovery?: LossRecoveryName;
}

/** What status displays and metrics read of a connection: a copy, taken when asked for. */
export interface TcpConnectionInfo {
  state: TcpState;
  local: Endpoint;
  remote: Endpoint;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd: number;
  /** The peer's MSS as agreed, and the window shifts each way (RFC 7323; 0 when not agreed). */
  sndMss: number;
  sndShift: number;
  rcvShift: number;
  rcvNxt: number;
  rcvWnd: number;
  cwnd: number;
  ssthresh: number;
  congestionControl: CongestionControlName;
  lossRecovery: LossRecoveryName;
  inRecovery: boolean;
  rtoMs: number;
  srttMs: number | undefined;
  unacknowledged: number;
  readable: number;
  sack: boolean;
  timestamps: boolean;
}
