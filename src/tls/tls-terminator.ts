// TLS for the service: node:tls over any connection shaped like a net.Socket (one of our StackSockets, or a kernel
// socket in socket mode), and the decrypted stream handed on as a ByteStream for src/http. TLS 1.2 and 1.3, ALPN
// http/1.1 (RFC 7301). The certificate and key are files, read again on reload (SIGHUP) for new connections only.
// A handshake that fails or stalls costs only its own connection: it is counted by reason, logged at debug, and
// bounded in time (handshakeTimeoutMs).

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Timers } from '../clock.ts';
import type { ByteStream, RemoteEndpoint } from '../net/byte-stream.ts';
import { SocketStream } from '../net/socket-stream.ts';

/** How long a client has to complete its handshake (Node's own tls.Server allows 120 s). */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Distinct failure reasons counted; the rest are counted as 'other', so that a hostile peer cannot grow the table. */
const MAX_FAILURE_REASONS = 32;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsTerminatorOptions extends TlsFiles {
  handshakeTimeoutMs?: number;
  timers: Timers;
  log: { debug(line: string): void };
}

/** What the terminator counts, for metrics and the status report. */
export interface TlsStats {
  readonly handshakes: number;
  /** Handshakes by protocol version ('TLSv1.3', 'TLSv1.2'). */
  readonly versions: ReadonlyMap<string, number>;
  readonly failures: number;
  /** Failed handshakes by reason: an OpenSSL error code, 'timeout', or 'closed' (the peer left first). */
  readonly failureReasons: ReadonlyMap<string, number>;
  readonly reloads: number;
  /** When the certificate in use was loaded, and what it says of itself. */
  readonly certificate: { subject: string; notAfter: string };
}

/** A certificate or key that cannot be used, with what to do about it. */
export class TlsConfigError extends Error {}

function describeCert(certPem: Buffer): { subject: string; notAfter: string } {
  try {
    const x = new X509Certificate(certPem);
    return { subject: x.subject.replace(/\n/g, ', '), notAfter: x.validTo };
  } catch {
    return { subject: '?', notAfter: '?' };
  }
}

/** Reads and checks the pair: both files readable, a certificate and a key that belong together. */
export function loadTlsContext(files: TlsFiles): { context: tls.SecureContext; certificate: { subject: string; notAfter: string } } {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      const code = err instanceof Error && 'code' in err ? String(err.code) : '';
      const hint = code === 'EACCES' ? ' (not readable by the user the service runs as since the privilege drop: see --user; e.g. chgrp nogroup and chmod 640)' : '';
      throw new TlsConfigError(`cannot read the TLS ${what} ${file}: ${err instanceof Error ? err.message : String(err)}${hint}`);
    }
  };
  const cert = read(files.certFile, 'certificate');
  const key = read(files.keyFile, 'key');
  try {
    const context = tls.createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
    return { context, certificate: describeCert(cert) };
  } catch (err) {
    throw new TlsConfigError(`TLS certificate ${files.certFile} and key ${files.keyFile} cannot be used together: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export class TlsTerminator implements TlsStats {
  handshakes = 0;
  failures = 0;
  reloads = 0;
  readonly versions = new Map<string, number>();
  readonly failureReasons = new Map<string, number>();
  certificate: { subject: string; notAfter: string };
  private context: tls.SecureContext;
  private readonly timeoutMs: number;

  constructor(private readonly opts: TlsTerminatorOptions) {
    const loaded = loadTlsContext(opts);
    this.context = loaded.context;
    this.certificate = loaded.certificate;
    this.timeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
  }

  /**
   * Reads the certificate and key again; new handshakes use them, connections already open keep theirs.
   * Throws TlsConfigError (and keeps the old pair) when the new files cannot be used.
   */
  reload(): void {
    const loaded = loadTlsContext(this.opts);
    this.context = loaded.context;
    this.certificate = loaded.certificate;
    this.reloads++;
  }

  /**
   * Runs the server side of a handshake over `socket` (our StackSocket or a kernel net.Socket). Once it is
   * done, `serve` gets the decrypted stream; if it fails or runs out of time, the connection is closed and counted.
   * `reset` aborts the connection underneath (default: the socket's resetAndDestroy).
   */
  accept(socket: Duplex & { remoteAddress?: string | undefined; remotePort?: number | undefined; resetAndDestroy?: () => unknown }, serve: (stream: ByteStream) => void): void {
    const remote: RemoteEndpoint = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const secure = new tls.TLSSocket(socket as net.Socket, {
      isServer: true,
      secureContext: this.context,
      ALPNProtocols: ['http/1.1'],
    });
    let done = false;
    const fail = (reason: string, detail: string): void => {
      if (done) return;
      done = true;
      timer.cancel();
      this.failures++;
      const key = this.failureReasons.has(reason) || this.failureReasons.size < MAX_FAILURE_REASONS ? reason : 'other';
      this.failureReasons.set(key, (this.failureReasons.get(key) ?? 0) + 1);
      this.opts.log.debug(`tls: handshake with ${remote.address}:${remote.port} failed: ${reason}${detail === '' ? '' : ` (${detail})`}`);
      secure.destroy();
      socket.destroy();
    };
    const timer = this.opts.timers.setTimer(this.timeoutMs, () => fail('timeout', `no handshake within ${this.timeoutMs} ms`));
    secure.on('error', (err: NodeJS.ErrnoException) => {
      if (!done) fail(err.code ?? 'error', err.message.split('\n')[0] ?? '');
      // After the handshake, errors end the stream: SocketStream sees the close.
    });
    secure.once('close', () => fail('closed', 'the peer left during the handshake'));
    secure.once('secure', () => {
      if (done) return;
      done = true;
      timer.cancel();
      this.handshakes++;
      const version = secure.getProtocol() ?? '?';
      this.versions.set(version, (this.versions.get(version) ?? 0) + 1);
      // The connection underneath first: destroying the TLS socket would close it gracefully (a FIN) before.
      const reset = (): void => {
        if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
        else socket.destroy();
        secure.destroy();
      };
      serve(new SocketStream(secure, { remote, reset }));
    });
  }
}
