// The original's service: GET with `user` and `password` query parameters, checked against the store.
// The path is ignored. Passwords are compared in constant time and never logged.
//
// A user file holds the password itself (plain) or an scrypt record (src/app/password-hash.ts). Hash checks
// run on libuv's thread pool, at most `maxConcurrentHashes` at once with `maxQueuedHashes` more waiting; past
// that the answer is 503. Failed logins are throttled per (user, source address) and per source address across
// users (src/app/throttle.ts): once `maxFailures` (or `maxAddressFailures`) have failed within `failureWindowMs`
// every attempt they cover gets 429 with Retry-After, the right password too, until the window frees a slot. A success never waits on the throttle and does not clear earlier failures.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { HttpRequest, RequestHandler } from '../http/server.ts';
import type { HttpResponse } from '../http/response.ts';
import type { Logger } from '../log.ts';
import { ConcurrencyLimiter } from './concurrency.ts';
import type { KvRo } from './kv-store.ts';
import {
  DEFAULT_HASH_BYTES, DEFAULT_SALT_BYTES, DEFAULT_SCRYPT_PARAMS, nodeScrypt, parseCredential, verifyScrypt, type ScryptFn, type ScryptHash,
} from './password-hash.ts';
import { LoginThrottle } from './throttle.ts';

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

export interface AuthOptions {
  /** Hash checks running at once (each on a libuv thread-pool thread). */
  maxConcurrentHashes: number;
  /** Hash checks waiting for a slot; one more is answered 503. */
  maxQueuedHashes: number;
  /** Failed logins per (user, source address) within the window before 429. */
  maxFailures: number;
  /** The throttle's sliding window. */
  failureWindowMs: number;
  /** Failed logins per source address, across all users, within the window before 429. */
  maxAddressFailures: number;
  /** (user, address) pairs the throttle remembers at most. */
  maxThrottleEntries: number;
  /** The scrypt implementation (tests inject a slow or counting one). */
  scrypt: ScryptFn;
  /**
   * Check a decoy hash for users that do not exist (or cannot log in), so that the answer's timing does not
   * tell them apart from users with a hashed password. The service turns it on when any user is hashed.
   */
  decoyForUnknownUsers: boolean;
}

export const defaultAuthOptions: AuthOptions = {
  maxConcurrentHashes: 4,
  maxQueuedHashes: 64,
  maxFailures: 10,
  failureWindowMs: 60_000,
  maxAddressFailures: 100,
  maxThrottleEntries: 10_000,
  scrypt: nodeScrypt,
  decoyForUnknownUsers: false,
};

/** Malformed-record warnings remembered (one warning per user); the set is cleared when full. */
const MAX_WARNED_USERS = 1024;

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

type Verdict = 'ok' | 'fail' | 'busy';

export function createAuthHandler(store: KvRo, clock: Clock, log: Logger, options: Partial<AuthOptions> = {}): RequestHandler {
  const opts: AuthOptions = { ...defaultAuthOptions, ...options };
  const throttle = new LoginThrottle(clock, {
    maxFailures: opts.maxFailures,
    windowMs: opts.failureWindowMs,
    maxAddressFailures: opts.maxAddressFailures,
    maxEntries: opts.maxThrottleEntries,
  });
  const hashes = new ConcurrencyLimiter(opts.maxConcurrentHashes, opts.maxQueuedHashes);
  const decoy: ScryptHash = { ...DEFAULT_SCRYPT_PARAMS, salt: randomBytes(DEFAULT_SALT_BYTES), hash: Buffer.alloc(DEFAULT_HASH_BYTES) };
  const warned = new Set<string>();

  const warnOnce = (user: string, what: string): void => {
    if (warned.has(user)) return;
    if (warned.size >= MAX_WARNED_USERS) warned.clear();
    warned.add(user);
    log.warn(`warning: user ${JSON.stringify(user)}: ${what}; this user cannot log in`);
  };

  /** Whether `password` is `user`'s; never throws. */
  const check = async (user: string, password: string): Promise<Verdict> => {
    const value = await store.get(user);
    const cred = value === undefined ? undefined : parseCredential(value);
    if (cred === undefined || cred.kind === 'disabled') {
      if (opts.decoyForUnknownUsers) {
        // As long as a real check: a hash with the default parameters that nothing matches.
        const r = await hashes.run(() => verifyScrypt(password, decoy, opts.scrypt).catch(() => undefined));
        if (r.busy) return 'busy';
      }
      return 'fail';
    }
    if (cred.kind === 'plain') return passwordsMatch(password, cred.password) ? 'ok' : 'fail';
    if (cred.kind === 'malformed') {
      warnOnce(user, 'malformed password hash');
      return 'fail';
    }
    const record = cred.hash;
    const r = await hashes.run(() => verifyScrypt(password, record, opts.scrypt).catch(() => undefined));
    if (r.busy) return 'busy';
    if (r.value === undefined) {
      warnOnce(user, 'the password hash could not be computed');
      return 'fail';
    }
    return r.value ? 'ok' : 'fail';
  };

  const respond = async (req: HttpRequest, user: string | undefined): Promise<HttpResponse> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return { status: 405, body: 'Method Not Allowed\n', headers: [['allow', 'GET, HEAD']] };
    }
    const password = req.query.get('password');
    if (user === undefined || password === undefined) return authResponse(401, 'No user given\n');
    const admission = throttle.admit(user, req.remote.address);
    if (admission.kind === 'throttled') {
      return { status: 429, body: 'Too Many Requests\n', headers: [['retry-after', String(admission.retryAfterSeconds)]] };
    }
    const verdict: Verdict = await check(user, password);
    if (verdict === 'fail') {
      admission.fail();
      return authResponse(401, 'Invalid login\n');
    }
    if (verdict === 'busy') return { status: 503, body: 'Service Unavailable\n', headers: [['retry-after', '1']] };
    return authResponse(200, `hello ${user}!\n`);
  };

  return async (req: HttpRequest): Promise<HttpResponse> => {
    const started = clock.now();
    const user = req.query.get('user');
    const res = await respond(req, user);
    const ms = (clock.now() - started).toFixed(1);
    log.info(`${req.method} ${JSON.stringify(req.path)} user=${user === undefined ? '-' : JSON.stringify(user)} ${res.status} ${ms}ms`);
    return res;
  };
}
