// IPv6 for real, as root: the stack with `--ipv6 auto` in a lab made by scripts/setup-bridge.sh inside namespaces
// of this test's own, where dnsmasq sends router advertisements for fd77::/64. The stack detects its link-local
// address, solicits a router, forms its SLAAC address from dnsmasq's prefix, and then the peer's Linux kernel
// pings it (also with fragments), resolves it by neighbour discovery, curl asks it for the seed's 200 and 401
// over IPv6 (also two on one kept-alive connection), the kernel's TCP echoes 2 MB through it, and `npm run get`
// fetches a file from the peer's kernel HTTP server over IPv6. Its pcap is read by tshark: no malformed frame,
// every ICMPv6 and TCP checksum good.
// In CI (CI=true) nothing skips: without root, tshark, dnsmasq, curl or ping the suite fails.

import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eui64, ipv6ToString, parseIpv6, parseMac, withInterfaceId } from '../../src/net/addr.ts';
import type { EchoReport } from './programs/echo-roundtrip.ts';
import { checksumChecks, Lab, lastJsonLine, need, nodeProgram, notAllGood, OurFrames, prerequisites, sigterm, tempWithJohn, waitForStack, type KnownPid } from './lab.ts';
import { sha256File, stopTree, waitForOutput, type Started } from './service-process.ts';

const lab = new Lab('mipv6');
const MAC = '02:00:5e:00:00:42';
/** With `--ipv6-iid eui64` the SLAAC address is known beforehand: fd77:: and our EUI-64 identifier. */
const SLAAC = ipv6ToString(withInterfaceId(parseIpv6('fd77::') ?? 0n, eui64(parseMac(MAC) ?? 0)));
const LINK_LOCAL = ipv6ToString(withInterfaceId(parseIpv6('fe80::') ?? 0n, eui64(parseMac(MAC) ?? 0)));
const STACK_LIFETIME_MS = 120_000;
const ECHO_PORT = 7;
const ECHO_SIZE = 2 * 1024 * 1024;
const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'tshark', 'ping', 'curl']);

const FIELDS = ['icmpv6.checksum.status', 'tcp.checksum.status', 'icmpv6.type', 'ipv6.hlim'] as const;
const OUR_FRAMES = new OurFrames({
  mac: MAC,
  fields: FIELDS,
  checksums: ['icmpv6.checksum.status', 'tcp.checksum.status'],
  options: checksumChecks(['tcp']),
  timeoutMs: 30_000,
});

