// Named counters: what each layer received, sent and dropped, and why. Never thrown, always counted. Every
// name is listed here, by layer, so that a misspelt counter is a type error rather than a silent new one.

export const COUNTER_NAMES = {
  dev: ['rx_error', 'tx_error'],
  fault: ['rx_drop', 'rx_corrupt', 'rx_dup', 'rx_reorder', 'tx_drop', 'tx_corrupt', 'tx_dup', 'tx_reorder'],
  eth: ['rx', 'tx', 'rx_short', 'rx_multicast', 'rx_not_for_us', 'rx_unknown_type'],
  arp: [
    'rx', 'rx_malformed', 'rx_bad_sender', 'conflict', 'tx_reply', 'tx_request', 'tx_request_limited', 'tx_probe', 'tx_announce',
    'drop_no_address', 'drop_queue_full', 'drop_unresolved', 'pending_evicted', 'evicted', 'expired',
  ],
  acd: ['probe', 'conflict', 'defend', 'defend_limited', 'give_up'],
  ip: [
    'rx', 'tx', 'rx_bad_short', 'rx_bad_version', 'rx_bad_header_length', 'rx_bad_total_length', 'rx_bad_checksum', 'rx_bad_reserved_flag',
    'rx_bad_source', 'rx_not_for_us', 'rx_unknown_protocol', 'tx_fragment', 'tx_no_address', 'tx_no_route', 'tx_too_big', 'tx_wrong_family',
    'reassembled', 'frag_duplicate', 'frag_too_big', 'frag_bad_length', 'frag_over_limit', 'frag_too_many', 'frag_inconsistent', 'frag_overlap',
    'reassembly_timeout', 'reassembly_evicted',
  ],
  nd: ['tx_solicit', 'tx_solicit_limited', 'tx_probe', 'unreachable', 'evicted', 'drop_queue_full', 'conflict'],
  ip6: [
    'rx', 'tx', 'rx_bad_short', 'rx_bad_version', 'rx_bad_payload_length', 'rx_bad_ext_truncated', 'rx_bad_ext_too_many', 'rx_bad_ext_too_long',
    'rx_bad_hop_by_hop_not_first', 'rx_bad_option_unknown', 'rx_bad_too_many_options', 'rx_bad_routing_header', 'rx_bad_fragment_length',
    'rx_bad_no_next_header', 'rx_bad_reassembled', 'rx_bad_source', 'rx_not_for_us', 'rx_unknown_protocol', 'tx_fragment', 'tx_no_address',
    'tx_no_route', 'tx_too_big', 'tx_wrong_family', 'reassembled', 'frag_duplicate', 'frag_too_big', 'frag_bad_length', 'frag_over_limit',
    'frag_too_many', 'frag_inconsistent', 'frag_overlap', 'reassembly_timeout', 'reassembly_evicted',
  ],
  icmp6: [
    'rx', 'rx_bad_short', 'rx_bad_checksum', 'rx_error', 'rx_nd', 'rx_nd_bad', 'rx_mld', 'tx_echo_reply', 'tx_unreachable', 'tx_param_problem',
    'tx_rate_limited',
  ],
  icmp: ['rx', 'rx_malformed', 'rx_error', 'rx_redirect_ignored', 'rx_broadcast_echo_ignored', 'tx_echo_reply', 'tx_unreachable', 'tx_rate_limited'],
  dhcp6: ['rx', 'rx_bad', 'rx_ignored', 'tx'],
  udp: ['rx', 'tx', 'rx_bad_short', 'rx_bad_length', 'rx_bad_checksum', 'rx_closed_port', 'tx_no_address'],
  tcp: [
    'rx', 'tx', 'tx_reset', 'tx_tso', 'rx_bad_short', 'rx_bad_offset', 'rx_bad_checksum', 'rx_bad_options', 'rx_broadcast', 'rx_closed_port',
    'active_open', 'passive_open', 'established', 'connect_refused', 'drop_too_many_connections', 'drop_backlog_full',
    'syn_cookie_sent', 'syn_cookie_accepted', 'syn_cookie_bad', 'syn_flood_dropped', 'rx_syn_retransmit', 'rx_paws', 'rx_out_of_window', 'rx_reset',
    'rx_ack_unsent', 'rx_ack_too_old', 'challenge_ack', 'challenge_ack_limited', 'rx_dup_ack', 'rx_no_room', 'rx_out_of_order',
    'rx_ooo_dropped', 'rx_ooo_no_memory', 'retransmit', 'retransmitted_segment', 'fast_retransmit', 'sack_retransmit', 'lost_retransmit', 'rack_lost', 'rack_lost_retransmit',
    'rto', 'rto_in_recovery', 'rto_tail', 'rto_other', 'retransmit_timeout', 'handshake_timeout', 'window_probe', 'zero_window_timeout',
    'keepalive_probe', 'keepalive_timeout', 'fin_wait_2_timeout', 'time_wait_expired', 'time_wait_recycled',
    'rx_icmp_too_big', 'rx_icmp_hard', 'rx_icmp_soft', 'rx_icmp_unmatched', 'rx_icmp_out_of_window', 'pmtu_lowered',
    'time_wait_reused', 'tlp', 'tlp_repaired', 'rx_dsack', 'spurious_undo', 'blackhole_mss',
    'rx_ecn_ce', 'rx_ece', 'ecn_reduction',
  ],
} as const;

type Layer = keyof typeof COUNTER_NAMES;
/** A counter's name: its layer and what it counts, e.g. `tcp.rx_dup_ack`. */
export type CounterName = { [L in Layer]: `${L}.${(typeof COUNTER_NAMES)[L][number]}` }[Layer];
/** The counters of one layer, e.g. `LayerCounter<'tcp'>`. */
export type LayerCounter<L extends Layer> = `${L}.${(typeof COUNTER_NAMES)[L][number]}`;

export class Counters {
  private readonly values = new Map<CounterName, number>();

  inc(name: CounterName, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  get(name: CounterName): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
