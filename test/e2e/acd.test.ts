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

import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  escapeRegExp, eventually, exitWithin, Lab, mustRun, need, prerequisites, sigterm, waitForStack, type KnownPid, tempWithJohn } from './lab.ts';
import { findDescendant, stopTree, waitForOutput, type Started } from './service-process.ts';

const lab = new Lab('macd');
const SQUAT = lab.extraNamespace('sq');
const MAC = '02:00:5e:00:ac:d1';
/** A hard limit on each stack process, whatever happens to the test that started it. */
const STACK_LIFETIME_MS = 120_000;

const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'ping']);

/** The stack's DHCP lease line (group 1 the address); the rest of it is checked elsewhere. */
const BOUND = /DHCP offer received and bound to (192\.168\.77\.\d+) /;

describe.skipIf(PREREQUISITES.skip)('address conflict detection and INIT-REBOOT in a lab (root, namespaces, dnsmasq)', () => {
  let tmp = '';
  let data = '';
  let stateFile = '';
  const started: Started[] = [];
  const knownPids: KnownPid[] = [];
  let addrA: string | undefined;
  let addrB: string | undefined;

  function startStack(): Started {
    const s = lab.startStack(['--bridge', 'br0', '--mac', MAC, '--data', data, '--dhcp-state', stateFile], STACK_LIFETIME_MS);
    started.push(s);
    return s;
  }

  function savedAddress(): string | undefined {
    if (!existsSync(stateFile)) return undefined;
    const j: unknown = JSON.parse(readFileSync(stateFile, 'utf8'));
    return typeof j === 'object' && j !== null && 'address' in j && typeof j.address === 'string' ? j.address : undefined;
  }

  beforeAll(async () => {
    PREREQUISITES.demand();
    ({ tmp, data } = tempWithJohn('acd-e2e-'));
    stateFile = path.join(tmp, 'dhcp-state.json');
    await lab.up(lab.namespaces);
    // The squatter: its own namespace, wired to br0, no address yet.
    await mustRun('ip', ['netns', 'add', SQUAT]);
    await mustRun('ip', ['-n', lab.name, 'link', 'add', 'veth-sq', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', SQUAT]);
    await mustRun('ip', ['-n', lab.name, 'link', 'set', 'veth-sq', 'master', 'br0', 'up']);
    await mustRun('ip', ['-n', SQUAT, 'link', 'set', 'lo', 'up']);
    await mustRun('ip', ['-n', SQUAT, 'link', 'set', 'eth0', 'up']);
  }, 90_000);

  afterAll(async () => {
    for (const s of started) await stopTree(s, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  }, 90_000);

  it('1. takes an address A after probing it, remembers it, and on SIGTERM releases it and forgets it', { timeout: 60_000 }, async () => {
    const s = startStack();
    const m = await waitForStack(s, BOUND, 30_000, knownPids);
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
    expect(await eventually(() => lab.taps(), (t) => t === '', 5000)).toBe('');
  });

  it('2. a host already holding A: probe, conflict, DHCPDECLINE, another address B', { timeout: 90_000 }, async () => {
    const a = need(addrA, 'A');
    await mustRun('ip', ['-n', SQUAT, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
    const squatterMac = /link\/ether ([0-9a-f:]{17})/.exec(await mustRun('ip', ['-n', SQUAT, 'link', 'show', 'eth0']))?.[1];
    // The squatter really holds A: the peer reaches it there.
    await lab.mustInPeer(['ping', '-c', '1', '-W', '2', a], 15_000);

    const logBefore = lab.dnsmasqLog().length;
    const s = startStack();
    await waitForStack(s, new RegExp(`^DHCP: conflict on ${escapeRegExp(a)} from ${escapeRegExp(need(squatterMac, 'the squatter MAC'))} \\(declined\\)$`, 'm'), 30_000, knownPids);
    // RFC 2131 §4.4.1: at least 10 s before discovering again; then another address, probed too.
    const m = await waitForOutput(s, BOUND, 45_000);
    const b = need(m[1], 'B');
    addrB = b;
    expect(b).not.toBe(a);
    const out = s.output();
    expect(out).toContain(`DHCP: offer received: ${a}\n`);
    expect(out).toContain(`ACD: probing ${a}\n`);
    expect(out).toContain(`ACD: probing ${b}\n`);
    expect(out).not.toContain(`bound to ${a} `);
    expect(out.match(/^DHCP: start discovery$/gm)).toHaveLength(2);
    await waitForOutput(s, new RegExp(`IPv4: ready on ${escapeRegExp(b)} `), 5000);
    expect(savedAddress()).toBe(b);

    const log = await eventually(() => lab.dnsmasqLog().slice(logBefore), (l) => l.includes('DHCPDECLINE'), 5000);
    expect(log).toMatch(new RegExp(`DHCPDECLINE\\(br0\\) ${escapeRegExp(a)} ${MAC}`));
    expect(log).toMatch(new RegExp(`DHCPACK\\(br0\\) ${escapeRegExp(b)} ${MAC}`));
    // And B is ours: the peer pings it (A still answers from the squatter).
    await lab.mustInPeer(['ping', '-c', '2', '-W', '2', b], 15_000);

    // A crash: no RELEASE, the state file keeps B.
    const node = need(findDescendant(need(s.child.pid, 'the stack pid'), /src\/main\.ts/), 'the node process');
    process.kill(node, 'SIGKILL');
    expect(await exitWithin(s, 10_000), `the stack after SIGKILL to its node:\n${s.output()}`).not.toBe('still running');
    expect(savedAddress()).toBe(b);
    expect(await eventually(() => lab.taps(), (t) => t === '', 5000)).toBe('');
    expect(lab.dnsmasqLog().slice(logBefore)).not.toContain('DHCPRELEASE');
  });

  it('3. without the squatter, a restart asks for B again from the state file (INIT-REBOOT): no DISCOVER', { timeout: 60_000 }, async () => {
    const b = need(addrB, 'B');
    await mustRun('ip', ['netns', 'del', SQUAT]);
    const logBefore = lab.dnsmasqLog().length;
    const s = startStack();
    const m = await waitForStack(s, BOUND, 30_000, knownPids);
    expect(m[1]).toBe(b);
    const out = s.output();
    expect(out).toMatch(new RegExp(`^DHCP: state file ${escapeRegExp(stateFile)}: ${escapeRegExp(b)} until \\S+Z$`, 'm'));
    expect(out).toContain(`DHCP: reboot: asking for ${b} again\n`);
    expect(out).toContain(`ACD: probing ${b}\n`);
    expect(out).not.toContain('DHCP: start discovery');

    const log = await eventually(() => lab.dnsmasqLog().slice(logBefore), (l) => new RegExp(`DHCPACK\\(br0\\) ${escapeRegExp(b)} ${MAC}`).test(l), 5000);
    expect(log).toMatch(new RegExp(`DHCPREQUEST\\(br0\\) ${escapeRegExp(b)} ${MAC}`));
    expect(log).toMatch(new RegExp(`DHCPACK\\(br0\\) ${escapeRegExp(b)} ${MAC}`));
    expect(log).not.toMatch(/DHCPDISCOVER/);

    expect(await sigterm(s), s.output()).toBe(0);
    expect(s.output()).toContain(`DHCP: released ${b}\n`);
    expect(existsSync(stateFile)).toBe(false);
  });
});
