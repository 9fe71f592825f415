// The application, put together once for whichever stack carries it: the store, the auth handler and the HTTP server.

import { DirectoryKv } from './app/kv-store.ts';
import { createAuthHandler, type AuthOptions } from './app/auth-handler.ts';
import { parseCredential } from './app/password-hash.ts';
import type { Timers } from './clock.ts';
import { HttpServer, type HttpServerOptions, type RequestHandler } from './http/server.ts';
import type { Logger } from './log.ts';

/** How the users present at start-up store their passwords. */
export interface CredentialSurvey {
  hashed: number;
  plain: number;
  malformed: number;
  /** Empty or blank files. */
  disabled: number;
}

/**
 * Reads every user file once and says what it found: a warning line per malformed hash (naming the user, never
 * the content) and one line with the number of users still stored in plain text.
 */
export async function surveyCredentials(store: DirectoryKv, keys: readonly string[], log: Logger): Promise<CredentialSurvey> {
  const survey: CredentialSurvey = { hashed: 0, plain: 0, malformed: 0, disabled: 0 };
  for (const key of keys) {
    const value = await store.get(key);
    if (value === undefined) continue; // gone since the listing
    const kind = parseCredential(value).kind;
    if (kind === 'scrypt') survey.hashed++;
    else if (kind === 'plain') survey.plain++;
    else if (kind === 'disabled') survey.disabled++;
    else {
      survey.malformed++;
      log.warn(`warning: user ${JSON.stringify(key)}: malformed password hash; this user cannot log in`);
    }
  }
  if (survey.plain > 0) {
    const users = survey.plain === 1 ? '1 user is' : `${survey.plain} users are`;
    log.warn(`warning: ${users} still stored in plain text in ${store.dir}; hash each with: npm run passwd -- USER`);
  }
  return survey;
}

export async function createAuthService(
  dataDir: string,
  timers: Timers,
  log: Logger,
  options: Partial<HttpServerOptions> = {},
  auth: Partial<AuthOptions> = {},
): Promise<{ http: HttpServer; users: number; credentials: CredentialSurvey; responses: ReadonlyMap<number, number> }> {
  const store = await DirectoryKv.open(dataDir);
  const keys = await store.keys();
  const credentials = await surveyCredentials(store, keys, log);
  // Responses by status, for metrics and the status report: the handler's answers, a handler that threw (the
  // server answers 500), and what the HTTP layer refused by itself (400, 408, 413…).
  const responses = new Map<number, number>();
  const count = (status: number): void => {
    responses.set(status, (responses.get(status) ?? 0) + 1);
  };
  // With any hashed user, unknown users cost a hash check too: timing must not tell which users exist.
  const handler = createAuthHandler(store, timers, log, { decoyForUnknownUsers: credentials.hashed > 0, ...auth });
  const counted: RequestHandler = async (req) => {
    try {
      const res = await handler(req);
      count(res.status);
      return res;
    } catch (err) {
      count(500);
      throw err;
    }
  };
  const onProtocolError = options.onProtocolError;
  const http = new HttpServer(counted, timers, {
    ...options,
    onProtocolError: (e) => {
      count(e.status);
      if (onProtocolError !== undefined) onProtocolError(e);
      else log.info(`http ${e.status} ${e.reason} from ${e.remote.address}:${e.remote.port}`);
    },
  });
  return { http, users: keys.length, credentials, responses };
}
