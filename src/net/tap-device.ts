// The TAP backend: a kernel TAP enslaved to a bridge and brought up (as Xen's `vif = [ "bridge=br0" ]`
// did). The kernel only moves frames between the TAP and the bridge. Two bindings create it:
// - native (native/tap.c, the default when built): IFF_VNET_HDR with checksum and TSO offloads, a POSIX
//   thread reading into a shared ring (src/net/tap-ring.ts), one write(2)/writev(2) per frame;
// - tuntap2 (the package the project started with): no offloads, a worker thread reading the fd into a
//   shared ring (src/net/tap-pump.ts), one writeSync per frame. Measured slower and ~10 MB larger (a
//   second V8 isolate), so it is the fallback when the native binding is not built.

import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { MacAddr } from './addr.ts';
import type { Counters } from './counters.ts';
import type { NetDevice } from './device.ts';
import type { DeviceOffloads, RxInfo } from './device.ts';
import { OffloadFrame } from './device.ts';
import { TapPump } from './tap-pump.ts';
import { TapRing } from './tap-ring.ts';
import {
  TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, loadTapNative, type TapNative,
} from './tap-native.ts';

export type TapBinding = 'auto' | 'native' | 'tuntap2';

export interface TapOptions {
  bridge: string;
  mac: MacAddr;
  mtu?: number;
  /** Which binding creates the TAP and moves its frames; `auto`: native when built, else tuntap2. */
  binding?: TapBinding;
  /**
   * Ask the kernel for virtio-net offloads (native binding only): TCP checksums finished by the kernel,
   * TSO super-segments out, GRO/GSO super-segments in. Off for captures and fault injection, which
   * should see the frames that cross the wire.
   */
  offloads?: boolean;
  /** Tell the caller which binding was taken, and why a fallback happened. */
  log?: (line: string) => void;
  /** The TAP can no longer be read (deleted from outside, errno 77): told once, with the reader's error code. */
  onGone?: (code: string) => void;
}

/** The largest TCP/IPv4 packet we hand the kernel to cut (TSO): IPv4's limit. */
export const TSO_MAX_BYTES = 65535;
/** The largest frame the kernel hands over with GRO/GSO: an Ethernet header (and a VLAN tag) and a 64 KiB IPv4 packet. */
const ETH_MAX = 18 + 65535;

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

/** What moves frames for a TapDevice: one of the two bindings. */
interface TapBackend {
  readonly name: string;
  readonly binding: 'native' | 'tuntap2';
  readonly offloads: DeviceOffloads | undefined;
  send(frame: Uint8Array): number;
  start(receiver: (frame: Uint8Array, info?: RxInfo) => void, onError: (code: string) => void, mtu: number): void;
  readonly rxStats: { frames: number; batches: number } | undefined;
  close(): Promise<void>;
}

/** Whether an Ethernet frame carries IPv6 (EtherType 0x86dd). */
function isIpv6Frame(frame: Uint8Array): boolean {
  return frame[12] === 0x86 && frame[13] === 0xdd;
}

class NativeBackend implements TapBackend {
  readonly binding = 'native';
  readonly offloads: DeviceOffloads | undefined;
  private ring: TapRing | undefined;
  private readonly hdrLen: number;

  constructor(
    private readonly native: TapNative,
    private readonly fd: number,
    readonly name: string,
    offloads: boolean,
  ) {
    // Without offloads there is nothing to say per frame: no virtio-net header, one plain write(2) each.
    this.hdrLen = offloads ? native.VNET_HDR_LEN : 0;
    this.offloads = offloads ? { txChecksum: true, tsoMaxBytes: TSO_MAX_BYTES } : undefined;
  }

  send(frame: Uint8Array): number {
    if (frame instanceof OffloadFrame) {
      const o = frame.offload;
      // The kernel cuts a super-segment by its type: TCP over IPv4 or over IPv6 (its Ethernet type says which).
      const gso = o.gsoSize === 0 ? VIRTIO_NET_HDR_GSO_NONE : isIpv6Frame(frame) ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
      return this.native.writeVnet(this.fd, frame, VIRTIO_NET_HDR_F_NEEDS_CSUM, gso, o.hdrLen, o.gsoSize, o.csumStart, o.csumOffset);
    }
    if (this.hdrLen === 0) return this.native.write(this.fd, frame);
    return this.native.writeVnet(this.fd, frame, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
  }

  start(receiver: (frame: Uint8Array, info?: RxInfo) => void, onError: (code: string) => void, mtu: number): void {
    // With offloads, the kernel may hand over a whole super-segment (up to 64 KiB) in one read.
    const maxRecord = this.hdrLen + (this.offloads !== undefined ? ETH_MAX : Math.max(2048, 18 + mtu));
    const ringBytes = this.offloads !== undefined ? 4 << 20 : 1 << 20;
    this.ring = new TapRing(this.native, this.fd, { ringBytes, maxRecord, vnetHdrLen: this.hdrLen }, receiver, onError);
  }

  get rxStats(): { frames: number; batches: number } | undefined {
    return this.ring?.stats;
  }

  close(): Promise<void> {
    this.ring?.stop();
    // Closing the fd removes the TAP: it was never made persistent.
    try {
      closeSync(this.fd);
    } catch {
      // already gone
    }
    return Promise.resolve();
  }
}

class Tuntap2Backend implements TapBackend {
  readonly binding = 'tuntap2';
  readonly offloads = undefined;
  private pump: TapPump | undefined;

