// Address conflict detection and INIT-REBOOT for real, as root, in a lab of this test's own namespaces
// (scripts/setup-bridge.sh up --netns NAME: br0 + dnsmasq in NAME, a peer in NAME-peer) plus a "squatter":
// a third namespace NAME-sq on br0 through a veth, whose kernel holds an address with `ip addr add` and so answers
// ARP for it.
//
//   1. the stack takes address A from dnsmasq and gives it back on SIGTERM;
//   2. the squatter takes A; the stack, started again with the same MAC, is offered A, probes it, hears the
//      squatter's kernel answer, sends DHCPDECLINE (dnsmasq logs it), waits, and binds another address B;
//      then it is killed (SIGKILL: no RELEASE, so its state file keeps B, as after a crash or power cut);
//   3. without the squatter, the stack starts from its state file in INIT-REBOOT: a DHCPREQUEST for B and no
//      DISCOVER in that run, B again, and on SIGTERM the release removes the state file.
//
// In CI (CI=true) nothing skips: without root, ip or dnsmasq the suite fails. Every namespace is removed.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  descendantPids, findDescendant, repoRoot, runCommand, spawnProcess, stopTree, waitForOutput, type Started,
} from './service-process.ts';

const IS_ROOT = process.getuid?.() === 0;
const IN_CI = process.env.CI === 'true';

const NAME = `macd-${randomBytes(3).toString('hex')}`;
const PEER = `${NAME}-peer`;
const SQUAT = `${NAME}-sq`;
const MAC = '02:00:5e:00:ac:d1';
const DNSMASQ_LOG = `/run/mirage-lab/${NAME}/dnsmasq.log`;
const SCRIPT = path.join(repoRoot, 'scripts/setup-bridge.sh');
/** A hard limit on each stack process, whatever happens to the test that started it. */
const STACK_LIFETIME_MS = 120_000;

function have(tool: string): boolean {
  const r = spawnSync('bash', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool} || test -x /sbin/${tool}`], { timeout: 5000 });
  return r.status === 0;
}

const MISSING = [...(IS_ROOT ? [] : ['root']), ...['ip', 'dnsmasq', 'ping'].filter((t) => !have(t))];

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} is unknown: an earlier test failed`);
  return v;
}

