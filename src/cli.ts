// Command-line flags: parsed and checked here, so that main.ts only starts things.

import { CONGESTION_CONTROLS, LOSS_RECOVERIES, isCongestionControl, isLossRecovery } from './net/tcp/algorithms.ts';
import type { CongestionControlName } from './net/tcp/congestion-control.ts';
import type { LossRecoveryName } from './net/tcp/loss-recovery.ts';
import type { EcnMode } from './net/tcp/ecn.ts';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { Address4 } from 'ip-address';
import { ipv6ToString, isIpv6LinkLocal, isIpv6Multicast, parseIpv4, parseIpv6, parseMac, sameSubnet, type Ipv4Config, type Ipv6Addr, type MacAddr } from './net/addr.ts';
import { parseFaultSpec, type FaultSpec } from './net/fault-device.ts';
import type { AcdMode } from './arp/acd.ts';
import type { TapBinding } from './net/tap-device.ts';
import { DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS } from './tls/tls-terminator.ts';
import { isHostname } from './stack/direct-stack.ts';
import { isLogFormat, isLogLevel, type LogFormat, type LogLevel } from './log.ts';

export type StackKind = 'socket' | 'direct';

export interface Config {
  stack: StackKind;
  port: number;
  /** Socket stack: the address to listen on. */
  listen: string;
  data: string;
  /** Direct stack: the bridge the TAP joins. */
  bridge: string;
  /** Direct stack: our MAC; random locally administered when not given. */
  mac: MacAddr | undefined;
  /** Direct stack: a static address instead of DHCP, or 'off' for an IPv6-only stack (no DHCP, no IPv4 address). */
  ipv4: Ipv4Config | 'off' | undefined;
  /** Direct stack: record every frame in and out to this pcap file. */
  pcap: string | undefined;
  /** Also serve RFC 862 echo on this TCP port. */
  echoPort: number | undefined;
  /** Also serve RFC 864 chargen (a bulk source) on this TCP port. */
  chargenPort?: number | undefined;
  /** Direct stack: inject faults on the device, both directions. */
  fault: FaultSpec | undefined;
  /** Direct stack with DHCP: the lease state file (INIT-REBOOT); default /var/lib/mirage-direct-ts/dhcp-lease-MAC.json. */
  dhcpState?: string | undefined;
  /** Direct stack, DHCP: the host name sent (option 12); default the machine's. */
  hostname?: string | undefined;
  /** Direct stack, DHCP: how a leased address is checked before use (RFC 5227). */
  acd?: AcdMode | undefined;
  /** The least severe log lines written (default info). */
  logLevel?: LogLevel | undefined;
  /** text (default): the lines as they are; json: one JSON object per line (pino). */
  logFormat?: LogFormat | undefined;
  /** Serve Prometheus metrics (GET /metrics) on this TCP port, on the same stack as the service. */
  metricsPort?: number | undefined;
  /** Direct stack: which binding makes the TAP and moves its frames (default auto: native when built). */
  tapBinding?: TapBinding | undefined;
  /** Direct stack: no virtio-net offloads even where the binding has them (plain 1514-byte frames both ways). */
  noOffloads?: boolean | undefined;
  /** Direct stack: IPv6 beside IPv4 (undefined: off): SLAAC from router advertisements, and a static address if given. */
  ipv6?: Ipv6Mode | undefined;
  /** Direct stack: interface identifiers, stable (RFC 7217, default) or EUI-64. */
  ipv6Iid?: 'stable' | 'eui64' | undefined;
  /** `--tcp-cc`: the congestion control of our TCP (default cubic). */
  tcpCc?: CongestionControlName | undefined;
  /** `--tcp-recovery`: how our TCP finds losses with a SACK peer (default rack). */
  tcpRecovery?: LossRecoveryName | undefined;
  /** `--tcp-ecn`: ECN (RFC 3168), default passive. */
  tcpEcn?: EcnMode | undefined;
  /** HTTPS beside (or, with `only`, instead of) plain HTTP: `--tls-cert`, `--tls-key`, `--tls-port`, `--tls-only`. */
  tls?: TlsConfig | undefined;
  /**
   * `--user`: the user the process becomes once the TAP is open and the ports are bound (started as root: default
   * nobody; 'root' keeps root). Not given and not root: nothing to drop.
   */
  user?: string | undefined;
}

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  port: number;
  /** No plain-HTTP port at all. */
  only: boolean;
  handshakeTimeoutMs: number;
}

