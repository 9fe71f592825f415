// The same assertions against a kernel net.Socket (over loopback) and against our StackSocket (two of our stacks
// on a memory wire, in real time), so that every difference between them shows. The one difference on purpose:
// destroy(err) resets the connection on ours (an error is an abort), where net.Socket closes with a FIN.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ipv4ToString } from '../../src/net/addr.ts';
import type { StackSocket } from '../../src/net/duplex.ts';
import { B_IP, kernelLab, once, ourLab, type Lab, type SocketLike } from './socket-labs.ts';


/** Every event the socket emits, in order, with the error code for 'error'. */
function record(s: NodeJS.EventEmitter, events: string[]): string[] {
  const seen: string[] = [];
  for (const e of events) s.on(e, (v: unknown) => seen.push(e === 'error' ? `error:${(v as NodeJS.ErrnoException).code ?? ''}` : e));
  return seen;
}

function collect(s: SocketLike): { data: () => Buffer; ended: Promise<unknown> } {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return { data: () => Buffer.concat(parts), ended: once(s, 'end') };
}

const pattern = (n: number): Buffer => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each([
  ['kernel net.Socket', kernelLab],
  ['our StackSocket', ourLab],
] as const)('%s', (_name, makeLab) => {
  let lab: Lab;
  afterEach(async () => {
    await lab.close();
  });

  it('connects: connecting and pending until then, connect then ready, the four addresses agree', async () => {
    lab = await makeLab();
    let server: SocketLike | undefined;
    const port = await lab.listen({}, (s) => (server = s));
    const client = lab.connect(port);
    expect(client.connecting).toBe(true);
    expect(client.pending).toBe(true);
    expect(client.readyState).toBe('opening');
    const seen = record(client, ['connect', 'ready']);
    await once(client, 'ready');
    expect(seen).toEqual(['connect', 'ready']);
    expect(client.connecting).toBe(false);
    expect(client.pending).toBe(false);
    expect(client.readyState).toBe('open');
    await sleep(20);
    if (server === undefined) throw new Error('no connection accepted');
    expect(server.readyState).toBe('open');
    expect(client.remotePort).toBe(port);
    expect(server.localPort).toBe(port);
    expect(server.remotePort).toBe(client.localPort);
    expect(server.remoteAddress).toBe(client.localAddress);
    expect(client.remoteAddress).toBe(server.localAddress);
    expect(client.remoteFamily).toBe('IPv4');
    expect(client.address()).toEqual({ address: client.localAddress, family: 'IPv4', port: client.localPort });
  });

  it('echoes 200 kB byte-exact, and bytesRead/bytesWritten count it on both sides', async () => {
    lab = await makeLab();
    let server: SocketLike | undefined;
    const port = await lab.listen({}, (s) => {
      server = s;
      s.on('data', (d: Buffer) => s.write(d));
      s.on('end', () => s.end());
    });
    const client = lab.connect(port);
    const got = collect(client);
    const data = pattern(200_000);
    client.write(data);
    client.end();
    await got.ended;
    expect(got.data().equals(data)).toBe(true);
    expect(client.bytesWritten).toBe(data.length);
    expect(client.bytesRead).toBe(data.length);
    expect(server?.bytesRead).toBe(data.length);
    await once(client, 'close');
    expect(client.readyState).toBe('closed');
  });

  it('half-close with allowHalfOpen: the server reads our end, answers after it, then ends', async () => {
    lab = await makeLab();
    const serverEvents: string[] = [];
    let serverState = '';
    const port = await lab.listen({ allowHalfOpen: true }, (s) => {
      const seen = record(s, ['end', 'finish', 'close']);
      s.on('end', () => {
        serverState = s.readyState;
        setTimeout(() => {
          s.write('late reply');
          s.end();
        }, 30);
      });
      s.on('close', () => serverEvents.push(...seen));
      s.resume();
    });
    const client = lab.connect(port);
    const got = collect(client);
    await once(client, 'connect');
    client.end();
    await got.ended;
    await once(client, 'close');
    expect(got.data().toString()).toBe('late reply');
    await sleep(20);
    expect(serverState).toBe('writeOnly');
    expect(serverEvents).toEqual(['end', 'finish', 'close']);
  });

  it('without allowHalfOpen our end ends the server side by itself', async () => {
    lab = await makeLab();
    const port = await lab.listen({}, (s) => s.resume());
    const client = lab.connect(port);
    const got = collect(client);
    await once(client, 'connect');
    client.end();
    await got.ended;
    await once(client, 'close');
  });

  it('resetAndDestroy resets: the peer sees ECONNRESET, then close', async () => {
    lab = await makeLab();
    const port = await lab.listen({}, (s) => {
      s.once('data', () => s.resetAndDestroy());
    });
    const client = lab.connect(port);
    client.on('error', () => {});
    const seen = record(client, ['end', 'error', 'close']);
    client.write('hi');
    await once(client, 'close');
    expect(seen).toEqual(['error:ECONNRESET', 'close']);
  });

  it('destroy() closes with a FIN: the peer sees end, then close, no error', async () => {
    lab = await makeLab();
    const port = await lab.listen({}, (s) => {
      s.once('data', () => s.destroy());
    });
    const client = lab.connect(port);
    client.resume();
    const seen = record(client, ['end', 'error', 'close']);
    client.write('hi');
    await once(client, 'close');
    expect(seen).toEqual(['end', 'close']);
  });

  it('destroy(err) tells its own side the error; the peer sees a FIN from the kernel, a reset from ours', async () => {
    lab = await makeLab();
    const serverSeen: string[] = [];
    const port = await lab.listen({}, (s) => {
      s.on('error', (e: Error) => serverSeen.push(e.message));
      s.once('data', () => s.destroy(new Error('handler failed')));
    });
    const client = lab.connect(port);
    client.resume();
    client.on('error', () => {});
    const seen = record(client, ['end', 'error', 'close']);
    client.write('hi');
    await once(client, 'close');
    expect(serverSeen).toEqual(['handler failed']);
    expect(seen).toEqual(lab.kind === 'kernel' ? ['end', 'close'] : ['error:ECONNRESET', 'close']);
  });

  it('refused: a port nobody listens on gives ECONNREFUSED, then close', async () => {
    lab = await makeLab();
    const client = lab.connect(lab.closedPort);
    client.on('error', () => {});
    const seen = record(client, ['connect', 'error', 'close']);
    await once(client, 'close');
    expect(seen).toEqual(['error:ECONNREFUSED', 'close']);
  });

  it('a write after end fails with ERR_STREAM_WRITE_AFTER_END', async () => {
    lab = await makeLab();
    const port = await lab.listen({}, (s) => s.resume());
    const client = lab.connect(port);
    await once(client, 'connect');
    client.end();
    const err = once<NodeJS.ErrnoException>(client, 'error');
    client.write('too late');
    expect((await err).code).toBe('ERR_STREAM_WRITE_AFTER_END');
  });

  it('setTimeout: timeout after that much idleness, not while data flows, and the socket stays open', async () => {
    lab = await makeLab();
    let server: SocketLike | undefined;
    const port = await lab.listen({}, (s) => {
      server = s;
      s.resume();
    });
    const client = lab.connect(port);
    await once(client, 'connect');
    const times: number[] = [];
    const t0 = performance.now();
    client.setTimeout(150, () => times.push(performance.now() - t0));
    for (let i = 0; i < 6; i++) {
      await sleep(50);
      client.write('tick');
    }
    expect(times).toEqual([]);
    await sleep(250);
    expect(times.length).toBe(1);
    expect(times[0]).toBeGreaterThanOrEqual(300 + 140);
    expect(client.destroyed).toBe(false);
    client.setTimeout(0);
    await sleep(200);
    expect(times.length).toBe(1);
    expect(server?.destroyed).toBe(false);
  });

  it('backpressure: write() returns false while the peer does not read, and drain comes once it does', async () => {
    lab = await makeLab();
    let accepted: (s: SocketLike) => void = () => {};
    const serverReady = new Promise<SocketLike>((r) => (accepted = r));
    const port = await lab.listen({}, (s) => {
      s.pause();
      accepted(s);
    });
    const client = lab.connect(port);
    await once(client, 'connect');
    const server = await serverReady;
    const chunk = pattern(64 * 1024);
    let written = 0;
    // Bounded: 64 MB is far beyond any buffer either stack keeps.
    while (written < 64 * 1024 * 1024) {
      written += chunk.length;
      if (!client.write(chunk)) break;
      if (written % (1024 * 1024) === 0) await sleep(5);
    }
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect(client.writableLength).toBeGreaterThan(0);
    const drained = once(client, 'drain', 5000);
    let received = 0;
    server.on('data', (d: Buffer) => (received += d.length));
    server.resume();
    await drained;
    client.end();
    await once(server, 'end', 5000);
    expect(received).toBe(written);
    expect(server.bytesRead).toBe(written);
  });

  it('node:http over it: keepAliveTimeout closes an idle keep-alive connection (setTimeout really acts)', async () => {
    lab = await makeLab();
    const server = http.createServer({ keepAliveTimeout: 200 }, (_req, res) => res.end('ok\n'));
    const port = await lab.serveHttp(server);
    const client = lab.connect(port);
    const got = collect(client);
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const t0 = performance.now();
    await got.ended;
    const idle = performance.now() - t0;
    expect(got.data().toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*keep-alive[^]*\r\n\r\nok\n$/i);
    expect(idle).toBeGreaterThanOrEqual(150);
    expect(idle).toBeLessThan(2000);
    server.close();
  });
});