describe.skipIf(PREREQUISITES.skip)('IPv6 in a lab (root, real namespaces, dnsmasq router advertisements, tshark)', () => {
  let tmp = '';
  let pcap = '';
  let dataDir = '';
  let stack: Started | undefined;
  const knownPids: KnownPid[] = [];

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('ipv6-e2e-');
    tmp = made.tmp;
    dataDir = made.data;
    pcap = path.join(tmp, 'ipv6.pcap');
    await lab.up();
    stack = lab.startStack(
      ['--bridge', 'br0', '--mac', MAC, '--ipv6', 'auto', '--ipv6-iid', 'eui64', '--data', made.data, '--echo-port', String(ECHO_PORT), '--dhcp-state', path.join(tmp, 'lease.json'), '--pcap', pcap],
      STACK_LIFETIME_MS,
    );
  });

  afterAll(async () => {
    if (stack !== undefined) await stopTree(stack, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  it('detects its link-local address, then forms its SLAAC address from dnsmasq’s advertisement', { timeout: 30_000 }, async () => {
    const s = need(stack, 'the stack');
    await waitForStack(s, new RegExp(`IPv6: ${LINK_LOCAL} ready \\(link-local\\)`), 15_000, knownPids);
    await waitForOutput(s, new RegExp(`IPv6: ${SLAAC} ready \\(slaac\\)`), 15_000);
    await waitForOutput(s, new RegExp(`^SLAAC: ${SLAAC}/64 from prefix fd77::/64$`, 'm'), 1000); // the boot log, as the issue has it
    await waitForOutput(s, /auth service on TCP port 8088/, 10_000);
    const log = await lab.mustInLab(['cat', `/run/mirage-lab/${lab.name}/dnsmasq.log`]);
    expect(log).toMatch(new RegExp(`RTR-SOLICIT\\(br0\\) ${MAC}`)); // our router solicitation reached dnsmasq
    // ra-stateless sets O: other configuration by DHCPv6 Information-request (RFC 8415 §18.2.6), DNS from dnsmasq.
    await waitForOutput(s, /^DHCPv6: information received: DNS fd77::2, refreshed in \d+ s$/m, 10_000);
    expect(await lab.mustInLab(['cat', `/run/mirage-lab/${lab.name}/dnsmasq.log`])).toMatch(/DHCPINFORMATION-REQUEST\(br0\) 00:03:00:01:02:00:5e:00:00:42/);
  });

  it('answers ping -6, also one that is fragmented both ways', async () => {
    const r = await lab.inPeer(['ping', '-6', '-c', '3', '-W', '2', SLAAC]);
    expect(r.stdout, r.stderr).toMatch(/3 packets transmitted, 3 received/);
    const big = await lab.inPeer(['ping', '-6', '-c', '2', '-W', '2', '-s', '3000', SLAAC]);
    expect(big.stdout, big.stderr).toMatch(new RegExp(`3008 bytes from ${SLAAC}: icmp_seq=\\d+ `));
    expect(big.stdout).toMatch(/2 packets transmitted, 2 received/);
  });

  it('is in the peer kernel’s neighbour cache with our MAC', async () => {
    const neigh = await lab.mustInPeer(['ip', '-6', 'neigh', 'show', 'dev', 'veth0']);
    expect(neigh).toMatch(new RegExp(`${SLAAC} lladdr ${MAC} (REACHABLE|STALE|DELAY|PROBE)`));
  });

  it('serves the seed’s two answers over IPv6', async () => {
    const ok = await lab.curlInPeer(['-s', '-g', '-w', '\n%{http_code}', `http://[${SLAAC}]:8088/?user=john&password=password`]);
    expect(ok.stdout).toBe('hello john!\n\n200');
    const bad = await lab.curlInPeer(['-s', '-g', '-w', '\n%{http_code}', `http://[${SLAAC}]:8088/?user=john&password=wrong`]);
    expect(bad.stdout).toBe('Invalid login\n\n401');
  });

  it('keeps one connection alive for two requests over IPv6', async () => {
    const base = `http://[${SLAAC}]:8088`;
    const r = await lab.curlInPeer(['-s', '-v', '-g', '-w', ' %{http_code} %{num_connects}\n', `${base}/?user=john&password=password`, `${base}/?user=john&password=wrong`]);
    expect(r.stdout).toBe('hello john!\n 200 1\nInvalid login\n 401 0\n'); // the second request made no new connection
    expect(r.stderr).toMatch(/Re-using existing connection/i);
  });

  it(`echoes ${ECHO_SIZE / 1024 / 1024} MB over IPv6 to the peer kernel's TCP, byte for byte`, { timeout: 60_000 }, async () => {
    const r = await lab.programInPeer('echo-roundtrip.ts', [SLAAC, String(ECHO_PORT), String(ECHO_SIZE), '30000'], 45_000);
    const res = lastJsonLine<EchoReport>(r);
    const report = JSON.stringify({ ...res, sentSha: undefined, receivedSha: undefined });
    expect(res.error, report).toBeNull();
    expect(res.how, report).toBe('end');
    expect(res.received, report).toBe(ECHO_SIZE);
    expect(res.receivedSha, report).toBe(res.sentSha);
  });

  it('npm run get, as a client over IPv6, fetches a file from the peer kernel’s HTTP server on [fd77::1]', { timeout: 60_000 }, async () => {
    const size = 300_000;
    const content = randomBytes(size);
    const file = path.join(tmp, 'file');
    writeFileSync(file, content);
    const srv = lab.spawnInPeer(nodeProgram('http-file-server.ts', [file, 'fd77::1', '45000']), 50_000);
    const out = path.join(tmp, 'got');
    try {
      const port = Number((await waitForOutput(srv, /listening on (\d+)/, 15_000))[1]);
      const args = [`http://[fd77::1]:${port}/file`, '-o', out, '--bridge', 'br0', '--mac', '02:00:5e:00:00:43', '--dhcp-state', path.join(tmp, 'get-lease.json'), '--timeout', '30'];
      const g = lab.spawnInLab(['npm', 'run', 'get', '--', ...args], 40_000, 'SIGKILL');
      const code = await g.exited;
      const report = `npm run get -- ${args.join(' ')}\n${g.output().slice(-3000)}`;
      expect(code, report).toBe(0);
      expect(g.output(), report).toMatch(new RegExp(`^get: 200 .*, ${size} bytes in `, 'm'));
      expect(await sha256File(out)).toBe(createHash('sha256').update(content).digest('hex'));
    } finally {
      await stopTree(srv, 2000);
    }
  });

  it('runs IPv6 only with --ipv4 off: SLAAC, curl and a 2 MB echo with offloads (TSO6), and no DHCP asked of dnsmasq', { timeout: 60_000 }, async () => {
    const mac = '02:00:5e:00:00:44';
    const slaac = ipv6ToString(withInterfaceId(parseIpv6('fd77::') ?? 0n, eui64(parseMac(mac) ?? 0)));
    // No --pcap: the TAP's offloads are on, so the echo below goes out as TCP super-segments over IPv6 (TSO6).
    const only6 = lab.startStack(['--bridge', 'br0', '--mac', mac, '--ipv4', 'off', '--ipv6-iid', 'eui64', '--data', dataDir, '--echo-port', String(ECHO_PORT), '--metrics-port', '9100'], 50_000);
    const known: KnownPid[] = [];
    try {
      await waitForStack(only6, /IPv4: off/, 15_000, known);
      await waitForOutput(only6, new RegExp(`IPv6: ${slaac} ready \\(slaac\\)`), 15_000);
      await waitForOutput(only6, /auth service on TCP port 8088/, 10_000);
      const ok = await lab.curlInPeer(['-s', '-g', '-w', '\n%{http_code}', `http://[${slaac}]:8088/?user=john&password=password`]);
      expect(ok.stdout).toBe('hello john!\n\n200');
      const r = await lab.programInPeer('echo-roundtrip.ts', [slaac, String(ECHO_PORT), String(ECHO_SIZE), '30000'], 45_000);
      const res = lastJsonLine<EchoReport>(r);
      const report = JSON.stringify({ ...res, sentSha: undefined, receivedSha: undefined });
      expect(res.how, report).toBe('end');
      expect(res.receivedSha, report).toBe(res.sentSha);
      const metrics = await lab.curlInPeer(['-s', '-g', `http://[${slaac}]:9100/metrics`]);
      const tso = Number(/^direct_stack_events_total\{name="tcp\.tx_tso"\} (\d+)$/m.exec(metrics.stdout)?.[1] ?? 0);
      expect(tso, 'super-segments sent').toBeGreaterThan(0);
      expect(await sigterm(only6)).toBe(0);
      expect(only6.output()).not.toMatch(/DHCP(: | \w+:)|IPv4: ready/); // no DHCPv4 client line, no IPv4 address
      expect(lab.dnsmasqLog()).not.toMatch(new RegExp(`DHCP\\w+\\(br0\\)[^\\n]* ${mac}`));
    } finally {
      await stopTree(only6, 2000, known);
    }
  });

  it('stops on SIGTERM; tshark finds every frame we sent well formed, ICMPv6 and TCP checksums good', { timeout: 60_000 }, async () => {
    expect(await sigterm(need(stack, 'the stack'))).toBe(0);
    const frames = await OUR_FRAMES.expectWellFormed(pcap);
    const icmp6 = frames.filter((f) => f['icmpv6.type'].length > 0);
    expect(icmp6.length).toBeGreaterThan(5);
    expect(notAllGood(icmp6, 'icmpv6.checksum.status')).toEqual([]);
    const tcp = frames.filter((f) => f['tcp.checksum.status'].length > 0);
    expect(tcp.length).toBeGreaterThan(2);
    expect(notAllGood(tcp, 'tcp.checksum.status')).toEqual([]);
    // Neighbour discovery is sent with hop limit 255 (RFC 4861 §6.1, §7.1), MLD reports with 1 (RFC 3810 §5).
    const nd = icmp6.filter((f) => ['133', '135', '136'].some((t) => f['icmpv6.type'].includes(t)));
    expect(nd.length).toBeGreaterThan(2);
    expect(nd.every((f) => f['ipv6.hlim'].includes('255'))).toBe(true);
    const mld = icmp6.filter((f) => f['icmpv6.type'].includes('143'));
    expect(mld.length).toBeGreaterThan(0);
    expect(mld.every((f) => f['ipv6.hlim'].includes('1'))).toBe(true);
  });
});