/** `--tls-port`'s default. */
export const DEFAULT_TLS_PORT = 8443;
/** The range `--tls-handshake-timeout` takes, in ms. */
export const TLS_HANDSHAKE_TIMEOUT_RANGE_MS = [100, 600_000] as const;
/** `--user`: a user name as useradd takes it (at most 32 characters), or a numeric uid. */
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$|^[0-9]{1,10}$/i;

export type Ipv6Mode = { mode: 'auto' } | { mode: 'static'; address: Ipv6Addr; prefixLength: number; gateway?: Ipv6Addr | undefined };

export type CliResult = { kind: 'help' } | { kind: 'run'; config: Config } | { kind: 'error'; message: string };

export const USAGE = `Usage: npm start -- [options]

The authentication service: GET /?user=NAME&password=SECRET answers
200 "hello NAME!" when the password matches the file data/NAME.

Options:
  --stack direct|socket  which TCP/IP stack carries it (default: direct)
                           direct: this project's own stack on a TAP in a bridge
                           socket: the kernel's sockets (Mirage's --unix mode)
  --port N               TCP port to serve on (default: 8088)
  --data DIR             directory of user files (default: ./data)

Direct stack (needs root or CAP_NET_ADMIN):
  --bridge NAME          bridge the TAP device joins (default: br0)
  --mac MAC              our Ethernet address (default: random, locally administered)
  --ipv4 ADDR/PREFIX     static address instead of DHCP, e.g. 192.168.77.10/24; off: no IPv4 (IPv6 only)
  --gateway ADDR         default router with --ipv4, e.g. 192.168.77.2
  --pcap FILE            write every frame in and out to FILE (classic pcap)
  --echo-port N          also serve TCP echo (RFC 862) on port N (default: off; both stacks)
  --chargen-port N       also serve TCP chargen (RFC 864, data until the client closes) on port N (default: off)
  --metrics-port N       serve Prometheus metrics at GET /metrics on TCP port N (default: off; both stacks)
  --log-level LEVEL      debug, info (default), warn or error
  --log-format FORMAT    text (default) or json (one object per line)
  --fault SPEC           inject faults on the device, both directions, e.g.
                           drop=0.05,dup=0.01,reorder=0.05,corrupt=0.01,delay=2ms,seed=7
  --dhcp-state FILE      where the DHCP lease is remembered between runs (INIT-REBOOT)
                           (default: /var/lib/mirage-direct-ts/dhcp-lease-MAC.json)
  --hostname NAME        the host name DHCP sends (option 12; default: this machine's)
  --acd fast|rfc|off     check a leased address with ARP before use (RFC 5227): fast ~0.5 s (default),
                           rfc the RFC's 5-7 s, off none
  --tap-binding B        auto (default), native or tuntap2: what makes the TAP and moves its frames
                           native: this project's addon (built by npm ci), with offloads
                           tuntap2: the tuntap2 package, a worker thread reading, no offloads
  --no-offloads          no checksum/TSO/GRO offloads with the native binding: every frame on
                           the TAP is a plain one of at most 1514 bytes (also with --pcap or --fault)
  --ipv6 auto|off|A/P    IPv6 beside IPv4 (default: auto): auto takes a link-local address and SLAAC
                           addresses from router advertisements; A/P (e.g. fd77::10/64) adds a static one
  --ipv6-iid stable|eui64  interface identifiers: stable (RFC 7217, default; the secret is kept in
                           /var/lib/mirage-direct-ts/ipv6-secret-MAC) or EUI-64 from the MAC
  --gateway6 ADDR        default router with a static --ipv6, e.g. fe80::1 or fd77::2
  --tcp-cc cubic|newreno TCP congestion control: cubic (RFC 9438 with HyStart++, default) or newreno
                           (RFC 5681's window growth)
  --tcp-recovery rack|sack|newreno  TCP loss detection with a SACK peer: rack (RFC 8985 RACK-TLP, by
                           time; default), sack (RFC 6675, DupThresh) or newreno (SACK unused)
  --tcp-ecn off|passive|on  ECN (RFC 3168): passive (default) when the peer asks, on to ask too, off never

HTTPS (both stacks; TLS 1.2 and 1.3, ALPN http/1.1):
  --tls-cert FILE        the server certificate (PEM; the chain after it), with --tls-key
  --tls-key FILE         its private key (PEM); both are read again on SIGHUP
  --tls-port N           the HTTPS port (default: 8443)
  --tls-only             no plain-HTTP port: the service only on --tls-port
  --tls-handshake-timeout MS  a client's time to finish its handshake (default: 10000)

Privileges:
  --user NAME            the user to run as once the TAP is open and the ports are bound (default when
                           started as root: nobody); no capabilities are kept; root keeps root (warned)

Socket stack:
  --listen ADDR          address to listen on (default: 0.0.0.0)

  -h, --help             this text
`;

