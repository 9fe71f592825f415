// `--stack socket` (Mirage's --unix): the ByteStream interface bound to the kernel's sockets through node:net.
// This file is the only place the service touches node:net.

import net from 'node:net';
import type { ByteStream } from './net/byte-stream.ts';
import { SocketStream } from './net/socket-stream.ts';

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
  return listenKernelSockets(host, port, (sock) => onStream(new SocketStream(sock)));
}

/** Listens on the kernel's TCP and hands each accepted net.Socket over as it is (to TLS, say). */
export function listenKernelSockets(host: string, port: number, onSocket: (sock: net.Socket) => void): Promise<SocketListener> {
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, onSocket);
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
