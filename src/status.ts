// SIGUSR1's answer: the state of the running service on one screen (at most ~40 lines whatever the load).
// Pure rendering from what the stack and the service hold; main.ts writes the lines to the log.
//
//   status: 192.168.77.57/24 gw 192.168.77.2, mac 02:00:5e:00:00:42, up 2m03s, rss 81.3 MiB
//     DHCP bound: lease 58m12s left of 1h00m, server 192.168.77.2, renewal in 28m12s
//     ARP cache: 1 entry (IP -> MAC, age)
//       192.168.77.1     1a:2b:3c:4d:5e:6f  3.2s
//     TCP: 1 connection, listening on 8088 9100
//       local                 remote                state        send-q  recv-q     rto    srtt
//       192.168.77.57:9100    192.168.77.1:40312    ESTABLISHED       0       0   204ms   1.1ms
//     HTTP: 0 open, answered 200 x5, 401 x2
//     frames in 120 (15.1 KiB), out 118 (21.0 KiB); tcp.retransmit 0, tcp.rx_reset 0, arp.conflict 0
//     drops: eth.rx_unknown_type 3, arp.rx_malformed 1

import { leaseEnd } from './dhcp/dhcpv6-lease.ts';
import type { DeviceTraffic } from './stack/direct-stack.ts';
import { ipToString, ipv4ToString, ipv6ToString, isIpv4, macToString, type IpAddr } from './net/addr.ts';
import type { TlsStats } from './tls/tls-terminator.ts';
import type { Stack } from './stack/stack.ts';
import { tcpStateOrder, type Endpoint, type TcpConnectionInfo } from './net/tcp/tcp-connection.ts';


/** Rows shown at most, per table; the rest is summed up in one line. */
export const DEFAULT_ARP_ROWS = 8;
export const DEFAULT_TCP_ROWS = 16;
/** Drop reasons shown at most (the largest). */
const DROP_REASONS = 6;

export interface ProcessInfo {
  uptimeMs: number;
  rssBytes: number;
}

export interface HttpInfo {
  /** Connections the auth service is serving now. */
  connections: number;
  /** Its answers so far, by status. */
  responses: ReadonlyMap<number, number>;
  /** HTTPS, when on. */
  tls?: TlsStats | undefined;
}

export interface DirectStatusInput {
  stack: Stack;
  /** The stack's clock: the `now` its layers are given. */
  now: number;
  /** TCP ports listened on. */
  listening: readonly number[];
  traffic?: DeviceTraffic | undefined;
  http?: HttpInfo | undefined;
  process?: ProcessInfo | undefined;
  arpRows?: number;
  tcpRows?: number;
}

export interface SocketStatusInput {
  /** The kernel sockets listened on. */
  listening: readonly { address: string; port: number }[];
  http?: HttpInfo | undefined;
  process?: ProcessInfo | undefined;
}