type Result<T> = { ok: true; value: T } | { ok: false; message: string };

function parseStatic(ipv4: string | undefined, gateway: string | undefined): Result<Ipv4Config | 'off' | undefined> {
  if (ipv4 === undefined) {
    return gateway === undefined ? { ok: true, value: undefined } : { ok: false, message: '--gateway needs --ipv4 (DHCP supplies the router otherwise)' };
  }
  if (ipv4 === 'off') return gateway === undefined ? { ok: true, value: 'off' } : { ok: false, message: '--gateway is for IPv4, not with --ipv4 off' };
  if (!ipv4.includes('/') || !Address4.isValid(ipv4)) {
    return { ok: false, message: `--ipv4 must be ADDRESS/PREFIX such as 192.168.77.10/24, or off, not '${ipv4}'` };
  }
  const a = new Address4(ipv4);
  const address = parseIpv4(a.addressMinusSuffix ?? '');
  const prefix = a.subnetMask;
  if (address === undefined || prefix < 1 || prefix > 32) return { ok: false, message: `--ipv4 '${ipv4}' is not a usable address` };
  const cfg: Ipv4Config = { address, prefix };
  if (gateway !== undefined) {
    const gw = parseIpv4(gateway);
    if (gw === undefined) return { ok: false, message: `--gateway must be an IPv4 address, not '${gateway}'` };
    if (!sameSubnet(cfg, gw) || gw === address) return { ok: false, message: `--gateway ${gateway} is not another address of ${ipv4}` };
    cfg.gateway = gw;
  }
  return { ok: true, value: cfg };
}

