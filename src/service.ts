// The application, put together once for whichever stack carries it: the store, the auth handler and the HTTP server.

import { DirectoryKv } from './app/kv-store.ts';
import { createAuthHandler } from './app/auth-handler.ts';
import type { Timers } from './clock.ts';
import { HttpServer, type HttpServerOptions } from './http/server.ts';
import type { Logger } from './log.ts';

export async function createAuthService(
  dataDir: string,
  timers: Timers,
  log: Logger,
  options: Partial<HttpServerOptions> = {},
): Promise<{ http: HttpServer; users: number }> {
  const store = await DirectoryKv.open(dataDir);
  const users = (await store.keys()).length;
  const http = new HttpServer(createAuthHandler(store, timers, log), timers, {
    onProtocolError: (e) => log.info(`http ${e.status} ${e.reason} from ${e.remote.address}:${e.remote.port}`),
    ...options,
  });
  return { http, users };
}
