import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthHandler, defaultAuthOptions, type AuthOptions } from '../../src/app/auth-handler.ts';
import { ConcurrencyLimiter } from '../../src/app/concurrency.ts';
import { hashPassword, nodeScrypt, type ScryptFn } from '../../src/app/password-hash.ts';
import { ManualTimers } from '../../src/clock.ts';
import type { HttpResponse } from '../../src/http/response.ts';
import { MemoryLogger } from '../../src/log.ts';
import { createAuthService } from '../../src/service.ts';
import { MemoryKv, bodyText, flush, header, login, request, type RequestSpec } from './auth-helpers.ts';

const FAST = { ln: 10, r: 8, p: 1 };
const ALICE_PW = 'wonder land ✓';
const CAROL_PW = 'carol-secret';
let aliceHash = '';
let carolHash = '';

beforeAll(async () => {
  aliceHash = await hashPassword(ALICE_PW, FAST);
  carolHash = await hashPassword(CAROL_PW, FAST);
});

function setup(options: Partial<AuthOptions> = {}): {
  store: MemoryKv;
  log: MemoryLogger;
  handle: (spec: RequestSpec) => Promise<HttpResponse>;
} {
  const store = new MemoryKv({
    john: 'password\n', // plain, as before
    alice: `${aliceHash}\n`, // hashed
    carol: `  ${carolHash}  \r\n`, // hashed, with whitespace around
    blank: '\n',
  });
  const log = new MemoryLogger();
  const handler = createAuthHandler(store, new ManualTimers(0), log, options);
  return { store, log, handle: async (spec) => handler(request(spec)) };
}

/** A scrypt the test finishes by hand: each call waits until `finish` is called for it. */
function slowScrypt(): { fn: ScryptFn; calls: number; finish: (i: number) => Promise<void> } {
  const pending: Array<{ run: () => Promise<Buffer>; resolve: (b: Buffer) => void; reject: (e: unknown) => void }> = [];
  const state = {
    calls: 0,
    fn: ((password, salt, keyLength, params) => {
      state.calls++;
      return new Promise<Buffer>((resolve, reject) => {
        pending.push({ run: () => nodeScrypt(password, salt, keyLength, params), resolve, reject });
      });
    }) as ScryptFn,
    /** Lets call `i` compute (the real scrypt), hands its result over, and lets the handler move on. */
    finish: async (i: number) => {
      const p = pending[i];
      if (p === undefined) throw new Error(`no call ${i}`);
      await p.run().then(p.resolve, p.reject);
      await flush();
    },
  };
  return state;
}

describe('hashed and plain users side by side', () => {
  it('both log in with their passwords and only with them', async () => {
    const { handle } = setup();
    const cases: Array<[string, string, number]> = [
      ['john', 'password', 200],
      ['john', 'wrong', 401],
      ['alice', ALICE_PW, 200],
      ['alice', 'wonder land', 401],
      ['alice', `${ALICE_PW} `, 401],
      ['alice', aliceHash, 401], // the record itself is not a password
      ['alice', 'password', 401],
      ['carol', CAROL_PW, 200],
      ['carol', ALICE_PW, 401],
      ['blank', '', 401],
      ['nobody', 'password', 401],
    ];
    for (const [user, pw, status] of cases) {
      const res = await handle(login(user, pw, `10.0.0.${status}`));
      expect(res.status, `${user} / ${pw}`).toBe(status);
      expect(bodyText(res)).toBe(status === 200 ? `hello ${user}!\n` : 'Invalid login\n');
    }
  });

  it('with decoyForUnknownUsers, an unknown or blank user costs a hash check too, and still fails', async () => {
    const seen: number[] = [];
    const counting: ScryptFn = (password, salt, keyLength, params) => {
      seen.push(params.ln);
      return Promise.resolve(Buffer.alloc(keyLength, 1)); // never the decoy's all-zero hash
    };
    const { handle, store } = setup({ scrypt: counting, decoyForUnknownUsers: true });
    expect((await handle(login('nobody', 'x'))).status).toBe(401);
    expect((await handle(login('blank', ''))).status).toBe(401);
    expect(seen).toEqual([15, 15]); // the default cost, as a real hashed user's
    expect((await handle(login('john', 'password'))).status).toBe(200); // plain users stay plain
    expect(seen).toHaveLength(2);
    expect(store.lookups).toEqual(['nobody', 'blank', 'john']);
  });

  it('a hashed user goes through scrypt; a plain user never does', async () => {
    let calls = 0;
    const counting: ScryptFn = (...args) => {
      calls++;
      return nodeScrypt(...args);
    };
    const { handle } = setup({ scrypt: counting });
    expect((await handle(login('john', 'password'))).status).toBe(200);
    expect((await handle(login('nobody', 'x'))).status).toBe(401);
    expect(calls).toBe(0);
    expect((await handle(login('alice', ALICE_PW))).status).toBe(200);
    expect((await handle(login('alice', 'nope'))).status).toBe(401);
    expect(calls).toBe(2);
  });

  it('HEAD and GET agree for hashed users', async () => {
    const { handle } = setup();
    for (const [pw, status] of [[ALICE_PW, 200], ['x', 401]] as const) {
      const get = await handle({ method: 'GET', query: { user: 'alice', password: pw } });
      const head = await handle({ method: 'HEAD', query: { user: 'alice', password: pw } });
      expect([get.status, head.status]).toEqual([status, status]);
    }
  });

  it('logs one line per request, never a password or any part of a stored record', async () => {
    const { handle, log } = setup();
    await handle(login('alice', ALICE_PW));
    await handle(login('alice', 'Wr0ng-Secret'));
    await handle(login('john', 'password'));
    await handle(login('carol', CAROL_PW));
    expect(log.lines).toHaveLength(4);
    expect(log.lines.map((l) => / (\d{3}) /.exec(l)?.[1])).toEqual(['200', '401', '200', '200']);
    const secrets = [ALICE_PW, 'Wr0ng-Secret', 'password', CAROL_PW, aliceHash, carolHash, ...[aliceHash, carolHash].flatMap((h) => h.split('$').slice(3))];
    for (const line of [...log.lines, ...log.warnings]) for (const s of secrets) expect(line).not.toContain(s);
  });
});

