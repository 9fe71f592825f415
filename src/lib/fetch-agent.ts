// fetch() and undici's clients over our stack: an undici Agent whose connections are StackSockets (host names
// resolved by the stack's own resolver), wrapped in node:tls for https: URLs. `fetch(url, { dispatcher })` with
// undici's fetch then runs over our TCP/IP, as node:http does through createConnection.

import { isIP } from 'node:net';
import tls from 'node:tls';
import { Agent } from 'undici';
import type { NetStack } from './net-stack.ts';

export interface StackAgentOptions {
  /** Certificates to trust for https: beside Node's own (the lab's CA, say). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** undici's limit of connections per origin (default: its own). */
  connections?: number;
}

/** An undici Agent that connects through `stack`. */
export function createStackAgent(stack: NetStack, options: StackAgentOptions = {}): Agent {
  return new Agent({
    ...(options.connections === undefined ? {} : { connections: options.connections }),
    connect: (opts, cb) => {
      const https = opts.protocol === 'https:';
      const port = opts.port === '' || opts.port === undefined ? (https ? 443 : 80) : Number(opts.port);
      const hostname = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
      let settled = false;
      const done = (err: Error | null, socket: tls.TLSSocket | ReturnType<NetStack['connect']> | null): void => {
        if (settled) return;
        settled = true;
        if (err !== null) cb(err, null);
        // undici types its sockets as net.Socket; a StackSocket is one in all that undici uses of it.
        else if (socket !== null) cb(null, socket as unknown as tls.TLSSocket);
      };
      const open = (address: string): void => {
        const raw = stack.connect({ host: address, port, noDelay: true });
        raw.once('error', (e: Error) => done(e, null));
        if (!https) {
          raw.once('connect', () => done(null, raw));
          return;
        }
        const secure = tls.connect({
          socket: raw as never,
          servername: opts.servername ?? (isIP(hostname) === 0 ? hostname : undefined),
          ALPNProtocols: ['http/1.1'],
          ...(options.ca === undefined ? {} : { ca: options.ca }),
        });
        secure.once('secureConnect', () => done(null, secure));
        secure.once('error', (e: Error) => {
          raw.destroy();
          done(e, null);
        });
      };
      if (isIP(hostname) !== 0) {
        open(hostname);
        return;
      }
      stack.lookup(hostname).then(
        (found) => {
          const first = found[0];
          if (first === undefined) done(new Error(`${hostname}: no address`), null);
          else open(first.address);
        },
        (err: unknown) => done(err instanceof Error ? err : new Error(String(err)), null),
      );
    },
  });
}
