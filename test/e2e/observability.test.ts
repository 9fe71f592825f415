// Running it like a real service, for real, as root: one lab of this file's own (scripts/setup-bridge.sh --netns:
// br0 + dnsmasq in NAME, the host-only peer 192.168.77.1 in NAME-peer) and the direct stack started twice, first
// with `--metrics-port 9100 --log-format json`, then in text with `--log-level debug`. From the peer: Prometheus
// metrics scraped over our own TCP before and after curl logins (counters move, requests by status, connections
// by state), SIGUSR1's status table in the log (the address, the lease, a TCP row for our idle connections),
// SIGTERM (exit 0 promptly, idle HTTP and metrics connections closed, DHCPRELEASE in dnsmasq's log, no TAP left),
// and no log line with a password or a hash. Then the socket stack's metrics and status on the loopback.
// In CI (CI=true) nothing skips: without root, curl or dnsmasq the suite fails.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/app/password-hash.ts';
import { counterRegressions, parseExposition, sampleValue, type Exposition } from '../prometheus-text.ts';
import {
  escapeRegExp, eventually, exitWithin, Lab, need, nodeProgram, prerequisites, waitForStack, type KnownPid, serviceTemp, writeUserFile } from './lab.ts';
import type { HoldReport } from './programs/hold-connections.ts';
import { curl, freePort, spawnProcess, stopTree, waitForOutput, type Started } from './service-process.ts';

const lab = new Lab('mobs');
const MAC = '02:00:5e:00:00:43';
const HTTP_PORT = 8088;
const METRICS_PORT = 9100;
/** A hard limit on each stack process, whatever happens to the tests. */
const STACK_LIFETIME_MS = 150_000;

// Two users, one plain and one hashed: neither password nor the hash may ever reach a log line.
const JOHN_PASSWORD = `plain-${randomBytes(6).toString('hex')}`;
const ALICE_PASSWORD = `hashed-${randomBytes(6).toString('hex')}`;

const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'curl']);

/** Splits a raw HTTP response (curl -i) into its head and body. */
function splitResponse(raw: string): { head: string; body: string } {
  const i = raw.indexOf('\r\n\r\n');
  if (i < 0) throw new Error(`no response head in ${JSON.stringify(raw.slice(0, 300))}`);
  return { head: raw.slice(0, i), body: raw.slice(i + 4) };
}

/** GET /metrics from the peer: the status and content type checked, the text parsed (strictly). */
async function scrapeFromPeer(addr: string): Promise<Exposition> {
  const r = await lab.curlInPeer(['-s', '-i', `http://${addr}:${METRICS_PORT}/metrics`]);
  expect(r.code, r.stderr).toBe(0);
  const { head, body } = splitResponse(r.stdout);
  expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(head).toMatch(/\r\ncontent-type: text\/plain; version=0\.0\.4; charset=utf-8(\r\n|$)/);
  return parseExposition(body);
}

/** One curl login from the peer; the status it got. */
async function login(addr: string, query: string): Promise<number> {
  const r = await lab.curlInPeer(['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${addr}:${HTTP_PORT}/${query}`]);
  expect(r.code, r.stderr).toBe(0);
  return Number(r.stdout);
}

/** `ip netns exec NAME node --import tsx src/main.ts ARGS`: the stack next to br0, with no npm in between. */
function startStack(args: string[]): Started {
  return lab.spawnInLab([process.execPath, '--import', 'tsx', 'src/main.ts', ...args], STACK_LIFETIME_MS, 'SIGTERM');
}

/**
 * SIGTERM, then the exit code ('still running' after `ms`) and how long the process took to exit (its own exit,
 * not the end of its output: tsx's esbuild helper may hold the pipes a little longer).
 */
async function sigterm(s: Started, ms = 15_000): Promise<{ code: number | null | 'still running'; tookMs: number }> {
  const t0 = Date.now();
  let exitedAt = NaN;
  s.child.once('exit', () => {
    exitedAt = Date.now();
  });
  process.kill(need(s.child.pid, 'the stack pid'), 'SIGTERM');
  const code = await exitWithin(s, ms);
  return { code, tookMs: exitedAt - t0 };
}

/** The lines of `text` that hold a password, the hash, or any scrypt record at all. */
function secretsIn(text: string, hash: string): string[] {
  return text.split('\n').filter((l) => l.includes(JOHN_PASSWORD) || l.includes(ALICE_PASSWORD) || l.includes(hash) || l.includes('$scrypt$'));
}

interface LogRecord {
  level: string;
  time: string;
  pid: number;
  msg: string;
  report?: boolean;
}

/** Every line of the output as a JSON log record; throws naming the first line that is not one. */
function records(output: string): LogRecord[] {
  return output
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      let r: unknown;
      try {
        r = JSON.parse(line);
      } catch {
        throw new Error(`not a JSON log line: ${JSON.stringify(line)}`);
      }
      const rec = r as Partial<LogRecord>;
      if (typeof rec.msg !== 'string' || typeof rec.level !== 'string' || typeof rec.time !== 'string' || typeof rec.pid !== 'number') {
        throw new Error(`not a log record: ${line}`);
      }
      return rec as LogRecord;
    });
}

