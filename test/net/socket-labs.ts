// The two places a socket can come from in unit tests: the kernel (loopback) and two of our stacks on a memory
// wire, in real time. The Duplex conformance suite and the TLS tests run the same code against both.

import http from 'node:http';
import net from 'node:net';
import { systemTimers } from '../../src/clock.ts';
import type { Ipv4Addr } from '../../src/net/addr.ts';
import { emitConnection, StackSocket } from '../../src/net/duplex.ts';
import { createMemoryLink } from '../../src/net/memory-link.ts';
import { seededRandom } from '../../src/random.ts';
import { StackDriver } from '../../src/stack/driver.ts';

/** What the tests touch: net.Socket and StackSocket must both be assignable to it. */
export interface SocketLike extends NodeJS.EventEmitter {
  readonly connecting: boolean;
  readonly pending: boolean;
  readonly readyState: string;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly remoteFamily?: string | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly destroyed: boolean;
  readonly writableLength: number;
  address(): object;
  write(data: Uint8Array | string, cb?: (err?: Error | null) => void): boolean;
  end(): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(err?: Error): unknown;
  resetAndDestroy(): unknown;
  setTimeout(ms: number, cb?: () => void): unknown;
  setNoDelay(noDelay?: boolean): unknown;
  setKeepAlive(enable?: boolean, delay?: number): unknown;
}

export interface Lab {
  readonly kind: 'kernel' | 'ours';
  /** Listens on a fresh port; returns it. */
  listen(opts: { allowHalfOpen?: boolean }, onConnection: (s: SocketLike) => void): Promise<number>;
  /** Serves a node:http server on a fresh port. */
  serveHttp(server: http.Server): Promise<number>;
  connect(port: number): SocketLike;
  /** The address a client connects to. */
  readonly serverAddress: string;
  /** A port nobody listens on. */
  readonly closedPort: number;
  close(): Promise<void>;
}

export async function kernelLab(): Promise<Lab> {
  const servers: Array<net.Server | http.Server> = [];
  const sockets: net.Socket[] = [];
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const listenOn = async (server: net.Server | http.Server): Promise<number> => {
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  };
  return {
    kind: 'kernel',
    serverAddress: '127.0.0.1',
    closedPort,
    listen: (opts, onConnection) =>
      listenOn(
        net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (s) => {
          sockets.push(s);
          onConnection(s);
        }),
      ),
    serveHttp: (server) => listenOn(server),
    connect: (port) => {
      const s = net.connect(port, '127.0.0.1');
      sockets.push(s);
      return s;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

export const A_IP = 0x0a090001 as Ipv4Addr;
export const B_IP = 0x0a090002 as Ipv4Addr;

export async function ourLab(): Promise<Lab> {
  const [endA, endB] = createMemoryLink(systemTimers, 0x020000000001, 0x020000000002);
  const stackOf = (device: typeof endA, address: Ipv4Addr, seed: number): StackDriver => {
    const d = new StackDriver(device, systemTimers, { mac: device.mac, mtu: 1500, random: seededRandom(seed), log: () => {}, ipv4: { address, prefix: 24, gateway: 0x0a0900fe as Ipv4Addr } });
    d.start();
    return d;
  };
  const a = stackOf(endA, A_IP, 1);
  const b = stackOf(endB, B_IP, 2);
  let nextPort = 9000;
  const sockets: StackSocket[] = [];
  const listeners: Array<{ close(): void }> = [];
  const listen = (onConn: (s: StackSocket) => void, allowHalfOpen: boolean): number => {
    const port = nextPort++;
    listeners.push(
      a.stack.tcp.listen(port, (conn) => {
        const s = new StackSocket(conn, { timers: systemTimers, allowHalfOpen });
        sockets.push(s);
        onConn(s);
      }),
    );
    return port;
  };
  return {
    kind: 'ours',
    serverAddress: '10.9.0.1',
    closedPort: 8999,
    listen: (opts, onConnection) => Promise.resolve(listen(onConnection, opts.allowHalfOpen ?? false)),
    serveHttp: (server) => Promise.resolve(listen((s) => emitConnection(server, s), false)),
    connect: (port) => {
      const s = new StackSocket(b.stack.tcp.connect(A_IP, port), { timers: systemTimers });
      sockets.push(s);
      return s;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const l of listeners) l.close();
      await Promise.all([a.stop(0), b.stop(0)]);
    },
  };
}

/** The next `event` of `s` (its first argument), or a rejection after `ms`. */
export function once<T = unknown>(s: NodeJS.EventEmitter, event: string, ms = 3000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    s.once(event, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}
