// A connection of our stack as a `net.Socket`-compatible stream.Duplex, so that node:tls, node:http and every
// Node network library run over it unchanged (`server.emit('connection', socket)`, `new tls.TLSSocket(socket)`).
// It mirrors net.Socket where a library can tell: the same events in the same order (`connect`, `ready`, `data`,
// `end`, `finish`, `timeout`, `drain`, `error`, `close`), the same errors (ECONNRESET, ETIMEDOUT, ECONNREFUSED,
// EPIPE), the same properties and the same backpressure through `write()`'s return value. The transport is any
// object shaped like a TcpConnection (src/net/tcp/tcp-connection.ts), named here by shape so that src/net does
// not import the layer above it.

import { Duplex } from 'node:stream';
import { ipToString, isIpv6, type IpAddr } from './addr.ts';
import type { TimerHandle, Timers } from '../clock.ts';

/** What the socket needs of a connection: TcpConnection has all of it. */
export interface SocketTransport {
  readonly local: { readonly address: IpAddr; readonly port: number };
  readonly remote: { readonly address: IpAddr; readonly port: number };
  readonly state: string;
  /** Handshake done (and not closed). */
  readonly established: boolean;
  readonly readable: number;
  readonly atEof: boolean;
  readonly canSend: boolean;
  readonly error: 'reset' | 'timeout' | 'refused' | 'aborted' | undefined;
  noDelay: boolean;
  keepAliveIdleMs: number;
  /** Called (synchronously, from inside the stack) after anything the application may care about changed. */
  notify: () => void;
  read(max: number): Uint8Array;
  /** Takes what fits; returns how many bytes were taken. */
  write(data: Uint8Array): number;
  shutdownWrite(): void;
  close(): void;
  abort(): void;
}

export interface StackSocketOptions {
  /** As net.Socket's: false ends our side when the peer's FIN has been read. */
  allowHalfOpen?: boolean;
  /** Clock for setTimeout's idle timer. */
  timers: Timers;
  /** The keep-alive idle time `setKeepAlive(true)` uses when given no delay (Linux's tcp_keepalive_time). */
  defaultKeepAliveMs?: number;
  /** Writable high-water mark: where `write()` starts returning false. */
  writableHighWaterMark?: number;
}

/** Linux's default tcp_keepalive_time, 2 hours: what `setKeepAlive(true)` with no delay means on the kernel. */
export const DEFAULT_KEEPALIVE_MS = 7_200_000;
/** Most bytes one push hands to the readable side. */
const READ_CHUNK = 64 * 1024;

/** An error shaped like the ones node:net raises (`code`, `errno`, `syscall`). */
function netError(code: string, syscall: string): NodeJS.ErrnoException {
  const errno: Record<string, number> = { ECONNRESET: -104, ECONNABORTED: -103, ETIMEDOUT: -110, ECONNREFUSED: -111, EPIPE: -32 };
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  err.code = code;
  err.errno = errno[code];
  err.syscall = syscall;
  return err;
}

interface PendingWrite {
  chunk: Uint8Array;
  length: number;
  cb: (err?: Error | null) => void;
}

/**
 * Hands a connection to a node:net or node:http server as its own listener would: with the server's `noDelay`
 * and `keepAlive` options applied (net.Server applies them to the handle, before 'connection', so a socket
 * given by `emit('connection')` would miss them), then `emit('connection', socket)`.
 */
export function emitConnection(server: { noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number; emit(event: 'connection', s: StackSocket): boolean }, socket: StackSocket): void {
  if (server.noDelay === true) socket.setNoDelay(true);
  // net.Server keeps the initial delay in seconds.
  if (server.keepAlive === true) socket.setKeepAlive(true, (server.keepAliveInitialDelay ?? 0) * 1000);
  server.emit('connection', socket);
}

