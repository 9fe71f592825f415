// The stack as a library: what src/index.ts exports. A NetStack is one running stack (on a TAP in a bridge, or on
// a memory link for tests) with the shape of node:net on top: createServer() / server.listen(port) as
// net.createServer, connect({ host, port }) as net.connect, each connection a net.Socket-compatible StackSocket, so
// that node:http, node:tls and any net library run over it.

import { EventEmitter } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';
import type { Timers } from '../clock.ts';
import type { Random } from '../random.ts';
import { StackUdpSocket } from './udp-socket.ts';
import { ipToString, isIpv6 as isIpv6Addr, parseIpv4, parseIpv6, type IpAddr } from '../net/addr.ts';
import type { Resolver } from '../dns/resolver.ts';
import { stackResolver } from './dns-transport.ts';
import { StackSocket } from '../net/duplex.ts';
import type { TcpListener } from '../net/tcp/tcp.ts';
import type { Stack } from '../stack/stack.ts';
import type { StackDriver } from '../stack/driver.ts';

/** One address of the stack's interface. */
export interface StackAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  prefixLength: number;
}

export interface ServerOptions {
  /** As net.createServer's: false ends our side once the peer's FIN has been read. */
  allowHalfOpen?: boolean;
  /** Nagle off for every accepted connection (as net.createServer's noDelay). */
  noDelay?: boolean;
}

export interface ConnectOptions {
  /** An IPv4 or IPv6 address (host names need the resolver, which is not built yet). */
  host: string;
  port: number;
  noDelay?: boolean;
  allowHalfOpen?: boolean;
}

/** What a NetStack runs on: the driven stack, its clock, and how it stops. */
export interface StackRuntime {
  driver: StackDriver;
  timers: Timers;
  random: Random;
  stop(): Promise<void>;
}

/** A TCP server on the stack, shaped like net.Server: `connection` events with StackSockets. */
export class StackServer extends EventEmitter {
  private listener: TcpListener | undefined;
  private port: number | undefined;

  constructor(
    private readonly owner: NetStack,
    private readonly options: ServerOptions,
    onConnection?: (socket: StackSocket) => void,
  ) {
    super();
    if (onConnection !== undefined) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.listener !== undefined;
  }

  /** Listens on `port` of every address of the stack; `listening` is emitted on the next turn, as node:net does. */
  listen(port: number, cb?: () => void): this {
    if (this.listener !== undefined) throw new Error(`already listening on port ${this.port ?? '?'}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1 to 65535, not ${port}`);
    this.listener = this.owner.stack.tcp.listen(port, (conn) => {
      const socket = new StackSocket(conn, { timers: this.owner.timers, allowHalfOpen: this.options.allowHalfOpen ?? false });
      if (this.options.noDelay === true) socket.setNoDelay(true);
      this.emit('connection', socket);
    });
    this.port = port;
    if (cb !== undefined) this.once('listening', cb);
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  address(): { address: string; family: string; port: number } | null {
    return this.port === undefined || this.listener === undefined ? null : { address: '0.0.0.0', family: 'IPv4', port: this.port };
  }

  /** Stops accepting; connections already accepted go on. `close` is emitted on the next turn. */
  close(cb?: () => void): this {
    this.listener?.close();
    this.listener = undefined;
    if (cb !== undefined) this.once('close', cb);
    queueMicrotask(() => this.emit('close'));
    return this;
  }
}

/** A running stack. Events: `address` (the addresses changed; the new list). */
export class NetStack extends EventEmitter {
  /** Resolves once the interface has an address (DHCP bound, static, or an IPv6 address past DAD). */
  readonly ready: Promise<void>;
  private known = '';
  private dns: Resolver | undefined;
  private closed: Promise<void> | undefined;
  /**
   * Keeps the process running while the stack is open, as a listening net.Server does (the stack's own timers
   * are unref'd); unref() lets it exit all the same.
   */
  private readonly alive = setInterval(() => {}, 2 ** 31 - 1);

