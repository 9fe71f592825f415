// The congestion controllers and loss recoveries a connection can choose, by name.

import type { CongestionControl, CongestionControlName } from './congestion-control.ts';
import type { LossRecovery, LossRecoveryName, RecoverySender } from './loss-recovery.ts';
import { NewRenoRecovery } from './newreno-recovery.ts';
import { CubicCongestion } from './cubic.ts';
import { RenoCongestion } from './reno.ts';
import { RackRecovery } from './rack-recovery.ts';
import { SackRecovery } from './sack-recovery.ts';

export const CONGESTION_CONTROLS: readonly CongestionControlName[] = ['cubic', 'newreno'];
export const LOSS_RECOVERIES: readonly LossRecoveryName[] = ['rack', 'sack', 'newreno'];

export function isCongestionControl(name: string): name is CongestionControlName {
  return (CONGESTION_CONTROLS as readonly string[]).includes(name);
}

export function isLossRecovery(name: string): name is LossRecoveryName {
  return (LOSS_RECOVERIES as readonly string[]).includes(name);
}

export function createCongestionControl(name: CongestionControlName): CongestionControl {
  switch (name) {
    case 'cubic':
      return new CubicCongestion();
    case 'newreno':
      return new RenoCongestion();
  }
}

/**
 * The recovery `name` asks for: 'rack' (RACK-TLP, RFC 8985) and 'sack' (RFC 6675's DupThresh) only when the peer
 * agreed to SACK (RFC 2018 §2), else NewReno.
 */
export function createLossRecovery(name: LossRecoveryName, sackAgreed: boolean, snd: RecoverySender, cc: CongestionControl): LossRecovery {
  if (sackAgreed && name === 'rack') return new RackRecovery(snd, cc);
  if (sackAgreed && name === 'sack') return new SackRecovery(snd, cc);
  return new NewRenoRecovery(snd, cc);
}
