// The original's service: GET with `user` and `password` query parameters, checked against the store.
// The path is ignored. Passwords are compared in constant time and never logged.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { HttpRequest, RequestHandler } from '../http/server.ts';
import type { HttpResponse } from '../http/response.ts';
import type { Logger } from '../log.ts';
import type { KvRo } from './kv-store.ts';

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** The stored password: the value decoded as UTF-8 with surrounding whitespace trimmed. */
export function passwordOf(value: Uint8Array): string {
  return utf8.decode(value).trim();
}

function digest(s: string): Buffer {
  return createHash('sha256').update(encoder.encode(s)).digest();
}

/**
 * Equal-length digests compared with timingSafeEqual, so time does not depend on where strings differ.
 * An absent user or an empty stored password (an empty or blank file) never matches.
 */
export function passwordsMatch(given: string, stored: string | undefined): boolean {
  const a = digest(given);
  const b = digest(stored ?? '');
  return timingSafeEqual(a, b) && stored !== undefined && stored !== '';
}

export function authResponse(status: 200 | 401, body: string): HttpResponse {
  return { status, body };
}

export function createAuthHandler(store: KvRo, clock: Clock, log: Logger): RequestHandler {
  return async (req: HttpRequest): Promise<HttpResponse> => {
    const started = clock.now();
    const user = req.query.get('user');
    const res = await respond(store, req, user);
    const ms = (clock.now() - started).toFixed(1);
    log.info(`${req.method} ${JSON.stringify(req.path)} user=${user === undefined ? '-' : JSON.stringify(user)} ${res.status} ${ms}ms`);
    return res;
  };
}

async function respond(store: KvRo, req: HttpRequest, user: string | undefined): Promise<HttpResponse> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return { status: 405, body: 'Method Not Allowed\n', headers: [['allow', 'GET, HEAD']] };
  }
  const password = req.query.get('password');
  if (user === undefined || password === undefined) return authResponse(401, 'No user given\n');
  const value = await store.get(user);
  const stored = value === undefined ? undefined : passwordOf(value);
  if (passwordsMatch(password, stored)) return authResponse(200, `hello ${user}!\n`);
  return authResponse(401, 'Invalid login\n');
}
