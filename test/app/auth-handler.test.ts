import { describe, expect, it } from 'vitest';
import { authResponse, createAuthHandler, passwordOf, passwordsMatch } from '../../src/app/auth-handler.ts';
import { ManualTimers } from '../../src/clock.ts';
import type { HttpResponse } from '../../src/http/response.ts';
import { MemoryLogger } from '../../src/log.ts';
import { MemoryKv, request, type RequestSpec } from './auth-helpers.ts';

const encoder = new TextEncoder();
const UNICODE_PW = 'pässwörd€😀';

function setup(): { store: MemoryKv; clock: ManualTimers; log: MemoryLogger; handle: (spec: RequestSpec) => Promise<HttpResponse> } {
  const store = new MemoryKv({
    john: 'password',
    ws: '  password\r\n\t',
    uni: `${UNICODE_PW}\n`,
  });
  const clock = new ManualTimers(1000);
  const log = new MemoryLogger();
  const handler = createAuthHandler(store, clock, log);
  return { store, clock, log, handle: async (spec) => handler(request(spec)) };
}

function bodyText(res: HttpResponse): string {
  return typeof res.body === 'string' ? res.body : new TextDecoder().decode(res.body);
}

function header(res: HttpResponse, name: string): string | undefined {
  return res.headers?.find(([n]) => n.toLowerCase() === name)?.[1];
}

describe('createAuthHandler', () => {
  it('answers 200 hello for the right password', async () => {
    const { handle } = setup();
    const res = await handle({ query: { user: 'john', password: 'password' } });
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe('hello john!\n');
  });

  it('trims whitespace and newlines around the stored value', async () => {
    const { handle } = setup();
    const res = await handle({ query: { user: 'ws', password: 'password' } });
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe('hello ws!\n');
  });

  it('does not trim the given password', async () => {
    const { handle } = setup();
    const res = await handle({ query: { user: 'john', password: ' password' } });
    expect(res.status).toBe(401);
    expect(bodyText(res)).toBe('Invalid login\n');
  });

  it('refuses a wrong password', async () => {
    const { handle } = setup();
    const res = await handle({ query: { user: 'john', password: 'wrong' } });
    expect(res.status).toBe(401);
    expect(bodyText(res)).toBe('Invalid login\n');
  });

  it('refuses a prefix or an extension of the right password', async () => {
    const { handle } = setup();
    for (const pw of ['pass', 'passwor', 'password!', 'Password', '']) {
      const res = await handle({ query: { user: 'john', password: pw } });
      expect(res.status, pw).toBe(401);
      expect(bodyText(res), pw).toBe('Invalid login\n');
    }
  });

  it('refuses an unknown user', async () => {
    const { handle } = setup();
    const res = await handle({ query: { user: 'mallory', password: 'password' } });
    expect(res.status).toBe(401);
    expect(bodyText(res)).toBe('Invalid login\n');
  });

  it('refuses an unknown user with an empty password', async () => {
    const { handle } = setup();
    const res = await handle({ query: { user: 'mallory', password: '' } });
    expect(res.status).toBe(401);
    expect(bodyText(res)).toBe('Invalid login\n');
  });

  it.each([
    ['no user', { password: 'password' }],
    ['no password', { user: 'john' }],
    ['neither', {}],
    ['other parameters only', { name: 'john', pass: 'password' }],
  ])('answers 401 No user given for %s', async (_label, query: Record<string, string>) => {
    const { handle, store } = setup();
    const res = await handle({ query });
    expect(res.status).toBe(401);
    expect(bodyText(res)).toBe('No user given\n');
    expect(store.lookups).toEqual([]);
  });

  it('refuses an empty-string user', async () => {
    const { handle } = setup();
    const res = await handle({ query: { user: '', password: 'password' } });
    expect(res.status).toBe(401);
    expect(bodyText(res)).toBe('Invalid login\n');
  });

  it('matches a password with non-ASCII UTF-8 characters', async () => {
    const { handle } = setup();
    const ok = await handle({ query: { user: 'uni', password: UNICODE_PW } });
    expect(ok.status).toBe(200);
    expect(bodyText(ok)).toBe('hello uni!\n');
    const bad = await handle({ query: { user: 'uni', password: 'passwörd€😀' } });
    expect(bad.status).toBe(401);
    const nfd = await handle({ query: { user: 'uni', password: UNICODE_PW.normalize('NFD') } });
    expect(nfd.status).toBe(401);
  });

  it('ignores the path', async () => {
    const { handle } = setup();
    const res = await handle({ path: '/some/where', query: { user: 'john', password: 'password' } });
    expect(res.status).toBe(200);
    expect(bodyText(res)).toBe('hello john!\n');
  });

  it.each([
    ['right password', { user: 'john', password: 'password' }, 200],
    ['wrong password', { user: 'john', password: 'nope' }, 401],
    ['unknown user', { user: 'zoe', password: 'password' }, 401],
    ['missing password', { user: 'john' }, 401],
  ])('HEAD behaves like GET: %s', async (_label, query: Record<string, string>, status) => {
    const { handle } = setup();
    const get = await handle({ method: 'GET', query });
    const head = await handle({ method: 'HEAD', query });
    expect(get.status).toBe(status);
    expect(head.status).toBe(status);
    expect(bodyText(head)).toBe(bodyText(get));
  });

  it.each(['POST', 'PUT', 'DELETE', 'OPTIONS', 'get'])('answers 405 with Allow for %s', async (method) => {
    const { handle, store } = setup();
    const res = await handle({ method, query: { user: 'john', password: 'password' } });
    expect(res.status).toBe(405);
    expect(header(res, 'allow')).toBe('GET, HEAD');
    expect(store.lookups).toEqual([]);
  });

  it('logs exactly one line per request with method, path, user, status and duration', async () => {
    const { handle, log, store, clock } = setup();
    store.onGet = () => clock.advance(12.5);

    await handle({ path: '/login', query: { user: 'john', password: 'password' } });
    expect(log.lines).toHaveLength(1);
    const ok = log.lines[0] ?? '';
    expect(ok).toContain('GET');
    expect(ok).toContain('/login');
    expect(ok).toContain('john');
    expect(ok).toContain('200');
    expect(ok).toContain('12.5ms');

    await handle({ method: 'HEAD', path: '/x', query: { user: 'alice', password: 'bad' } });
    expect(log.lines).toHaveLength(2);
    const bad = log.lines[1] ?? '';
    expect(bad).toContain('HEAD');
    expect(bad).toContain('/x');
    expect(bad).toContain('alice');
    expect(bad).toContain('401');

    await handle({ method: 'POST', path: '/post-here', query: { user: 'carol', password: 'pw' } });
    expect(log.lines).toHaveLength(3);
    const post = log.lines[2] ?? '';
    expect(post).toContain('POST');
    expect(post).toContain('/post-here');
    expect(post).toContain('carol');
    expect(post).toContain('405');

    await handle({ path: '/anon', query: {} });
    expect(log.lines).toHaveLength(4);
    const anon = log.lines[3] ?? '';
    expect(anon).toContain('GET');
    expect(anon).toContain('/anon');
    expect(anon).toContain('401');
  });

  it('never logs the password', async () => {
    const { handle, log } = setup();
    const passwords = ['password', 'Wr0ngSecret!', UNICODE_PW, 'hunter2-on-post', 'only-a-password'];
    await handle({ query: { user: 'john', password: 'password' } });
    await handle({ query: { user: 'john', password: 'Wr0ngSecret!' } });
    await handle({ query: { user: 'uni', password: UNICODE_PW } });
    await handle({ query: { user: 'nobody', password: 'Wr0ngSecret!' } });
    await handle({ method: 'POST', query: { user: 'john', password: 'hunter2-on-post' } });
    await handle({ query: { password: 'only-a-password' } });
    expect(log.lines).toHaveLength(6);
    for (const line of log.lines) {
      for (const pw of passwords) {
        expect(line, `line ${JSON.stringify(line)} leaks ${pw}`).not.toContain(pw);
        expect(line).not.toContain(JSON.stringify(pw).slice(1, -1));
      }
    }
  });
});

