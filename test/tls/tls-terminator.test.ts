// HTTPS through the terminator on both kinds of socket: our StackSocket over two of our stacks, and a kernel
// net.Socket. TLS 1.3 and 1.2 with ALPN, our HTTP server over the decrypted stream, a garbage handshake, a stalled
// one (bounded in time), a peer that leaves mid-handshake, and a reload that new connections see while an old one
// keeps its certificate.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemTimers } from '../../src/clock.ts';
import { HttpServer } from '../../src/http/server.ts';
import { TlsConfigError, TlsTerminator } from '../../src/tls/tls-terminator.ts';
import { kernelLab, once as onceWithin, ourLab, type Lab, type SocketLike } from '../net/socket-labs.ts';

const once = <T = unknown>(s: NodeJS.EventEmitter, event: string, ms = 5000): Promise<T> => onceWithin<T>(s, event, ms);

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir = '';

function makeCert(name: string, ...sans: string[]): { cert: string; key: string } {
  execFileSync('bash', [path.join(ROOT, 'scripts/make-lab-cert.sh'), dir, name, ...sans]);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tls-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** One HTTPS exchange over a fresh connection of the lab: what the client saw. */
async function httpsGet(lab: Lab, port: number, target: string, opts: tls.ConnectionOptions = {}): Promise<{ reply: string; protocol: string | null; alpn: string | false | null; subject: string }> {
  const raw = lab.connect(port);
  const secure = tls.connect({ socket: raw as never, ca: [readCa()], servername: 'localhost', ALPNProtocols: ['http/1.1'], ...opts });
  await once(secure, 'secureConnect');
  const parts: Buffer[] = [];
  secure.on('data', (d: Buffer) => parts.push(d));
  secure.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  await once(secure, 'end');
  const peer = secure.getPeerCertificate();
  const out = { reply: Buffer.concat(parts).toString(), protocol: secure.getProtocol(), alpn: secure.alpnProtocol, subject: String(peer.subject.CN) };
  secure.destroy();
  return out;
}

const readCa = (): Buffer => readFileSync(path.join(dir, 'ca.pem'));

describe.each([
  ['our StackSocket', ourLab],
  ['kernel net.Socket', kernelLab],
] as const)('TLS over %s', (_name, makeLab) => {
  let lab: Lab;
  let terminator: TlsTerminator;
  let port = 0;
  const debug: string[] = [];

  async function serve(handshakeTimeoutMs = 5000): Promise<void> {
    const files = makeCert('localhost', 'localhost', '127.0.0.1', '10.9.0.1');
    terminator = new TlsTerminator({ certFile: files.cert, keyFile: files.key, timers: systemTimers, handshakeTimeoutMs, log: { debug: (l) => debug.push(l) } });
    const http = new HttpServer((req) => ({ status: 200, body: `hello over ${req.remote.address === '' ? '?' : 'tls'} ${req.path}\n` }), systemTimers);
    lab = await makeLab();
    port = await lab.listen({ allowHalfOpen: true }, (s) => terminator.accept(s as never, (stream) => void http.serve(stream)));
  }

  afterEach(async () => {
    await lab.close();
    debug.length = 0;
  });

  it('serves HTTP over TLS 1.3 and TLS 1.2, with ALPN http/1.1', async () => {
    await serve();
    const v13 = await httpsGet(lab, port, '/one');
    expect(v13.protocol).toBe('TLSv1.3');
    expect(v13.alpn).toBe('http/1.1');
    expect(v13.reply).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello over tls \/one\n$/);
    const v12 = await httpsGet(lab, port, '/two', { maxVersion: 'TLSv1.2' });
    expect(v12.protocol).toBe('TLSv1.2');
    expect(v12.reply).toContain('hello over tls /two');
    expect(terminator.handshakes).toBe(2);
    expect(Object.fromEntries(terminator.versions)).toEqual({ 'TLSv1.3': 1, 'TLSv1.2': 1 });
    expect(terminator.failures).toBe(0);
  });

  it('refuses TLS 1.1: counted as a failure, and the next client is served', async () => {
    await serve();
    const raw = lab.connect(port);
    const secure = tls.connect({ socket: raw as never, ca: [readCa()], servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
    secure.on('error', () => {});
    await once(secure, 'close');
    await new Promise((r) => setTimeout(r, 50));
    expect(terminator.failures).toBe(1);
    expect(terminator.handshakes).toBe(0);
    expect((await httpsGet(lab, port, '/after')).reply).toContain('hello over tls /after');
  });

  it('garbage instead of a ClientHello: counted by reason, logged at debug, that connection closed, others served', async () => {
    await serve();
    const raw: SocketLike = lab.connect(port);
    raw.on('error', () => {});
    raw.resume();
    raw.write('GET / HTTP/1.1\r\nHost: plain-text-on-the-tls-port\r\n\r\n');
    await once(raw, 'close');
    expect(terminator.failures).toBe(1);
    expect([...terminator.failureReasons.keys()][0]).toMatch(/^ERR_SSL_/);
    expect(debug.some((l) => /^tls: handshake with .* failed: ERR_SSL_/.test(l))).toBe(true);
    expect((await httpsGet(lab, port, '/next')).reply).toContain('hello over tls /next');
  });

  it('a client that stalls in the handshake is closed after the time limit', async () => {
    await serve(300);
    const raw: SocketLike = lab.connect(port);
    raw.on('error', () => {});
    raw.resume();
    const t0 = performance.now();
    raw.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a record, and then nothing
    await once(raw, 'close', 3000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(Object.fromEntries(terminator.failureReasons)).toEqual({ timeout: 1 });
  });

  it('reload: new handshakes get the new certificate, a connection already open keeps working', async () => {
    await serve();
    const raw = lab.connect(port);
    const old = tls.connect({ socket: raw as never, ca: [readCa()], servername: 'localhost' });
    await once(old, 'secureConnect');
    expect(old.getPeerCertificate().subject.CN).toBe('localhost');
    // The same files, now holding a certificate with another subject (the CA stays).
    execFileSync('bash', [path.join(ROOT, 'scripts/make-lab-cert.sh'), dir, 'renewed', 'localhost', '127.0.0.1', '10.9.0.1']);
    execFileSync('cp', [path.join(dir, 'renewed.pem'), path.join(dir, 'localhost.pem')]);
    execFileSync('cp', [path.join(dir, 'renewed.key'), path.join(dir, 'localhost.key')]);
    terminator.reload();
    expect(terminator.reloads).toBe(1);
    expect(terminator.certificate.subject).toBe('CN=renewed');
    expect((await httpsGet(lab, port, '/new')).subject).toBe('renewed');
    const parts: Buffer[] = [];
    old.on('data', (d: Buffer) => parts.push(d));
    old.write('GET /old HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    await once(old, 'end');
    expect(Buffer.concat(parts).toString()).toContain('hello over tls /old');
    old.destroy();
  });

  it('a reload with a broken key keeps the old pair and says why', async () => {
    await serve();
    const keyFile = path.join(dir, 'localhost.key');
    const saved = readFileSync(keyFile);
    execFileSync('bash', ['-c', `echo broken > ${keyFile}`]);
    expect(() => terminator.reload()).toThrow(TlsConfigError);
    const other = makeCert('other', 'localhost');
    execFileSync('cp', [other.key, keyFile]);
    expect(() => terminator.reload()).toThrow(/cannot be used together/);
    execFileSync('bash', ['-c', `cat > ${keyFile}`], { input: saved });
    expect((await httpsGet(lab, port, '/still')).reply).toContain('hello over tls /still');
  });
});
