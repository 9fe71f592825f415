// The command line: parse flags, start the chosen stack with the service on it, stop cleanly on a signal.

import { systemTimers } from './clock.ts';
import { parseCli, USAGE, type Config } from './cli.ts';
import { startDirectStack } from './direct-stack.ts';
import { consoleLogger } from './log.ts';
import { DeviceSetupError } from './net/tap-device.ts';
import { systemRandom } from './random.ts';
import { serveEcho } from './app/echo.ts';
import { createAuthService } from './service.ts';
import type { ByteStream } from './net/byte-stream.ts';
import { listenSockets, type SocketListener } from './socket-adapter.ts';

/** How long in-flight requests may take to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 3000;

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function onSignals(stop: () => Promise<unknown>): void {
  let stopping = false;
  const handler = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    consoleLogger.info(`${signal}: shutting down`);
    void stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`error during shutdown: ${message(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

async function runSocket(config: Config): Promise<void> {
  const service = await createAuthService(config.data, systemTimers, consoleLogger).catch((err: unknown) => fail(message(err)));
  const listen = (port: number, serve: (s: ByteStream) => void): Promise<SocketListener> =>
    listenSockets(config.listen, port, serve).catch((err: unknown) => {
      const code = err instanceof Error && 'code' in err ? String(err.code) : '';
      if (code === 'EADDRINUSE') fail(`port ${port} on ${config.listen} is already in use`);
      if (code === 'EACCES') fail(`not allowed to listen on port ${port} (ports below 1024 need root)`);
      if (code === 'EADDRNOTAVAIL') fail(`${config.listen} is not an address of this host`);
      fail(message(err));
    });
  const listeners = [await listen(config.port, (stream) => void service.http.serve(stream))];
  const first = listeners[0];
  consoleLogger.info(
    `auth service on http://${first?.address.address ?? config.listen}:${first?.address.port ?? config.port}/ (stack socket, ${service.users} users in ${config.data})`,
  );
  if (config.echoPort !== undefined) {
    listeners.push(await listen(config.echoPort, (stream) => void serveEcho(stream)));
    consoleLogger.info(`echo service on TCP port ${config.echoPort}`);
  }
  onSignals(() => Promise.all([...listeners.map((l) => l.close()), service.http.shutdown(SHUTDOWN_GRACE_MS)]));
}

async function runDirect(config: Config): Promise<void> {
  const service = await createAuthService(config.data, systemTimers, consoleLogger).catch((err: unknown) => fail(message(err)));
  let direct;
  try {
    direct = startDirectStack(config, systemTimers, systemRandom(), consoleLogger);
  } catch (err) {
    if (err instanceof DeviceSetupError) fail(err.message);
    throw err;
  }
  // Nagle off for HTTP, as node:http does: a response is written whole, and pipelined answers must not wait.
  const listeners = [direct.listen(config.port, (s) => service.http.serve(s), { noDelay: true })];
  consoleLogger.info(`auth service on TCP port ${config.port} (stack direct, ${service.users} users in ${config.data})`);
  if (config.echoPort !== undefined) {
    listeners.push(direct.listen(config.echoPort, serveEcho));
    consoleLogger.info(`echo service on TCP port ${config.echoPort}`);
  }
  const d = direct;
  onSignals(async () => {
    for (const l of listeners) l.close();
    await service.http.shutdown(SHUTDOWN_GRACE_MS);
    await d.stop();
  });
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (cli.kind === 'error') fail(`${cli.message} (see --help)`);
  if (cli.config.stack === 'socket') await runSocket(cli.config);
  else await runDirect(cli.config);
}

void main();
