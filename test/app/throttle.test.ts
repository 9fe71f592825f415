import { describe, expect, it } from 'vitest';
import { createAuthHandler, type AuthOptions } from '../../src/app/auth-handler.ts';
import { LoginThrottle, defaultThrottleOptions } from '../../src/app/throttle.ts';
import { ManualTimers } from '../../src/clock.ts';
import type { HttpResponse } from '../../src/http/response.ts';
import { MemoryLogger } from '../../src/log.ts';
import { MemoryKv, bodyText, header, login, request, type RequestSpec } from './auth-helpers.ts';

const A = '192.0.2.1';
const B = '198.51.100.7';

function setup(options: Partial<AuthOptions> = {}): {
  store: MemoryKv;
  clock: ManualTimers;
  log: MemoryLogger;
  handle: (spec: RequestSpec) => Promise<HttpResponse>;
} {
  const store = new MemoryKv({ john: 'password\n', alice: 'wonderland' });
  const clock = new ManualTimers(1000);
  const log = new MemoryLogger();
  const handler = createAuthHandler(store, clock, log, options);
  return { store, clock, log, handle: async (spec) => handler(request(spec)) };
}

describe('LoginThrottle', () => {
  it('has the documented defaults', () => {
    expect(defaultThrottleOptions).toEqual({ maxFailures: 10, windowMs: 60_000, maxAddressFailures: 100, maxEntries: 10_000 });
  });

  /** One attempt that fails. */
  const fail = (t: LoginThrottle, user: string, address: string): void => {
    const a = t.admit(user, address);
    if (a.kind === 'admitted') a.fail();
  };

  it('admits until maxFailures have failed, then refuses with the seconds until the oldest leaves the window', () => {
    const clock = new ManualTimers(0);
    const t = new LoginThrottle(clock, { maxFailures: 3, windowMs: 10_000 });
    for (let i = 0; i < 3; i++) {
      expect(t.admit('u', A).kind).toBe('admitted');
      fail(t, 'u', A);
      clock.advance(1000);
    }
    // Failures at 0, 1000 and 2000 ms; now 3000: the first leaves the window at 10 000, 7 s from now.
    expect(t.admit('u', A)).toEqual({ kind: 'throttled', retryAfterSeconds: 7 });
    clock.advance(6500);
    expect(t.admit('u', A)).toEqual({ kind: 'throttled', retryAfterSeconds: 1 }); // 0.5 s, rounded up
    clock.advance(500);
    expect(t.admit('u', A).kind).toBe('admitted'); // exactly one failure has left
    fail(t, 'u', A);
    expect(t.admit('u', A)).toEqual({ kind: 'throttled', retryAfterSeconds: 1 });
  });

  it('one address is held to maxAddressFailures across all users; other addresses are not; the window frees it', () => {
    const clock = new ManualTimers(0);
    const t = new LoginThrottle(clock, { maxFailures: 10, maxAddressFailures: 20, windowMs: 10_000 });
    for (let i = 0; i < 20; i++) fail(t, `user${i}`, A);
    expect(t.addressFailures(A)).toBe(20);
    expect(t.admit('someone-new', A)).toEqual({ kind: 'throttled', retryAfterSeconds: 10 });
    expect(t.admit('john', A).kind).toBe('throttled');
    expect(t.admit('someone-new', B).kind).toBe('admitted');
    clock.advance(10_000);
    expect(t.admit('someone-new', A).kind).toBe('admitted');
  });

  it('the flush attack: spraying other names cannot evict the record of the user under attack', () => {
    const clock = new ManualTimers(0);
    const t = new LoginThrottle(clock, { maxFailures: 10, maxAddressFailures: 100, windowMs: 60_000, maxEntries: 1000 });
    for (let i = 0; i < 10; i++) fail(t, 'john', A);
    expect(t.admit('john', A).kind).toBe('throttled');
    // From the same address: the address budget stops the spray long before the pairs' bound is reached.
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      const a = t.admit(`spray${i}`, A);
      if (a.kind === 'admitted') a.fail();
      else refused++;
    }
    expect(refused).toBe(10_000 - 90);
    expect(t.admit('john', A).kind).toBe('throttled');
    // From many addresses (each within its budget), 5000 one-failure names, five times the bound: the entries
    // evicted are those with the fewest failures, never john's ten.
    for (let i = 0; i < 5000; i++) fail(t, `spray${i}`, `10.0.${i >> 8}.${i & 255}`);
    expect(t.size).toBeLessThanOrEqual(1000);
    expect(t.failures('john', A)).toBe(10);
    expect(t.admit('john', A).kind).toBe('throttled');
  });

  it('only failures count: any number of successes, or attempts in flight, never fill the window', () => {
    const clock = new ManualTimers(0);
    const t = new LoginThrottle(clock, { maxFailures: 2, windowMs: 10_000 });
    const inFlight = Array.from({ length: 20 }, () => t.admit('u', A));
    expect(inFlight.every((a) => a.kind === 'admitted')).toBe(true);
    expect(t.failures('u', A)).toBe(0);
    expect(t.size).toBe(0);
    fail(t, 'u', A);
    fail(t, 'u', A);
    for (let i = 0; i < 5; i++) expect(t.admit('u', A).kind).toBe('throttled');
    expect(t.failures('u', A)).toBe(2);
    clock.advance(10_000);
    expect(t.failures('u', A)).toBe(0);
  });

  it('keeps at most maxEntries pairs: twice as many distinct pairs leave it at the bound, the latest kept', () => {
    const clock = new ManualTimers(0);
    const max = 100;
    const t = new LoginThrottle(clock, { maxEntries: max });
    for (let i = 0; i < 2 * max; i++) {
      fail(t, `user${i}`, `10.0.${i >> 8}.${i & 255}`);
      expect(t.size).toBeLessThanOrEqual(max);
    }
    expect(t.size).toBe(max);
    expect(t.failures('user0', '10.0.0.0')).toBe(0); // evicted, the oldest
    expect(t.failures(`user${2 * max - 1}`, `10.0.0.${2 * max - 1}`)).toBe(1);
  });

  it('drops expired pairs: after the window one new failure leaves one pair', () => {
    const clock = new ManualTimers(0);
    const t = new LoginThrottle(clock, { maxEntries: 1000, windowMs: 60_000 });
    for (let i = 0; i < 500; i++) fail(t, 'u', `10.1.${i >> 8}.${i & 255}`);
    expect(t.size).toBe(500);
    clock.advance(59_999);
    fail(t, 'v', A);
    expect(t.size).toBe(501);
    clock.advance(1);
    fail(t, 'w', A);
    expect(t.size).toBe(2); // the 500 left the window at 60 000 ms
  });

  it('long user names are told apart (the key holds a digest of the name, not the name)', () => {
    const clock = new ManualTimers(0);
    const t = new LoginThrottle(clock, { maxFailures: 1 });
    const long = 'x'.repeat(8000);
    fail(t, long, A);
    expect(t.admit(long, A).kind).toBe('throttled');
    expect(t.admit(`${long}y`, A).kind).toBe('admitted');
  });

  it('refuses nonsense options', () => {
    const clock = new ManualTimers(0);
    expect(() => new LoginThrottle(clock, { maxFailures: 0 })).toThrow(RangeError);
    expect(() => new LoginThrottle(clock, { windowMs: 0 })).toThrow(RangeError);
    expect(() => new LoginThrottle(clock, { maxEntries: 0 })).toThrow(RangeError);
  });
});

