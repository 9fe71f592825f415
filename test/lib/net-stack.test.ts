// The library's surface on two stacks in memory (createStackPair): addresses and readiness, a server and a client
// shaped like node:net's, node:http served and requested over our TCP, and the errors a caller can make.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import { createStackAgent, createStackPair, emitConnection, MAX_QUEUED_DATAGRAMS, MAX_UDP_PAYLOAD, type NetStack, type RemoteInfo, type StackSocket } from '../../src/index.ts';
import { once } from '../net/socket-labs.ts';
import { ManualTimers } from '../../src/clock.ts';

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

describe('UDP sockets (createSocket, shaped like node:dgram)', () => {
  it('a datagram each way: message events with rinfo, the reply to the sender\'s ephemeral port', async () => {
    const [a, b] = stacks();
    const server = a.createSocket('udp4');
    server.on('message', (msg: Buffer, rinfo: RemoteInfo) => server.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    await new Promise<void>((r) => server.bind(5353, r));
    expect(server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 5353 });
    const client = b.createSocket('udp4');
    const reply = once<[Buffer, RemoteInfo]>(client, 'message');
    const sent = await new Promise<number>((resolve, reject) => client.send('ping', 5353, '10.0.0.1', (err, n) => (err === null ? resolve(n) : reject(err))));
    expect(sent).toBe(4);
    const got = await new Promise<{ msg: string; rinfo: RemoteInfo }>((resolve) => client.once('message', (msg: Buffer, rinfo: RemoteInfo) => resolve({ msg: msg.toString(), rinfo })));
    void reply;
    expect(got.msg).toBe('echo:ping');
    expect(got.rinfo).toEqual({ address: '10.0.0.1', family: 'IPv4', port: 5353, size: 9 });
    expect(client.address().port).toBeGreaterThanOrEqual(49152);
    server.close();
    client.close();
  });

  it('refuses what dgram refuses: a port taken, the wrong family, a datagram too big, a send after close', async () => {
    const [a] = stacks();
    const s = a.createSocket('udp4').bind(7000);
    expect(() => a.createSocket('udp4').bind(7000)).toThrow(/EADDRINUSE/);
    // Each send's outcome, as its callback reports it (a microtask later).
    const outcome = (msg: string | Uint8Array, address: string): Promise<string> =>
      new Promise((resolve) => s.send(msg, 53, address, (err) => resolve(err?.message ?? 'ok')));
    const errors = await Promise.all([outcome('x', 'fd77::1'), outcome(Buffer.alloc(MAX_UDP_PAYLOAD + 1), '10.0.0.2'), outcome('x', '10.0.0.2')]);
    s.close();
    errors.push(await outcome('x', '10.0.0.2'));
    expect(errors).toEqual(["udp4 sends to IPv4 addresses, not 'fd77::1'", `send EMSGSIZE (${MAX_UDP_PAYLOAD + 1} bytes)`, 'ok', 'send after close']);
  });

  it('datagrams arriving in one turn past MAX_QUEUED_DATAGRAMS are dropped and counted, not queued', async () => {
    // A hand-moved clock: the wire delivers everything due in one advance, within one turn, as a TAP's batch does.
    const timers = new ManualTimers();
    const [a, b] = (pair = createStackPair({ timers }));
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        timers.advance(1);
        await new Promise((r) => setImmediate(r));
      }
    };
    const server = a.createSocket('udp4').bind(9999);
    let got = 0;
    server.on('message', () => got++);
    const client = b.createSocket('udp4');
    client.send('warm', 9999, '10.0.0.1'); // ARP first: it queues only 16 datagrams while it asks
    await settle();
    expect(got).toBe(1);
    got = 0;
    for (let i = 0; i < MAX_QUEUED_DATAGRAMS + 200; i++) client.send('d', 9999, '10.0.0.1');
    await settle();
    expect(got).toBe(MAX_QUEUED_DATAGRAMS);
    expect(server.dropped).toBe(200);
    server.close();
    client.close();
  });

});

describe('fetch over our stack (createStackAgent: an undici Agent of StackSockets)', () => {
  it('fetch() with the agent as dispatcher gets node:http\'s answer from the other stack', async () => {
    const [a, b] = stacks();
    const server = http.createServer((req, res) => res.end(`fetched ${req.url ?? ''}\n`));
    a.createServer((s) => emitConnection(server, s)).listen(80);
    const agent = createStackAgent(b);
    const first = await fetch('http://10.0.0.1/one', { dispatcher: agent });
    expect(first.status).toBe(200);
    expect(await first.text()).toBe('fetched /one\n');
    const second = await fetch('http://10.0.0.1/two', { dispatcher: agent });
    expect(await second.text()).toBe('fetched /two\n');
    await agent.close();
    server.close();
  });

  it('a name is resolved by the stack (and fails as the resolver says without a DNS server)', async () => {
    const [, b] = stacks();
    const agent = createStackAgent(b);
    const err = await fetch('http://peer.lab/', { dispatcher: agent }).then(() => undefined, (e: unknown) => e);
    expect(String((err as { cause?: unknown }).cause ?? err)).toMatch(/ENOSERVERS peer\.lab/);
    await agent.close();
  });
});
