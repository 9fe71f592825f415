// The HTTP/1.1 server: one loop per connection over a ByteStream (RFC 9112 §9: persistence,
// pipelining answered in order, close). It knows nothing of the transport under it.

import { withTimeout, type Timers } from '../clock.ts';
import type { ByteStream, RemoteEndpoint } from '../net/byte-stream.ts';
import { defaultLimits, defaultTimeouts, type HttpLimits, type HttpTimeouts } from './limits.ts';
import { parseQuery, splitTarget } from './query.ts';
import { RequestParser, type HttpVersion, type RequestHead } from './request-parser.ts';
import { CONTINUE_100, errorResponse, serializeResponse, type HttpResponse } from './response.ts';

export interface HttpRequest {
  method: string;
  target: string;
  path: string;
  query: ReadonlyMap<string, string>;
  version: HttpVersion;
  headers: ReadonlyArray<readonly [string, string]>;
  remote: RemoteEndpoint;
}

export type RequestHandler = (req: HttpRequest) => Promise<HttpResponse> | HttpResponse;

export interface ProtocolError {
  remote: RemoteEndpoint;
  status: number;
  reason: string;
}

export interface HttpServerOptions {
  limits: HttpLimits;
  timeouts: HttpTimeouts;
  /**
   * Connections served at once. At the bound a newcomer takes the place of the connection idle the longest
   * (closed as an idle keep-alive connection may be); with none idle, it is aborted on arrival.
   */
  maxConnections: number;
  /** Connections from one source address at once; one more from it is aborted on arrival (a fair share). */
  maxConnectionsPerSource: number;
  /** The Date field's value (RFC 9110 §6.6.1). */
  date: () => string;
  /** Called for each request the HTTP layer refuses by itself (400, 408, 413, 414, 431, 501, 505, …). */
  onProtocolError: (e: ProtocolError) => void;
}

export const defaultServerOptions: HttpServerOptions = {
  limits: defaultLimits,
  timeouts: defaultTimeouts,
  maxConnections: 1024,
  maxConnectionsPerSource: 256,
  date: () => new Date().toUTCString(),
  onProtocolError: () => {},
};

export class HttpServer {
  readonly options: HttpServerOptions;
  private readonly live = new Set<Connection>();
  /** Live connections per source address. */
  private readonly perSource = new Map<string, number>();
  private draining = false;
  /** Connections refused for their source's share, and idle ones closed to make room at the bound. */
  refusedPerSource = 0;
  shed = 0;

  constructor(
    private readonly handler: RequestHandler,
    private readonly timers: Timers,
    options: Partial<HttpServerOptions> = {},
  ) {
    this.options = { ...defaultServerOptions, ...options };
  }

  get connections(): number {
    return this.live.size;
  }

  /** Serves one connection until it closes; never rejects. */
  async serve(stream: ByteStream): Promise<void> {
    const source = stream.remote.address;
    const mine = this.perSource.get(source) ?? 0;
    if (mine >= this.options.maxConnectionsPerSource) this.refusedPerSource++;
    if (this.draining || mine >= this.options.maxConnectionsPerSource || (this.live.size >= this.options.maxConnections && !this.shedIdle())) {
      stream.abort();
      return;
    }
    const conn = new Connection(stream, this.handler, this.timers, this.options, () => this.draining);
    this.live.add(conn);
    this.perSource.set(source, mine + 1);
    try {
      await Promise.race([conn.run(), conn.done]);
    } catch {
      stream.abort();
    } finally {
      this.live.delete(conn);
      const n = (this.perSource.get(source) ?? 1) - 1;
      if (n > 0) this.perSource.set(source, n);
      else this.perSource.delete(source);
    }
  }

  /** At the bound: the connection idle the longest is closed to make room; false when none is idle. */
  private shedIdle(): boolean {
    let oldest: Connection | undefined;
    let since = Infinity;
    for (const c of this.live) {
      const t = c.idleSince();
      if (t !== undefined && t < since) {
        since = t;
        oldest = c;
      }
    }
    if (oldest === undefined) return false;
    oldest.shed();
    this.shed++;
    return true;
  }

  /**
   * Stops serving: idle connections close now, a request in progress gets its answer with
   * `connection: close`, and whatever is still open after `graceMs` is aborted.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.draining = true;
    const all = [...this.live];
    for (const c of all) c.wakeIfIdle();
    const finished = Promise.all(all.map((c) => c.done));
    if ((await withTimeout(this.timers, finished, graceMs)) === 'timeout') {
      for (const c of this.live) c.abort();
      await finished;
    }
  }
}

type ReadResult = Uint8Array | null | 'timeout' | 'woken';

class Connection {
  readonly done: Promise<void>;
  private resolveDone: () => void = () => {};
  private readonly parser: RequestParser;
  private wake: (() => void) | undefined;
  private requestStart: number;
  private served = 0;
  private lastResponseEnd: number;
  private aborted = false;
  private shedding = false;
  /** A request's handler runs or its answer is being written. */
  private answering = false;

