// An outgoing packet with room in front: each layer writes its header into the headroom instead of
// copying the payload into a new buffer. TCP builds segments this way, so a segment's bytes are
// copied once (from the send buffer) on the way to the device.

/** Room for an Ethernet header and the larger network header: IPv4 without options (20), IPv6's fixed one (40). */
export const HEADROOM = 14 + 40;

/** Set by TCP on a segment whose checksum the device finishes (and which it may cut into segments). */
export interface L4Offload {
  /** Where the TCP header starts in `buf`, and its length. */
  readonly l4Start: number;
  readonly l4HeaderLen: number;
  /** The checksum field's offset from the TCP header's start. */
  readonly csumOffset: number;
  /** Payload bytes per segment the device cuts (TSO); 0: one segment as it is. */
  readonly gsoSize: number;
}

export class OutPacket {
  offload: L4Offload | undefined = undefined;

  constructor(
    readonly buf: Uint8Array,
    public start: number,
    readonly end: number,
  ) {}

  /** A packet of `length` bytes (to be filled at `start`) with `headroom` bytes free before it. */
  static alloc(length: number, headroom = HEADROOM): OutPacket {
    // Unzeroed memory from Node's pool (every byte is written before use), seen as a plain Uint8Array
    // so that nobody downstream meets Buffer's slice-is-a-view semantics.
    const raw = Buffer.allocUnsafe(headroom + length);
    return new OutPacket(new Uint8Array(raw.buffer, raw.byteOffset, raw.length), headroom, headroom + length);
  }

  /** A packet holding a copy of `data`, with headroom. */
  static copyOf(data: Uint8Array, headroom = HEADROOM): OutPacket {
    const p = OutPacket.alloc(data.length, headroom);
    p.buf.set(data, p.start);
    return p;
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The packet's bytes, from its current start. */
  view(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  /** Makes room for an `n`-byte header in front and returns where it starts. */
  prepend(n: number): number {
    if (this.start < n) throw new Error(`OutPacket: no headroom for ${n} bytes`);
    this.start -= n;
    return this.start;
  }
}