/** The process's own numbers, now. */
export function processInfo(): ProcessInfo {
  return { uptimeMs: process.uptime() * 1000, rssBytes: process.memoryUsage.rss() };
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const neg = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1000) return `${neg}${Math.round(a)}ms`;
  if (a < 60_000) return `${neg}${(a / 1000).toFixed(1)}s`;
  const s = Math.floor(a / 1000);
  if (s < 3600) return `${neg}${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${neg}${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${neg}${Math.floor(s / 86_400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Counter names that mean something was refused, lost or broken (rather than routine traffic). */
const TROUBLE = /drop|bad|malformed|short|error|unknown|timeout|limited|refused|no_room|too_big|no_route|no_address|conflict|evicted/;

function processPart(p: ProcessInfo | undefined): string {
  return p === undefined ? '' : `, up ${formatDuration(p.uptimeMs)}, rss ${formatBytes(p.rssBytes)}`;
}

function httpLines(h: HttpInfo): string[] {
  const answered = [...h.responses].sort(([a], [b]) => a - b).map(([status, n]) => `${status} x${n}`);
  const line = `  HTTP: ${h.connections} open, answered ${answered.length === 0 ? 'nothing yet' : answered.join(', ')}`;
  return h.tls === undefined ? [line] : [line, tlsLine(h.tls)];
}

function tlsLine(t: TlsStats): string {
  const versions = [...t.versions].map(([v, n]) => `${v} x${n}`).join(', ');
  const reasons = [...t.failureReasons].sort(([, a], [, b]) => b - a).map(([r, n]) => `${r} x${n}`).join(', ');
  return `  TLS: ${t.handshakes} handshakes${versions === '' ? '' : ` (${versions})`}, ${t.failures} failed${reasons === '' ? '' : ` (${reasons})`}; certificate ${t.certificate.subject} until ${t.certificate.notAfter}, reloaded ${t.reloads}x`;
}

function endpoint(e: Endpoint): string {
  return isIpv4(e.address) ? `${ipv4ToString(e.address)}:${e.port}` : `[${ipToString(e.address)}]:${e.port}`;
}

function compareAddr(a: IpAddr, b: IpAddr): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** ESTABLISHED first, then the others in the order of a connection's life (TIME_WAIT last). */
function rowOrder(a: TcpConnectionInfo, b: TcpConnectionInfo): number {
  const rank = (c: TcpConnectionInfo): number => (c.state === 'ESTABLISHED' ? -1 : tcpStateOrder(c.state));
  return rank(a) - rank(b) || a.local.port - b.local.port || compareAddr(a.remote.address, b.remote.address) || a.remote.port - b.remote.port;
}

/** The direct stack's status, one string per line. */
export function renderDirectStatus(input: DirectStatusInput): string[] {
  const { stack, now } = input;
  const out: string[] = [];
  const cfg = stack.ipv4.config;
  const addr = cfg === undefined ? 'no address' : `${ipv4ToString(cfg.address)}/${cfg.prefix} gw ${cfg.gateway !== undefined ? ipv4ToString(cfg.gateway) : '-'}`;
  out.push(`status: ${addr}, mac ${macToString(stack.mac)}${processPart(input.process)}`);

  const dhcp = stack.dhcp;
  if (dhcp === undefined) out.push(stack.ipv4Mode === 'off' ? '  IPv4: off' : '  IPv4: static address');
  else {
    const lease = dhcp.lease;
    if (lease === undefined) out.push(`  DHCP ${dhcp.state}: no lease`);
    else {
      const end = lease.obtainedAt + lease.leaseSeconds * 1000;
      const renew = lease.obtainedAt + lease.t1Seconds * 1000;
      const renewal = dhcp.state === 'bound' ? `, renewal in ${formatDuration(renew - now)}` : '';
      const dns = lease.dns.length > 0 ? `, DNS ${lease.dns.map(ipv4ToString).join(' ')}` : '';
      const mtu = lease.mtu !== undefined ? `, MTU ${stack.ipv4.linkMtu}` : '';
      const domain = lease.domain !== undefined ? `, domain ${lease.domain}` : '';
      out.push(
        `  DHCP ${dhcp.state}: lease ${formatDuration(end - now)} left of ${formatDuration(lease.leaseSeconds * 1000)}, server ${ipv4ToString(lease.server)}${renewal}${dns}${domain}${mtu}`,
      );
    }
  }

  const arpRows = input.arpRows ?? DEFAULT_ARP_ROWS;
  const ttl = stack.arp.options.cacheTtlMs;
  const entries = stack.arp.entries().sort((a, b) => a.ip - b.ip);
  out.push(`  ARP cache: ${plural(entries.length, 'entry', 'entries')}${entries.length > 0 ? ' (IP -> MAC, age)' : ''}${stack.arp.pendingAddresses > 0 ? `, ${stack.arp.pendingAddresses} being resolved` : ''}`);
  for (const e of entries.slice(0, arpRows)) {
    out.push(`    ${ipv4ToString(e.ip).padEnd(16)} ${macToString(e.mac)}  ${formatDuration(now - (e.expiresAt - ttl))}`);
  }
  if (entries.length > arpRows) out.push(`    ... and ${entries.length - arpRows} more`);

  const ndp = stack.ndp;
  if (ndp !== undefined) {
    const addrs = ndp.addresses.list();
    out.push(`  IPv6: ${plural(addrs.length, 'address', 'addresses')}${addrs.length > 0 ? ' (address, state, origin, valid for)' : ''}`);
    for (const a of addrs.slice(0, arpRows)) {
      const valid = a.validUntil === undefined ? 'forever' : formatDuration(a.validUntil - now);
      out.push(`    ${ipv6ToString(a.address).padEnd(28)} ${a.state.padEnd(10)} ${a.origin.padEnd(10)} ${valid}`);
    }
    const dhcp6 = stack.dhcp6;
    if (dhcp6 !== undefined && dhcp6.state !== 'idle') {
      const lease = dhcp6.lease;
      const dns = dhcp6.dnsServers;
      const dnsPart = dns.length > 0 ? `, DNS ${dns.map(ipv6ToString).join(' ')}` : '';
      if (lease === undefined) out.push(`  DHCPv6 ${dhcp6.state}: no lease${dnsPart}`);
      else {
        const end = leaseEnd(lease);
        const left = Number.isFinite(end) ? `${formatDuration(end - now)} left` : 'forever';
        const renewal = dhcp6.state === 'bound' && Number.isFinite(lease.t1At) ? `, renewal in ${formatDuration(lease.t1At - now)}` : '';
        out.push(`  DHCPv6 ${dhcp6.state}: ${lease.addresses.map((a) => ipv6ToString(a.address)).join(' ')}, lease ${left}${renewal}${dnsPart}`);
      }
    }
    const neighbours = ndp.cache.list();
    const routers = ndp.routers.defaultRouters(now);
    out.push(`  neighbours: ${plural(neighbours.length, 'entry', 'entries')}${neighbours.length > 0 ? ' (IPv6 -> MAC, state)' : ''}, ${plural(routers.length, 'default router')}`);
    for (const n of neighbours.slice(0, arpRows)) {
      out.push(`    ${ipv6ToString(n.address).padEnd(28)} ${n.mac === undefined ? '(resolving)'.padEnd(17) : macToString(n.mac)}  ${n.state}${n.isRouter ? ' router' : ''}`);
    }
    if (neighbours.length > arpRows) out.push(`    ... and ${neighbours.length - arpRows} more`);
  }

  const tcpRows = input.tcpRows ?? DEFAULT_TCP_ROWS;
  const conns = Array.from(stack.tcp.connections(), (c) => c.info()).sort(rowOrder);
  const ports = input.listening.length === 0 ? 'no listeners' : `listening on ${input.listening.join(' ')}`;
  out.push(`  TCP: ${plural(conns.length, 'connection')}, ${ports}, buffers ${formatBytes(stack.tcp.budget.inUse)}`);
  if (conns.length > 0) {
    out.push(`    ${'local'.padEnd(21)} ${'remote'.padEnd(21)} ${'state'.padEnd(12)} ${'send-q'.padStart(7)} ${'recv-q'.padStart(7)} ${'rto'.padStart(7)} ${'srtt'.padStart(7)}`);
  }
  for (const c of conns.slice(0, tcpRows)) {
    const srtt = c.srttMs;
    out.push(
      `    ${endpoint(c.local).padEnd(21)} ${endpoint(c.remote).padEnd(21)} ${c.state.padEnd(12)} ${String(c.unacknowledged).padStart(7)} ${String(c.readable).padStart(7)} ${formatDuration(c.rtoMs).padStart(7)} ${(srtt === undefined ? '-' : `${srtt.toFixed(1)}ms`).padStart(7)}`,
    );
  }
  if (conns.length > tcpRows) {
    const rest = new Map<string, number>();
    for (const c of conns.slice(tcpRows)) rest.set(c.state, (rest.get(c.state) ?? 0) + 1);
    out.push(`    ... and ${conns.length - tcpRows} more (${[...rest].map(([s, n]) => `${s} ${n}`).join(', ')})`);
  }

  if (input.http !== undefined) out.push(...httpLines(input.http));

  const counters = stack.counters.snapshot();
  const get = (n: string): number => counters[n] ?? 0;
  const t = input.traffic;
  const frames = t === undefined
    ? `frames in ${get('eth.rx')}, out ${get('eth.tx')}`
    : `frames in ${t.framesIn} (${formatBytes(t.bytesIn)}), out ${t.framesOut} (${formatBytes(t.bytesOut)})`;
  out.push(`  ${frames}; tcp.retransmit ${get('tcp.retransmit')}, tcp.rx_reset ${get('tcp.rx_reset')}, tcp.tx_reset ${get('tcp.tx_reset')}, arp.conflict ${get('arp.conflict')}`);
  const trouble = Object.entries(counters)
    .filter(([name, n]) => n > 0 && TROUBLE.test(name))
    .sort(([an, a], [bn, b]) => b - a || an.localeCompare(bn));
  const shown = trouble.slice(0, DROP_REASONS).map(([name, n]) => `${name} ${n}`);
  const more = trouble.length > DROP_REASONS ? `, and ${trouble.length - DROP_REASONS} more reasons` : '';
  out.push(`  drops and errors: ${shown.length === 0 ? 'none' : shown.join(', ')}${more}`);
  return out;
}

/** The socket stack's status: what it listens on, the HTTP side and the process. */
export function renderSocketStatus(input: SocketStatusInput): string[] {
  const listening = input.listening.map((l) => `${l.address}:${l.port}`).join(' ');
  const out = [`status: stack socket, listening on ${listening === '' ? 'nothing' : listening}${processPart(input.process)}`];
  if (input.http !== undefined) out.push(...httpLines(input.http));
  return out;
}