describe('throttling through the auth handler', () => {
  it('the 11th wrong attempt within a minute gets 429 with Retry-After; the right password too, until the window passes', async () => {
    const { handle, clock } = setup();
    for (let i = 0; i < 10; i++) {
      const res = await handle(login('john', `wrong${i}`, A));
      expect(res.status, `attempt ${i + 1}`).toBe(401);
      clock.advance(1000);
    }
    // Failures at 1 000 … 10 000 ms; now 11 000: the first leaves the window at 61 000, 50 s from now.
    const eleventh = await handle(login('john', 'wrong10', A));
    expect(eleventh.status).toBe(429);
    expect(bodyText(eleventh)).toBe('Too Many Requests\n');
    expect(header(eleventh, 'retry-after')).toBe('50');

    const right = await handle(login('john', 'password', A));
    expect(right.status).toBe(429);
    expect(header(right, 'retry-after')).toBe('50');

    clock.advance(49_999); // 60 999 ms: still one millisecond to go
    const almost = await handle(login('john', 'password', A));
    expect(almost.status).toBe(429);
    expect(header(almost, 'retry-after')).toBe('1');

    clock.advance(1); // the window has passed for the first failure
    const ok = await handle(login('john', 'password', A));
    expect(ok.status).toBe(200);
    expect(bodyText(ok)).toBe('hello john!\n');
  });

  it('another user from the same address and the same user from another address are not affected', async () => {
    const { handle } = setup();
    for (let i = 0; i < 10; i++) expect((await handle(login('john', 'nope', A))).status).toBe(401);
    expect((await handle(login('john', 'nope', A))).status).toBe(429);
    expect((await handle(login('alice', 'wonderland', A))).status).toBe(200);
    expect((await handle(login('alice', 'nope', A))).status).toBe(401);
    expect((await handle(login('john', 'password', B))).status).toBe(200);
    expect((await handle(login('john', 'nope', B))).status).toBe(401);
    expect((await handle(login('john', 'password', A))).status).toBe(429);
  });

  it('unknown users count the same as wrong passwords', async () => {
    const { handle } = setup();
    for (let i = 0; i < 10; i++) expect((await handle(login('nobody', 'x', A))).status).toBe(401);
    const res = await handle(login('nobody', 'x', A));
    expect(res.status).toBe(429);
    expect(header(res, 'retry-after')).toBe('60');
  });

  it('successes are never refused or counted, however many', async () => {
    const { handle, clock } = setup();
    for (let i = 0; i < 50; i++) {
      expect((await handle(login('john', 'password', A))).status).toBe(200);
      clock.advance(10);
    }
    for (let i = 0; i < 10; i++) expect((await handle(login('john', 'nope', A))).status).toBe(401);
    expect((await handle(login('john', 'nope', A))).status).toBe(429);
  });

  it('a success does not clear earlier failures (they age out of the window)', async () => {
    const { handle } = setup();
    for (let i = 0; i < 9; i++) expect((await handle(login('john', 'nope', A))).status).toBe(401);
    expect((await handle(login('john', 'password', A))).status).toBe(200);
    expect((await handle(login('john', 'nope', A))).status).toBe(401); // the 10th failure
    expect((await handle(login('john', 'password', A))).status).toBe(429);
  });

  it('a burst of right passwords at once is never refused; a burst of wrong guesses is counted as each fails', async () => {
    const { handle } = setup();
    const rights = await Promise.all(Array.from({ length: 50 }, () => handle(login('john', 'password', A))));
    expect(rights.map((r) => r.status)).toEqual(Array.from({ length: 50 }, () => 200));
    const guesses = await Promise.all(Array.from({ length: 15 }, (_, i) => handle(login('john', `guess${i}`, A))));
    expect(guesses.every((r) => r.status === 401)).toBe(true); // all were in flight before any failed
    expect((await handle(login('john', 'password', A))).status).toBe(429); // the window is full now
  });

  it('honours its options: 3 failures per 5 s', async () => {
    const { handle, clock } = setup({ maxFailures: 3, failureWindowMs: 5000 });
    for (let i = 0; i < 3; i++) expect((await handle(login('john', 'nope', A))).status).toBe(401);
    const res = await handle(login('john', 'nope', A));
    expect(res.status).toBe(429);
    expect(header(res, 'retry-after')).toBe('5');
    clock.advance(5000);
    expect((await handle(login('john', 'password', A))).status).toBe(200);
  });

  it('bounds its memory through the handler option as well', async () => {
    const { handle } = setup({ maxFailures: 1, maxThrottleEntries: 4 });
    // Five addresses fail once each: the first pair is forgotten (evicted), so it may try again.
    for (let i = 0; i < 5; i++) expect((await handle(login('john', 'nope', `10.0.0.${i}`))).status).toBe(401);
    expect((await handle(login('john', 'nope', '10.0.0.4'))).status).toBe(429);
    expect((await handle(login('john', 'nope', '10.0.0.0'))).status).toBe(401);
  });

  it('logs 429s in the one-line format, never the password', async () => {
    const { handle, log } = setup({ maxFailures: 1 });
    await handle({ path: '/login', query: { user: 'john', password: 'Secret-One' }, from: A });
    await handle({ path: '/login', query: { user: 'john', password: 'Secret-Two' }, from: A });
    expect(log.lines).toHaveLength(2);
    expect(log.lines[0]).toMatch(/^GET "\/login" user="john" 401 \d+\.\dms$/);
    expect(log.lines[1]).toMatch(/^GET "\/login" user="john" 429 \d+\.\dms$/);
    for (const line of [...log.lines, ...log.warnings]) {
      expect(line).not.toContain('Secret');
      expect(line).not.toContain('password');
    }
  });
});
