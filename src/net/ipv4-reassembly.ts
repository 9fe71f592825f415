// Reassembly of fragmented IPv4 datagrams (RFC 791 §3.2, RFC 815), bounded in datagrams, bytes, fragments and
// time (reassembly.ts). Fragments that overlap with different bytes discard the whole datagram (the rule RFC 5722
// sets for IPv6), so overlapping fragments can never change data already received.

import type { Counters, LayerCounter } from './counters.ts';
import type { Ipv4Header } from './ipv4-wire.ts';
import { FragmentReassembler, type ReassemblyEvent, type ReassemblyOptions } from './reassembly.ts';

export type { ReassemblyOptions } from './reassembly.ts';

export const defaultReassemblyOptions: ReassemblyOptions = {
  maxDatagrams: 16,
  maxBytes: 256 * 1024,
  maxFragments: 128,
  timeoutMs: 30_000,
};

/** The largest IPv4 datagram: 65535 bytes, 20 of them header. */
const MAX_PAYLOAD = 65535 - 20;

const COUNTER: Record<ReassemblyEvent, LayerCounter<'ip'>> = {
  too_big: 'ip.frag_too_big',
  bad_length: 'ip.frag_bad_length',
  over_limit: 'ip.frag_over_limit',
  too_many_fragments: 'ip.frag_too_many',
  inconsistent: 'ip.frag_inconsistent',
  overlap: 'ip.frag_overlap',
  duplicate: 'ip.frag_duplicate',
  timeout: 'ip.reassembly_timeout',
  evicted: 'ip.reassembly_evicted',
  reassembled: 'ip.reassembled',
};

export class Reassembler {
  readonly options: ReassemblyOptions;
  private readonly core: FragmentReassembler;

  constructor(counters: Counters, options: Partial<ReassemblyOptions> = {}) {
    this.options = { ...defaultReassemblyOptions, ...options };
    this.core = new FragmentReassembler(this.options, MAX_PAYLOAD, 'identical-ok', (e) => counters.inc(COUNTER[e]));
  }

  get inProgress(): number {
    return this.core.inProgress;
  }

  get bytesHeld(): number {
    return this.core.bytesHeld;
  }

  /** Adds a fragment; returns the whole payload when this one completes its datagram. */
  add(h: Ipv4Header, payload: Uint8Array, now: number): Uint8Array | undefined {
    return this.core.add({ key: `${h.src}/${h.dst}/${h.protocol}/${h.id}`, offset: h.fragmentOffset, more: h.moreFragments, data: payload }, now);
  }

  poll(now: number): void {
    this.core.poll(now);
  }

  nextDeadline(): number | undefined {
    return this.core.nextDeadline();
  }
}