export class StackSocket extends Duplex {
  /** As net.Socket's: true until the handshake of an active open completes. */
  connecting: boolean;
  private readonly timers: Timers;
  private readonly defaultKeepAliveMs: number;
  private wantRead = false;
  private pushedEof = false;
  private pendingWrite: PendingWrite | undefined;
  private scheduled = false;
  private written = 0;
  private received = 0;
  private idleMs = 0;
  private idleTimer: TimerHandle | undefined;
  private lastActivity = 0;
  private released = false;
  /** The update one notify schedules (one function per socket, not one per notification). */
  private readonly scheduledUpdate = (): void => {
    this.scheduled = false;
    this.update();
  };

  constructor(readonly transport: SocketTransport, opts: StackSocketOptions) {
    super({ allowHalfOpen: opts.allowHalfOpen ?? false, ...(opts.writableHighWaterMark === undefined ? {} : { writableHighWaterMark: opts.writableHighWaterMark }) });
    this.timers = opts.timers;
    this.defaultKeepAliveMs = opts.defaultKeepAliveMs ?? DEFAULT_KEEPALIVE_MS;
    this.connecting = !transport.established && transport.state !== 'CLOSED';
    // The transport calls from inside the stack's receive path; the application runs after it, once per turn.
    transport.notify = () => {
      if (this.scheduled) return;
      this.scheduled = true;
      queueMicrotask(this.scheduledUpdate);
    };
  }

  // ——— What net.Socket exposes ———

  get localAddress(): string {
    return ipToString(this.transport.local.address);
  }

  get localPort(): number {
    return this.transport.local.port;
  }

  get localFamily(): string {
    return isIpv6(this.transport.local.address) ? 'IPv6' : 'IPv4';
  }

  get remoteAddress(): string | undefined {
    return this.transport.state === 'CLOSED' && this.destroyed ? undefined : ipToString(this.transport.remote.address);
  }

  get remotePort(): number | undefined {
    return this.transport.state === 'CLOSED' && this.destroyed ? undefined : this.transport.remote.port;
  }

  get remoteFamily(): string | undefined {
    return this.transport.state === 'CLOSED' && this.destroyed ? undefined : isIpv6(this.transport.remote.address) ? 'IPv6' : 'IPv4';
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (this.destroyed) return {};
    return { address: this.localAddress, family: this.localFamily, port: this.localPort };
  }

  /** Bytes handed to the application. */
  get bytesRead(): number {
    return this.received;
  }

  /** Bytes the application wrote, whether or not the connection has taken them yet (as net.Socket counts). */
  get bytesWritten(): number {
    return this.written + this.writableLength;
  }