  constructor(
    private readonly stream: ByteStream,
    private readonly handler: RequestHandler,
    private readonly timers: Timers,
    private readonly options: HttpServerOptions,
    private readonly draining: () => boolean,
  ) {
    this.parser = new RequestParser(options.limits);
    this.requestStart = timers.now();
    this.lastResponseEnd = this.requestStart;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  wakeIfIdle(): void {
    if (this.parser.phase === 'idle') this.wake?.();
  }

  /** Since when the connection has waited for a request (undefined while one is in progress, or once shed). */
  idleSince(): number | undefined {
    if (this.shedding || this.answering || this.parser.phase !== 'idle') return undefined;
    return this.served === 0 ? this.requestStart : this.lastResponseEnd;
  }

  /** Closes the connection as soon as it is idle (at once, if it is): its place is wanted. */
  shed(): void {
    this.shedding = true;
    this.wakeIfIdle();
  }

  /** Ends the connection now; `done` settles even if a handler never returns. */
  abort(): void {
    this.aborted = true;
    this.stream.abort();
    this.wake?.();
    this.resolveDone();
  }

  async run(): Promise<void> {
    try {
      await this.loop();
    } finally {
      this.resolveDone();
    }
  }

  private async loop(): Promise<void> {
    const t = this.options.timeouts;
    let head: RequestHead | undefined;
    let bodyStart = 0;
    for (;;) {
      if (this.aborted) return;
      const ev = this.parser.next();
      if (ev.kind === 'error') {
        await this.refuse(ev.status, ev.reason);
        return;
      }
      if (ev.kind === 'head') {
        head = ev.head;
        bodyStart = this.timers.now();
        // RFC 9110 §10.1.1: a client that asked to wait is told to go on before we read the body.
        if (head.expectContinue && !(await this.send(CONTINUE_100))) return;
        continue;
      }
      if (ev.kind === 'end') {
        if (head === undefined) return;
        this.answering = true;
        const keepGoing = await this.answer(head);
        this.answering = false;
        head = undefined;
        if (!keepGoing) return;
        continue;
      }
      // More bytes needed: wait for them, within the deadline of the phase we are in.
      const phase = this.parser.phase;
      if (phase === 'idle' && (this.draining() || this.shedding)) return this.finish();
      const deadline =
        phase === 'body' ? bodyStart + t.bodyTimeoutMs
        : phase === 'head' || this.served === 0 ? this.requestStart + t.headerTimeoutMs
        : this.lastResponseEnd + t.keepAliveTimeoutMs;
      const got = await this.readUntil(deadline, phase === 'idle');
      if (got === 'woken') {
        if (this.aborted) return;
        continue;
      }
      if (got === 'timeout') {
        // Idle between requests: close quietly. Mid-request: 408 (RFC 9110 §15.5.9).
        if (phase === 'idle') return this.finish();
        await this.refuse(408, phase === 'head' ? 'header timeout' : 'body timeout');
        return;
      }
      if (got === null) return this.finish();
      const wasIdle = this.parser.phase === 'idle';
      this.parser.push(got);
      if (wasIdle && this.served > 0) this.requestStart = this.timers.now();
    }
  }

  /** Runs the handler for a complete request and writes its answer; false when the connection should end. */
  private async answer(head: RequestHead): Promise<boolean> {
    const { path, query } = splitTarget(head.target);
    const params = parseQuery(query);
    if (params === undefined) {
      await this.refuse(400, 'malformed query');
      return false;
    }
    let res: HttpResponse;
    try {
      res = await this.handler({
        method: head.method,
        target: head.target,
        path,
        query: params,
        version: head.version,
        headers: head.headers,
        remote: this.stream.remote,
      });
    } catch {
      res = errorResponse(500);
    }
    const close = !head.keepAlive || this.draining() || res.status >= 500;
    const bytes = serializeResponse(res, { omitBody: head.method === 'HEAD', close, date: this.options.date() });
    if (!(await this.send(bytes))) return false;
    this.served++;
    this.lastResponseEnd = this.timers.now();
    this.requestStart = this.lastResponseEnd;
    if (close) {
      await this.finish();
      return false;
    }
    return true;
  }

  /** Answers a request the HTTP layer cannot accept, then closes (RFC 9112 §9.6). */
  private async refuse(status: number, reason: string): Promise<void> {
    this.options.onProtocolError({ remote: this.stream.remote, status, reason });
    const bytes = serializeResponse(errorResponse(status), { omitBody: false, close: true, date: this.options.date() });
    if (await this.send(bytes)) await this.finish();
  }

  private async send(bytes: Uint8Array): Promise<boolean> {
    try {
      const r = await withTimeout(this.timers, this.stream.write(bytes), this.options.timeouts.writeTimeoutMs);
      if (r !== 'timeout') return true;
    } catch {
      // The peer went away; nothing left to say to it.
    }
    this.abort();
    return false;
  }

  private async finish(): Promise<void> {
    if (this.aborted) return;
    try {
      await this.stream.close();
    } catch {
      this.stream.abort();
    }
  }

  private readUntil(deadline: number, wakeable: boolean): Promise<ReadResult> {
    return new Promise<ReadResult>((resolve) => {
      let settled = false;
      const settle = (r: ReadResult): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        this.wake = undefined;
        resolve(r);
      };
      const timer = this.timers.setTimer(deadline - this.timers.now(), () => settle('timeout'));
      this.wake = wakeable ? () => settle('woken') : () => { if (this.aborted) settle('woken'); };
      this.stream.read().then(settle, () => settle(null));
    });
  }
}
