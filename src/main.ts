// The command line: parse flags, start the chosen stack with the service on it (and the metrics listener when
// asked), answer SIGUSR1 with a status report, stop cleanly on SIGINT/SIGTERM.

import { systemTimers } from './clock.ts';
import { parseCli, USAGE, type Config } from './cli.ts';
import { startDirectStack } from './stack/direct-stack.ts';
import { HttpServer } from './http/server.ts';
import { createLogger, type AppLogger } from './log.ts';
import type { MetricsSources } from './metrics.ts';
import { DeviceSetupError } from './net/tap-device.ts';
import { systemRandom } from './random.ts';
import { serveChargen } from './app/chargen.ts';
import { serveEcho } from './app/echo.ts';
import { createAuthService } from './service.ts';
import type { ByteStream } from './net/byte-stream.ts';
import type { TcpListener } from './net/tcp/tcp.ts';
import { listenKernelSockets, listenSockets, type SocketListener } from './socket-adapter.ts';
import { dropPrivileges, PrivilegeError } from './privileges.ts';
import { TlsConfigError, TlsTerminator } from './tls/tls-terminator.ts';
import { processInfo, renderDirectStatus, renderSocketStatus } from './status.ts';

/** How long in-flight requests may take to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 3000;
/** The most a shutdown may take in all: requests' grace, the DHCP release, closing the device. */
const SHUTDOWN_HARD_LIMIT_MS = 8000;
/** The exit status when the TAP is lost while serving (2: an error at start; 1: an error during shutdown). */
const EXIT_DEVICE_LOST = 3;
/** Scrapers served at once: a Prometheus or two, and someone with curl. */
const METRICS_MAX_CONNECTIONS = 16;

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * SIGINT and SIGTERM shut down and exit 0; SIGUSR1 reports the status. Returns the shutdown itself, for a fatal
 * condition (`why`, exit status `code`): the same stop, then that status, so that a supervisor sees the failure.
 */