export function parseCli(argv: readonly string[]): CliResult {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        stack: { type: 'string', default: 'direct' },
        port: { type: 'string', default: '8088' },
        listen: { type: 'string', default: '0.0.0.0' },
        data: { type: 'string', default: './data' },
        bridge: { type: 'string', default: 'br0' },
        mac: { type: 'string' },
        ipv4: { type: 'string' },
        gateway: { type: 'string' },
        pcap: { type: 'string' },
        'echo-port': { type: 'string' },
        'chargen-port': { type: 'string' },
        fault: { type: 'string' },
        'dhcp-state': { type: 'string' },
        acd: { type: 'string' },
        hostname: { type: 'string' },
        'tap-binding': { type: 'string' },
        'no-offloads': { type: 'boolean' },
        ipv6: { type: 'string' },
        'ipv6-iid': { type: 'string' },
        gateway6: { type: 'string' },
        'tcp-cc': { type: 'string' },
        'tcp-recovery': { type: 'string' },
        'tcp-ecn': { type: 'string' },
        'metrics-port': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-port': { type: 'string' },
        'tls-only': { type: 'boolean' },
        'tls-handshake-timeout': { type: 'string' },
        user: { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message.split('\n')[0] ?? 'bad flag' : 'bad flag' };
  }
  const v = parsed.values;
  if (v.help) return { kind: 'help' };
  const stack = v.stack;
  if (stack !== 'socket' && stack !== 'direct') return { kind: 'error', message: `--stack must be direct or socket, not '${stack}'` };
  const port = parsePort(v.port);
  if (port === undefined) return { kind: 'error', message: `--port must be a whole number from 1 to 65535, not '${v.port}'` };
  const echoRaw = v['echo-port'];
  const echoPort = echoRaw === undefined ? undefined : parsePort(echoRaw);
  if (echoRaw !== undefined && echoPort === undefined) {
    return { kind: 'error', message: `--echo-port must be a whole number from 1 to 65535, not '${echoRaw}'` };
  }
  if (echoPort === port) return { kind: 'error', message: `--echo-port ${echoRaw} is the service's --port` };
  const chargenRaw = v['chargen-port'];
  const chargenPort = chargenRaw === undefined ? undefined : parsePort(chargenRaw);
  if (chargenRaw !== undefined && chargenPort === undefined) {
    return { kind: 'error', message: `--chargen-port must be a whole number from 1 to 65535, not '${chargenRaw}'` };
  }
  if (chargenPort !== undefined && (chargenPort === port || chargenPort === echoPort)) return { kind: 'error', message: `--chargen-port ${chargenRaw} is taken by another service` };
  const metricsRaw = v['metrics-port'];
  const metricsPort = metricsRaw === undefined ? undefined : parsePort(metricsRaw);
  if (metricsRaw !== undefined && metricsPort === undefined) {
    return { kind: 'error', message: `--metrics-port must be a whole number from 1 to 65535, not '${metricsRaw}'` };
  }
  if (metricsPort !== undefined && metricsPort === port) return { kind: 'error', message: `--metrics-port ${metricsRaw} is the service's --port` };
  if (metricsPort !== undefined && metricsPort === echoPort) return { kind: 'error', message: `--metrics-port ${metricsRaw} is the --echo-port` };
  if (metricsPort !== undefined && metricsPort === chargenPort) return { kind: 'error', message: `--metrics-port ${metricsRaw} is the --chargen-port` };
  const tls = parseTls(v, [
    [port, '--port'], [echoPort, '--echo-port'], [chargenPort, '--chargen-port'], [metricsPort, '--metrics-port'],
  ]);
  if (!tls.ok) return { kind: 'error', message: tls.message };
  const user = v.user;
  if (user !== undefined && !USER_NAME.test(user)) return { kind: 'error', message: `--user must be a user name or a numeric uid, not '${user}'` };
  const logLevel = v['log-level'];
  if (logLevel !== undefined && !isLogLevel(logLevel)) return { kind: 'error', message: `--log-level must be debug, info, warn or error, not '${logLevel}'` };
  const logFormat = v['log-format'];
  if (logFormat !== undefined && !isLogFormat(logFormat)) return { kind: 'error', message: `--log-format must be text or json, not '${logFormat}'` };
  if (isIP(v.listen) === 0) return { kind: 'error', message: `--listen must be an IP address, not '${v.listen}'` };
  if (v.data === '') return { kind: 'error', message: '--data must name a directory' };
  let mac: MacAddr | undefined;
  if (v.mac !== undefined) {
    mac = parseMac(v.mac);
    if (mac === undefined) return { kind: 'error', message: `--mac must look like 02:00:5e:00:00:42, not '${v.mac}'` };
    if (Math.floor(mac / 2 ** 40) & 1) return { kind: 'error', message: `--mac ${v.mac} is a multicast address; the first octet must be even` };
  }
  const ipv4 = parseStatic(v.ipv4, v.gateway);
  if (!ipv4.ok) return { kind: 'error', message: ipv4.message };
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(v.bridge)) return { kind: 'error', message: `--bridge must be an interface name, not '${v.bridge}'` };
  if (v.pcap === '') return { kind: 'error', message: '--pcap must name a file' };
  const acd = v.acd;
  if (acd !== undefined && acd !== 'fast' && acd !== 'rfc' && acd !== 'off') return { kind: 'error', message: `--acd must be fast, rfc or off, not '${acd}'` };
  const tapBinding = v['tap-binding'];
  if (tapBinding !== undefined && tapBinding !== 'auto' && tapBinding !== 'native' && tapBinding !== 'tuntap2') {
    return { kind: 'error', message: `--tap-binding must be auto, native or tuntap2, not '${tapBinding}'` };
  }
  const noOffloads = v['no-offloads'];
  if (noOffloads === true && tapBinding === 'tuntap2') return { kind: 'error', message: '--no-offloads is for the native binding; tuntap2 has no offloads' };
  const hostname = v.hostname;
  if (hostname !== undefined && !isHostname(hostname)) return { kind: 'error', message: `--hostname must be a host name (letters, digits, hyphens; dots between labels), not '${hostname}'` };
  const dhcpState = v['dhcp-state'];
  if (dhcpState === '') return { kind: 'error', message: '--dhcp-state must name a file' };
  if (dhcpState !== undefined && ipv4.value !== undefined) return { kind: 'error', message: '--dhcp-state is for DHCP, not with --ipv4' };
  const fault = v.fault === undefined ? undefined : parseFaultSpec(v.fault);
  if (typeof fault === 'string') return { kind: 'error', message: `--fault: ${fault}` };
  const ipv6 = parseIpv6Mode(v.ipv6);
  if (!ipv6.ok) return { kind: 'error', message: ipv6.message };
  const ipv6Iid = v['ipv6-iid'];
  if (ipv6Iid !== undefined && ipv6Iid !== 'stable' && ipv6Iid !== 'eui64') return { kind: 'error', message: `--ipv6-iid must be stable or eui64, not '${ipv6Iid}'` };
  if (ipv6Iid !== undefined && ipv6.value === undefined) return { kind: 'error', message: '--ipv6-iid is for IPv6, not with --ipv6 off' };
  if (v.gateway6 !== undefined) {
    const gw = parseGateway6(v.gateway6, ipv6.value);
    if (!gw.ok) return { kind: 'error', message: gw.message };
    if (ipv6.value?.mode === 'static') ipv6.value.gateway = gw.value;
  }
  const tcpCc = v['tcp-cc'];
  if (tcpCc !== undefined && !isCongestionControl(tcpCc)) return { kind: 'error', message: `--tcp-cc must be ${CONGESTION_CONTROLS.join(' or ')}, not '${tcpCc}'` };
  const tcpRecovery = v['tcp-recovery'];
  if (tcpRecovery !== undefined && !isLossRecovery(tcpRecovery)) return { kind: 'error', message: `--tcp-recovery must be ${LOSS_RECOVERIES.join(', ')}, not '${tcpRecovery}'` };
  const tcpEcn = v['tcp-ecn'];
  if (tcpEcn !== undefined && tcpEcn !== 'off' && tcpEcn !== 'passive' && tcpEcn !== 'on') return { kind: 'error', message: `--tcp-ecn must be off, passive or on, not '${tcpEcn}'` };
  if (ipv4.value === 'off' && ipv6.value === undefined) return { kind: 'error', message: '--ipv4 off and --ipv6 off leave the stack no address at all' };
  if (stack === 'socket') {
    for (const f of ['mac', 'ipv4', 'gateway', 'pcap', 'fault', 'dhcp-state', 'hostname', 'acd', 'tap-binding', 'no-offloads', 'ipv6', 'ipv6-iid', 'gateway6', 'tcp-cc', 'tcp-recovery', 'tcp-ecn'] as const) {
      if (v[f] !== undefined) return { kind: 'error', message: `--${f} is for the direct stack, not --stack socket` };
    }
  }
  // The socket stack serves on the kernel's addresses (--listen); IPv6 here is the direct stack's.
  const ipv6Value = stack === 'socket' ? undefined : ipv6.value;
  return {
    kind: 'run',
    config: {
      stack, port, listen: v.listen, data: v.data, bridge: v.bridge, mac, ipv4: ipv4.value, pcap: v.pcap, echoPort, chargenPort, fault, dhcpState, acd,
      logLevel, logFormat, metricsPort, tapBinding, noOffloads, ipv6: ipv6Value, ipv6Iid, tcpCc, tcpRecovery, tcpEcn, tls: tls.value, user,
      ...(hostname === undefined ? {} : { hostname }),
    },
  };
}

