// `--metrics-port N`: Prometheus metrics (text exposition format 0.0.4) for GET /metrics.
//
// prom-client's Registry does the format (HELP/TYPE lines, label escaping, the content type) and brings the
// process's own metrics (RSS, CPU, heap, event-loop lag, open file descriptors). Ours are read at scrape time by
// collect() callbacks from the state the stack and the service keep anyway (Counters, the ARP cache, the TCP
// connection table, the DHCP lease, responses by status): nothing is counted twice and nothing on the data path
// knows about metrics. Counters copied this way stay monotonic because their sources only ever grow.

import type { TlsStats } from './tls/tls-terminator.ts';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { leaseEnd } from './dhcp/dhcpv6-lease.ts';
import type { DeviceTraffic } from './stack/direct-stack.ts';
import type { TurnMeter } from './stack/driver.ts';
import type { RequestHandler } from './http/server.ts';
import type { Logger } from './log.ts';
import type { Stack } from './stack/stack.ts';
import { TCP_STATES, type TcpState } from './net/tcp/tcp-connection.ts';

export const METRICS_PATH = '/metrics';

/** The direct stack as metrics see it. */
export interface StackSource {
  stack: Stack;
  /** Frames and bytes through the TAP. */
  traffic: DeviceTraffic;
  /** The stack's clock (the `now` its layers are given), for the lease's remaining time. */
  now: () => number;
  /** The longest turn the stack held the event loop for, since the last scrape. */
  turns?: TurnMeter | undefined;
}

export interface MetricsSources {
  /** The direct stack; absent in socket mode. */
  direct?: StackSource | undefined;
  /** The auth service's responses by status (src/service.ts). */
  responses?: ReadonlyMap<number, number> | undefined;
  /** HTTPS's handshakes and failures (src/tls/tls-terminator.ts), when on. */
  tls?: TlsStats | undefined;
  /** prom-client's process and Node.js metrics (process_resident_memory_bytes…); on unless false. */
  defaultMetrics?: boolean;
}

/** A Registry whose metrics read `sources` at each scrape. */
export function createMetricsRegistry(sources: MetricsSources): Registry {
  const registry = new Registry();
  if (sources.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const responses = sources.responses;
  if (responses !== undefined) {
    new Counter({
      name: 'auth_http_requests_total',
      help: 'HTTP requests answered by the auth service, by status (the HTTP layer refusals such as 400 and 408 included).',
      labelNames: ['status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [status, n] of [...responses].sort(([a], [b]) => a - b)) this.inc({ status: String(status) }, n);
      },
    });
  }
  if (sources.tls !== undefined) registerTls(registry, sources.tls);
  if (sources.direct !== undefined) registerStack(registry, sources.direct);
  return registry;
}

function registerTls(registry: Registry, tls: TlsStats): void {
  const byLabel = (name: string, help: string, label: string, read: () => ReadonlyMap<string, number>): void => {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of read()) this.inc({ [label]: value }, n);
      },
    });
  };
  byLabel('auth_tls_handshakes_total', 'TLS handshakes completed, by protocol version.', 'version', () => tls.versions);
  byLabel('auth_tls_handshake_failures_total', 'TLS handshakes that failed, by reason (an OpenSSL error code, timeout, or closed when the peer left).', 'reason', () => tls.failureReasons);
  new Counter({
    name: 'auth_tls_certificate_reloads_total',
    help: 'Successful reloads of the TLS certificate and key (SIGHUP).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(tls.reloads);
    },
  });
}