  get pending(): boolean {
    return this.connecting || this.destroyed;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The idle timeout set with setTimeout (0: none), as net.Socket's `timeout`. */
  get timeout(): number | undefined {
    return this.idleMs === 0 ? undefined : this.idleMs;
  }

  setNoDelay(noDelay = true): this {
    if (!this.destroyed) this.transport.noDelay = noDelay;
    return this;
  }

  /** RFC 9293 §3.8.4 keep-alives after `initialDelay` ms of idleness (0: the default, 2 hours). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (!this.destroyed) this.transport.keepAliveIdleMs = enable ? (initialDelay > 0 ? initialDelay : this.defaultKeepAliveMs) : 0;
    return this;
  }

  /** Emits `timeout` after `ms` without reads or writes (0 turns it off); the socket stays open, as in node:net. */
  setTimeout(ms: number, cb?: () => void): this {
    this.idleMs = Math.max(0, ms);
    if (cb !== undefined) {
      if (this.idleMs === 0) this.off('timeout', cb);
      else this.once('timeout', cb);
    }
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    if (this.idleMs > 0 && !this.destroyed) {
      this.lastActivity = this.timers.now();
      this.armIdle(this.idleMs);
    }
    return this;
  }

  /** The stack's own timers keep the process running; these exist for libraries that call them. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Closes with a RST, as net.Socket's resetAndDestroy. */
  resetAndDestroy(): this {
    this.release(true);
    this.destroy();
    return this;
  }

  /** Ends our side once queued data is written, then destroys the socket. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  // ——— The Duplex's machinery ———

  override _read(): void {
    this.wantRead = true;
    this.update();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.pendingWrite !== undefined) throw new Error('StackSocket: overlapping _write');
    this.pendingWrite = { chunk, length: chunk.length, cb };
    this.flushWrite();
  }

  override _final(cb: (err?: Error | null) => void): void {
    // As net.Socket: an end() while connecting sends its FIN once the handshake is done.
    if (this.connecting) {
      this.once('connect', () => this._final(cb));
      return;
    }
    if (this.transport.state !== 'CLOSED') this.transport.shutdownWrite();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    // destroy(err) resets, as net.Socket's does; a plain destroy() closes with a FIN.
    this.release(err !== null);
    const w = this.pendingWrite;
    this.pendingWrite = undefined;
    w?.cb(err ?? netError('EPIPE', 'write'));
    // 'close' a turn later, as net.Socket's comes once its handle has closed: never in the tick of 'end'.
    setImmediate(() => cb(err));
  }

  private release(reset: boolean): void {
    if (this.released) return;
    this.released = true;
    this.transport.notify = () => {};
    if (reset) this.transport.abort();
    else if (this.transport.state !== 'CLOSED') this.transport.close();
  }

  private armIdle(delay: number): void {
    this.idleTimer = this.timers.setTimer(delay, () => {
      this.idleTimer = undefined;
      if (this.destroyed || this.idleMs === 0) return;
      const idle = this.timers.now() - this.lastActivity;
      if (idle >= this.idleMs) {
        this.lastActivity = this.timers.now();
        this.emit('timeout');
        if (this.idleMs > 0 && !this.destroyed && this.idleTimer === undefined) this.armIdle(this.idleMs);
      } else {
        this.armIdle(this.idleMs - idle);
      }
    });
  }

  private active(): void {
    if (this.idleMs > 0) this.lastActivity = this.timers.now();
  }

  /** Takes what the connection has for us: the handshake's end, data, the peer's FIN, free space, its end. */
  private update(): void {
    if (this.destroyed) return;
    const t = this.transport;
    if (this.connecting) {
      if (t.established) {
        this.connecting = false;
        this.emit('connect');
        this.emit('ready');
      } else if (t.state !== 'CLOSED') {
        return;
      }
    }
    while (this.wantRead && t.readable > 0) {
      const data = t.read(READ_CHUNK);
      this.received += data.length;
      this.active();
      this.wantRead = this.push(Buffer.from(data.buffer, data.byteOffset, data.length));
    }
    if (t.state === 'CLOSED' && t.error !== undefined) {
      // Reset by the peer, timed out, refused, or aborted by the stack itself (its shutdown, a shed connection):
      // that is the error, before a write waiting for space could fail with EPIPE instead.
      const wasConnecting = this.connecting;
      this.connecting = false;
      this.released = true;
      const codes = { reset: 'ECONNRESET', timeout: 'ETIMEDOUT', refused: 'ECONNREFUSED', aborted: 'ECONNABORTED' } as const;
      this.destroy(netError(codes[t.error], wasConnecting ? 'connect' : 'read'));
      return;
    }
    if (t.readable === 0 && t.atEof && !this.pushedEof) {
      this.pushedEof = true;
      this.push(null);
    }
    this.flushWrite();
  }

  private flushWrite(): void {
    const w = this.pendingWrite;
    if (w === undefined) return;
    const t = this.transport;
    if (!t.canSend) {
      if (t.state === 'CLOSED' || !this.connecting) {
        this.pendingWrite = undefined;
        w.cb(netError('EPIPE', 'write'));
      }
      return;
    }
    const n = t.write(w.chunk);
    if (n > 0) this.active();
    if (n < w.chunk.length) {
      w.chunk = w.chunk.subarray(n);
      return;
    }
    this.pendingWrite = undefined;
    // Counted whole when taken whole: until then the chunk is in writableLength.
    this.written += w.length;
    w.cb();
  }
}
