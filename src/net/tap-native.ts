// The lean TAP binding (native/tap.c, built by node-gyp at `npm ci`): creates the TAP with the virtio-net
// header and offloads the package cannot ask for, reads it on a POSIX thread into a shared ring, and writes
// a frame with one write(2) or writev(2). Loaded untyped and checked against this description.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface TapNative {
  open(name: string, vnetHdr: boolean, offloads: number): [number, string];
  startReader(fd: number, ring: Uint8Array, maxRecord: number, onReady: () => void): object;
  stopReader(handle: object): void;
  /** Bytes written, or −errno. */
  write(fd: number, frame: Uint8Array): number;
  /** Frame bytes written after a virtio_net_hdr of these fields, or −errno. */
  writeVnet(fd: number, frame: Uint8Array, flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): number;
  readonly VNET_HDR_LEN: number;
  /** no_new_privs set and the capability bounding set emptied (this thread); returns how many were dropped. */
  lockDown(): number;
  /** This thread's effective, permitted and inheritable capabilities emptied. */
  clearCaps(): void;
}

// <linux/if_tun.h> and <linux/virtio_net.h>
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;

const FUNCTIONS = ['open', 'startReader', 'stopReader', 'write', 'writeVnet', 'lockDown', 'clearCaps'] as const;

function isTapNative(mod: unknown): mod is TapNative {
  if (typeof mod !== 'object' || mod === null) return false;
  const rec = mod as Record<string, unknown>;
  return FUNCTIONS.every((f) => typeof rec[f] === 'function') && typeof rec.VNET_HDR_LEN === 'number';
}

let loaded: TapNative | string | undefined;

/** The binding, or a reason it is not there (not built: `npm ci` or `npx node-gyp rebuild` builds it). */
export function loadTapNative(): TapNative | string {
  if (loaded !== undefined) return loaded;
  // From src/net/ (tsx) or dist/ (the bundle): the addon sits in build/Release at the package root.
  const candidates = ['../../build/Release/tap_native.node', '../build/Release/tap_native.node'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const file = candidates.find((p) => existsSync(p));
  if (file === undefined) {
    loaded = 'the native TAP binding is not built (npm ci builds it; or: npx node-gyp rebuild)';
    return loaded;
  }
  try {
    const mod: unknown = createRequire(import.meta.url)(file);
    loaded = isTapNative(mod) ? mod : `${file} is not the TAP binding this code expects`;
  } catch (err) {
    loaded = `cannot load ${file}: ${err instanceof Error ? err.message : String(err)}`;
  }
  return loaded;
}