function onSignals(log: AppLogger, stop: () => Promise<unknown>, status: () => string[]): (why: string, code: number) => void {
  let stopping = false;
  const handler = (why: string, code = 0): void => {
    if (stopping) return;
    stopping = true;
    if (code === 0) log.info(`${why}: shutting down`);
    else log.error(`${why}: shutting down, exit status ${code}`);
    // Whatever happens below, the process ends within this bound (the TAP goes with it: it is not persistent).
    setTimeout(() => {
      log.warn(`${why}: shutdown still not done after ${SHUTDOWN_HARD_LIMIT_MS} ms; exiting anyway`);
      process.exit(code);
    }, SHUTDOWN_HARD_LIMIT_MS).unref();
    void stop().then(
      () => process.exit(code),
      (err: unknown) => {
        log.error(`error during shutdown: ${message(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
  // Also keeps Node from starting its inspector on SIGUSR1, which it would do with no listener.
  process.on('SIGUSR1', () => {
    try {
      for (const line of status()) log.report(line);
    } catch (err) {
      log.error(`SIGUSR1: no status: ${message(err)}`);
    }
  });
  return handler;
}

/**
 * The HTTP server of the metrics listener: the project's own, with the metrics handler. prom-client is loaded only
 * here, with --metrics-port (it costs ~12 MB of RSS).
 */
async function metricsServer(sources: MetricsSources, log: AppLogger): Promise<HttpServer> {
  const { createMetricsRegistry, metricsHandler } = await import('./metrics.ts');
  return new HttpServer(metricsHandler(createMetricsRegistry(sources), log), systemTimers, {
    maxConnections: METRICS_MAX_CONNECTIONS,
    onProtocolError: (e) => log.debug(`metrics: http ${e.status} ${e.reason} from ${e.remote.address}:${e.remote.port}`),
  });
}

/** The TLS terminator for --tls-cert/--tls-key (a certificate that cannot be used stops the start), reloaded on SIGHUP. */
function startTls(config: Config, log: AppLogger): TlsTerminator | undefined {
  const c = config.tls;
  if (c === undefined) return undefined;
  let tls: TlsTerminator;
  try {
    tls = new TlsTerminator({ certFile: c.certFile, keyFile: c.keyFile, handshakeTimeoutMs: c.handshakeTimeoutMs, timers: systemTimers, log });
  } catch (err) {
    if (err instanceof TlsConfigError) fail(err.message);
    throw err;
  }
  log.info(`TLS: certificate ${tls.certificate.subject}, valid until ${tls.certificate.notAfter}`);
  process.on('SIGHUP', () => {
    try {
      tls.reload();
      log.info(`SIGHUP: TLS certificate reloaded: ${tls.certificate.subject}, valid until ${tls.certificate.notAfter}; open connections keep theirs`);
    } catch (err) {
      log.error(`SIGHUP: TLS reload failed, the certificate in use stays: ${message(err)}`);
    }
  });
  return tls;
}

/** Root no more once everything that needs it is done (see src/privileges.ts); a drop that cannot be done stops the start. */
function lowerPrivileges(config: Config, log: AppLogger, state?: { dir: string; ours: boolean }): void {
  try {
    const out = dropPrivileges({
      user: config.user,
      owned: state?.ours === true ? [state.dir] : [],
      writable: state === undefined ? [] : [state.dir],
      readable: [config.data],
      rereadable: config.tls === undefined ? [] : [config.tls.certFile, config.tls.keyFile],
    });
    for (const w of out.warnings) log.warn(`warning: ${w}`);
    if (out.kind === 'dropped') {
      log.info(`privileges: now ${out.user.name} (uid ${out.user.uid}, gid ${out.user.gid}), no capabilities (bounding set of ${out.capsDropped} emptied), no_new_privs`);
    } else if (out.kind === 'caps-cleared') {
      log.info('privileges: capabilities dropped, no_new_privs');
    }
  } catch (err) {
    if (err instanceof PrivilegeError) fail(err.message);
    throw err;
  }
}

async function runSocket(config: Config, log: AppLogger): Promise<void> {
  const service = await createAuthService(config.data, systemTimers, log).catch((err: unknown) => fail(message(err)));
  const listen = (port: number, serve: (s: ByteStream) => void): Promise<SocketListener> =>
    listenSockets(config.listen, port, serve).catch((err: unknown) => {
      const code = err instanceof Error && 'code' in err ? String(err.code) : '';
      if (code === 'EADDRINUSE') fail(`port ${port} on ${config.listen} is already in use`);
      if (code === 'EACCES') fail(`not allowed to listen on port ${port} (ports below 1024 need root)`);
      if (code === 'EADDRNOTAVAIL') fail(`${config.listen} is not an address of this host`);
      fail(message(err));
    });
  const tls = startTls(config, log);
  const listeners: SocketListener[] = [];
  if (config.tls?.only !== true) {
    const plain = await listen(config.port, (stream) => void service.http.serve(stream));
    listeners.push(plain);
    log.info(`auth service on http://${plain.address.address}:${plain.address.port}/ (stack socket, ${service.users} users in ${config.data})`);
  }
  if (tls !== undefined && config.tls !== undefined) {
    const port = config.tls.port;
    const secure = await listenKernelSockets(config.listen, port, (sock) => tls.accept(sock, (stream) => void service.http.serve(stream))).catch((err: unknown) =>
      fail(`cannot listen on TLS port ${port}: ${message(err)}`),
    );
    listeners.push(secure);
    log.info(`auth service on https://${secure.address.address}:${secure.address.port}/ (stack socket, TLS, ${service.users} users in ${config.data})`);
  }
  if (config.echoPort !== undefined) {
    listeners.push(await listen(config.echoPort, (stream) => void serveEcho(stream)));
    log.info(`echo service on TCP port ${config.echoPort}`);
  }
  if (config.chargenPort !== undefined) {
    listeners.push(await listen(config.chargenPort, (stream) => void serveChargen(stream)));
    log.info(`chargen service on TCP port ${config.chargenPort}`);
  }
  const servers = [service.http];
  if (config.metricsPort !== undefined) {
    const metrics = await metricsServer({ responses: service.responses, tls }, log);
    servers.push(metrics);
    listeners.push(await listen(config.metricsPort, (stream) => void metrics.serve(stream)));
    log.info(`metrics on http://${config.listen}:${config.metricsPort}/metrics`);
  }
  lowerPrivileges(config, log);
  onSignals(
    log,
    () => Promise.all([...listeners.map((l) => l.close()), ...servers.map((s) => s.shutdown(SHUTDOWN_GRACE_MS))]),
    () =>
      renderSocketStatus({
        listening: listeners.map((l) => l.address),
        http: { connections: service.http.connections, responses: service.responses, tls },
        process: processInfo(),
      }),
  );
}

async function runDirect(config: Config, log: AppLogger): Promise<void> {
  const service = await createAuthService(config.data, systemTimers, log).catch((err: unknown) => fail(message(err)));
  let direct;
  try {
    direct = startDirectStack(config, systemTimers, systemRandom(), log);
  } catch (err) {
    if (err instanceof DeviceSetupError) fail(err.message);
    throw err;
  }
  const d = direct;
  // Nagle off for HTTP, as node:http does: a response is written whole, and pipelined answers must not wait.
  const tls = startTls(config, log);
  const listeners: TcpListener[] = [];
  if (config.tls?.only !== true) {
    listeners.push(d.listen(config.port, (s) => service.http.serve(s), { noDelay: true }));
    log.info(`auth service on TCP port ${config.port} (stack direct, ${service.users} users in ${config.data})`);
  }
  if (tls !== undefined && config.tls !== undefined) {
    listeners.push(d.listenSockets(config.tls.port, (sock) => tls.accept(sock, (stream) => void service.http.serve(stream)), { noDelay: true }));
    log.info(`auth service over TLS on TCP port ${config.tls.port} (stack direct, ${service.users} users in ${config.data})`);
  }
  if (config.echoPort !== undefined) {
    listeners.push(d.listen(config.echoPort, serveEcho));
    log.info(`echo service on TCP port ${config.echoPort}`);
  }
  if (config.chargenPort !== undefined) {
    listeners.push(d.listen(config.chargenPort, serveChargen, { noDelay: true }));
    log.info(`chargen service on TCP port ${config.chargenPort}`);
  }
  const servers = [service.http];
  if (config.metricsPort !== undefined) {
    // On our own TCP, next to the service: what is measured is also what carries the scrape.
    const metrics = await metricsServer(
      { direct: { stack: d.stack, traffic: d.traffic, now: () => systemTimers.now(), turns: d.driver }, responses: service.responses, tls },
      log,
    );
    servers.push(metrics);
    listeners.push(d.listen(config.metricsPort, (s) => metrics.serve(s), { noDelay: true }));
    log.info(`metrics on TCP port ${config.metricsPort} (GET /metrics)`);
  }
  lowerPrivileges(config, log, { dir: d.stateDir, ours: d.stateDirOurs });
  const shutdown = onSignals(
    log,
    async () => {
      const t0 = systemTimers.now();
      for (const l of listeners) l.close();
      await Promise.all(servers.map((s) => s.shutdown(SHUTDOWN_GRACE_MS)));
      const drained = systemTimers.now();
      log.debug(`shutdown: listeners closed, HTTP connections done in ${(drained - t0).toFixed(0)} ms`);
      await d.stop();
      log.debug(`shutdown: stack stopped (DHCP released, TAP closed) in ${(systemTimers.now() - drained).toFixed(0)} ms`);
    },
    () =>
      renderDirectStatus({
        stack: d.stack,
        now: systemTimers.now(),
        listening: d.listening(),
        traffic: d.traffic,
        http: { connections: service.http.connections, responses: service.responses, tls },
        process: processInfo(),
      }),
  );
  // A TAP deleted from outside leaves a process with no network: that is a failure, not a way to keep running.
  void d.deviceLost.then((code) => shutdown(`TAP gone (${code}); the stack has no network`, EXIT_DEVICE_LOST));
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (cli.kind === 'error') fail(`${cli.message} (see --help)`);
  const log = await createLogger({ level: cli.config.logLevel ?? 'info', format: cli.config.logFormat ?? 'text' });
  if (cli.config.stack === 'socket') await runSocket(cli.config, log);
  else await runDirect(cli.config, log);
}

void main();
