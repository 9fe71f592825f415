// `--stack direct`: our own stack on a TAP in a bridge. Builds the device (recorded to pcap when asked),
// the stack and its driver, reports the boot in the original's words, and puts services on TCP ports.

import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acdOptionsFor } from '../arp/acd.ts';
import type { Timers } from '../clock.ts';
import type { AcdMode } from '../arp/acd.ts';
import type { Logger } from '../log.ts';
import type { Dhcpv6Lease } from '../dhcp/dhcpv6-client.ts';
import { dhcpv6LeaseFilePath, readDhcpv6LeaseFile, writeDhcpv6LeaseFile } from '../dhcp/dhcpv6-lease-file.ts';
import { DEFAULT_LEASE_DIR, defaultLeaseFilePath, readLeaseFile, writeLeaseFile, type LeaseClocks } from '../dhcp/lease-file.ts';
import { ipv4ToString, ipv6ToString, macToString, randomLocalMac, type Ipv4Config, type Ipv6Addr, type MacAddr } from '../net/addr.ts';
import type { ByteStream } from '../net/byte-stream.ts';
import type { DeviceOffloads, NetDevice, RxInfo } from '../net/device.ts';
import { Counters } from '../net/counters.ts';
import { FaultyDevice, type FaultSpec } from '../net/fault-device.ts';
import { RecordingDevice } from '../net/pcap.ts';
import { TapDevice, type TapBinding } from '../net/tap-device.ts';
import type { CongestionControlName } from '../net/tcp/congestion-control.ts';
import type { LossRecoveryName } from '../net/tcp/loss-recovery.ts';
import type { EcnMode } from '../net/tcp/ecn.ts';
import { defaultTcpConfig } from '../net/tcp/tcp-config.ts';
import type { TcpListener } from '../net/tcp/tcp.ts';
import { TcpSocket } from '../net/tcp/tcp-socket.ts';
import type { TcpConnection } from '../net/tcp/tcp-connection.ts';
import { StackSocket } from '../net/duplex.ts';
import type { Random } from '../random.ts';
import { StackDriver } from './driver.ts';
import { defaultIpv6SecretPath, loadIpv6Secret } from './ipv6-secret.ts';
import { describeConfig, type DhcpStateStore, type Stack, type StackIpv6Options, type StackOptions, type StateStore } from './stack.ts';

/** How long shutdown waits for the DHCP release to leave and every connection to close (CLOSED or TIME_WAIT); then resets. */
const STOP_GRACE_MS = 1000;

export interface DirectStack {
  stack: Stack;
  driver: StackDriver;
  device: NetDevice;
  /** Frames and bytes through the TAP, both ways (for metrics and the status). */
  traffic: DeviceTraffic;
  /** Where the DHCP leases and the IPv6 secret are kept (written to while the stack runs). */
  stateDir: string;
  /** The state directory is this service's own: the default one, or one that did not exist before this start. */
  stateDirOurs: boolean;
  /** Serves each connection accepted on `port` with `serve`; `noDelay` turns Nagle off for them. */
  listen(port: number, serve: (stream: ByteStream) => Promise<void>, opts?: { noDelay?: boolean }): TcpListener;
  /** The same, each connection handed over as a net.Socket-compatible StackSocket (for node:tls and node:http). */
  listenSockets(port: number, onSocket: (socket: StackSocket) => void, opts?: { noDelay?: boolean; allowHalfOpen?: boolean }): TcpListener;
  /** Resolves once the interface has an address (at once if it has one). */
  addressed(): Promise<void>;
  /** The TCP ports listened on through `listen`, ascending. */
  listening(): number[];
  /** Settles when the TAP can no longer be read (deleted from outside): the stack has no network from then on. */
  deviceLost: Promise<string>;
  stop(): Promise<void>;
}

/** What crossed a device: frames and bytes (Ethernet header included, no FCS) in each direction. */
export interface DeviceTraffic {
  readonly framesIn: number;
  readonly bytesIn: number;
  readonly framesOut: number;
  readonly bytesOut: number;
}

/** A NetDevice that counts every frame through it, both ways, and otherwise passes everything on. */
export class CountingDevice implements NetDevice, DeviceTraffic {
  framesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;

  constructor(private readonly inner: NetDevice) {}