describe('our StackSocket, what only it can show', () => {
  it('setNoDelay and setKeepAlive act on the connection; node:http turns Nagle off', async () => {
    const lab = await ourLab();
    try {
      let server: StackSocket | undefined;
      const port = await lab.listen({}, (s) => (server = s as StackSocket));
      const client = lab.connect(port) as StackSocket;
      await once(client, 'connect');
      expect(client.transport.noDelay).toBe(false);
      client.setNoDelay();
      expect(client.transport.noDelay).toBe(true);
      client.setNoDelay(false);
      expect(client.transport.noDelay).toBe(false);
      client.setKeepAlive(true, 1500);
      expect(client.transport.keepAliveIdleMs).toBe(1500);
      client.setKeepAlive(true);
      expect(client.transport.keepAliveIdleMs).toBe(7_200_000);
      client.setKeepAlive(false);
      expect(client.transport.keepAliveIdleMs).toBe(0);
      await sleep(20);
      expect(server?.remoteAddress).toBe(ipv4ToString(B_IP));

      const httpServer = http.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 3000 }, (_q, r) => r.end('x'));
      const hport = await lab.serveHttp(httpServer);
      let accepted: StackSocket | undefined;
      httpServer.on('connection', (s: StackSocket) => (accepted = s));
      const c2 = lab.connect(hport);
      await once(c2, 'connect');
      await sleep(20);
      expect(accepted?.transport.noDelay).toBe(true);
      expect(accepted?.transport.keepAliveIdleMs).toBe(3000);
      httpServer.close();
    } finally {
      await lab.close();
    }
  });
});
