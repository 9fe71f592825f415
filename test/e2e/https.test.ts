// HTTPS and least privilege for real, as root. The direct stack in a lab of this file's own (br0 + dnsmasq, the
// host-only peer 192.168.77.1), with a throwaway CA and certificate from scripts/make-lab-cert.sh: curl --cacert
// from the peer (200 and 401), openssl s_client with TLS 1.2 and TLS 1.3 (ALPN http/1.1), a garbage handshake and
// a stalled one that leave it serving, a SIGHUP reload that new connections see, and the running service's
// /proc/PID/status (not root, no capabilities, no_new_privs). Then the same service on the kernel's sockets
// with --tls-only. In CI (CI=true) nothing skips: without root, curl, openssl or dnsmasq the suite fails.

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupUser, privilegeStatus } from '../../src/privileges.ts';
import { eventually, Lab, need, nodeProgram, prerequisites, sigterm, tempWithJohn, waitForStack, writeUserFile, type KnownPid } from './lab.ts';
import type { EchoReport } from './programs/echo-roundtrip.ts';
import { curl, descendantPids, freePort, repoRoot, startService, stop, stopTree, type Started } from './service-process.ts';

const lab = new Lab('mtls');
const MAC = '02:00:5e:00:00:4a';
const ADDR = '192.168.77.10';
const TLS_PORT = 8443;
const HTTP_PORT = 8088;
const METRICS_PORT = 9100;
const ECHO_PORT = 7;
/** An echo long enough to be cut by the stop: at ~2 Gbit/s each way it takes a few seconds. */
const ECHO_BYTES = 512 * 1024 * 1024;
const HANDSHAKE_LIMIT_MS = 1500;
const STACK_LIFETIME_MS = 240_000;

const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'curl', 'openssl']);

/** Makes (or renews, with the same CA) the certificate `name` for the lab's address and localhost. */
function makeCert(dir: string, name: string): { cert: string; key: string } {
  execFileSync('bash', [path.join(repoRoot, 'scripts/make-lab-cert.sh'), dir, name, ADDR, '127.0.0.1', 'localhost']);
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  // As the README says: the key readable by the group of the user the service drops to, for a reload.
  writeUserFile(key, readFileSync(key, 'utf8'));
  return { cert, key };
}

/** The service's own node process among the stack's descendants (npm's child), by its command line. */
function servicePid(root: number): number {
  for (const p of [{ pid: root, start: '' }, ...descendantPids(root)]) {
    try {
      if (readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes('src/main.ts')) return p.pid;
    } catch {
      // gone
    }
  }
  throw new Error(`no service process under ${root}`);
}