async function ok(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const r = await runCommand(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function netnsList(): Promise<string[]> {
  return (await ok('ip', ['netns', 'list'], 10_000))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

async function labTaps(): Promise<string> {
  return (await ok('ip', ['-n', NAME, '-o', 'link', 'show', 'type', 'tun'], 10_000)).trim();
}

function dnsmasqLog(): string {
  try {
    return readFileSync(DNSMASQ_LOG, 'utf8');
  } catch {
    return '';
  }
}

async function eventually<T>(get: () => T | Promise<T>, pred: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (pred(v) || Date.now() >= end) return v;
    await sleep(100);
  }
}

describe.skipIf(MISSING.length > 0 && !IN_CI)('address conflict detection and INIT-REBOOT in a lab (root, namespaces, dnsmasq)', () => {
  let tmp = '';
  let stateFile = '';
  const started: Started[] = [];
  const knownPids: { pid: number; start: string }[] = [];
  let addrA: string | undefined;
  let addrB: string | undefined;

  function startStack(): Started {
    const s = spawnProcess(
      'ip', ['netns', 'exec', NAME, 'npm', 'start', '--', '--bridge', 'br0', '--mac', MAC, '--dhcp-state', stateFile],
      STACK_LIFETIME_MS, 'SIGTERM',
    );
    started.push(s);
    return s;
  }

  async function sigterm(s: Started): Promise<number | null | 'still running'> {
    process.kill(need(s.child.pid, 'the stack pid'), 'SIGTERM');
    return Promise.race([s.exited, sleep(15_000).then(() => 'still running' as const)]);
  }

  function savedAddress(): string | undefined {
    if (!existsSync(stateFile)) return undefined;
    const j: unknown = JSON.parse(readFileSync(stateFile, 'utf8'));
    return typeof j === 'object' && j !== null && 'address' in j && typeof j.address === 'string' ? j.address : undefined;
  }

  beforeAll(async () => {
    if (MISSING.length > 0) {
      throw new Error(`missing prerequisites: ${MISSING.join(', ')} (CI runs as root with all of them; this environment is broken)`);
    }
    const before = await netnsList();
    for (const ns of [NAME, PEER, SQUAT]) expect(before).not.toContain(ns);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'acd-e2e-'));
    stateFile = path.join(tmp, 'dhcp-state.json');
    const up = await runCommand('bash', [SCRIPT, 'up', '--netns', NAME], 60_000);
    if (up.code !== 0) throw new Error(`setup-bridge.sh up --netns ${NAME} failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
    // The squatter: its own namespace, wired to br0, no address yet.
    await ok('ip', ['netns', 'add', SQUAT]);
    await ok('ip', ['-n', NAME, 'link', 'add', 'veth-sq', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', SQUAT]);
    await ok('ip', ['-n', NAME, 'link', 'set', 'veth-sq', 'master', 'br0', 'up']);
    await ok('ip', ['-n', SQUAT, 'link', 'set', 'lo', 'up']);
    await ok('ip', ['-n', SQUAT, 'link', 'set', 'eth0', 'up']);
  }, 90_000);

  afterAll(async () => {
    for (const s of started) await stopTree(s, 5000, knownPids);
    if ((await netnsList()).includes(SQUAT)) await runCommand('ip', ['netns', 'del', SQUAT], 10_000);
    const down = await runCommand('bash', [SCRIPT, 'down', '--netns', NAME], 60_000);
    if (down.code !== 0) console.error(`setup-bridge down failed:\n${down.stdout}\n${down.stderr}`);
    for (const ns of [PEER, NAME]) {
      if ((await netnsList()).includes(ns)) await runCommand('ip', ['netns', 'del', ns], 10_000);
    }
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    const left = await netnsList();
    for (const ns of [NAME, PEER, SQUAT]) expect(left).not.toContain(ns);
  }, 90_000);

  it('1. takes an address A after probing it, remembers it, and on SIGTERM releases it and forgets it', { timeout: 60_000 }, async () => {
    const s = startStack();
    const m = await waitForOutput(s, /DHCP offer received and bound to (192\.168\.77\.\d+) /, 30_000);
    knownPids.push(...descendantPids(need(s.child.pid, 'the stack pid')));
    const a = need(m[1], 'the address');
    addrA = a;
    const out = s.output();
    expect(out).toContain(`DHCP: state file ${stateFile}\n`);
    expect(out).toMatch(/^DHCP: start discovery$/m);
    expect(out.indexOf(`ACD: probing ${a}\n`)).toBeGreaterThan(out.indexOf(`DHCP: offer received: ${a}\n`));
    expect(out.indexOf(`ACD: probing ${a}\n`)).toBeLessThan(m.index);
    expect(savedAddress()).toBe(a);

    expect(await sigterm(s), s.output()).toBe(0);
    expect(s.output()).toContain(`DHCP: released ${a}\n`);
    expect(existsSync(stateFile)).toBe(false);
    expect(await eventually(labTaps, (t) => t === '', 5000)).toBe('');
  });

  it('2. a host already holding A: probe, conflict, DHCPDECLINE, another address B', { timeout: 90_000 }, async () => {
    const a = need(addrA, 'A');
    await ok('ip', ['-n', SQUAT, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
    const squatterMac = /link\/ether ([0-9a-f:]{17})/.exec(await ok('ip', ['-n', SQUAT, 'link', 'show', 'eth0']))?.[1];
    // The squatter really holds A: the peer reaches it there.
    await ok('ip', ['netns', 'exec', PEER, 'ping', '-c', '1', '-W', '2', a], 15_000);

    const logBefore = dnsmasqLog().length;
    const s = startStack();
    await waitForOutput(s, new RegExp(`^DHCP: conflict on ${esc(a)} from ${esc(need(squatterMac, 'the squatter MAC'))} \\(declined\\)$`, 'm'), 30_000);
    knownPids.push(...descendantPids(need(s.child.pid, 'the stack pid')));
    // RFC 2131 §4.4.1: at least 10 s before discovering again; then another address, probed too.
    const m = await waitForOutput(s, /DHCP offer received and bound to (192\.168\.77\.\d+) /, 45_000);
    const b = need(m[1], 'B');
    addrB = b;
    expect(b).not.toBe(a);
    const out = s.output();
    expect(out).toContain(`DHCP: offer received: ${a}\n`);
    expect(out).toContain(`ACD: probing ${a}\n`);
    expect(out).toContain(`ACD: probing ${b}\n`);
    expect(out).not.toContain(`bound to ${a} `);
    expect(out.match(/^DHCP: start discovery$/gm)).toHaveLength(2);
    await waitForOutput(s, new RegExp(`IPv4: ready on ${esc(b)} `), 5000);
    expect(savedAddress()).toBe(b);

    const log = await eventually(() => dnsmasqLog().slice(logBefore), (l) => l.includes('DHCPDECLINE'), 5000);
    expect(log).toMatch(new RegExp(`DHCPDECLINE\\(br0\\) ${esc(a)} ${MAC}`));
    expect(log).toMatch(new RegExp(`DHCPACK\\(br0\\) ${esc(b)} ${MAC}`));
    // And B is ours: the peer pings it (A still answers from the squatter).
    await ok('ip', ['netns', 'exec', PEER, 'ping', '-c', '2', '-W', '2', b], 15_000);

    // A crash: no RELEASE, the state file keeps B.
    const node = need(findDescendant(need(s.child.pid, 'the stack pid'), /src\/main\.ts/), 'the node process');
    process.kill(node, 'SIGKILL');
    await Promise.race([s.exited, sleep(10_000)]);
    expect(savedAddress()).toBe(b);
    expect(await eventually(labTaps, (t) => t === '', 5000)).toBe('');
    expect(dnsmasqLog().slice(logBefore)).not.toContain('DHCPRELEASE');
  });

  it('3. without the squatter, a restart asks for B again from the state file (INIT-REBOOT): no DISCOVER', { timeout: 60_000 }, async () => {
    const b = need(addrB, 'B');
    await ok('ip', ['netns', 'del', SQUAT]);
    const logBefore = dnsmasqLog().length;
    const s = startStack();
    const m = await waitForOutput(s, /DHCP offer received and bound to (192\.168\.77\.\d+) /, 30_000);
    knownPids.push(...descendantPids(need(s.child.pid, 'the stack pid')));
    expect(m[1]).toBe(b);
    const out = s.output();
    expect(out).toMatch(new RegExp(`^DHCP: state file ${esc(stateFile)}: ${esc(b)} until \\S+Z$`, 'm'));
    expect(out).toContain(`DHCP: reboot: asking for ${b} again\n`);
    expect(out).toContain(`ACD: probing ${b}\n`);
    expect(out).not.toContain('DHCP: start discovery');

    const log = await eventually(() => dnsmasqLog().slice(logBefore), (l) => new RegExp(`DHCPACK\\(br0\\) ${esc(b)} ${MAC}`).test(l), 5000);
    expect(log).toMatch(new RegExp(`DHCPREQUEST\\(br0\\) ${esc(b)} ${MAC}`));
    expect(log).toMatch(new RegExp(`DHCPACK\\(br0\\) ${esc(b)} ${MAC}`));
    expect(log).not.toMatch(/DHCPDISCOVER/);

    expect(await sigterm(s), s.output()).toBe(0);
    expect(s.output()).toContain(`DHCP: released ${b}\n`);
    expect(existsSync(stateFile)).toBe(false);
  });
});