/** The TLS flags: a certificate and a key together, a port of its own, and the rest only with them. */
function parseTls(
  v: { 'tls-cert'?: string | undefined; 'tls-key'?: string | undefined; 'tls-port'?: string | undefined; 'tls-only'?: boolean | undefined; 'tls-handshake-timeout'?: string | undefined },
  taken: ReadonlyArray<readonly [number | undefined, string]>,
): Result<TlsConfig | undefined> {
  const cert = v['tls-cert'];
  const key = v['tls-key'];
  if (cert === undefined && key === undefined) {
    for (const f of ['tls-port', 'tls-only', 'tls-handshake-timeout'] as const) {
      if (v[f] !== undefined) return { ok: false, message: `--${f} needs --tls-cert and --tls-key` };
    }
    return { ok: true, value: undefined };
  }
  if (cert === undefined || cert === '') return { ok: false, message: '--tls-key needs --tls-cert FILE too' };
  if (key === undefined || key === '') return { ok: false, message: '--tls-cert needs --tls-key FILE too' };
  const rawPort = v['tls-port'];
  const port = rawPort === undefined ? DEFAULT_TLS_PORT : parsePort(rawPort);
  if (port === undefined) return { ok: false, message: `--tls-port must be a whole number from 1 to 65535, not '${rawPort ?? ''}'` };
  const only = v['tls-only'] === true;
  for (const [p, flag] of taken) {
    // With --tls-only the plain port is not opened: only the other services can clash.
    if (p === port && !(only && flag === '--port')) return { ok: false, message: `--tls-port ${port} is the ${flag}` };
  }
  const rawTimeout = v['tls-handshake-timeout'];
  const handshakeTimeoutMs = rawTimeout === undefined ? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS : Number(rawTimeout);
  const [least, most] = TLS_HANDSHAKE_TIMEOUT_RANGE_MS;
  if (!/^[0-9]+$/.test(rawTimeout ?? '0') || !(handshakeTimeoutMs >= least && handshakeTimeoutMs <= most)) {
    return { ok: false, message: `--tls-handshake-timeout must be milliseconds from ${least} to ${most}, not '${rawTimeout ?? ''}'` };
  }
  return { ok: true, value: { certFile: cert, keyFile: key, port, only, handshakeTimeoutMs } };
}

