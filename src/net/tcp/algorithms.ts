// The congestion controllers and loss recoveries a connection can choose, by name.

import type { CongestionControl, CongestionControlName } from './congestion-control.ts';
import type { LossRecovery, LossRecoveryName, RecoverySender } from './loss-recovery.ts';
import { NewRenoRecovery } from './newreno-recovery.ts';
import { CubicCongestion } from './cubic.ts';
import { RenoCongestion } from './reno.ts';
import { SackRecovery } from './sack-recovery.ts';

export const CONGESTION_CONTROLS: readonly CongestionControlName[] = ['cubic', 'newreno'];
export const LOSS_RECOVERIES: readonly LossRecoveryName[] = ['sack', 'newreno'];

export function isCongestionControl(name: string): name is CongestionControlName {
  return (CONGESTION_CONTROLS as readonly string[]).includes(name);
}

export function createCongestionControl(name: CongestionControlName): CongestionControl {
  switch (name) {
    case 'cubic':
      return new CubicCongestion();
    case 'newreno':
      return new RenoCongestion();
  }
}

/** The recovery `name` asks for; SACK recovery only when the peer agreed to SACK (RFC 2018 §2), else NewReno. */
export function createLossRecovery(name: LossRecoveryName, sackAgreed: boolean, snd: RecoverySender, cc: CongestionControl): LossRecovery {
  return name === 'sack' && sackAgreed ? new SackRecovery(snd, cc) : new NewRenoRecovery(snd, cc);
}
