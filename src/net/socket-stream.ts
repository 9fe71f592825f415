// Any net.Socket (a kernel socket, or a TLS socket over one of ours or the kernel's) as the ByteStream that
// src/http serves: reads one chunk at a time with the socket paused in between, writes that wait for 'drain',
// and a close that drains what the peer still sends so that unread bytes do not turn the FIN into a reset.

import type net from 'node:net';
import type { ByteStream, RemoteEndpoint } from './byte-stream.ts';

/** How long a closed socket keeps draining what the peer still sends before it is destroyed (RFC 9112 §9.6). */
export const DEFAULT_LINGER_MS = 2000;

export interface SocketStreamOptions {
  /** How long close() drains what the peer still sends (default DEFAULT_LINGER_MS). */
  lingerMs?: number;
  /** The peer, where the socket cannot say (a TLS socket over a stream that is not a kernel socket). */
  remote?: RemoteEndpoint;
  /** How abort() resets the connection (default: the socket's resetAndDestroy, which only a kernel socket has). */
  reset?: () => void;
}

export class SocketStream implements ByteStream {
  readonly remote: RemoteEndpoint;
  private readonly queue: Buffer[] = [];
  private waiter: ((chunk: Uint8Array | null) => void) | undefined;
  private ended = false;
  private closing = false;
  private readonly lingerMs: number;
  private readonly reset: () => void;

  constructor(
    private readonly sock: net.Socket,
    opts: SocketStreamOptions = {},
  ) {
    this.lingerMs = opts.lingerMs ?? DEFAULT_LINGER_MS;
    this.reset = opts.reset ?? (() => sock.resetAndDestroy());
    this.remote = opts.remote ?? { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
    sock.on('data', (chunk: Buffer) => {
      if (this.closing) return;
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(chunk);
      } else {
        this.queue.push(chunk);
        sock.pause();
      }
    });
    const eof = (): void => {
      this.ended = true;
      const w = this.waiter;
      this.waiter = undefined;
      w?.(null);
    };
    sock.on('end', eof);
    sock.on('close', eof);
    sock.on('error', () => {
      // 'close' follows and ends the stream.
    });
  }

  read(): Promise<Uint8Array | null> {
    const next = this.queue.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.ended || this.closing) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.sock.resume();
    });
  }

  write(data: Uint8Array): Promise<void> {
    if (this.closing || this.sock.destroyed || !this.sock.writable) return Promise.reject(new Error('stream closed'));
    return new Promise((resolve, reject) => {
      if (this.sock.write(data)) {
        resolve();
        return;
      }
      const onDrain = (): void => {
        this.sock.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.sock.off('drain', onDrain);
        reject(new Error('stream closed'));
      };
      this.sock.once('drain', onDrain);
      this.sock.once('close', onClose);
    });
  }

  close(): Promise<void> {
    if (this.closing) return Promise.resolve();
    this.closing = true;
    this.queue.length = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(null);
    return new Promise((resolve) => {
      if (this.sock.destroyed) {
        resolve();
        return;
      }
      // Send FIN, then keep reading and discarding until the peer closes too, so that unread
      // bytes in the kernel's buffer do not turn our close into a reset; bounded by the linger time.
      const linger = setTimeout(() => this.sock.destroy(), this.lingerMs);
      linger.unref();
      this.sock.once('close', () => clearTimeout(linger));
      this.sock.end(() => resolve());
      this.sock.resume();
    });
  }

  abort(): void {
    this.closing = true;
    this.queue.length = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(null);
    if (!this.sock.destroyed) this.reset();
  }
}
