// The service on the kernel's sockets (`--stack socket`), started with `npm start` and driven by real curl.

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/app/password-hash.ts';
import { curl, findDescendant, freePort, rawExchange, startService, stop, type Started } from './service-process.ts';
import { serviceTemp, writeUserFile } from './lab.ts';

const HOST = '127.0.0.1';
let tmp = '';
let dataDir = '';
let port = 0;
let svc: Started | undefined;
let base = '';

beforeAll(async () => {
  execFileSync('curl', ['--version']); // a missing curl fails the suite rather than skipping it
  tmp = serviceTemp('auth-e2e-');
  dataDir = path.join(tmp, 'data');
  mkdirSync(dataDir);
  writeFileSync(path.join(dataDir, 'john'), 'password\n');
  writeFileSync(path.join(dataDir, 'alice'), 'p@ss w&rd=1\n');
  writeFileSync(path.join(tmp, 'secret'), 'x\n');
  port = await freePort(HOST);
  base = `http://${HOST}:${port}`;
  svc = await startService(['--stack', 'socket', '--port', String(port), '--listen', HOST, '--data', dataDir], /auth service on/);
  expect(svc.child.exitCode).toBeNull();
});

afterAll(async () => {
  if (svc) await stop(svc);
  rmSync(tmp, { recursive: true, force: true });
});