/** `--ipv6`: auto, off, or a static ADDRESS/PREFIX (a unicast address, not link-local, prefix 1–128). */
function parseIpv6Mode(s: string | undefined): Result<Ipv6Mode | undefined> {
  if (s === 'off') return { ok: true, value: undefined };
  if (s === undefined || s === 'auto') return { ok: true, value: { mode: 'auto' } };
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  const address = m === null ? undefined : parseIpv6(m[1] ?? '');
  const prefixLength = Number(m?.[2]);
  if (address === undefined || !(prefixLength >= 1 && prefixLength <= 128)) {
    return { ok: false, message: `--ipv6 must be auto, off or ADDRESS/PREFIX such as fd77::10/64, not '${s}'` };
  }
  if (isIpv6Multicast(address) || isIpv6LinkLocal(address) || address === 0n || address === 1n) {
    return { ok: false, message: `--ipv6 ${s} is not a usable address (multicast, link-local, :: or ::1)` };
  }
  return { ok: true, value: { mode: 'static', address, prefixLength } };
}

/** `--gateway6`: with a static `--ipv6` only; a link-local router or another address of the static prefix (RFC 4861 §8.3 lets only a link-local one redirect). */
function parseGateway6(s: string, mode: Ipv6Mode | undefined): Result<Ipv6Addr> {
  if (mode?.mode !== 'static') return { ok: false, message: '--gateway6 needs --ipv6 ADDR/PREFIX (router advertisements supply the router otherwise)' };
  const gw = parseIpv6(s);
  if (gw === undefined) return { ok: false, message: `--gateway6 must be an IPv6 address such as fe80::1, not '${s}'` };
  const host = 128n - BigInt(mode.prefixLength);
  const onPrefix = gw >> host === mode.address >> host;
  if (isIpv6Multicast(gw) || gw === 0n || gw === 1n || gw === mode.address || !(isIpv6LinkLocal(gw) || onPrefix)) {
    return { ok: false, message: `--gateway6 ${s} is not a router on the link: give a link-local address or another one of ${ipv6ToString(mode.address)}/${mode.prefixLength}` };
  }
  return { ok: true, value: gw };
}

function parsePort(s: string): number | undefined {
  const n = Number(s);
  return /^[0-9]+$/.test(s) && Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}
