// Stateful DHCPv6 for real, as root: a lab of this test's own made by `scripts/setup-bridge.sh --dhcpv6`, where
// dnsmasq's router advertisements set M and dnsmasq leases addresses from fd77::100-fd77::1ff. The stack solicits,
// requests, detects the leased address and serves on it: the peer's kernel pings it and curl gets the seed's 200
// and 401 over it; the lease is in the state file. Killed without a word (SIGKILL, as after a crash), the stack
// confirms the saved lease at the next start and is bound to the same address without a new Solicit; SIGTERM
// releases it (dnsmasq logs the RELEASE) and removes the state file. tshark decodes every frame we sent: no
// malformed DHCPv6 message, every UDP checksum good.
// In CI (CI=true) nothing skips: without root, tshark, dnsmasq, curl or ping the suite fails.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumChecks, escapeRegExp, eventually, exitWithin, Lab, need, notAllGood, OurFrames, prerequisites, sigterm, tempWithJohn, waitForStack, type KnownPid } from './lab.ts';
import { findDescendant, stopTree, waitForOutput, type Started } from './service-process.ts';

const lab = new Lab('mdhcp6', { dhcpv6: true });
const MAC = '02:00:5e:00:00:47';
const DUID = `00:03:00:01:${MAC}`;
const STACK_LIFETIME_MS = 90_000;
const BOUND6 = /^DHCPv6: bound to (fd77::1[0-9a-f]{2})$/m;
const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'tshark', 'ping', 'curl']);

const FIELDS = ['udp.checksum.status', 'dhcpv6.msgtype', 'ipv6.src'] as const;
const OUR_FRAMES = new OurFrames({ mac: MAC, fields: FIELDS, checksums: ['udp.checksum.status'], options: checksumChecks(['udp']), timeoutMs: 30_000 });