function registerStack(registry: Registry, src: StackSource): void {
  const { stack, traffic } = src;
  const registers = [registry];
  const turns = src.turns;
  if (turns !== undefined) {
    let last = { ms: 0, frames: 0 };
    const take = (): { ms: number; frames: number } => (last = turns.takeLongest());
    new Gauge({
      name: 'direct_stack_longest_turn_seconds',
      help: 'The longest the stack held the event loop in one turn (frames received, answers sent) since the last scrape.',
      registers,
      collect() {
        this.set(take().ms / 1000);
      },
    });
    new Gauge({
      name: 'direct_stack_longest_turn_frames',
      help: 'The frames received in that longest turn (at most 512: the reader yields after a batch).',
      registers,
      collect() {
        this.set(last.frames);
      },
    });
  }
  /** A counter of the device's traffic by direction, read at scrape time. */
  const byDirection = (name: string, help: string, read: () => [number, number]): void => {
    new Counter({
      name,
      help,
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        const [inbound, outbound] = read();
        this.inc({ direction: 'in' }, inbound);
        this.inc({ direction: 'out' }, outbound);
      },
    });
  };
  byDirection('direct_stack_device_frames_total', 'Ethernet frames through the TAP device, by direction (in: received, out: sent).', () => [traffic.framesIn, traffic.framesOut]);
  byDirection('direct_stack_device_bytes_total', 'Bytes of Ethernet frames (header included, no FCS) through the TAP device, by direction.', () => [traffic.bytesIn, traffic.bytesOut]);
  new Counter({
    name: 'direct_stack_events_total',
    help: 'Every counter the stack keeps, by name: what each layer received and sent, and every drop by its reason (e.g. arp.rx_malformed, tcp.drop_backlog_full, ip.rx_bad_checksum).',
    labelNames: ['name'],
    registers,
    collect() {
      this.reset();
      for (const [name, n] of Object.entries(stack.counters.snapshot())) this.inc({ name }, n);
    },
  });
  new Counter({
    name: 'direct_stack_tcp_retransmits_total',
    help: 'TCP retransmissions (timeouts and fast retransmits; the events counter tcp.retransmit).',
    registers,
    collect() {
      this.reset();
      this.inc(stack.counters.get('tcp.retransmit'));
    },
  });
  new Gauge({
    name: 'direct_stack_tcp_connections',
    help: 'TCP connections by state (TIME_WAIT included, listeners not).',
    labelNames: ['state'],
    registers,
    collect() {
      const by = new Map<TcpState, number>(TCP_STATES.map((s) => [s, 0]));
      for (const c of stack.tcp.connections()) by.set(c.state, (by.get(c.state) ?? 0) + 1);
      for (const [state, n] of by) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'direct_stack_tcp_buffer_bytes',
    help: 'Bytes held in all TCP connections\' send and receive buffers together.',
    registers,
    collect() {
      this.set(stack.tcp.budget.inUse);
    },
  });
  new Gauge({
    name: 'direct_stack_arp_cache_entries',
    help: 'Entries in the ARP cache.',
    registers,
    collect() {
      this.set(stack.arp.size);
    },
  });
  new Gauge({
    name: 'direct_stack_ipv6_addresses',
    help: 'IPv6 addresses of the interface by state (tentative: being checked for duplicates; deprecated: kept for the connections it has).',
    labelNames: ['state'],
    registers,
    collect() {
      const by = new Map<string, number>([['tentative', 0], ['preferred', 0], ['deprecated', 0]]);
      for (const a of stack.ndp?.addresses.list() ?? []) by.set(a.state, (by.get(a.state) ?? 0) + 1);
      for (const [state, n] of by) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'direct_stack_ipv6_neighbours',
    help: 'Entries in the IPv6 neighbour cache by state (RFC 4861 §7.3.2).',
    labelNames: ['state'],
    registers,
    collect() {
      const by = new Map<string, number>(['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE'].map((st) => [st, 0]));
      for (const n of stack.ndp?.cache.list() ?? []) by.set(n.state, (by.get(n.state) ?? 0) + 1);
      for (const [state, n] of by) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'direct_stack_arp_pending_addresses',
    help: 'Addresses being resolved by ARP (packets waiting for them).',
    registers,
    collect() {
      this.set(stack.arp.pendingAddresses);
    },
  });
  const dhcp6 = stack.dhcp6;
  if (dhcp6 !== undefined) {
    new Gauge({
      name: 'direct_stack_dhcpv6_lease_remaining_seconds',
      help: 'Seconds until the last address of the DHCPv6 lease ends; 0 without a lease, -1 for a lease without end.',
      registers,
      collect() {
        const lease = dhcp6.lease;
        const end = lease === undefined ? 0 : leaseEnd(lease);
        this.set(lease === undefined ? 0 : Number.isFinite(end) ? Math.max(0, (end - src.now()) / 1000) : -1);
      },
    });
  }
  const dhcp = stack.dhcp;
  if (dhcp !== undefined) {
    new Gauge({
      name: 'direct_stack_dhcp_lease_remaining_seconds',
      help: 'Seconds until the DHCP lease ends; 0 without a lease.',
      registers,
      collect() {
        const lease = dhcp.lease;
        this.set(lease === undefined ? 0 : Math.max(0, (lease.obtainedAt + lease.leaseSeconds * 1000 - src.now()) / 1000));
      },
    });
  }
}

/** GET or HEAD /metrics: the registry's text; any other path 404, any other method 405. */
export function metricsHandler(registry: Registry, log?: Logger): RequestHandler {
  return async (req) => {
    log?.debug?.(`metrics: ${req.method} ${JSON.stringify(req.path)} from ${req.remote.address}:${req.remote.port}`);
    if (req.path !== METRICS_PATH) return { status: 404, body: 'Not Found\n' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return { status: 405, body: 'Method Not Allowed\n', headers: [['allow', 'GET, HEAD']] };
    }
    const body = await registry.metrics();
    return { status: 200, body, headers: [['content-type', registry.contentType]] };
  };
}