describe('malformed hash files', () => {
  const malformed: Record<string, string> = {
    m1: '$scrypt$',
    m2: '$scrypt$ln=15,r=8,p=1$onlysalt',
    m3: '$scrypt$ln=99,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    m4: '$scrypt$ln=15,r=8,p=1$!!!!$????',
    m5: '$scrypt$ln=20,r=32,p=16$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    m6: '$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$',
  };

  it('are a user who can never log in, with one warning naming the user and never the content', async () => {
    let calls = 0;
    const counting: ScryptFn = (...args) => {
      calls++;
      return nodeScrypt(...args);
    };
    const { handle, store, log } = setup({ scrypt: counting, maxFailures: 1000 });
    for (const [user, content] of Object.entries(malformed)) store.set(user, content);
    for (const [user, content] of Object.entries(malformed)) {
      for (const pw of ['', 'password', content, content.trim(), 'AAAAAAAAAAAAAAAAAAAAAA']) {
        const res = await handle(login(user, pw));
        expect(res.status, `${user} / ${pw}`).toBe(401);
        expect(bodyText(res)).toBe('Invalid login\n');
      }
    }
    expect(calls).toBe(0); // nothing malformed reaches scrypt (no memory bomb)
    expect(log.warnings).toHaveLength(Object.keys(malformed).length); // once per user, not per attempt
    for (const [user, content] of Object.entries(malformed)) {
      const w = log.warnings.filter((l) => l.includes(`"${user}"`));
      expect(w).toHaveLength(1);
      expect(w[0]).toMatch(/malformed password hash/);
      const tail = content.slice('$scrypt$'.length);
      for (const line of log.warnings) {
        expect(line).not.toContain('$scrypt$');
        if (tail !== '') expect(line).not.toContain(tail);
      }
    }
  });

  it('a scrypt that fails is a refusal and a warning, not a 500', async () => {
    const failing: ScryptFn = () => Promise.reject(new Error('boom'));
    const { handle, log } = setup({ scrypt: failing });
    const res = await handle(login('alice', ALICE_PW));
    expect(res.status).toBe(401);
    expect(log.warnings).toEqual([expect.stringMatching(/^warning: user "alice": the password hash could not be computed/)]);
  });
});

