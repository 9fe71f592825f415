import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../src/clock.ts';
import { defaultTimeouts } from '../../src/http/limits.ts';
import { HttpServer, type HttpRequest, type RequestHandler } from '../../src/http/server.ts';
import { MemoryStream, settle } from './memory-stream.ts';

const echoPath: RequestHandler = (req: HttpRequest) => ({ status: 200, body: `path=${req.path} q=${req.query.get('q') ?? '-'}\n` });

function setup(handler: RequestHandler = echoPath, opts: ConstructorParameters<typeof HttpServer>[2] = {}) {
  const timers = new ManualTimers();
  const errors: number[] = [];
  const server = new HttpServer(handler, timers, { date: () => 'Thu, 01 Jan 1970 00:00:00 GMT', onProtocolError: (e) => errors.push(e.status), ...opts });
  const stream = new MemoryStream();
  const done = server.serve(stream);
  return { timers, server, stream, done, errors };
}

const GET = (target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

describe('HttpServer over a ByteStream', () => {
  it('answers with content-length and text/plain, and keeps the connection', async () => {
    const { stream } = setup();
    stream.send(GET('/a?q=1'));
    await settle();
    expect(stream.text).toBe(
      'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\npath=/a q=1\n',
    );
    expect(stream.closed).toBe(false);
  });

  it('answers pipelined requests in order, even when the first is slow', async () => {
    let release: () => void = () => {};
    const handler: RequestHandler = async (req) => {
      if (req.path === '/slow') await new Promise<void>((r) => (release = r));
      return { status: 200, body: `${req.path}\n` };
    };
    const { stream } = setup(handler);
    stream.send(GET('/slow') + GET('/fast') + GET('/last'));
    await settle();
    expect(stream.text).toBe('');
    release();
    await settle();
    const bodies = stream.text.split('\r\n\r\n').slice(1).map((s) => s.split('\n')[0]);
    expect(bodies).toEqual(['/slow', '/fast', '/last']);
  });

  it('closes after Connection: close and after HTTP/1.0', async () => {
    for (const req of [GET('/', 'Connection: close\r\n'), 'GET / HTTP/1.0\r\n\r\n']) {
      const { stream, done } = setup();
      stream.send(req);
      await done;
      expect(stream.text).toContain('connection: close\r\n');
      expect(stream.closed).toBe(true);
    }
  });

  it('answers HEAD with the GET fields and no body', async () => {
    const { stream } = setup();
    stream.send('HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n');
    await settle();
    expect(stream.text).toMatch(/^HTTP\/1\.1 200 OK\r\n.*content-length: 12\r\n.*\r\n\r\n$/s);
  });

  it('answers malformed input with 400 and closes', async () => {
    const { stream, done, errors } = setup();
    stream.send('garbage\r\n\r\n');
    await done;
    expect(stream.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n.*connection: close\r\n\r\nBad Request\n$/s);
    expect(stream.closed).toBe(true);
    expect(errors).toEqual([400]);
  });

  it('answers a malformed query with 400', async () => {
    const { stream, done } = setup();
    stream.send(GET('/?q=%zz'));
    await done;
    expect(stream.text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('reads and discards a body, answering 100 Continue first when asked', async () => {
    const { stream } = setup();
    stream.send('POST /p HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    await settle();
    expect(stream.text).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    stream.send('body');
    await settle();
    expect(stream.text).toContain('HTTP/1.1 200 OK');
    expect(stream.text).toContain('path=/p');
  });

  it('refuses an oversized body with 413 before reading it', async () => {
    const { stream, done } = setup();
    stream.send(`POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: ${1024 * 1024 + 1}\r\n\r\n`);
    await done;
    expect(stream.text).toMatch(/^HTTP\/1\.1 413 Content Too Large/);
  });

  it('closes an idle kept-alive connection after exactly the keep-alive timeout, without a response', async () => {
    const { stream, timers, done } = setup();
    stream.send(GET('/'));
    await settle();
    const before = stream.text;
    timers.advance(defaultTimeouts.keepAliveTimeoutMs - 1);
    await settle();
    expect(stream.closed).toBe(false);
    timers.advance(1);
    await done;
    expect(stream.closed).toBe(true);
    expect(stream.text).toBe(before);
  });

  it('closes a connection that never sends a byte after the header timeout, quietly', async () => {
    const { stream, timers, done } = setup();
    timers.advance(defaultTimeouts.headerTimeoutMs - 1);
    await settle();
    expect(stream.closed).toBe(false);
    timers.advance(1);
    await done;
    expect(stream.closed).toBe(true);
    expect(stream.text).toBe('');
  });

  it('answers 408 when a head is not complete within the header timeout', async () => {
    const { stream, timers, done } = setup();
    stream.send('GET / HTTP/1.1\r\nHost: t\r\n');
    await settle();
    timers.advance(defaultTimeouts.headerTimeoutMs - 1);
    await settle();
    expect(stream.text).toBe('');
    timers.advance(1);
    await done;
    expect(stream.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('times a later request from its first byte, not from the previous response', async () => {
    const { stream, timers, done } = setup();
    stream.send(GET('/1'));
    await settle();
    timers.advance(4000);
    stream.send('GET /2 HTTP/1.1\r\n');
    await settle();
    timers.advance(defaultTimeouts.headerTimeoutMs - 1);
    await settle();
    expect(stream.closed).toBe(false);
    timers.advance(1);
    await done;
    expect(stream.text).toContain('408 Request Timeout');
  });

  it('answers 408 when a body stalls past the body timeout', async () => {
    const { stream, timers, done } = setup();
    stream.send('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc');
    await settle();
    timers.advance(defaultTimeouts.bodyTimeoutMs);
    await done;
    expect(stream.text).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('aborts a connection whose peer stops reading, after the write timeout', async () => {
    const { stream, timers, done } = setup();
    stream.blockWrites = true;
    stream.send(GET('/'));
    await settle();
    timers.advance(defaultTimeouts.writeTimeoutMs - 1);
    await settle();
    expect(stream.aborted).toBe(false);
    timers.advance(1);
    await done;
    expect(stream.aborted).toBe(true);
  });

  it('answers 500 and closes when the handler throws', async () => {
    const { stream, done } = setup(() => {
      throw new Error('boom');
    });
    stream.send(GET('/'));
    await done;
    expect(stream.text).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
    expect(stream.text).not.toContain('boom');
  });

  it('closes when the peer finishes sending between requests', async () => {
    const { stream, done } = setup();
    stream.send(GET('/'));
    stream.end();
    await done;
    expect(stream.text).toContain('200 OK');
    expect(stream.closed).toBe(true);
  });

  it('at maxConnections with none idle, aborts the newcomer at once', async () => {
    let release: () => void = () => {};
    const slow: RequestHandler = async () => {
      await new Promise<void>((r) => (release = r));
      return { status: 200, body: 'ok\n' };
    };
    const { server, stream } = setup(slow, { maxConnections: 1 });
    stream.send(GET('/'));
    await settle();
    const second = new MemoryStream();
    await server.serve(second);
    expect(second.aborted).toBe(true);
    expect(stream.aborted).toBe(false);
    expect(server.connections).toBe(1);
    release();
  });

  it('at maxConnections, a newcomer takes the place of the connection idle the longest, closed gracefully', async () => {
    const timers = new ManualTimers();
    const server = new HttpServer(echoPath, timers, { maxConnections: 2 });
    const first = new MemoryStream();
    const second = new MemoryStream();
    void server.serve(first);
    timers.advance(1000);
    void server.serve(second);
    await settle();
    first.send(GET('/'));
    await settle(); // the first answered at 1000 ms; the second has waited since 1000 ms too, but came later
    timers.advance(1000);
    second.send(GET('/'));
    await settle(); // now the first has been idle the longer (since 1000 ms, the second since 2000 ms)
    const third = new MemoryStream();
    void server.serve(third);
    await settle();
    expect(first.closed).toBe(true);
    expect(first.aborted).toBe(false);
    expect(second.closed).toBe(false);
    expect(third.aborted).toBe(false);
    third.send(GET('/x'));
    await settle();
    expect(third.text).toContain('path=/x');
    expect(server.shed).toBe(1);
    expect(server.connections).toBe(2);
  });

  it('holds one source address to maxConnectionsPerSource; others still get in', async () => {
    const timers = new ManualTimers();
    const server = new HttpServer(echoPath, timers, { maxConnectionsPerSource: 2 });
    const mine = [new MemoryStream(), new MemoryStream(), new MemoryStream()];
    for (const m of mine) void server.serve(m);
    await settle();
    expect(mine.map((m) => m.aborted)).toEqual([false, false, true]);
    expect(server.refusedPerSource).toBe(1);
    const other = new MemoryStream();
    Object.assign(other, { remote: { address: '198.51.100.9', port: 40001 } });
    void server.serve(other);
    other.send(GET('/o'));
    await settle();
    expect(other.text).toContain('path=/o');
    // One of them gone: its source has room again.
    mine[0]?.end();
    await settle();
    const again = new MemoryStream();
    void server.serve(again);
    await settle();
    expect(again.aborted).toBe(false);
  });

  it('shuts down: idle connections close now, a request in flight is answered with connection: close', async () => {
    let release: () => void = () => {};
    const handler: RequestHandler = async (req) => {
      if (req.path === '/slow') await new Promise<void>((r) => (release = r));
      return { status: 200, body: 'ok\n' };
    };
    const timers = new ManualTimers();
    const server = new HttpServer(handler, timers);
    const idle = new MemoryStream();
    const busy = new MemoryStream();
    void server.serve(idle);
    void server.serve(busy);
    busy.send(GET('/slow'));
    await settle();
    const stopped = server.shutdown(1000);
    await settle();
    expect(idle.closed).toBe(true);
    expect(busy.closed).toBe(false);
    release();
    await stopped;
    expect(busy.text).toContain('connection: close');
    expect(busy.closed).toBe(true);
    expect(server.connections).toBe(0);
  });

  it('shutdown aborts what is still running after the grace period', async () => {
    const timers = new ManualTimers();
    const server = new HttpServer(() => new Promise(() => {}), timers);
    const stuck = new MemoryStream();
    void server.serve(stuck);
    stuck.send(GET('/'));
    await settle();
    const stopped = server.shutdown(1000);
    timers.advance(999);
    await settle();
    expect(stuck.aborted).toBe(false);
    timers.advance(1);
    await stopped;
    expect(stuck.aborted).toBe(true);
  });
});
