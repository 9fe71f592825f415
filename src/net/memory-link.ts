// Two NetDevices joined by a wire in memory, for tests: a frame sent on one arrives at the other
// after `latencyMs` of the injected Timers (0 still means "later", never inside the sender's call).

import type { Timers } from '../clock.ts';
import { copyBytes, type MacAddr } from './addr.ts';
import type { NetDevice } from './device.ts';

class LinkEnd implements NetDevice {
  receiver: (frame: Uint8Array) => void = () => {};
  peer: LinkEnd | undefined;
  closed = false;
  readonly sent: Uint8Array[] = [];

  constructor(
    readonly mac: MacAddr,
    readonly mtu: number,
    private readonly timers: Timers,
    private readonly latencyMs: number,
  ) {}

  send(frame: Uint8Array): void {
    if (this.closed) return;
    const copy = copyBytes(frame);
    this.sent.push(copy);
    const peer = this.peer;
    this.timers.setTimer(this.latencyMs, () => {
      if (peer !== undefined && !peer.closed) peer.receiver(copy);
    });
  }

  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

export type MemoryLinkEnd = NetDevice & { readonly sent: readonly Uint8Array[] };

export function createMemoryLink(
  timers: Timers,
  macA: MacAddr,
  macB: MacAddr,
  opts: { mtu?: number; latencyMs?: number } = {},
): [MemoryLinkEnd, MemoryLinkEnd] {
  const mtu = opts.mtu ?? 1500;
  const a = new LinkEnd(macA, mtu, timers, opts.latencyMs ?? 0);
  const b = new LinkEnd(macB, mtu, timers, opts.latencyMs ?? 0);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
