// The library as a user gets it: `npm pack` of this repo, installed into a fresh project outside the repo tree,
// imported by name with its types checked by tsc (strict, NodeNext), and run: node:http served over one stack of a
// createStackPair() and requested from the other with http.request({ createConnection }).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './service-process.ts';

/** The npm work (pack, install with its native builds) is bounded, whatever the network does. */
const NPM_LIMIT_MS = 240_000;

const APP = `import http from 'node:http';
import { createStackPair, emitConnection } from 'mirage-direct-ts';

const [a, b] = createStackPair();
await Promise.all([a.ready, b.ready]);
const server = http.createServer((req, res) => res.end('hello from the package, ' + req.url + '\\n'));
a.createServer((socket) => emitConnection(server, socket)).listen(80);
const body = await new Promise((resolve, reject) => {
  const req = http.request({ host: '10.0.0.1', port: 80, path: '/as-a-user', createConnection: () => b.connect({ host: '10.0.0.1', port: 80 }) }, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (text += d));
    res.on('end', () => resolve(res.statusCode + ' ' + text));
  });
  req.on('error', reject);
  req.end();
});
process.stdout.write(JSON.stringify({ body, addresses: [...a.addresses, ...b.addresses] }) + '\\n');
server.close();
await Promise.all([a.close(), b.close()]);
`;

/** The same program in TypeScript, only type-checked: what a user's editor and tsc see of the package. */
const TYPED = `import http from 'node:http';
import { createStack, createStackPair, emitConnection, type NetStack, type StackAddress, type StackSocket } from 'mirage-direct-ts';

const [a, b]: [NetStack, NetStack] = createStackPair();
const addresses: StackAddress[] = a.addresses;
const server = http.createServer((_req, res) => res.end('x'));
a.createServer((socket: StackSocket) => emitConnection(server, socket)).listen(80);
const c: StackSocket = b.connect({ host: '10.0.0.1', port: 80 });
c.setNoDelay(true).setKeepAlive(true, 1000);
const later: Promise<NetStack> = createStack({ tap: { bridge: 'br0' }, ipv4: '192.168.77.10/24', gateway: '192.168.77.2', ipv6: 'off' });
// @ts-expect-error: a port is a number
b.connect({ host: '10.0.0.1', port: '80' });
void later;
void addresses;
`;

describe('the packed library, installed and used from another directory', () => {
  let tmp = '';
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'package-e2e-'));
  });
  afterAll(() => {
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  it('packs, installs, type-checks and runs node:http over two stacks by the package name', { timeout: NPM_LIMIT_MS + 60_000 }, () => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: 'pipe', timeout: 120_000 });
    execFileSync('npm', ['pack', '--pack-destination', tmp], { cwd: repoRoot, stdio: 'pipe', timeout: 60_000 });
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const app = path.join(tmp, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { 'mirage-direct-ts': `file:../${tarball ?? ''}` } }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'pipe', timeout: NPM_LIMIT_MS });
    writeFileSync(path.join(app, 'app.mjs'), APP);
    writeFileSync(path.join(app, 'typed.ts'), TYPED);
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], typeRoots: [path.join(repoRoot, 'node_modules/@types')] },
      files: ['typed.ts'],
    }));
    // tsc exits non-zero, with the errors on stdout, if the package's types are missing or wrong.
    execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, stdio: 'pipe', timeout: 60_000 });
    const out = execFileSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    const r = JSON.parse(out.trim()) as { body: string; addresses: Array<{ address: string }> };
    expect(r.body).toBe('200 hello from the package, /as-a-user\n');
    expect(r.addresses.map((x) => x.address)).toEqual(['10.0.0.1', '10.0.0.2']);
  });
});
