// The command line: parse flags, start the chosen stack with the service on it, stop cleanly on a signal.

import { systemTimers } from './clock.ts';
import { parseCli, USAGE } from './cli.ts';
import { consoleLogger } from './log.ts';
import { createAuthService } from './service.ts';
import { listenSockets } from './socket-adapter.ts';

/** How long in-flight requests may take to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 3000;

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (cli.kind === 'error') fail(`${cli.message} (see --help)`);
  const { config } = cli;
  const service = await createAuthService(config.data, systemTimers, consoleLogger).catch((err: unknown) =>
    fail(err instanceof Error ? err.message : String(err)),
  );
  const listener = await listenSockets(config.listen, config.port, (stream) => void service.http.serve(stream)).catch(
    (err: unknown) => {
      const code = err instanceof Error && 'code' in err ? String(err.code) : '';
      if (code === 'EADDRINUSE') fail(`port ${config.port} on ${config.listen} is already in use`);
      if (code === 'EACCES') fail(`not allowed to listen on port ${config.port} (ports below 1024 need root)`);
      if (code === 'EADDRNOTAVAIL') fail(`${config.listen} is not an address of this host`);
      fail(err instanceof Error ? err.message : String(err));
    },
  );
  consoleLogger.info(
    `auth service on http://${listener.address.address}:${listener.address.port}/ (stack socket, ${service.users} users in ${config.data})`,
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    consoleLogger.info(`${signal}: shutting down`);
    void Promise.all([listener.close(), service.http.shutdown(SHUTDOWN_GRACE_MS)]).then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
