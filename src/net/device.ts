// The one interface between the stack and whatever moves its Ethernet frames: a TAP, an in-memory
// link (tests), or a recorder wrapping either. The stack never knows which.

import type { MacAddr } from './addr.ts';

/**
 * What a device does for the stack beyond moving frames: the virtio-net offloads of a TAP opened with
 * IFF_VNET_HDR. A device that declares none is sent plain frames with every checksum complete.
 */
export interface DeviceOffloads {
  /** TCP checksums may be left partial (the pseudo-header sum only): the device finishes them. */
  readonly txChecksum: boolean;
  /** The largest TCP/IPv4 packet (IP header on) the device cuts into MTU-sized segments itself (TSO); 0: none. */
  readonly tsoMaxBytes: number;
}

/** What the stack asks of the device for one frame it sends (virtio_net_hdr's fields, RFC-free: Linux's ABI). */
export interface TxOffload {
  /** Where the TCP header starts in the frame, and where its checksum field sits from there. */
  readonly csumStart: number;
  readonly csumOffset: number;
  /** Ethernet, IPv4 and TCP header bytes, each segment's headers. */
  readonly hdrLen: number;
  /** Payload bytes in each segment the device cuts; 0 when the frame is sent as it is. */
  readonly gsoSize: number;
}

/** A frame that needs its device's offloads: a partial TCP checksum, perhaps a TSO super-segment. */
export class OffloadFrame extends Uint8Array<ArrayBufferLike> {
  // A view taken of it (subarray) is a plain frame again: the request belongs to this frame.
  static get [Symbol.species](): Uint8ArrayConstructor {
    return Uint8Array;
  }

  constructor(
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
    readonly offload: TxOffload,
  ) {
    super(buffer, byteOffset, length);
  }
}

/** What the device knows of a frame it received. */
export interface RxInfo {
  /**
   * The kernel vouches for the TCP/UDP checksum (virtio-net DATA_VALID), or has not filled it in yet
   * because the packet never left the machine (NEEDS_CSUM: the field holds the pseudo-header sum only).
   * Such a frame may also be larger than the MTU: a TCP super-segment merged by GRO or never cut by GSO.
   */
  readonly checksumTrusted: boolean;
}

export interface NetDevice {
  /** The hardware address the stack uses on this link. */
  readonly mac: MacAddr;
  /** The largest IP packet a frame can carry (Ethernet payload), normally 1500. */
  readonly mtu: number;
  /** Offloads this device performs; absent: none (the stack then sends only plain, complete frames). */
  readonly offloads?: DeviceOffloads | undefined;
  /**
   * Sends one Ethernet frame (header included, no FCS). Never throws; a frame that cannot be sent is dropped.
   * An OffloadFrame reaches only a device that declared the offloads it needs.
   */
  send(frame: Uint8Array): void;
  /** Sets the function that gets every received frame. The frame is only valid during the call. */
  onFrame(receiver: (frame: Uint8Array, info?: RxInfo) => void): void;
  /** Stops receiving and releases the device. */
  close(): Promise<void>;
}