describe('bounded hash concurrency', () => {
  it('with limit 2 and a slow hasher the third waits; past the queue bound the answer is 503', async () => {
    const slow = slowScrypt();
    const { handle, log } = setup({ scrypt: slow.fn, maxConcurrentHashes: 2, maxQueuedHashes: 1 });
    const done: Array<HttpResponse | undefined> = [undefined, undefined, undefined, undefined];
    const reqs = [ALICE_PW, 'bad1', ALICE_PW, 'bad2'].map((pw, i) =>
      handle(login('alice', pw, `10.0.1.${i}`)).then((r) => {
        done[i] = r;
        return r;
      }),
    );
    await flush();
    expect(slow.calls).toBe(2); // two running, the third queued
    expect(done.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    const busy = done[3];
    expect(busy?.status).toBe(503); // the fourth: queue full, refused at once
    expect(busy && header(busy, 'retry-after')).toBe('1');
    expect(busy && bodyText(busy)).toBe('Service Unavailable\n');

    await slow.finish(0);
    await flush();
    expect(done[0]?.status).toBe(200);
    expect(slow.calls).toBe(3); // the queued one got the freed slot
    await slow.finish(1);
    await slow.finish(2);
    const all = await Promise.all(reqs);
    expect(all.map((r) => r.status)).toEqual([200, 401, 200, 503]);
    expect(log.lines.map((l) => / (\d{3}) /.exec(l)?.[1])).toEqual(['503', '200', '401', '200']);
  });

  it('plain users are answered at once while every hash slot and the queue are taken', async () => {
    const slow = slowScrypt();
    const { handle } = setup({ scrypt: slow.fn, maxConcurrentHashes: 1, maxQueuedHashes: 1 });
    const held = [handle(login('alice', ALICE_PW, '10.0.2.1')), handle(login('alice', ALICE_PW, '10.0.2.2'))];
    await flush();
    expect(slow.calls).toBe(1);
    expect((await handle(login('alice', ALICE_PW, '10.0.2.3'))).status).toBe(503);
    expect((await handle(login('john', 'password'))).status).toBe(200);
    expect((await handle(login('john', 'nope'))).status).toBe(401);
    await slow.finish(0);
    await flush();
    await slow.finish(1);
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('a 503 does not count as a failed login', async () => {
    const slow = slowScrypt();
    const { handle } = setup({ scrypt: slow.fn, maxConcurrentHashes: 1, maxQueuedHashes: 0, maxFailures: 2 });
    const first = handle(login('alice', 'bad', '10.0.3.1'));
    await flush();
    for (let i = 0; i < 5; i++) expect((await handle(login('alice', 'bad', '10.0.3.2'))).status).toBe(503);
    await slow.finish(0);
    expect((await first).status).toBe(401);
    // 10.0.3.2 has no failures counted: two real attempts are still allowed.
    const a = handle(login('alice', 'bad', '10.0.3.2'));
    await flush();
    await slow.finish(1);
    expect((await a).status).toBe(401);
    const b = handle(login('alice', ALICE_PW, '10.0.3.2'));
    await flush();
    await slow.finish(2);
    expect((await b).status).toBe(200);
  });

  it('defaults: 4 at once, 64 queued', () => {
    expect(defaultAuthOptions.maxConcurrentHashes).toBe(4);
    expect(defaultAuthOptions.maxQueuedHashes).toBe(64);
    expect(defaultAuthOptions.maxFailures).toBe(10);
    expect(defaultAuthOptions.failureWindowMs).toBe(60_000);
    expect(defaultAuthOptions.maxThrottleEntries).toBe(10_000);
  });

  it('ConcurrencyLimiter: FIFO hand-over, bounded queue, slots returned after failures', async () => {
    const lim = new ConcurrencyLimiter(1, 2);
    const order: string[] = [];
    const gates: Array<() => void> = [];
    const task = (name: string, fail = false) => () =>
      new Promise<string>((resolve, reject) => {
        order.push(name);
        gates.push(() => (fail ? reject(new Error(name)) : resolve(name)));
      });
    const a = lim.run(task('a', true));
    const b = lim.run(task('b'));
    const c = lim.run(task('c'));
    expect(await lim.run(task('d'))).toEqual({ busy: true });
    expect([lim.active, lim.queued]).toEqual([1, 2]);
    gates[0]?.();
    await expect(a).rejects.toThrow('a');
    await flush();
    gates[1]?.();
    expect(await b).toEqual({ busy: false, value: 'b' });
    await flush();
    gates[2]?.();
    expect(await c).toEqual({ busy: false, value: 'c' });
    expect(order).toEqual(['a', 'b', 'c']);
    expect([lim.active, lim.queued]).toEqual([0, 0]);
    expect(() => new ConcurrencyLimiter(0, 1)).toThrow(RangeError);
    expect(() => new ConcurrencyLimiter(1, -1)).toThrow(RangeError);
  });
});

describe('createAuthService at start-up', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'auth-hashed-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts the users by kind and warns once about plain text, once per malformed file, never with content', async () => {
    writeFileSync(path.join(dir, 'john'), 'plain-secret-1\n');
    writeFileSync(path.join(dir, 'mary'), 'plain-secret-2');
    writeFileSync(path.join(dir, 'alice'), `${aliceHash}\n`);
    writeFileSync(path.join(dir, 'broken'), '$scrypt$ln=15,r=8,p=1$c2VjcmV0LWluLWZpbGU$');
    writeFileSync(path.join(dir, 'off'), '  \n');
    const log = new MemoryLogger();
    const svc = await createAuthService(dir, new ManualTimers(0), log);
    expect(svc.users).toBe(5);
    expect(svc.credentials).toEqual({ hashed: 1, plain: 2, malformed: 1, disabled: 1 });
    expect(log.lines).toEqual([]);
    expect(log.warnings).toHaveLength(2);
    expect(log.warnings[0]).toBe('warning: user "broken": malformed password hash; this user cannot log in');
    expect(log.warnings[1]).toMatch(/^warning: 2 users are still stored in plain text in .*; hash each with: npm run passwd -- USER$/);
    for (const line of log.warnings) {
      for (const s of ['plain-secret', 'c2VjcmV0LWluLWZpbGU', aliceHash]) expect(line).not.toContain(s);
    }
  });

  it('says nothing when every user is hashed', async () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'auth-hashed-only-'));
    try {
      writeFileSync(path.join(d, 'alice'), aliceHash);
      const log = new MemoryLogger();
      const svc = await createAuthService(d, new ManualTimers(0), log);
      expect(svc.credentials).toEqual({ hashed: 1, plain: 0, malformed: 0, disabled: 0 });
      expect(log.warnings).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