  constructor(private readonly runtime: StackRuntime) {
    super();
    let resolveReady: () => void = () => {};
    this.ready = new Promise<void>((resolve) => (resolveReady = resolve));
    const check = (): void => {
      const now = this.addresses;
      const key = now.map((a) => `${a.address}/${a.prefixLength}`).join(' ');
      if (key === this.known) return;
      this.known = key;
      if (now.length > 0) resolveReady();
      this.emit('address', now);
    };
    runtime.driver.observe(check);
    queueMicrotask(check);
  }

  /** The layers underneath (the composition root's Stack), for status and counters. */
  get stack(): Stack {
    return this.runtime.driver.stack;
  }

  get timers(): Timers {
    return this.runtime.timers;
  }

  /** The interface's usable addresses: IPv4's, and IPv6's past duplicate address detection. */
  get addresses(): StackAddress[] {
    const out: StackAddress[] = [];
    const v4 = this.stack.ipv4.config;
    if (v4 !== undefined) out.push({ family: 'IPv4', address: ipToString(v4.address), prefixLength: v4.prefix });
    for (const a of this.stack.ndp?.addresses.list() ?? []) {
      if (a.state !== 'tentative') out.push({ family: 'IPv6', address: ipToString(a.address), prefixLength: a.prefixLength });
    }
    return out;
  }

  /** As net.createServer: a server whose `connection` events carry StackSockets. */
  createServer(options?: ServerOptions | ((socket: StackSocket) => void), onConnection?: (socket: StackSocket) => void): StackServer {
    if (typeof options === 'function') return new StackServer(this, {}, options);
    return new StackServer(this, options ?? {}, onConnection);
  }

  /**
   * The addresses of `name` (A, AAAA or both, IPv4 first), asked of the DNS servers the stack learned by DHCP,
   * DHCPv6 or router advertisements, over the stack itself; cached for their TTL (src/dns/resolver.ts).
   */
  async lookup(name: string, family: 0 | 4 | 6 = 0): Promise<StackAddress[]> {
    this.dns ??= stackResolver(this.runtime.driver, this.timers, this.runtime.random);
    const found = await this.dns.lookup(name, family);
    return found.map((a) => ({ family: isIpv6Addr(a) ? 'IPv6' : 'IPv4', address: ipToString(a), prefixLength: isIpv6Addr(a) ? 128 : 32 }));
  }

  /** As dgram.createSocket: a UDP socket on this stack (udp4 and udp6 share one port table). */
  createSocket(type: 'udp4' | 'udp6'): StackUdpSocket {
    return new StackUdpSocket(this.runtime.driver, this.timers, this.runtime.random, type);
  }

  /** As net.connect: a StackSocket connecting to `host` (an IP address) and `port`; `connect` once established. */
  connect(options: ConnectOptions, onConnect?: () => void): StackSocket {
    const dst = parseHost(options.host);
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new RangeError(`port must be 1 to 65535, not ${options.port}`);
    const conn = this.stack.tcp.connect(dst, options.port);
    const socket = new StackSocket(conn, { timers: this.timers, allowHalfOpen: options.allowHalfOpen ?? false });
    if (options.noDelay === true) socket.setNoDelay(true);
    if (onConnect !== undefined) socket.once('connect', onConnect);
    return socket;
  }

  /** As a net.Server's: an open stack keeps the process running (the default) or not. */
  ref(): this {
    this.alive.ref();
    return this;
  }

  unref(): this {
    this.alive.unref();
    return this;
  }

  /** Stops the stack: every connection closed (FIN, then reset after the grace), the device closed. */
  close(): Promise<void> {
    // The process stays up until the stop is done: its grace runs on the stack's (unref'd) timers.
    this.closed ??= this.runtime.stop().finally(() => clearInterval(this.alive));
    return this.closed;
  }
}

function parseHost(host: string): IpAddr {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const a = isIPv4(bare) ? parseIpv4(bare) : isIPv6(bare) ? parseIpv6(bare) : undefined;
  if (a === undefined) throw new TypeError(`host must be an IPv4 or IPv6 address, not '${host}' (names need a resolver, which this stack does not have yet)`);
  return a;
}
