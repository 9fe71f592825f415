// The library's surface on two stacks in memory (createStackPair): addresses and readiness, a server and a client
// shaped like node:net's, node:http served and requested over our TCP, and the errors a caller can make.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createStackPair, emitConnection, type NetStack, type StackSocket } from '../../src/index.ts';
import { once } from '../net/socket-labs.ts';

let pair: [NetStack, NetStack] | undefined;
afterEach(async () => {
  if (pair !== undefined) await Promise.all(pair.map((s) => s.close()));
  pair = undefined;
});

const stacks = (): [NetStack, NetStack] => (pair = createStackPair());

describe('createStackPair', () => {
  it('two stacks that are ready at once, with their addresses, told by an address event too', async () => {
    const [a, b] = stacks();
    const seen = once<unknown[]>(a, 'address');
    await Promise.all([a.ready, b.ready]);
    expect(a.addresses).toEqual([{ family: 'IPv4', address: '10.0.0.1', prefixLength: 24 }]);
    expect(b.addresses).toEqual([{ family: 'IPv4', address: '10.0.0.2', prefixLength: 24 }]);
    expect(await seen).toEqual(a.addresses);
  });

  it('a server and a client as node:net has them: listening, connection, connect, data both ways, end', async () => {
    const [a, b] = stacks();
    const server = a.createServer((s: StackSocket) => s.pipe(s));
    await new Promise<void>((r) => server.listen(7, r));
    expect(server.listening).toBe(true);
    expect(server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7 });
    const client = b.connect({ host: '10.0.0.1', port: 7 });
    await once(client, 'connect');
    expect(client.remoteAddress).toBe('10.0.0.1');
    const parts: Buffer[] = [];
    client.on('data', (d: Buffer) => parts.push(d));
    const data = Buffer.alloc(300_000, 7);
    client.end(data);
    await once(client, 'end', 5000);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    await new Promise<void>((r) => server.close(r));
    expect(server.listening).toBe(false);
    const refused = b.connect({ host: '10.0.0.1', port: 7 });
    const err = await once<NodeJS.ErrnoException>(refused, 'error');
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('node:http serves over it, and http.request reaches it with createConnection', async () => {
    const [a, b] = stacks();
    const server = http.createServer({ noDelay: true }, (req, res) => res.end(`hello from ${req.url ?? ''} over our TCP\n`));
    a.createServer((s) => emitConnection(server, s)).listen(80);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '10.0.0.1', port: 80, path: '/lib', createConnection: () => b.connect({ host: '10.0.0.1', port: 80 }) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(`${res.statusCode ?? 0} ${text}`));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('200 hello from /lib over our TCP\n');
    server.close();
  });

  it('refuses what it cannot do, saying why', () => {
    const [a] = stacks();
    expect(() => a.connect({ host: 'peer.lab', port: 80 })).toThrow(/names need a resolver/);
    expect(() => a.connect({ host: '10.0.0.2', port: 0 })).toThrow(RangeError);
    const s = a.createServer().listen(8080);
    expect(() => s.listen(8081)).toThrow(/already listening on port 8080/);
    expect(() => a.createServer().listen(70_000)).toThrow(RangeError);
  });

  it('close() ends the stack: the peer of an open connection sees it end, and close is idempotent', async () => {
    const [a, b] = stacks();
    a.createServer((s) => s.resume()).listen(9);
    const client = b.connect({ host: '10.0.0.1', port: 9 });
    await once(client, 'connect');
    client.on('error', () => {});
    const ended = Promise.race([once(client, 'end', 5000), once(client, 'error', 5000)]);
    client.resume();
    await Promise.all([a.close(), a.close()]);
    await ended;
  });
});