  get mac(): MacAddr {
    return this.inner.mac;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  get offloads(): DeviceOffloads | undefined {
    return this.inner.offloads;
  }

  send(frame: Uint8Array): void {
    this.framesOut++;
    this.bytesOut += frame.length;
    this.inner.send(frame);
  }

  onFrame(receiver: (frame: Uint8Array, info?: RxInfo) => void): void {
    this.inner.onFrame((frame, info) => {
      this.framesIn++;
      this.bytesIn += frame.length;
      receiver(frame, info);
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A host name DHCP may carry (option 12): RFC 1123 §2.1 labels, at most 255 bytes in all. */
export function isHostname(name: string): boolean {
  return name.length >= 1 && name.length <= 255 && name.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** The machine's name when it is one DHCP can carry, else the project's. */
export function defaultHostname(): string {
  const h = os.hostname();
  return isHostname(h) ? h : 'mirage-direct-ts';
}

/** What the direct stack is started with (the command line's `Config` is one). */
export interface DirectStackOptions {
  /** The host name sent in DHCP (option 12); default the machine's (os.hostname()). */
  hostname?: string | undefined;
  /** The bridge the TAP joins. */
  bridge: string;
  /** Our MAC; random (locally administered) when undefined. */
  mac: MacAddr | undefined;
  /** A static address, or 'off' for none (IPv6 only); DHCP when undefined. */
  ipv4: Ipv4Config | 'off' | undefined;
  /** Record every frame in and out to this pcap file. */
  pcap: string | undefined;
  /** Inject faults on the device, both directions. */
  fault: FaultSpec | undefined;
  /** The DHCP lease state file (INIT-REBOOT); default /var/lib/mirage-direct-ts/dhcp-lease-MAC.json. */
  dhcpState?: string | undefined;
  acd?: AcdMode | undefined;
  tapBinding?: TapBinding | undefined;
  noOffloads?: boolean | undefined;
  /** IPv6 beside IPv4: `auto` (link-local and SLAAC) or also a static address; undefined: off. */
  ipv6?: { mode: 'auto' } | { mode: 'static'; address: Ipv6Addr; prefixLength: number; gateway?: Ipv6Addr | undefined } | undefined;
  ipv6Iid?: 'stable' | 'eui64' | undefined;
  /** TCP's congestion control (default: the TCP layer's, cubic). */
  tcpCc?: CongestionControlName | undefined;
  tcpRecovery?: LossRecoveryName | undefined;
  /** TCP's ECN (default: passive). */
  tcpEcn?: EcnMode | undefined;
}

/** Starts the direct stack; throws DeviceSetupError (with advice) when the TAP cannot be made. */
export function startDirectStack(config: DirectStackOptions, timers: Timers, random: Random, log: Logger): DirectStack {
  const mac = config.mac ?? randomLocalMac(random);
  // DHCP remembers its lease between runs (INIT-REBOOT); the file is read here, once, and written when the client says.
  const dhcpState = config.ipv4 === undefined ? leaseStore(config.dhcpState ?? defaultLeaseFilePath(mac), mac, timers, log) : undefined;
  const acd = acdOptionsFor(config.acd ?? 'fast');
  const counters = new Counters();
  // Offloads change what crosses the TAP (super-segments, partial checksums): not under a capture or a
  // fault injector, which should see and act on the frames that cross the wire.
  const offloads = config.noOffloads !== true && config.pcap === undefined && config.fault === undefined;
  let lost: (code: string) => void = () => {};
  const deviceLost = new Promise<string>((resolve) => (lost = resolve));
  const tap = TapDevice.open({ bridge: config.bridge, mac, binding: config.tapBinding, offloads, log: (l) => log.info(l), onGone: (code) => lost(code) }, counters);
  log.info(`Netif: plugging ${tap.name} into ${config.bridge} with mac ${macToString(mac)} (mtu ${tap.mtu})`);
  log.info(`TCP: ${config.tcpCc ?? defaultTcpConfig.congestionControl} congestion control, ${config.tcpRecovery ?? defaultTcpConfig.lossRecovery} loss recovery, ECN ${config.tcpEcn ?? defaultTcpConfig.ecn}`);
  let addressWaiters: Array<() => void> = [];
  const stateDir = path.dirname(config.dhcpState ?? defaultLeaseFilePath(mac));
  const stateDirOurs = stateDir === DEFAULT_LEASE_DIR || !existsSync(stateDir);
  const ipv6 = config.ipv6 === undefined ? undefined : ipv6Options(config, mac, stateDir, timers, log);
  const options: Omit<StackOptions, 'wake'> = {
    mac, mtu: tap.mtu, random, log: (l) => log.info(l), ipv4: config.ipv4, hostname: config.hostname ?? defaultHostname(), dhcpState, acd, counters, offloads: tap.offloads, ipv6,
    tcp: { ...(config.tcpCc === undefined ? {} : { congestionControl: config.tcpCc }), ...(config.tcpRecovery === undefined ? {} : { lossRecovery: config.tcpRecovery }), ...(config.tcpEcn === undefined ? {} : { ecn: config.tcpEcn }) },
    onAddress: (cfg) => {
      if (cfg === undefined) {
        log.info('IPv4: no address');
        return;
      }
      log.info(`IPv4: ready on ${describeConfig(cfg)}`);
      const waiters = addressWaiters;
      addressWaiters = [];
      for (const w of waiters) w();
    },
  };
  // Counted at the TAP itself: what really crossed it, before any fault injection.
  const traffic = new CountingDevice(tap);
  let device: NetDevice = traffic;
  if (config.fault !== undefined) {
    const f = config.fault;
    device = new FaultyDevice(device, f, timers, counters);
    log.info(`fault: drop=${f.drop} dup=${f.dup} reorder=${f.reorder} corrupt=${f.corrupt} delay=${f.delayMs}ms seed=${f.seed}`);
  }
  // Recorded on the stack's side of the fault injector: frames as the stack sent and saw them.
  if (config.pcap !== undefined) {
    device = new RecordingDevice(device, config.pcap);
    log.info(`pcap: recording every frame to ${config.pcap}`);
  }
  const driver = new StackDriver(device, timers, options);
  const stack = driver.stack;
  driver.start();
  const ports = new Set<number>();
  const listenOn = (port: number, accept: (conn: TcpConnection) => void): TcpListener => {
    const l = stack.tcp.listen(port, accept);
    ports.add(port);
    return {
      port,
      close: () => {
        ports.delete(port);
        l.close();
      },
    };
  };
  return {
    stack,
    driver,
    device,
    traffic,
    stateDir,
    stateDirOurs,
    listen: (port, serve, opts = {}) =>
      listenOn(port, (conn) => {
        if (opts.noDelay !== undefined) conn.noDelay = opts.noDelay;
        void serve(new TcpSocket(conn));
      }),
    listenSockets: (port, onSocket, opts = {}) =>
      listenOn(port, (conn) => {
        const socket = new StackSocket(conn, { timers, allowHalfOpen: opts.allowHalfOpen ?? true });
        if (opts.noDelay !== undefined) socket.setNoDelay(opts.noDelay);
        onSocket(socket);
      }),
    addressed: () => (stack.ipv4.config !== undefined ? Promise.resolve() : new Promise<void>((resolve) => addressWaiters.push(resolve))),
    listening: () => [...ports].sort((a, b) => a - b),
    deviceLost,
    stop: () => driver.stop(STOP_GRACE_MS),
  };
}

/** IPv6's stack options: the stable-identifier secret from its file (made on first use), the static address. */
function ipv6Options(config: DirectStackOptions, mac: MacAddr, stateDir: string, timers: Timers, log: Logger): StackIpv6Options {
  const iid = config.ipv6Iid ?? 'stable';
  let secret: Uint8Array = new Uint8Array(0);
  if (iid === 'stable') {
    const file = defaultIpv6SecretPath(stateDir, mac);
    const loaded = loadIpv6Secret(file);
    secret = loaded.secret;
    if (loaded.error !== undefined) log.warn(`IPv6: cannot keep the address secret in ${file} (${loaded.error}): addresses will change at the next start`);
    else log.info(`IPv6: stable addresses (RFC 7217) from the secret in ${file}${loaded.made ? ' (new)' : ''}`);
  }
  const v6 = config.ipv6;
  return {
    secret,
    dhcpv6State: dhcpv6LeaseStore(dhcpv6LeaseFilePath(stateDir, mac), mac, timers, log),
    ...(v6?.mode === 'static' ? { static: { address: v6.address, prefixLength: v6.prefixLength, gateway: v6.gateway } } : {}),
    ndp: { addresses: { iid } },
  };
}

/**
 * The DHCP lease remembered in `file` (src/dhcp/lease-file.ts): read once now, rewritten whenever the client says.
 * A file that cannot be read or written is reported and otherwise ignored: DHCP then simply starts from INIT.
 */
function leaseStore(file: string, mac: MacAddr, timers: Timers, log: Logger): DhcpStateStore {
  const clocks = clocksOf(timers);
  return stateStore('DHCP', file, log, readLeaseFile(file, mac, clocks), (lease) => writeLeaseFile(file, mac, lease, clocks),
    (saved) => `${ipv4ToString(saved.address)} until ${new Date(clocks.wall() + saved.expiresAt - clocks.stack()).toISOString()}`);
}

/** The DHCPv6 lease remembered beside the DHCPv4 one (src/dhcp/dhcpv6-lease-file.ts), for Confirm at the next start. */
function dhcpv6LeaseStore(file: string, mac: MacAddr, timers: Timers, log: Logger): StateStore<Dhcpv6Lease> {
  const clocks = clocksOf(timers);
  return stateStore('DHCPv6', file, log, readDhcpv6LeaseFile(file, mac, clocks), (lease) => writeDhcpv6LeaseFile(file, mac, lease, clocks),
    (saved) => saved.addresses.map((a) => ipv6ToString(a.address)).join(', '));
}

function clocksOf(timers: Timers): LeaseClocks {
  return { wall: () => Date.now(), stack: () => timers.now() };
}

function stateStore<T>(
  what: string, file: string, log: Logger, read: { kind: 'none' } | { kind: 'ok'; saved: T } | { kind: 'bad'; reason: string },
  write: (lease: T | undefined) => void, describe: (saved: T) => string,
): StateStore<T> {
  if (read.kind === 'bad') log.warn(`${what}: ignoring the state file ${file}: ${read.reason}`);
  if (read.kind === 'ok') log.info(`${what}: state file ${file}: ${describe(read.saved)}`);
  else log.info(`${what}: state file ${file}`);
  return {
    saved: read.kind === 'ok' ? read.saved : undefined,
    save: (lease) => {
      try {
        write(lease);
      } catch (err) {
        const verb = lease === undefined ? 'remove' : 'write';
        log.warn(`${what}: cannot ${verb} the state file ${file}: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };
}