// -----------------------------------------------------------------------------------------------------------------

describe.skipIf(PREREQUISITES.skip)('running the direct stack like a service (root, real namespaces, dnsmasq, curl)', () => {
  let tmp = '';
  let data = '';
  let aliceHash = '';
  const started: Started[] = [];
  const knownPids: KnownPid[] = [];

  beforeAll(async () => {
    PREREQUISITES.demand();
    tmp = serviceTemp('observability-e2e-');
    data = path.join(tmp, 'data');
    mkdirSync(data);
    writeFileSync(path.join(data, 'john'), `${JOHN_PASSWORD}\n`);
    // Small scrypt parameters: the test is about logs, not about the cost of a hash.
    aliceHash = await hashPassword(ALICE_PASSWORD, { ln: 10, r: 8, p: 1 });
    writeUserFile(path.join(data, 'alice'), `${aliceHash}\n`);
    await lab.up();
  });

  afterAll(async () => {
    // Our processes first (by pid, with whatever they started), then the lab, then check nothing is left.
    for (const s of started) await stopTree(s, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  describe('with --metrics-port 9100 --log-format json', () => {
    let run: Started | undefined;
    let addr: string | undefined;
    let stopped = false;

    it('boots: the same boot lines, as JSON records, and the metrics listener', { timeout: 45_000 }, async () => {
      const s = startStack(['--bridge', 'br0', '--mac', MAC, '--data', data, '--dhcp-state', path.join(tmp, 'lease-json.json'), '--metrics-port', String(METRICS_PORT), '--log-format', 'json']);
      started.push(s);
      run = s;
      const m = await waitForStack(s, /"msg":"DHCP offer received and bound to (192\.168\.77\.\d+) nm 255\.255\.255\.0 gw \[192\.168\.77\.2\]"/, 20_000, knownPids);
      const a = need(m[1], 'the address');
      addr = a;
      await waitForOutput(s, new RegExp(`"msg":"ARP: sending gratuitous from ${escapeRegExp(a)}"`), 5000);
      const msgs = records(s.output()).map((r) => r.msg);
      expect(msgs).toEqual(expect.arrayContaining([
        expect.stringMatching(new RegExp(`^Netif: plugging tap\\d+ into br0 with mac ${MAC} \\(mtu 1500\\)$`)),
        'DHCP: start discovery',
        `DHCP: offer received: ${a}`,
        `metrics on TCP port ${METRICS_PORT} (GET /metrics)`,
        expect.stringMatching(new RegExp(`^auth service on TCP port ${HTTP_PORT} \\(stack direct, 2 users in `)),
      ]));
    });

    it('metrics move with traffic: frames in and out, requests by status, connections by state', { timeout: 60_000 }, async () => {
      const a = need(addr, 'the address');
      const before = await scrapeFromPeer(a);
      expect(await login(a, `?user=john&password=${JOHN_PASSWORD}`)).toBe(200);
      expect(await login(a, `?user=john&password=${JOHN_PASSWORD}`)).toBe(200);
      expect(await login(a, `?user=alice&password=${ALICE_PASSWORD}`)).toBe(200);
      expect(await login(a, '?user=john&password=wrong')).toBe(401);
      expect(await login(a, '?user=alice&password=wrong')).toBe(401);
      expect(await login(a, '')).toBe(401);
      const after = await scrapeFromPeer(a);

      expect(counterRegressions(before, after)).toEqual([]);
      const grew = (name: string, labels: Record<string, string> = {}): number =>
        (sampleValue(after, name, labels) ?? NaN) - (sampleValue(before, name, labels) ?? 0);
      // Six logins and a scrape: a handful of frames each way at the least.
      for (const direction of ['in', 'out']) {
        expect(grew('direct_stack_device_frames_total', { direction }), direction).toBeGreaterThanOrEqual(6 * 4);
        expect(grew('direct_stack_device_bytes_total', { direction }), direction).toBeGreaterThanOrEqual(6 * 4 * 54);
      }
      expect(grew('auth_http_requests_total', { status: '200' })).toBe(3);
      expect(grew('auth_http_requests_total', { status: '401' })).toBe(3);
      expect(grew('direct_stack_events_total', { name: 'tcp.passive_open' })).toBe(7);
      expect(grew('direct_stack_events_total', { name: 'eth.rx' })).toBe(grew('direct_stack_device_frames_total', { direction: 'in' }));
      // Connections by state: every state listed; the scrape rides an ESTABLISHED one.
      const states = after.samples.filter((x) => x.name === 'direct_stack_tcp_connections').map((x) => x.labels.state);
      expect(states).toEqual(expect.arrayContaining(['ESTABLISHED', 'SYN_RECEIVED', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK']));
      expect(sampleValue(after, 'direct_stack_tcp_connections', { state: 'ESTABLISHED' })).toBeGreaterThanOrEqual(1);
      expect(sampleValue(after, 'direct_stack_tcp_retransmits_total')).toBeGreaterThanOrEqual(0);
      expect(sampleValue(after, 'direct_stack_arp_cache_entries')).toBeGreaterThanOrEqual(1);
      expect(sampleValue(after, 'direct_stack_dhcp_lease_remaining_seconds')).toBeGreaterThan(60);
      expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
      // Off /metrics: 404.
      const other = await lab.curlInPeer(['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${a}:${METRICS_PORT}/`]);
      expect(other.stdout).toBe('404');
    });

    let hold: Started | undefined;
    let holdPorts: Record<string, number> = {};

    it('SIGUSR1 writes the status: address, lease, ARP cache, TCP rows for idle HTTP and metrics connections', { timeout: 45_000 }, async () => {
      const a = need(addr, 'the address');
      const s = need(run, 'the JSON run');
      const h = lab.spawnInPeer(nodeProgram('hold-connections.ts', [a, String(HTTP_PORT), String(METRICS_PORT), '40000']), 60_000, 'SIGTERM');
      started.push(h);
      hold = h;
      const ready = await waitForOutput(h, /^READY (\{.*\})$/m, 15_000);
      holdPorts = JSON.parse(need(ready[1], 'the ports')) as Record<string, number>;

      const from = s.output().length;
      process.kill(need(s.child.pid, 'the stack pid'), 'SIGUSR1');
      await waitForOutput(s, /"msg":" {2}drops and errors: [^"]*"/, 10_000);
      const status = records(s.output().slice(from)).filter((r) => r.report === true).map((r) => r.msg);
      const text = status.join('\n');
      console.log(text);
      expect(status[0]).toMatch(new RegExp(`^status: ${escapeRegExp(a)}/24 gw 192\\.168\\.77\\.2, mac ${MAC}, up \\S+, rss [\\d.]+ MiB$`));
      expect(text).toMatch(/\n {2}DHCP bound: lease \S+ left of \S+, server 192\.168\.77\.2, renewal in \S+, DNS 192\.168\.77\.2, domain lab\n/);
      expect(text).toMatch(/\n {2}ARP cache: \d+ entr(y|ies) \(IP -> MAC, age\)\n {4}192\.168\.77\.1 /);
      expect(text).toContain(`listening on ${HTTP_PORT} ${METRICS_PORT}`);
      for (const [port, local] of Object.entries(holdPorts)) {
        expect(text, `no row for ${port}`).toMatch(new RegExp(`\\n {4}${escapeRegExp(a)}:${port} +192\\.168\\.77\\.1:${local} +ESTABLISHED +\\d+ +\\d+ +\\S+ +\\S+(\\n|$)`));
      }
      expect(text).toMatch(/\n {2}HTTP: \d+ open, answered 200 x3, 401 x\d+\n/);
      expect(text).toMatch(/\n {2}frames in \d+ \([\d.]+ [KM]i?B\), out \d+ /);
      expect(status.length).toBeLessThanOrEqual(40);
    });

    it('SIGTERM: exits 0 promptly, closes the idle HTTP and metrics connections, DHCPRELEASE, no TAP left', { timeout: 45_000 }, async () => {
      const a = need(addr, 'the address');
      const s = need(run, 'the JSON run');
      const h = need(hold, 'the idle connections');
      const { code, tookMs } = await sigterm(s);
      stopped = true;
      expect(code, s.output()).toBe(0);
      console.log(`SIGTERM to exit: ${tookMs} ms`);
      expect(tookMs).toBeLessThan(4000);
      expect(records(s.output()).map((r) => r.msg)).toEqual(expect.arrayContaining(['SIGTERM: shutting down', `DHCP: released ${a}`]));

      // The idle connections' program exits once the server has closed both (or at its own time limit).
      expect(await exitWithin(h, 10_000), `the idle connections after SIGTERM:\n${h.output()}`).toBe(0);
      const last = h.output().trim().split('\n').pop() ?? '';
      const report = JSON.parse(last) as HoldReport;
      expect(report.timeout, last).toBe(false);
      for (const port of [String(HTTP_PORT), String(METRICS_PORT)]) {
        // The server ended each connection (FIN) rather than leaving it to time out. (A request written just as
        // the FIN crossed it may draw a reset after the FIN: that is still the server closing first.)
        expect(report.ports[port], last).toMatchObject({ ended: true });
        expect([null, 'ECONNRESET', 'EPIPE'], last).toContain(report.ports[port]?.error);
      }

      expect(await eventually(() => lab.taps(), (t) => t === '', 5000)).toBe('');
      const release = new RegExp(`DHCPRELEASE\\(br0\\) ${escapeRegExp(a)} ${MAC}`);
      expect(await eventually(() => lab.dnsmasqLog(), (l) => release.test(l), 5000)).toMatch(release);
    });

    it('every line it wrote is a JSON record at info or above, and none holds a password or the hash', () => {
      if (!stopped) throw new Error('the JSON run was not stopped: an earlier test failed');
      const s = need(run, 'the JSON run');
      const recs = records(s.output());
      expect(recs.length).toBeGreaterThan(10);
      expect(new Set(recs.map((r) => r.level))).toEqual(new Set(['info', 'warn']));
      expect(recs.every((r) => r.pid === recs[0]?.pid && !Number.isNaN(Date.parse(r.time)))).toBe(true);
      // The request lines are there, without their queries.
      expect(recs.filter((r) => /^GET "\/" user="(john|alice)" 200 [\d.]+ms$/.test(r.msg))).toHaveLength(3);
      expect(secretsIn(s.output(), aliceHash)).toEqual([]);
    });
  });

  describe('with --log-format text --log-level debug', () => {
    it('boot lines as ever, request lines, debug lines for scrapes, the status on SIGUSR1, exit 0 on SIGTERM', { timeout: 60_000 }, async () => {
      const releasesBefore = lab.dnsmasqLog().split('\n').filter((l) => l.includes('DHCPRELEASE')).length;
      const s = startStack(['--bridge', 'br0', '--mac', MAC, '--data', data, '--dhcp-state', path.join(tmp, 'lease-text.json'), '--metrics-port', String(METRICS_PORT), '--log-level', 'debug']);
      started.push(s);
      const m = await waitForStack(s, /^DHCP offer received and bound to (192\.168\.77\.\d+) nm 255\.255\.255\.0 gw \[192\.168\.77\.2\]$/m, 20_000, knownPids);
      const a = need(m[1], 'the address');
      await waitForOutput(s, new RegExp(`^ARP: sending gratuitous from ${escapeRegExp(a)}$`, 'm'), 5000);
      const boot = s.output();
      expect(boot).toMatch(new RegExp(`^Netif: plugging tap\\d+ into br0 with mac ${MAC} \\(mtu 1500\\)$`, 'm'));
      expect(boot).toMatch(/^DHCP: start discovery$/m);
      expect(boot).toContain(`\nDHCP: offer received: ${a}\n`);
      expect(boot).toMatch(new RegExp(`^metrics on TCP port ${METRICS_PORT} \\(GET /metrics\\)$`, 'm'));
      expect(boot).not.toMatch(/^\{/m);

      expect(await login(a, `?user=john&password=${JOHN_PASSWORD}`)).toBe(200);
      expect(await login(a, `?user=alice&password=${JOHN_PASSWORD}`)).toBe(401);
      await waitForOutput(s, /^GET "\/" user="john" 200 [\d.]+ms$/m, 5000);
      await waitForOutput(s, /^GET "\/" user="alice" 401 [\d.]+ms$/m, 5000);
      const e = await scrapeFromPeer(a);
      expect(sampleValue(e, 'auth_http_requests_total', { status: '200' })).toBe(1);
      expect(sampleValue(e, 'auth_http_requests_total', { status: '401' })).toBe(1);
      // --log-level debug: the scrape is logged, its path only.
      await waitForOutput(s, /^metrics: GET "\/metrics" from 192\.168\.77\.1:\d+$/m, 5000);

      process.kill(need(s.child.pid, 'the stack pid'), 'SIGUSR1');
      await waitForOutput(s, /^ {2}drops and errors: .*$/m, 10_000);
      const out = s.output();
      expect(out).toMatch(new RegExp(`^status: ${escapeRegExp(a)}/24 gw 192\\.168\\.77\\.2, mac ${MAC}, up \\S+, rss [\\d.]+ MiB\\n {2}DHCP bound: lease `, 'm'));
      expect(out).toMatch(new RegExp(`^ {2}TCP: \\d+ connections?, listening on ${HTTP_PORT} ${METRICS_PORT}, buffers `, 'm'));
      expect(out).toMatch(/^ {2}HTTP: 0 open, answered 200 x1, 401 x1$/m);

      const { code, tookMs } = await sigterm(s);
      expect(code, s.output()).toBe(0);
      expect(tookMs).toBeLessThan(4000);
      expect(s.output()).toMatch(/^SIGTERM: shutting down$/m);
      expect(s.output()).toContain(`DHCP: released ${a}\n`);
      expect(await eventually(() => lab.taps(), (t) => t === '', 5000)).toBe('');
      const releases = await eventually(
        () => lab.dnsmasqLog().split('\n').filter((l) => l.includes('DHCPRELEASE')),
        (l) => l.length > releasesBefore,
        5000,
      );
      expect(releases.at(-1)).toMatch(new RegExp(`DHCPRELEASE\\(br0\\) ${escapeRegExp(a)} ${MAC}`));
      expect(secretsIn(s.output(), aliceHash)).toEqual([]);
    });
  });
});

describe('the socket stack: metrics over the kernel socket, the status on SIGUSR1', () => {
  const HOST = '127.0.0.1';
  let tmp = '';
  let s: Started | undefined;

  afterAll(async () => {
    if (s !== undefined) await stopTree(s, 5000);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  it('scrapes, reports and stops', { timeout: 45_000 }, async () => {
    expect(spawnSync('curl', ['--version'], { timeout: 5000 }).status).toBe(0); // no curl fails rather than skips
    tmp = serviceTemp('observability-socket-');
    writeFileSync(path.join(tmp, 'john'), `${JOHN_PASSWORD}\n`);
    const port = await freePort(HOST);
    let metricsPort = await freePort(HOST);
    while (metricsPort === port) metricsPort = await freePort(HOST);
    const args = ['--stack', 'socket', '--listen', HOST, '--port', String(port), '--metrics-port', String(metricsPort), '--data', tmp, '--log-format', 'json'];
    const p = spawnProcess(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], 40_000, 'SIGTERM');
    s = p;
    await waitForOutput(p, /"msg":"metrics on http:\/\/127\.0\.0\.1:\d+\/metrics"/, 15_000);

    const scrape = async (): Promise<Exposition> => {
      const r = await curl(['-s', '-i', `http://${HOST}:${metricsPort}/metrics`]);
      const { head, body } = splitResponse(r.stdout);
      expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head).toMatch(/\r\ncontent-type: text\/plain; version=0\.0\.4; charset=utf-8(\r\n|$)/);
      return parseExposition(body);
    };
    const before = await scrape();
    expect((await curl(['-s', `http://${HOST}:${port}/?user=john&password=${JOHN_PASSWORD}`])).stdout).toBe('hello john!\n');
    expect((await curl(['-s', `http://${HOST}:${port}/?user=john&password=nope`])).stdout).toBe('Invalid login\n');
    const after = await scrape();
    expect(counterRegressions(before, after)).toEqual([]);
    expect(sampleValue(after, 'auth_http_requests_total', { status: '200' })).toBe(1);
    expect(sampleValue(after, 'auth_http_requests_total', { status: '401' })).toBe(1);
    expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(after.samples.some((x) => x.name.startsWith('direct_stack_'))).toBe(false);

    process.kill(need(p.child.pid, 'the pid'), 'SIGUSR1');
    await waitForOutput(p, /"msg":" {2}HTTP: \d+ open, answered 200 x1, 401 x1"/, 10_000);
    expect(p.output()).toContain(`"msg":"status: stack socket, listening on ${HOST}:${port} ${HOST}:${metricsPort}, up `);
    const { code } = await sigterm(p);
    expect(code, p.output()).toBe(0);
    const recs = records(p.output());
    expect(recs.map((r) => r.msg)).toContain('SIGTERM: shutting down');
    expect(secretsIn(p.output(), '$scrypt$')).toEqual([]);
  });
});
