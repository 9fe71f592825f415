// `--stack socket` (Mirage's --unix): the ByteStream interface bound to the kernel's sockets through node:net.
// This file is the only place the service touches node:net.

import net from 'node:net';
import type { ByteStream, RemoteEndpoint } from './net/byte-stream.ts';

/** How long a closed socket keeps draining what the peer still sends before it is destroyed (RFC 9112 §9.6). */
export const DEFAULT_LINGER_MS = 2000;

export class SocketStream implements ByteStream {
  readonly remote: RemoteEndpoint;
  private readonly queue: Buffer[] = [];
  private waiter: ((chunk: Uint8Array | null) => void) | undefined;
  private ended = false;
  private closing = false;

  constructor(
    private readonly sock: net.Socket,
    private readonly lingerMs = DEFAULT_LINGER_MS,
  ) {
    this.remote = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
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
    if (!this.sock.destroyed) this.sock.resetAndDestroy();
  }
}

export interface SocketListener {
  readonly address: { address: string; port: number };
  close(): Promise<void>;
}

/** Listens on the kernel's TCP and hands each accepted connection over as a ByteStream. */
export function listenSockets(
  host: string,
  port: number,
  onStream: (stream: ByteStream) => void,
): Promise<SocketListener> {
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (sock) => onStream(new SocketStream(sock)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      const a = server.address();
      const address = typeof a === 'object' && a !== null ? { address: a.address, port: a.port } : { address: host, port };
      resolve({
        address,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
