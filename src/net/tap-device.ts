// The TAP backend: a kernel TAP created with the tuntap2 fork, enslaved to a bridge and brought up
// (as Xen's `vif = [ "bridge=br0" ]` did). The kernel only moves frames between the TAP and the bridge.
// The package creates and configures the device; the frame path is ours: a worker thread reads the fd
// into a shared ring (src/net/tap-pump.ts); the main thread writes one frame per writeSync. (A writer
// thread with a ring of its own was measured: within the noise for bulk transfers, and ~12 MB of memory.)

import { execFileSync } from 'node:child_process';
import { existsSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { MacAddr } from './addr.ts';
import type { Counters } from './counters.ts';
import type { NetDevice } from './device.ts';
import { TapPump, type TapPumpStats } from './tap-pump.ts';

export interface TapOptions {
  bridge: string;
  mac: MacAddr;
  mtu?: number;
}

/** A start-up failure with a message that says what to do. */
export class DeviceSetupError extends Error {}

/** The parts of the package's Tuntap object we use. */
interface TapHandle {
  readonly name: string;
  readonly _fd: number;
  mtu: number;
  release(callback?: () => void): void;
}

/** The package ships TypeScript sources its types do not match; load it untyped and describe what we use. */
function loadTapClass(): new () => TapHandle {
  const mod: unknown = createRequire(import.meta.url)('@xiaobaidadada/node-tuntap2-wintun');
  const ctor = typeof mod === 'object' && mod !== null && 'LinuxTap' in mod ? mod.LinuxTap : undefined;
  if (typeof ctor !== 'function') throw new DeviceSetupError('the tuntap2 package has no LinuxTap');
  return ctor as new () => TapHandle;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
}

export function checkTapPrerequisites(bridge: string): void {
  if (!existsSync('/dev/net/tun')) {
    throw new DeviceSetupError('no /dev/net/tun: load the tun module (sudo modprobe tun), or run where TAP devices exist');
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new DeviceSetupError(`'${bridge}' is not a valid interface name`);
  // Asked of the kernel over netlink (`ip`), not /sys, which may show another namespace.
  let kind: string | undefined;
  try {
    const out = execFileSync('ip', ['-j', '-d', 'link', 'show', 'dev', bridge], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    const links: unknown = JSON.parse(out.toString());
    const first: unknown = Array.isArray(links) ? links[0] : undefined;
    const info: unknown = typeof first === 'object' && first !== null && 'linkinfo' in first ? first.linkinfo : undefined;
    kind = typeof info === 'object' && info !== null && 'info_kind' in info ? String(info.info_kind) : '';
  } catch {
    kind = undefined;
  }
  if (kind === undefined) throw new DeviceSetupError(`no bridge ${bridge}: create it with: sudo scripts/setup-bridge.sh up`);
  if (kind !== 'bridge') throw new DeviceSetupError(`${bridge} exists but is not a bridge`);
}

export class TapDevice implements NetDevice {
  readonly mtu: number;
  private receiver: (frame: Uint8Array) => void = () => {};
  private closed = false;
  private pump: TapPump | undefined;

  private constructor(
    private readonly tap: TapHandle,
    readonly mac: MacAddr,
    private readonly counters: Counters | undefined,
  ) {
    this.mtu = tap.mtu;
  }

  get name(): string {
    return this.tap.name;
  }

  /** Creates the TAP, enslaves it to the bridge and brings it up; throws DeviceSetupError with advice. */
  static open(opts: TapOptions, counters?: Counters): TapDevice {
    checkTapPrerequisites(opts.bridge);
    let handle: TapHandle;
    try {
      handle = new (loadTapClass())();
    } catch (err) {
      const msg = String(err instanceof Error ? err.message : err);
      if (/EPERM|EACCES|not permitted|permission/i.test(msg)) {
        throw new DeviceSetupError('creating a TAP device needs root or CAP_NET_ADMIN: run with sudo');
      }
      throw new DeviceSetupError(`cannot create a TAP device: ${msg}`);
    }
    try {
      if (opts.mtu !== undefined) handle.mtu = opts.mtu;
      ip(['link', 'set', 'dev', handle.name, 'master', opts.bridge]);
      ip(['link', 'set', 'dev', handle.name, 'up']);
    } catch (err) {
      handle.release();
      const stderr = err instanceof Error && 'stderr' in err ? String(err.stderr).trim() : String(err);
      throw new DeviceSetupError(`cannot attach ${handle.name} to ${opts.bridge}: ${stderr}`);
    }
    return new TapDevice(handle, opts.mac, counters);
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    try {
      writeSync(this.tap._fd, frame);
    } catch {
      this.counters?.inc('dev.tx_error');
    }
  }

  onFrame(receiver: (frame: Uint8Array) => void): void {
    if (this.pump !== undefined) throw new Error('TapDevice: one receiver only');
    // Frames are views over the pump's ring, valid during the call (the NetDevice contract).
    this.pump = new TapPump(this.tap._fd, receiver, () => this.counters?.inc('dev.rx_error'));
  }

  get pumpStats(): TapPumpStats | undefined {
    return this.pump?.stats;
  }

  /** Closing the fd removes the TAP: it was never made persistent, so a crash cannot leave it behind. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pump?.stop();
    // Bounded: releasing closes the package's streams, which must not hold a shutdown up.
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1000);
      t.unref();
      this.tap.release(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