describe.skipIf(PREREQUISITES.skip)('stateful DHCPv6 with dnsmasq (root, real namespaces, tshark)', () => {
  let tmp = '';
  let dataDir = '';
  let stateFile = '';
  let leased = '';
  const stacks: Started[] = [];
  const knownPids: KnownPid[] = [];
  const start = (pcap: string): Started => {
    const s = lab.startStack(
      ['--bridge', 'br0', '--mac', MAC, '--ipv6', 'auto', '--data', dataDir, '--dhcp-state', path.join(tmp, 'state', 'lease.json'), '--pcap', pcap],
      STACK_LIFETIME_MS,
    );
    stacks.push(s);
    return s;
  };

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('dhcpv6-e2e-');
    tmp = made.tmp;
    dataDir = made.data;
    stateFile = path.join(tmp, 'state', `dhcpv6-lease-${MAC.replaceAll(':', '-')}.json`);
    await lab.up();
  });

  afterAll(async () => {
    for (const s of stacks) await stopTree(s, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  it('solicits, is leased an address from the range, detects it and serves on it; no SLAAC address', { timeout: 60_000 }, async () => {
    const s = start(path.join(tmp, 'first.pcap'));
    const m = await waitForStack(s, BOUND6, 30_000, knownPids);
    leased = need(m[1], 'the leased address');
    await waitForOutput(s, /auth service on TCP port 8088/, 10_000);
    const out = s.output();
    expect(out).toContain('DHCPv6: soliciting (the router asks for addresses by DHCPv6)');
    expect(out).toMatch(new RegExp(`IPv6: ${escapeRegExp(leased)} ready \\(dhcpv6\\)`));
    expect(out).not.toMatch(/\(slaac\)|^SLAAC:/m); // the RA's prefix is on-link, not autonomous
    const log = await eventually(() => lab.dnsmasqLog(), (l) => l.includes('DHCPREPLY'), 5000);
    expect(log).toMatch(new RegExp(`DHCPSOLICIT\\(br0\\) ${escapeRegExp(DUID)}`));
    expect(log).toMatch(new RegExp(`DHCPREQUEST\\(br0\\) ${escapeRegExp(DUID)}`));
    expect(log).toMatch(new RegExp(`DHCPREPLY\\(br0\\) ${escapeRegExp(leased)} ${escapeRegExp(DUID)}`));

    const ping = await lab.inPeer(['ping', '-6', '-c', '3', '-W', '2', leased]);
    expect(ping.stdout, ping.stderr).toMatch(/3 packets transmitted, 3 received/);
    const url = (q: string): string => `http://[${leased}]:8088/?${q}`;
    const ok = await lab.mustInPeer(['curl', '-sS', '-m', '5', '-w', '\n%{http_code}', url('user=john&password=password')]);
    expect(ok).toBe('hello john!\n\n200');
    const bad = await lab.mustInPeer(['curl', '-sS', '-m', '5', '-w', '\n%{http_code}', url('user=john&password=nope')]);
    expect(bad).toBe('Invalid login\n\n401');

    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { mac: string; addresses: { address: string }[] };
    expect(saved.mac).toBe(MAC);
    expect(saved.addresses.map((a) => a.address)).toEqual([leased]);

    // A crash: no RELEASE, the state file keeps the lease.
    const logBefore = lab.dnsmasqLog().length;
    const node = need(findDescendant(need(s.child.pid, 'the stack pid'), /src\/main\.ts/), 'the node process');
    process.kill(node, 'SIGKILL');
    expect(await exitWithin(s, 10_000)).not.toBe('still running');
    expect(existsSync(stateFile)).toBe(true);
    expect(lab.dnsmasqLog().slice(logBefore)).not.toContain('DHCPRELEASE');
  });

  it('after a crash, confirms the saved lease and is bound to the same address without soliciting; SIGTERM releases it', { timeout: 60_000 }, async () => {
    expect(leased).not.toBe('');
    const logBefore = lab.dnsmasqLog().length;
    const pcap = path.join(tmp, 'second.pcap');
    const s = start(pcap);
    const m = await waitForStack(s, BOUND6, 30_000, knownPids);
    expect(m[1]).toBe(leased);
    const out = s.output();
    expect(out).toContain(`DHCPv6: state file ${stateFile}: ${leased}`);
    expect(out).toContain(`DHCPv6: confirming ${leased} from the last run`);
    expect(out).toContain(`DHCPv6: ${leased} confirmed`);
    expect(out).not.toContain('DHCPv6: soliciting');
    const log = await eventually(() => lab.dnsmasqLog().slice(logBefore), (l) => l.includes('DHCPCONFIRM'), 5000);
    expect(log).toMatch(new RegExp(`DHCPCONFIRM\\(br0\\) ${escapeRegExp(DUID)}`));
    expect(log).not.toContain('DHCPSOLICIT');
    await waitForOutput(s, /auth service on TCP port 8088/, 10_000);
    const ok = await lab.mustInPeer(['curl', '-sS', '-m', '5', '-w', '\n%{http_code}', `http://[${leased}]:8088/?user=john&password=password`]);
    expect(ok).toBe('hello john!\n\n200');

    expect(await sigterm(s)).toBe(0);
    expect(s.output()).toContain(`DHCPv6: released ${leased}`);
    const released = await eventually(() => lab.dnsmasqLog().slice(logBefore), (l) => l.includes('DHCPRELEASE'), 5000);
    expect(released).toMatch(new RegExp(`DHCPRELEASE\\(br0\\) ${escapeRegExp(DUID)}`));
    expect(existsSync(stateFile)).toBe(false);

    // tshark: our DHCPv6 messages decode (Confirm, Release among them), from the link-local address, checksums good.
    const frames = await OUR_FRAMES.expectWellFormed(pcap);
    const dhcp = frames.filter((f) => f['dhcpv6.msgtype'].length > 0);
    const types = dhcp.map((f) => Number(f['dhcpv6.msgtype'][0]));
    expect(types).toContain(4); // CONFIRM
    expect(types).toContain(8); // RELEASE
    expect(dhcp.every((f) => (f['ipv6.src'][0] ?? '').startsWith('fe80::'))).toBe(true);
    expect(notAllGood(dhcp, 'udp.checksum.status')).toEqual([]);
  });
});
