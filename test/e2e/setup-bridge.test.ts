// scripts/setup-bridge.sh for real, as root: it builds the lab (bridge, dnsmasq, host-only peer) inside
// namespaces made for the test, and takes it all down again. The host's own interfaces are never touched; the
// no---netns mode is exercised inside `unshare --net --mount` with a private /run.
// In CI (CI=true) these tests always run; without root they fail rather than skip.

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, nodeProgram, PROGRAMS_DIR } from './lab.ts';
import type { DhcpAck } from './programs/dhcp-client.ts';
import { repoRoot } from './service-process.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/setup-bridge.sh', import.meta.url));
const IS_ROOT = process.getuid?.() === 0;
const IN_CI = process.env.CI === 'true';

const NAME = `mtest-${randomBytes(3).toString('hex')}`;
const PEER = `${NAME}-peer`;
const STATE = `/run/mirage-lab/${NAME}`;
const PIDFILE = `${STATE}/dnsmasq.pid`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number; cwd?: string } = {}): Run {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: 'utf8',
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 60_000,
    env: opts.env ?? process.env,
    input: opts.input,
    killSignal: 'SIGKILL',
  });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed and returns its stdout. */
function ok(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function lab(action: string, ...extra: string[]): Run {
  return run('bash', [SCRIPT, action, ...extra]);
}

function netnsList(): string[] {
  return ok('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** Names of the interfaces in the test process's own (host) namespace. */
function hostLinks(): string[] {
  return ok('ip', ['-o', 'link'])
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

function readPid(): number {
  return Number(readFileSync(PIDFILE, 'utf8').trim());
}

/** True when `pid` is alive (not a zombie awaiting its reaper) and is a dnsmasq. */
function isDnsmasq(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const state = /^State:\s*(\S)/m.exec(status)?.[1];
    return /^Name:\s*dnsmasq$/m.test(status) && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Waits (polling, at most `ms`) until `pid` is no dnsmasq any more; the caller asserts that it is gone. */
async function waitGone(pid: number, ms = 5000): Promise<void> {
  await eventually(() => isDnsmasq(pid), (alive) => !alive, ms);
}

describe.skipIf(!IS_ROOT && !IN_CI)('scripts/setup-bridge.sh (root, real namespaces)', () => {
  let linksBefore: string[] = [];
  let hostForwardBefore = '';
  let hostonlyBefore = false;
  const pidsSeen: number[] = [];

  beforeAll(() => {
    if (!IS_ROOT) throw new Error('these tests need root (they create network namespaces); CI runs as root, so this environment is broken');
    for (const tool of ['ip', 'dnsmasq', 'ping', 'ss', 'unshare', 'setpriv']) {
      const where = run('bash', ['-c', `command -v ${tool} || ls /usr/sbin/${tool} /sbin/${tool}`]);
      if (where.status !== 0) throw new Error(`${tool} is missing (needed by this test)`);
    }
    expect(netnsList()).not.toContain(NAME);
    linksBefore = hostLinks();
    hostonlyBefore = netnsList().includes('hostonly');
    hostForwardBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  });

  afterAll(() => {
    // Whatever happened above: take the lab down, then make sure nothing of ours is left.
    const down = lab('down', '--netns', NAME);
    if (down.status !== 0) console.error(`setup-bridge down failed:\n${down.stdout}\n${down.stderr}`);
    for (const pid of pidsSeen) if (isDnsmasq(pid)) process.kill(pid, 'SIGKILL');
    const left = netnsList();
    for (const ns of [PEER, NAME]) if (left.includes(ns)) run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
  });

  it('refuses to run without root, with a clear message', () => {
    // The script on stdin, so the unprivileged user needs no access to the checkout.
    const r = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-s', '--', 'up', '--netns', NAME], {
      input: readFileSync(SCRIPT),
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/must be run as root/);
    expect(netnsList()).not.toContain(NAME);
  });

  it('rejects an unknown action with the usage line', () => {
    const r = lab('sideways');
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/usage: .*up\|down\|status \[--netns NAME\]/);
  });

  it('exits 2 naming the package when dnsmasq is missing, having made nothing', () => {
    const r = run('bash', [SCRIPT, 'up', '--netns', NAME], { env: { ...process.env, DNSMASQ: '/nonexistent/dnsmasq' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('apt-get install -y dnsmasq-base');
    expect(netnsList()).not.toContain(NAME);
    expect(existsSync(STATE)).toBe(false);
  });

  it('up --netns builds the bridge, the peer and dnsmasq inside namespaces', () => {
    const r = lab('up', '--netns', NAME);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created netns/);
    const nss = netnsList();
    expect(nss).toContain(NAME);
    expect(nss).toContain(PEER);

    const br = ok('ip', ['-n', NAME, '-o', '-4', 'addr', 'show', 'dev', 'br0']);
    expect(br).toMatch(/inet 192\.168\.77\.2\/24 /);
    expect(ok('ip', ['-n', NAME, '-o', 'link', 'show', 'dev', 'br0'])).toMatch(/[<,]UP[,>]/);
    expect(ok('ip', ['-n', NAME, '-o', 'link', 'show', 'dev', 'veth-hostonly'])).toMatch(/master br0 .*state UP/);
    expect(ok('ip', ['netns', 'exec', NAME, 'cat', '/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    for (const ns of [NAME, PEER]) expect(ok('ip', ['-n', ns, '-o', 'link', 'show', 'dev', 'lo'])).toMatch(/[<,]UP[,>]/);

    expect(ok('ip', ['-n', PEER, '-o', '-4', 'addr', 'show', 'dev', 'veth0'])).toMatch(/inet 192\.168\.77\.1\/24 /);
    expect(ok('ip', ['-n', PEER, 'route', 'show', 'default'])).toMatch(/default via 192\.168\.77\.2 dev veth0/);
  });

  it('the host-only peer reaches br0', () => {
    const out = ok('ip', ['netns', 'exec', PEER, 'ping', '-c', '1', '-W', '2', '192.168.77.2'], { timeoutMs: 15_000 });
    expect(out).toMatch(/1 received/);
  });

  it('dnsmasq runs in the lab namespace with its pid, log and DHCP socket', () => {
    const pid = readPid();
    pidsSeen.push(pid);
    expect(isDnsmasq(pid)).toBe(true);
    const labNs = ok('ip', ['netns', 'exec', NAME, 'readlink', '/proc/self/ns/net']).trim();
    expect(ok('readlink', [`/proc/${pid}/ns/net`]).trim()).toBe(labNs);
    const ss = ok('ip', ['netns', 'exec', NAME, 'ss', '-ulpn']);
    expect(ss).toMatch(new RegExp(`:67\\s.*"dnsmasq",pid=${pid}`));
    // DNS for the lab's own names, on br0's address only, forwarding nothing.
    expect(ss).toMatch(new RegExp(`192\\.168\\.77\\.2:53\\s.*"dnsmasq",pid=${pid}`));
    expect(ss).not.toMatch(/127\.0\.0\.1:53\s.*dnsmasq/);
    const log = readFileSync(`${STATE}/dnsmasq.log`, 'utf8');
    expect(log).toMatch(/using only locally-known addresses for lab/);
    expect(log).not.toMatch(/using nameserver/);
    expect(log).toMatch(/DHCP, IP range 192\.168\.77\.3 -- 192\.168\.77\.200, lease time 12h/);
    expect(log).toMatch(/bound exclusively to interface br0/);
  });

  it('dnsmasq hands out a real lease (DISCOVER/OFFER/REQUEST/ACK from the peer namespace)', () => {
    const mac = '02:6d:74:00:00:01';
    const out = ok('ip', ['netns', 'exec', PEER, ...nodeProgram('dhcp-client.ts', [mac])], { timeoutMs: 30_000, cwd: repoRoot });
    const ack = JSON.parse(out) as DhcpAck;
    const last = Number(ack.yiaddr.split('.')[3]);
    expect(ack.yiaddr.startsWith('192.168.77.')).toBe(true);
    expect(last).toBeGreaterThanOrEqual(3);
    expect(last).toBeLessThanOrEqual(200);
    expect(ack).toMatchObject({ mask: '255.255.255.0', router: '192.168.77.2', server: '192.168.77.2', lease: 12 * 3600 });
    expect(readFileSync(`${STATE}/dnsmasq.leases`, 'utf8')).toMatch(new RegExp(`${mac} ${ack.yiaddr.replaceAll('.', '\\.')} `));
  });

  it('a second up succeeds and changes nothing', () => {
    const snapshot = () => [
      ok('ip', ['-n', NAME, '-br', 'link']),
      ok('ip', ['-n', NAME, '-o', '-4', 'addr']),
      ok('ip', ['-n', PEER, '-br', 'link']),
      ok('ip', ['-n', PEER, '-o', '-4', 'addr']),
      ok('ip', ['-n', PEER, 'route']),
      netnsList().sort().join(' '),
      readFileSync(`${STATE}/created`, 'utf8'),
    ];
    const before = snapshot();
    const pid = readPid();
    const r = lab('up', '--netns', NAME);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/created|started/);
    expect(readPid()).toBe(pid);
    expect(isDnsmasq(pid)).toBe(true);
    expect(snapshot()).toEqual(before);
  });

  it('up restarts a dnsmasq that died', async () => {
    const old = readPid();
    expect(isDnsmasq(old)).toBe(true);
    process.kill(old, 'SIGTERM');
    await waitGone(old);
    expect(isDnsmasq(old)).toBe(false);
    const r = lab('up', '--netns', NAME);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/started dnsmasq/);
    const pid = readPid();
    pidsSeen.push(pid);
    expect(pid).not.toBe(old);
    expect(isDnsmasq(pid)).toBe(true);
  });

  it('status reports the pieces', () => {
    const r = lab('status', '--netns', NAME);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/bridge br0 .*192\.168\.77\.2\/24/);
    expect(r.stdout).toMatch(new RegExp(`dnsmasq: running \\(pid ${readPid()}\\)`));
  });

  it('the host namespace gained no interface and kept its forwarding setting', () => {
    expect(hostLinks()).toEqual(linksBefore);
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostForwardBefore);
  });

  it('down removes everything, and a second down succeeds', async () => {
    const pid = readPid();
    const r = lab('down', '--netns', NAME);
    expect(r.status, r.stderr).toBe(0);
    await waitGone(pid);
    expect(isDnsmasq(pid)).toBe(false);
    const nss = netnsList();
    expect(nss).not.toContain(NAME);
    expect(nss).not.toContain(PEER);
    expect(existsSync(STATE)).toBe(false);
    for (const p of pidsSeen) expect(isDnsmasq(p)).toBe(false);

    const again = lab('down', '--netns', NAME);
    expect(again.status, again.stderr).toBe(0);
    expect(hostLinks()).toEqual(linksBefore);
  });

  it('without --netns it builds the lab in the current namespace (run isolated under unshare)', () => {
    // A new network namespace and a private /run: the "host" this mode changes is a throwaway one.
    const out = ok('unshare', ['--net', '--mount', '--propagation', 'private', 'bash', path.join(PROGRAMS_DIR, 'setup-bridge-in-fresh-netns.sh'), SCRIPT], { timeoutMs: 60_000 });
    const kv = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
    expect(kv).toMatchObject({
      netns: 'hostonly',
      br0: '192.168.77.2/24',
      veth: 'master br0',
      fwd_up: '1',
      peer: '192.168.77.1/24',
      ping: 'ok',
      lease: '2m',
      dnsmasq: 'gone',
      netns_after: '0',
      links_after: 'lo',
      state: 'gone',
    });
    expect(kv.fwd_after).toBe(kv.fwd_before);
    expect(hostLinks()).toEqual(linksBefore);
    expect(netnsList().includes('hostonly')).toBe(hostonlyBefore);
  });
});