describe('socket mode through curl', () => {
  it('200 hello john for the right password', async () => {
    const r = await curl(['-s', '-w', '\n%{http_code}', `${base}/?user=john&password=password`]);
    expect(r.stdout).toBe('hello john!\n\n200');
  });

  it('401 Invalid login for a wrong password', async () => {
    const r = await curl(['-s', '-w', '\n%{http_code}', `${base}/?user=john&password=wrong`]);
    expect(r.stdout).toBe('Invalid login\n\n401');
  });

  it('401 No user given when a parameter is missing; the path is ignored', async () => {
    for (const url of [`${base}/`, `${base}/any/path?user=john`, `${base}/x?password=password`]) {
      const r = await curl(['-s', '-w', '\n%{http_code}', url]);
      expect(r.stdout).toBe('No user given\n\n401');
    }
    const ok = await curl(['-s', `${base}/some/where?user=john&password=password`]);
    expect(ok.stdout).toBe('hello john!\n');
  });

  it('decodes a percent-encoded password', async () => {
    const r = await curl(['-s', '-w', '\n%{http_code}', `${base}/?user=alice&password=p%40ss%20w%26rd%3D1`]);
    expect(r.stdout).toBe('hello alice!\n\n200');
    const plus = await curl(['-s', `${base}/?user=alice&password=p%40ss+w%26rd%3D1`]);
    expect(plus.stdout).toBe('hello alice!\n');
  });

  it('answers a traversal attempt with 401, reading nothing outside the data directory', async () => {
    const r = await curl(['-s', '-w', '\n%{http_code}', `${base}/?user=..%2Fsecret&password=x`]);
    expect(r.stdout).toBe('Invalid login\n\n401');
    const abs = await curl(['-s', '-w', '\n%{http_code}', `${base}/?user=${encodeURIComponent(path.join(tmp, 'secret'))}&password=x`]);
    expect(abs.stdout).toBe('Invalid login\n\n401');
  });

  it('sends content-type, content-length, and HEAD without a body', async () => {
    const r = await curl(['-s', '-I', `${base}/?user=john&password=password`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toMatch(/\r\ncontent-type: text\/plain\r\n/);
    expect(r.stdout).toMatch(/\r\ncontent-length: 12\r\n/);
  });

  it('keeps the connection alive: curl reuses it for a second request', async () => {
    const r = await curl(['-sv', `${base}/?user=john&password=password`, `${base}/?user=john&password=wrong`]);
    expect(r.stdout).toBe('hello john!\nInvalid login\n');
    expect(r.stderr).toMatch(/Re-?using existing connection/i);
    expect(r.stderr.match(/Connected to/g)?.length ?? 0).toBe(1);
  });

  it('answers two pipelined requests in order on one connection', async () => {
    const got = await rawExchange(
      HOST,
      port,
      `GET /?user=john&password=password HTTP/1.1\r\nHost: x\r\n\r\nGET /?user=john&password=nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    const statuses = [...got.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '401']);
    expect(got.indexOf('hello john!')).toBeLessThan(got.indexOf('Invalid login'));
  });

  it('answers garbage with 400 and closes', async () => {
    const got = await rawExchange(HOST, port, 'this is not http\r\n\r\n');
    expect(got).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(got).toMatch(/\r\nconnection: close\r\n/);
  });

  it('logs one line per request and never a password', () => {
    const log = svc?.output() ?? '';
    expect(log).toMatch(/GET "\/" user="john" 200 /);
    expect(log).toMatch(/GET "\/some\/where" user="john" 200 /);
    for (const secret of ['password=', 'p@ss w&rd=1', 'p%40ss', '=wrong', 'nope']) expect(log).not.toContain(secret);
  });
});

describe('command-line errors', () => {
  it('a bad flag: one clear line, exit 2', async () => {
    const s = await startService(['--no-such-flag'], /$^/);
    expect(await s.exited).toBe(2);
    const err = s.output().split('\n').filter((l) => l.startsWith('error:'));
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/no-such-flag/);
  });

  it('a missing data directory: exit 2', async () => {
    const s = await startService(['--stack', 'socket', '--port', String(await freePort()), '--data', path.join(tmp, 'nope')], /$^/);
    expect(await s.exited).toBe(2);
    expect(s.output()).toMatch(/error: data directory .* does not exist/);
  });

  it('a port in use: exit 2', async () => {
    const blocker = net.createServer();
    const busy = await new Promise<number>((resolve) =>
      blocker.listen(0, HOST, () => {
        const a = blocker.address();
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      }),
    );
    try {
      const s = await startService(['--stack', 'socket', '--port', String(busy), '--listen', HOST, '--data', dataDir], /$^/);
      expect(await s.exited).toBe(2);
      expect(s.output()).toMatch(new RegExp(`error: port ${busy} on ${HOST} is already in use`));
    } finally {
      blocker.close();
    }
  });

  it('SIGTERM and SIGINT close the listener and connections and exit 0', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const p = await freePort(HOST);
      const s = await startService(['--stack', 'socket', '--port', String(p), '--listen', HOST, '--data', dataDir], /auth service on/);
      // An idle kept-alive connection must not hold the shutdown up.
      const idle = net.connect(p, HOST);
      await new Promise<void>((r) => idle.once('connect', () => r()));
      const closed = new Promise<void>((r) => idle.once('close', () => r()));
      idle.on('error', () => {});
      // The signal goes to node itself, as a terminal's Ctrl-C or a service manager would send it: npm in
      // between only relays it, and under load its own handling of a signal raced the child's exit.
      const node = findDescendant(s.child.pid ?? -1, /src\/main\.ts/);
      expect(node).toBeDefined();
      if (node !== undefined) process.kill(node, signal);
      expect(await s.exited).toBe(0);
      await closed;
      expect(s.output()).toContain(`${signal}: shutting down`);
      const after = await curl(['-s', `http://${HOST}:${p}/`]);
      expect(after.code).toBe(7); // connection refused: the listener is gone
    }
  });
});

describe('hashed passwords and throttling through curl', () => {
  const HASHED_PW = 'Tr0ub4dor&3-hashed';
  const TARGET_PW = 'target-right-pw';
  const PLAIN_PW = 'plain-pw-42';
  let dir = '';
  let hashes: string[] = [];
  let svc2: Started | undefined;
  let base2 = '';
  const url = (user: string, pw: string): string => `${base2}/?user=${user}&password=${encodeURIComponent(pw)}`;
  const status = async (user: string, pw: string): Promise<string> =>
    (await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', url(user, pw)])).stdout;

  beforeAll(async () => {
    dir = path.join(tmp, 'hashed-data');
    mkdirSync(dir);
    hashes = [await hashPassword(HASHED_PW), await hashPassword(TARGET_PW)];
    writeUserFile(path.join(dir, 'hashed'), `${hashes[0]}\n`);
    writeUserFile(path.join(dir, 'target'), `${hashes[1]}\n`);
    writeFileSync(path.join(dir, 'plain'), `${PLAIN_PW}\n`);
    const p = await freePort(HOST);
    base2 = `http://${HOST}:${p}`;
    svc2 = await startService(['--stack', 'socket', '--port', String(p), '--listen', HOST, '--data', dir], /auth service on/);
    expect(svc2.child.exitCode).toBeNull();
  });

  afterAll(async () => {
    if (svc2) await stop(svc2);
  });

  it('warns at start-up, in one line, how many users are still plain text', () => {
    const warnings = (svc2?.output() ?? '').split('\n').filter((l) => l.includes('plain text'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: 1 user is still stored in plain text in .*; hash each with: npm run passwd -- USER$/);
  });

  it('a hashed user and a plain user both get 200; a wrong password against the hashed user gets 401', async () => {
    const ok = await curl(['-s', '-w', '\n%{http_code}', url('hashed', HASHED_PW)]);
    expect(ok.stdout).toBe('hello hashed!\n\n200');
    const plain = await curl(['-s', '-w', '\n%{http_code}', url('plain', PLAIN_PW)]);
    expect(plain.stdout).toBe('hello plain!\n\n200');
    const bad = await curl(['-s', '-w', '\n%{http_code}', url('hashed', 'Tr0ub4dor&4')]);
    expect(bad.stdout).toBe('Invalid login\n\n401');
    expect(await status('hashed', hashes[0] ?? '')).toBe('401'); // the stored record is not the password
  });

  it('11 wrong attempts: the 11th gets 429 with Retry-After; the right password too; others are not affected', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) codes.push(await status('target', `wrong-guess-${i}`));
    expect(codes).toEqual(Array(10).fill('401'));
    const eleventh = await curl(['-s', '-i', url('target', 'wrong-guess-10')]);
    expect(eleventh.stdout).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    const retry = Number(/\r\nretry-after: (\d+)\r\n/.exec(eleventh.stdout)?.[1]);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(eleventh.stdout).toMatch(/\r\n\r\nToo Many Requests\n$/);
    expect(await status('target', TARGET_PW)).toBe('429');
    expect(await status('hashed', HASHED_PW)).toBe('200');
    expect(await status('plain', PLAIN_PW)).toBe('200');
  });

  it('the process log has one line per request, the 429s among them, and no password or hash anywhere', () => {
    const log = svc2?.output() ?? '';
    expect(log).toMatch(/GET "\/" user="hashed" 200 /);
    expect(log).toMatch(/GET "\/" user="hashed" 401 /);
    expect(log.match(/GET "\/" user="target" 401 /g)).toHaveLength(10);
    expect(log.match(/GET "\/" user="target" 429 /g)).toHaveLength(2);
    for (const secret of [HASHED_PW, TARGET_PW, PLAIN_PW, 'Tr0ub4dor', 'wrong-guess', 'password=', '$scrypt$', ...hashes]) {
      expect(log).not.toContain(secret);
    }
  });
});
