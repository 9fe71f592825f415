// A UDP socket on the stack, shaped like node:dgram's Socket: bind, send, `message` events with rinfo, close.
// Datagrams are handed to the application after the stack's receive (a microtask later, as the TCP sockets'
// data), through a queue bounded by MAX_QUEUED_DATAGRAMS; what arrives past it is dropped and counted.

import { EventEmitter } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';
import { ipToString, isIpv4, parseIpv4, parseIpv6, type IpAddr } from '../net/addr.ts';
import type { UdpReceived } from '../net/udp.ts';
import type { StackDriver } from '../stack/driver.ts';
import type { Timers } from '../clock.ts';
import type { Random } from '../random.ts';

/** Datagrams waiting for the application on one socket; past it they are dropped (`dropped`). */
export const MAX_QUEUED_DATAGRAMS = 1024;
/** The ephemeral ports a socket bound without a port takes one of (RFC 6335 §6). */
const EPHEMERAL = [49152, 65535] as const;
/** The largest payload one datagram carries (65535 less the IPv4 and UDP headers). */
export const MAX_UDP_PAYLOAD = 65507;

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

type SendCallback = (err: Error | null, bytes: number) => void;

export class StackUdpSocket extends EventEmitter {
  /** Datagrams dropped because the application did not keep up (the queue was full). */
  dropped = 0;
  private port: number | undefined;
  private unbind: (() => void) | undefined;
  private readonly queue: Array<{ msg: Buffer; rinfo: RemoteInfo }> = [];
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly driver: StackDriver,
    private readonly timers: Timers,
    private readonly random: Random,
    readonly type: 'udp4' | 'udp6',
  ) {
    super();
  }

  /** Binds `port` (0 or none: a free ephemeral one); `listening` follows on the next turn. */
  bind(port = 0, cb?: () => void): this {
    if (this.closed) throw new Error('the socket is closed');
    if (this.port !== undefined) throw new Error(`already bound to port ${this.port}`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be 0 to 65535, not ${port}`);
    const udp = this.driver.stack.udp;
    const take = (p: number): boolean => {
      try {
        this.unbind = udp.bind(p, (d) => this.received(d));
        this.port = p;
        return true;
      } catch {
        return false;
      }
    };
    if (port !== 0) {
      if (!take(port)) throw Object.assign(new Error(`bind EADDRINUSE 0.0.0.0:${port}`), { code: 'EADDRINUSE' });
    } else {
      const span = EPHEMERAL[1] - EPHEMERAL[0] + 1;
      const start = Math.floor(this.random() * span);
      let found = false;
      for (let i = 0; i < span && !found; i++) found = take(EPHEMERAL[0] + ((start + i) % span));
      if (!found) throw Object.assign(new Error('bind EADDRINUSE: no ephemeral UDP port is free'), { code: 'EADDRINUSE' });
    }
    if (cb !== undefined) this.once('listening', cb);
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  address(): { address: string; family: string; port: number } {
    if (this.port === undefined) throw Object.assign(new Error('getsockname EBADF: not bound'), { code: 'EBADF' });
    return { address: this.type === 'udp4' ? '0.0.0.0' : '::', family: this.type === 'udp4' ? 'IPv4' : 'IPv6', port: this.port };
  }

  /** Sends one datagram to `address`:`port` (binding an ephemeral port first if need be); `cb` gets an error or the bytes. */
  send(msg: Uint8Array | string, port: number, address: string, cb?: SendCallback): void {
    const done = (err: Error | null, bytes: number): void => {
      if (cb !== undefined) queueMicrotask(() => cb(err, bytes));
      else if (err !== null) queueMicrotask(() => this.emit('error', err));
    };
    if (this.closed) return done(new Error('send after close'), 0);
    const payload = typeof msg === 'string' ? Buffer.from(msg, 'utf8') : msg;
    if (payload.length > MAX_UDP_PAYLOAD) return done(Object.assign(new Error(`send EMSGSIZE (${payload.length} bytes)`), { code: 'EMSGSIZE' }), 0);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return done(new RangeError(`port must be 1 to 65535, not ${port}`), 0);
    const dst = this.parse(address);
    if (dst === undefined) return done(new TypeError(`${this.type} sends to ${this.type === 'udp4' ? 'IPv4' : 'IPv6'} addresses, not '${address}'`), 0);
    if (this.port === undefined) this.bind(0);
    const sent = this.driver.stack.udp.send({ srcPort: this.port ?? 0, dst, dstPort: port, payload }, this.timers.now());
    this.driver.wake();
    if (!sent) return done(Object.assign(new Error(`send ENETUNREACH ${address}`), { code: 'ENETUNREACH' }), 0);
    return done(null, payload.length);
  }

  close(cb?: () => void): this {
    if (this.closed) return this;
    this.closed = true;
    this.unbind?.();
    this.unbind = undefined;
    this.queue.length = 0;
    if (cb !== undefined) this.once('close', cb);
    queueMicrotask(() => this.emit('close'));
    return this;
  }

  /** The stack's own timers keep nothing alive; these exist for code that calls them. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  private parse(address: string): IpAddr | undefined {
    if (this.type === 'udp4') return isIPv4(address) ? parseIpv4(address) : undefined;
    return isIPv6(address) ? parseIpv6(address) : undefined;
  }

  private received(d: UdpReceived): void {
    if (this.closed) return;
    if ((this.type === 'udp4') !== isIpv4(d.src)) return; // the other family's socket shares the port table
    if (this.queue.length >= MAX_QUEUED_DATAGRAMS) {
      this.dropped++;
      return;
    }
    const msg = Buffer.from(d.payload); // a copy: the payload is valid only during the call
    this.queue.push({ msg, rinfo: { address: ipToString(d.src), family: isIpv4(d.src) ? 'IPv4' : 'IPv6', port: d.srcPort, size: msg.length } });
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const batch = this.queue.splice(0);
      for (const m of batch) if (!this.closed) this.emit('message', m.msg, m.rinfo);
    });
  }
}