describe('passwordsMatch', () => {
  it('matches equal strings only', () => {
    expect(passwordsMatch('password', 'password')).toBe(true);
    expect(passwordsMatch(UNICODE_PW, UNICODE_PW)).toBe(true);
    expect(passwordsMatch('password', 'passwor')).toBe(false);
    expect(passwordsMatch('passwor', 'password')).toBe(false);
    expect(passwordsMatch('password', 'Password')).toBe(false);
    expect(passwordsMatch('a', 'b')).toBe(false);
  });

  it('never matches an absent stored password, even the empty string', () => {
    expect(passwordsMatch('', undefined)).toBe(false);
    expect(passwordsMatch('password', undefined)).toBe(false);
    expect(passwordsMatch('undefined', undefined)).toBe(false);
  });

  it('never matches an empty stored password (a blank file disables the user)', () => {
    expect(passwordsMatch('', '')).toBe(false);
    expect(passwordsMatch(passwordOf(encoder.encode(' \n\t')), passwordOf(encoder.encode('\n')))).toBe(false);
  });
});

describe('passwordOf', () => {
  it('decodes UTF-8 and trims surrounding whitespace', () => {
    expect(passwordOf(encoder.encode('  password\r\n\t'))).toBe('password');
    expect(passwordOf(encoder.encode(`${UNICODE_PW}\n`))).toBe(UNICODE_PW);
    expect(passwordOf(encoder.encode('pass word\n'))).toBe('pass word');
    expect(passwordOf(new Uint8Array())).toBe('');
  });
});

describe('authResponse', () => {
  it('builds a plain status and body', () => {
    expect(authResponse(401, 'Invalid login\n')).toEqual({ status: 401, body: 'Invalid login\n' });
  });
});