describe.skipIf(PREREQUISITES.skip)('HTTPS and least privilege on the direct stack (root, real namespaces, curl, openssl)', () => {
  let tmp = '';
  let certs: { cert: string; key: string } = { cert: '', key: '' };
  let ca = '';
  let stack: Started | undefined;
  const knownPids: KnownPid[] = [];
  const https = (q: string): string => `https://${ADDR}:${TLS_PORT}/?${q}`;

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('https-e2e-');
    tmp = made.tmp;
    certs = makeCert(tmp, 'server');
    ca = path.join(tmp, 'ca.pem');
    await lab.up();
    const args = ['--bridge', 'br0', '--mac', MAC, '--ipv4', `${ADDR}/24`, '--gateway', '192.168.77.2', '--ipv6', 'off', '--data', made.data, '--echo-port', String(ECHO_PORT),
      '--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-handshake-timeout', String(HANDSHAKE_LIMIT_MS), '--metrics-port', String(METRICS_PORT), '--log-level', 'debug'];
    stack = lab.startStack(args, STACK_LIFETIME_MS);
    await waitForStack(stack, /^privileges: now nobody/m, 20_000, knownPids);
    expect(stack.output()).toMatch(new RegExp(`^auth service over TLS on TCP port ${TLS_PORT} \\(stack direct, 1 users in `, 'm'));
    expect(stack.output()).toMatch(/^TLS: certificate CN=server, valid until /m);
  });

  afterAll(async () => {
    if (stack !== undefined) await stopTree(stack, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  it("curl --cacert: the original's answers over HTTPS, 200 hello john! and 401 Invalid login; plain HTTP still there", async () => {
    const good = await lab.curlInPeer(['-s', '--cacert', ca, '-w', '\n%{http_code} %{http_version}', https('user=john&password=password')]);
    expect(good.stdout, good.stderr).toBe('hello john!\n\n200 1.1');
    const bad = await lab.curlInPeer(['-s', '--cacert', ca, '-w', '\n%{http_code}', https('user=john&password=wrong')]);
    expect(bad.stdout, bad.stderr).toBe('Invalid login\n\n401');
    const none = await lab.curlInPeer(['-s', '--cacert', ca, '-w', '\n%{http_code}', https('user=john')]);
    expect(none.stdout).toBe('No user given\n\n401');
    const plain = await lab.curlInPeer(['-s', '-w', '\n%{http_code}', `http://${ADDR}:${HTTP_PORT}/?user=john&password=password`]);
    expect(plain.stdout).toBe('hello john!\n\n200');
    // Without the CA, curl does not trust it: the certificate really is checked.
    const untrusted = await lab.curlInPeer(['-s', https('user=john&password=password')]);
    expect(untrusted.code).toBe(60);
  });

  it.each([
    ['-tls1_2', 'TLSv1.2'],
    ['-tls1_3', 'TLSv1.3'],
  ])('openssl s_client %s: verified, ALPN http/1.1, and a request answered', async (flag, version) => {
    const r = await lab.inPeer(['bash', '-c', `printf 'GET /?user=john&password=password HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client -connect ${ADDR}:${TLS_PORT} ${flag} -CAfile ${ca} -alpn http/1.1 -ign_eof 2>&1`]);
    expect(r.stdout).toMatch(new RegExp(`Protocol *: ${version.replace('.', '\\.')}|New, ${version.replace('.', '\\.')}`));
    expect(r.stdout).toContain('Verify return code: 0 (ok)');
    expect(r.stdout).toContain('ALPN protocol: http/1.1');
    expect(r.stdout).toContain('hello john!');
  });

  it('TLS 1.1 is refused; garbage and a stalled handshake are counted, logged at debug, and it keeps serving', async () => {
    // SECLEVEL 0: this OpenSSL would not even offer TLS 1.1 otherwise; the refusal must come from the service.
    const old = await lab.inPeer(['bash', '-c', `timeout 10 openssl s_client -connect ${ADDR}:${TLS_PORT} -tls1_1 -cipher DEFAULT@SECLEVEL=0 -CAfile ${ca} </dev/null 2>&1`]);
    expect(old.stdout).toMatch(/alert protocol version/);
    // Plain HTTP on the TLS port: not a ClientHello.
    const garbage = await lab.curlInPeer(['-s', `http://${ADDR}:${TLS_PORT}/?user=john&password=password`]);
    expect(garbage.stdout).toBe('');
    // A client that opens the connection, sends the start of a record, and then nothing: closed at the limit.
    const stalled = await lab.inPeer(['bash', '-c', `exec 3<>/dev/tcp/${ADDR}/${TLS_PORT}; printf '\\x16\\x03\\x01' >&3; t0=$(date +%s%N); cat <&3 >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 ))`], 20_000);
    const heldMs = Number(stalled.stdout.trim());
    expect(heldMs).toBeGreaterThanOrEqual(HANDSHAKE_LIMIT_MS - 100);
    expect(heldMs).toBeLessThan(HANDSHAKE_LIMIT_MS + 3000);
    const good = await lab.curlInPeer(['-s', '--cacert', ca, https('user=john&password=password')]);
    expect(good.stdout).toBe('hello john!\n');
    const out = need(stack, 'the stack').output();
    expect(out).toMatch(/^tls: handshake with 192\.168\.77\.1:\d+ failed: ERR_SSL_\w+/m);
    expect(out).toMatch(/^tls: handshake with 192\.168\.77\.1:\d+ failed: timeout \(no handshake within 1500 ms\)$/m);
    const metrics = await lab.curlInPeer(['-s', `http://${ADDR}:${METRICS_PORT}/metrics`]);
    expect(metrics.stdout).toMatch(/^auth_tls_handshake_failures_total\{reason="timeout"\} 1$/m);
    expect(metrics.stdout).toMatch(/^auth_tls_handshake_failures_total\{reason="ERR_SSL_UNSUPPORTED_PROTOCOL"\} 1$/m);
    expect(metrics.stdout).toMatch(/^auth_tls_handshake_failures_total\{reason="ERR_SSL_\w+"\} [1-9]/m);
    expect(metrics.stdout).toMatch(/^auth_tls_handshakes_total\{version="TLSv1\.3"\} [1-9]/m);
    expect(metrics.stdout).toMatch(/^auth_tls_handshakes_total\{version="TLSv1\.2"\} [1-9]/m);
  });

  it('SIGHUP reloads the certificate: the next handshake shows the new one', async () => {
    const renewed = makeCert(tmp, 'renewed');
    execFileSync('cp', [renewed.cert, certs.cert]);
    execFileSync('cp', ['--preserve=mode,ownership', renewed.key, certs.key]);
    const pid = servicePid(need(stack?.child.pid, 'the stack pid'));
    process.kill(pid, 'SIGHUP');
    const out = await eventually(() => need(stack, 'the stack').output(), (o) => /SIGHUP: TLS certificate reloaded/.test(o), 5000);
    expect(out, out).toMatch(/^SIGHUP: TLS certificate reloaded: CN=renewed, valid until .*; open connections keep theirs$/m);
    const v = await lab.curlInPeer(['-sv', '--cacert', ca, '-o', '/dev/null', https('user=john&password=password')]);
    expect(v.stderr, v.stderr).toMatch(/subject: CN=renewed/);
  });

  it('serves as nobody: /proc/PID/status shows a non-zero Uid, no effective or permitted capabilities, NoNewPrivs', () => {
    const pid = servicePid(need(stack?.child.pid, 'the stack pid'));
    const st = privilegeStatus(`/proc/${pid}/status`);
    expect(st.uid).toBe(lookupUser('nobody')?.uid);
    expect(st.uid).not.toBe(0);
    expect(st.capEff).toBe('0000000000000000');
    expect(st.capPrm).toBe('0000000000000000');
    expect(st.noNewPrivs).toBe(true);
    const bounding = /^CapBnd:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    expect(bounding).toBe('0000000000000000');
  });

  it('SIGTERM as nobody during a long echo: the peer\'s transfer ends at once (our FIN), not by a timeout; exit 0, the TAP gone', { timeout: 60_000 }, async () => {
    const s = need(stack, 'the stack');
    const echo = lab.spawnInPeer(nodeProgram('echo-roundtrip.ts', [ADDR, String(ECHO_PORT), String(ECHO_BYTES), '20000']), 30_000);
    await eventually(() => echo.output(), (o) => o.includes('"ev":"connected"'), 10_000);
    await new Promise((r) => setTimeout(r, 300)); // into the transfer
    const t0 = performance.now();
    const code = await sigterm(s);
    const stopMs = performance.now() - t0;
    console.log(`[stop during echo] exit ${String(code)} after ${stopMs.toFixed(0)} ms; the stack's last lines:\n${s.output().split('\n').slice(-6).join('\n')}`);
    expect(code).toBe(0);
    stack = undefined;
    await echo.exited;
    const rep = JSON.parse(echo.output().trim().split('\n').pop() ?? '{}') as EchoReport;
    console.log(`[stop during echo] stopped in ${stopMs.toFixed(0)} ms; the peer: ${JSON.stringify({ how: rep.how, error: rep.error, received: rep.received, sent: rep.sent, ms: rep.ms })}`);
    expect(rep.received, 'the stop came during the transfer').toBeLessThan(rep.sent);
    expect(rep.received).toBeGreaterThan(0);
    // Ended, not left to its time limit: by our FIN, or, when the peer had not read up to it by the end of the
    // stop's grace while it kept sending, by the reset after it (Linux resets such a peer at once: data after
    // close, its TCPAbortOnData; RFC 2525 §2.17).
    expect(rep.how === 'end' || rep.error === 'ECONNRESET', JSON.stringify(rep)).toBe(true);
    expect(rep.ms).toBeLessThan(10_000);
    expect(await lab.taps()).toBe('');
  });
});

describe.skipIf(PREREQUISITES.skip)('HTTPS on the kernel sockets (--stack socket --tls-only)', () => {
  let tmp = '';
  let svc: Started | undefined;

  afterAll(async () => {
    if (svc !== undefined) await stop(svc);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  it('serves HTTPS only, as nobody, 200 and 401 through curl --cacert', async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('https-socket-e2e-');
    tmp = made.tmp;
    const certs = makeCert(tmp, 'server');
    const plainPort = await freePort();
    const tlsPort = await freePort();
    svc = await startService(['--stack', 'socket', '--listen', '127.0.0.1', '--port', String(plainPort), '--data', made.data, '--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-port', String(tlsPort), '--tls-only'], /^privileges: now nobody/m);
    expect(svc.output()).toMatch(new RegExp(`^auth service on https://127\\.0\\.0\\.1:${tlsPort}/ \\(stack socket, TLS, 1 users in `, 'm'));
    expect(svc.output()).not.toMatch(/auth service on http:\/\//);
    const ca = path.join(tmp, 'ca.pem');
    const good = await curl(['-s', '--cacert', ca, '-w', '\n%{http_code}', `https://127.0.0.1:${tlsPort}/?user=john&password=password`]);
    expect(good.stdout, good.stderr).toBe('hello john!\n\n200');
    const bad = await curl(['-s', '--cacert', ca, '-w', '\n%{http_code}', `https://localhost:${tlsPort}/?user=john&password=nope`]);
    expect(bad.stdout, bad.stderr).toBe('Invalid login\n\n401');
    const plain = await curl(['-s', `http://127.0.0.1:${plainPort}/`]);
    expect(plain.code).toBe(7); // connection refused: --tls-only
    const st = privilegeStatus(`/proc/${servicePid(need(svc.child.pid, 'the service pid'))}/status`);
    expect(st.uid).not.toBe(0);
    expect(st.capEff).toBe('0000000000000000');
  });
});
