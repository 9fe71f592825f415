// Ethernet II for one interface: frames out (our MAC as source, the header written into an OutPacket's
// headroom, the device's offload request attached), and frames in, filtered to those addressed to us.

import { MAC_BROADCAST, isMulticastMac, type MacAddr } from './addr.ts';
import type { Counters } from './counters.ts';
import { OffloadFrame } from './device.ts';
import { ETH_HEADER_LEN, buildEthernet, parseEthernet, writeEthernetHeader } from './ethernet.ts';
import { OutPacket } from './packet.ts';

/** A received frame addressed to us: its type, its payload (valid only during the call), and whether it went to broadcast or a group. */
export interface EthernetRx {
  ethertype: number;
  payload: Uint8Array;
  broadcast: boolean;
}

export class EthernetLink {
  private outbox: Uint8Array[] = [];

  constructor(
    readonly mac: MacAddr,
    private readonly counters: Counters,
    /** Multicast addresses taken besides broadcast (the 33:33 groups IPv6 joined); none when absent. */
    private readonly acceptsMulticast: (m: MacAddr) => boolean = () => false,
  ) {}

  /** Frames one payload to `dst` (a LinkSend). */
  readonly send = (dst: MacAddr, ethertype: number, payload: Uint8Array | OutPacket): void => {
    this.counters.inc('eth.tx');
    const mac = this.mac;
    if (!(payload instanceof OutPacket)) {
      this.outbox.push(buildEthernet({ dst, src: mac, ethertype }, payload));
      return;
    }
    const start = payload.prepend(ETH_HEADER_LEN);
    writeEthernetHeader(payload.buf, { dst, src: mac, ethertype }, start);
    const o = payload.offload;
    if (o === undefined) {
      this.outbox.push(payload.view());
      return;
    }
    const csumStart = o.l4Start - start;
    const offload = { csumStart, csumOffset: o.csumOffset, hdrLen: csumStart + o.l4HeaderLen, gsoSize: o.gsoSize };
    this.outbox.push(new OffloadFrame(payload.buf.buffer, payload.buf.byteOffset + start, payload.length, offload));
  };

  /** A frame from the device: what it carries if it is for us (our MAC or broadcast), else undefined (counted). */
  receive(frame: Uint8Array): EthernetRx | undefined {
    this.counters.inc('eth.rx');
    const eth = parseEthernet(frame);
    if (eth === undefined) {
      this.counters.inc('eth.rx_short');
      return undefined;
    }
    const toUs = eth.dst === this.mac;
    const broadcast = !toUs && (eth.dst === MAC_BROADCAST || (isMulticastMac(eth.dst) && this.acceptsMulticast(eth.dst)));
    if (!toUs && !broadcast) {
      this.counters.inc(isMulticastMac(eth.dst) ? 'eth.rx_multicast' : 'eth.rx_not_for_us');
      return undefined;
    }
    return { ethertype: eth.ethertype, payload: frame.subarray(ETH_HEADER_LEN), broadcast };
  }

  /** The frames produced since the last call, in order. */
  takeFrames(): Uint8Array[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }
}