  constructor(private readonly tap: TapHandle) {}

  get name(): string {
    return this.tap.name;
  }

  send(frame: Uint8Array): number {
    return writeSync(this.tap._fd, frame);
  }

  start(receiver: (frame: Uint8Array) => void, onError: (code: string) => void, _mtu: number): void {
    this.pump = new TapPump(this.tap._fd, receiver, onError);
  }

  get rxStats(): { frames: number; batches: number } | undefined {
    return this.pump?.stats;
  }

  async close(): Promise<void> {
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

function permissionAdvice(msg: string): string | undefined {
  return /EPERM|EACCES|not permitted|permission/i.test(msg) ? 'creating a TAP device needs root or CAP_NET_ADMIN: run with sudo' : undefined;
}

function openNative(native: TapNative, offloads: boolean): TapBackend {
  let fd: number;
  let name: string;
  try {
    [fd, name] = native.open('', offloads, offloads ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 : 0);
  } catch (err) {
    const msg = String(err instanceof Error ? err.message : err);
    throw new DeviceSetupError(permissionAdvice(msg) ?? `cannot create a TAP device: ${msg}`);
  }
  return new NativeBackend(native, fd, name, offloads);
}

function openTuntap2(): TapBackend {
  try {
    return new Tuntap2Backend(new (loadTapClass())());
  } catch (err) {
    const msg = String(err instanceof Error ? err.message : err);
    throw new DeviceSetupError(permissionAdvice(msg) ?? `cannot create a TAP device: ${msg}`);
  }
}

export class TapDevice implements NetDevice {
  readonly mtu: number;
  private closed = false;
  private started = false;

  private constructor(
    private readonly backend: TapBackend,
    readonly mac: MacAddr,
    mtu: number,
    private readonly counters: Counters | undefined,
    private readonly log: ((line: string) => void) | undefined,
    private readonly onGone: ((code: string) => void) | undefined,
  ) {
    this.mtu = mtu;
  }

  get name(): string {
    return this.backend.name;
  }

  /** Which binding moves the frames. */
  get binding(): 'native' | 'tuntap2' {
    return this.backend.binding;
  }

  get offloads(): DeviceOffloads | undefined {
    return this.backend.offloads;
  }

  /** Creates the TAP, enslaves it to the bridge and brings it up; throws DeviceSetupError with advice. */
  static open(opts: TapOptions, counters?: Counters): TapDevice {
    checkTapPrerequisites(opts.bridge);
    const wanted = opts.binding ?? 'auto';
    let backend: TapBackend;
    if (wanted === 'tuntap2') {
      backend = openTuntap2();
    } else {
      const native = loadTapNative();
      if (typeof native === 'string') {
        if (wanted === 'native') throw new DeviceSetupError(`${native}; or run with --tap-binding tuntap2`);
        opts.log?.(`TAP: ${native}; using the tuntap2 package (slower, no offloads)`);
        backend = openTuntap2();
      } else {
        backend = openNative(native, opts.offloads ?? true);
      }
    }
    const mtu = opts.mtu ?? 1500;
    try {
      ip(['link', 'set', 'dev', backend.name, 'mtu', String(mtu), 'master', opts.bridge, 'up']);
    } catch (err) {
      void backend.close();
      const stderr = err instanceof Error && 'stderr' in err ? String(err.stderr).trim() : String(err);
      throw new DeviceSetupError(`cannot attach ${backend.name} to ${opts.bridge}: ${stderr}`);
    }
    const off = backend.offloads;
    opts.log?.(`TAP: ${backend.name} in ${opts.bridge} (${backend.binding} binding${off !== undefined ? ', checksum and TSO offloads' : ''})`);
    return new TapDevice(backend, opts.mac, mtu, counters, opts.log, opts.onGone);
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    try {
      if (this.backend.send(frame) < 0) this.counters?.inc('dev.tx_error');
    } catch {
      this.counters?.inc('dev.tx_error');
    }
  }

  onFrame(receiver: (frame: Uint8Array, info?: RxInfo) => void): void {
    if (this.started) throw new Error('TapDevice: one receiver only');
    this.started = true;
    // Frames are views over the reader's ring, valid during the call (the NetDevice contract).
    let told = false;
    const onError = (code: string): void => {
      this.counters?.inc('dev.rx_error');
      // The reader stops at an error it cannot read past (the device gone): say so once, loudly.
      if (told) return;
      told = true;
      this.log?.(`TAP: reading ${this.name} failed (${code}); no more frames come in`);
      this.onGone?.(code);
    };
    this.backend.start(receiver, onError, this.mtu);
  }

  get pumpStats(): { frames: number; batches: number } | undefined {
    return this.backend.rxStats;
  }

  /** Closing the fd removes the TAP: it was never made persistent, so a crash cannot leave it behind. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.backend.close();
  }
}
