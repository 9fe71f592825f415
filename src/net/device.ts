// The one interface between the stack and whatever moves its Ethernet frames: a TAP, an in-memory
// link (tests), or a recorder wrapping either. The stack never knows which.

import type { MacAddr } from './addr.ts';

export interface NetDevice {
  /** The hardware address the stack uses on this link. */
  readonly mac: MacAddr;
  /** The largest IP packet a frame can carry (Ethernet payload), normally 1500. */
  readonly mtu: number;
  /** Sends one Ethernet frame (header included, no FCS). Never throws; a frame that cannot be sent is dropped. */
  send(frame: Uint8Array): void;
  /** Sets the function that gets every received frame. The frame is only valid during the call. */
  onFrame(receiver: (frame: Uint8Array) => void): void;
  /** Stops receiving and releases the device. */
  close(): Promise<void>;
}
