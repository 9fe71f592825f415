// A fault injector around any NetDevice, both directions, deterministic for a seed: frames are dropped,
// duplicated, reordered, corrupted and delayed with the probabilities given (`--fault`).

import type { Timers } from '../clock.ts';
import { seededRandom, type Random } from '../random.ts';
import { copyBytes, type MacAddr } from './addr.ts';
import type { Counters } from './counters.ts';
import type { NetDevice } from './device.ts';
import { ETH_HEADER_LEN } from './ethernet.ts';

export interface FaultSpec {
  drop: number;
  dup: number;
  reorder: number;
  corrupt: number;
  /** Every frame waits this long; a reordered one waits twice as long plus a millisecond. */
  delayMs: number;
  seed: number;
}

export const noFaults: FaultSpec = { drop: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, seed: 1 };

/** Parses `drop=0.05,dup=0.01,reorder=0.05,corrupt=0.01,delay=2ms,seed=7`; a string is an error message. */
export function parseFaultSpec(text: string): FaultSpec | string {
  const spec: FaultSpec = { ...noFaults };
  for (const part of text.split(',')) {
    const m = /^(drop|dup|reorder|corrupt|delay|seed)=([0-9.]+)(ms)?$/.exec(part.trim());
    if (!m) return `'${part}' is not one of drop=P, dup=P, reorder=P, corrupt=P, delay=Nms, seed=N`;
    const [, key, num, unit] = m;
    const v = Number(num);
    if (!Number.isFinite(v)) return `'${part}' has no number`;
    if (key === 'delay') {
      if (unit === undefined && v !== 0) return `delay needs a unit: delay=${num}ms`;
      spec.delayMs = v;
    } else if (key === 'seed') {
      if (!Number.isInteger(v)) return 'seed must be a whole number';
      spec.seed = v;
    } else if (key !== undefined) {
      if (unit !== undefined || v < 0 || v > 1) return `${key} must be a probability from 0 to 1`;
      spec[key as 'drop' | 'dup' | 'reorder' | 'corrupt'] = v;
    }
  }
  return spec;
}

class Direction {
  constructor(
    private readonly name: 'tx' | 'rx',
    private readonly spec: FaultSpec,
    private readonly random: Random,
    private readonly timers: Timers,
    private readonly counters: Counters | undefined,
  ) {}

  pass(frame: Uint8Array, deliver: (f: Uint8Array) => void): void {
    const s = this.spec;
    const r = this.random;
    if (r() < s.drop) {
      this.counters?.inc(`fault.${this.name}_drop`);
      return;
    }
    const f = copyBytes(frame);
    if (r() < s.corrupt && f.length > ETH_HEADER_LEN) {
      // Past the Ethernet header, where only checksums can catch it.
      const i = ETH_HEADER_LEN + Math.floor(r() * (f.length - ETH_HEADER_LEN));
      f[i] = (f[i] ?? 0) ^ (1 + Math.floor(r() * 255));
      this.counters?.inc(`fault.${this.name}_corrupt`);
    }
    const copies = r() < s.dup ? 2 : 1;
    if (copies === 2) this.counters?.inc(`fault.${this.name}_dup`);
    for (let i = 0; i < copies; i++) {
      let wait = s.delayMs;
      if (r() < s.reorder) {
        wait = 2 * s.delayMs + 1;
        this.counters?.inc(`fault.${this.name}_reorder`);
      }
      if (wait > 0) this.timers.setTimer(wait, () => deliver(f));
      else deliver(f);
    }
  }
}

export class FaultyDevice implements NetDevice {
  private readonly tx: Direction;
  private readonly rx: Direction;

  constructor(
    private readonly inner: NetDevice,
    spec: FaultSpec,
    timers: Timers,
    counters?: Counters,
  ) {
    this.tx = new Direction('tx', spec, seededRandom(spec.seed), timers, counters);
    this.rx = new Direction('rx', spec, seededRandom(spec.seed ^ 0x5bd1e995), timers, counters);
  }

  get mac(): MacAddr {
    return this.inner.mac;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  send(frame: Uint8Array): void {
    this.tx.pass(frame, (f) => this.inner.send(f));
  }

  // On purpose, the device's RxInfo does not pass: a frame this injector may corrupt must have its checksum
  // checked, never vouched for. (src/stack/direct-stack.ts opens the TAP without offloads under --fault.)
  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.inner.onFrame((frame) => this.rx.pass(frame, receiver));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
