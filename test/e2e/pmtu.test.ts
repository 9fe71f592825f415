// Path MTU discovery against a real router, as root: beyond the host-only peer, which forwards (IPv4 and IPv6), a
// link of 1280 bytes leads to a middle router and on to a far host on a 1500-byte link (so its MSS says nothing of
// the path). Our stack (static addresses, the peer as its router) sends full 1500-byte segments with DF set; the
// peer's kernel refuses them with real ICMP "fragmentation needed" and ICMPv6 "packet too big", our TCP lowers the path MTU and resizes, and 10 MB echoed through us from the far side over
// each family comes back byte-exact; `npm run get` downloads 10 MB from a kernel HTTP server there. The counters
// show the ICMP errors believed and the resizing. With the peer's ICMP errors dropped (nft), the same path is a
// black hole, found by the timeouts of full-sized segments (RFC 4821).
// In CI (CI=true) nothing skips: without root, curl or ip the suite fails.

import { rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoReport } from './programs/echo-roundtrip.ts';
import { Lab, lastJsonLine, mustRun, need, nodeProgram, prerequisites, tempWithJohn, waitForStack, type KnownPid } from './lab.ts';
import { runCommand, sha256File, spawnProcess, stopTree, waitForOutput, type Started } from './service-process.ts';

const lab = new Lab('mpmtu');
const MID = lab.extraNamespace('mid');
const FAR = lab.extraNamespace('far');
const MAC = '02:00:5e:00:00:48';
const ADDR = '192.168.77.10';
const ADDR6 = 'fd77::10';
const FAR_ADDR = '10.77.0.2';
const FAR_ADDR6 = 'fd78::2';
const ECHO_PORT = 7;
const SIZE = 10 * 1024 * 1024;
const PREREQUISITES = await prerequisites(['ip', 'curl', 'sysctl', 'nft']);

describe.skipIf(PREREQUISITES.skip)('path MTU discovery through a real router to a 1280-byte link (root, namespaces)', () => {
  let tmp = '';
  let stack: Started | undefined;
  const knownPids: KnownPid[] = [];
  const inFar = (args: string[], timeoutMs = 90_000) => runCommand('ip', ['netns', 'exec', FAR, ...args], timeoutMs);
  const events = async (): Promise<Map<string, number>> => {
    const r = await lab.curlInPeer(['-s', `http://${ADDR}:9100/metrics`]);
    const m = new Map<string, number>();
    for (const [, name, v] of r.stdout.matchAll(/^direct_stack_events_total\{name="([a-z0-9_.]+)"\} (\d+)$/gm)) m.set(name ?? '', Number(v));
    return m;
  };

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('pmtu-e2e-');
    tmp = made.tmp;
    await lab.up(lab.namespaces);
    // Beyond the peer (which routes), a middle router on a 1280-byte link, then the far host on a 1500-byte one: the
    // far host's MSS (1460) is no guide to the path, which only the peer's ICMP errors tell.
    await mustRun('ip', ['netns', 'add', MID]);
    await mustRun('ip', ['netns', 'add', FAR]);
    const ipn = (ns: string, ...args: string[]) => mustRun('ip', ['-n', ns, ...args]);
    await ipn(lab.peer, 'link', 'add', 'vmid', 'mtu', '1280', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', MID, 'mtu', '1280');
    await ipn(MID, 'link', 'add', 'vfar', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', FAR);
    await ipn(lab.peer, 'addr', 'add', '10.78.0.1/24', 'dev', 'vmid');
    await ipn(lab.peer, '-6', 'addr', 'add', 'fd79::1/64', 'dev', 'vmid', 'nodad');
    await ipn(MID, 'addr', 'add', '10.78.0.2/24', 'dev', 'eth0');
    await ipn(MID, '-6', 'addr', 'add', 'fd79::2/64', 'dev', 'eth0', 'nodad');
    await ipn(MID, 'addr', 'add', '10.77.0.1/24', 'dev', 'vfar');
    await ipn(MID, '-6', 'addr', 'add', 'fd78::1/64', 'dev', 'vfar', 'nodad');
    await ipn(FAR, 'addr', 'add', `${FAR_ADDR}/24`, 'dev', 'eth0');
    await ipn(FAR, '-6', 'addr', 'add', `${FAR_ADDR6}/64`, 'dev', 'eth0', 'nodad');
    for (const [ns, dev] of [[lab.peer, 'vmid'], [MID, 'lo'], [MID, 'eth0'], [MID, 'vfar'], [FAR, 'lo'], [FAR, 'eth0']] as const) await ipn(ns, 'link', 'set', dev, 'up');
    await ipn(lab.peer, 'route', 'add', '10.77.0.0/24', 'via', '10.78.0.2');
    await ipn(lab.peer, '-6', 'route', 'add', 'fd78::/64', 'via', 'fd79::2');
    await ipn(MID, 'route', 'add', 'default', 'via', '10.78.0.1');
    await ipn(MID, '-6', 'route', 'add', 'default', 'via', 'fd79::1');
    await ipn(FAR, 'route', 'add', 'default', 'via', '10.77.0.1');
    await ipn(FAR, '-6', 'route', 'add', 'default', 'via', 'fd78::1');
    for (const ns of [lab.peer, MID]) await mustRun('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    stack = lab.startStack(
      ['--bridge', 'br0', '--mac', MAC, '--ipv4', `${ADDR}/24`, '--gateway', '192.168.77.1', '--ipv6', `${ADDR6}/64`, '--gateway6', 'fd77::1',
        '--ipv6-iid', 'eui64', '--data', made.data, '--echo-port', String(ECHO_PORT), '--metrics-port', '9100'],
      150_000,
    );
    await waitForStack(stack, new RegExp(`IPv6: ${ADDR6} ready \\(static\\)`), 20_000, knownPids);
    await waitForOutput(stack, /echo service on TCP port 7/, 10_000);
  }, 90_000);

  afterAll(async () => {
    if (stack !== undefined) await stopTree(stack, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  }, 90_000);

  it('the router refuses a full-sized packet with DF (so the path really is 1280 bytes)', async () => {
    const r = await inFar(['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', '1400', '192.168.77.1'], 10_000);
    expect(r.stdout + r.stderr).toMatch(/mtu = 1280|Message too long|frag needed/i);
    await lab.mustInPeer(['ping', '-c', '1', '-W', '2', FAR_ADDR]);
    expect((await inFar(['ping', '-c', '1', '-W', '2', ADDR], 10_000)).stdout).toMatch(/1 received/);
  });

  it('with the router told to drop its ICMP errors (a black hole): found after two timeouts, segments stepped down (RFC 4821), 10 MB echoed byte-exact', { timeout: 120_000 }, async () => {
    // The peer's own ICMP errors go through its output hook: dropped there, as a filtering firewall would.
    await lab.mustInPeer(['nft', 'add table inet blackhole']);
    await lab.mustInPeer(['nft', 'add chain inet blackhole out { type filter hook output priority 0 ; }']);
    await lab.mustInPeer(['nft', 'add rule inet blackhole out icmp type destination-unreachable drop']);
    try {
      const before = await events();
      const r = await inFar(nodeProgram('echo-roundtrip.ts', [ADDR, String(ECHO_PORT), String(SIZE), '90000']), 100_000);
      const report = lastJsonLine<EchoReport>(r, 'echo-roundtrip');
      expect(report.how, r.stderr).toBe('end');
      expect(report.receivedSha).toBe(report.sentSha);
      const after = await events();
      const grew = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      expect(grew('tcp.blackhole_mss')).toBe(1);
      expect(grew('tcp.rx_icmp_too_big')).toBe(0);
      console.log(`black hole: 10 MB echoed in ${report.ms} ms, ${grew('tcp.rto')} RTOs`);
    } finally {
      await lab.mustInPeer(['nft', 'delete table inet blackhole']);
      // The far host learned the path's MTU meanwhile (the middle router told it) and would announce a smaller
      // MSS to the next connection: forget it, so that the tests below meet full-sized segments again.
      await mustRun('ip', ['-n', FAR, 'route', 'flush', 'cache']);
    }
  });

  for (const [family, to] of [['IPv4', ADDR], ['IPv6', ADDR6]] as const) {
    it(`${family}: 10 MB echoed through us from the far side come back byte-exact; the ICMP error was believed and the segments resized`, { timeout: 120_000 }, async () => {
      const before = await events();
      const r = await inFar(nodeProgram('echo-roundtrip.ts', [to, String(ECHO_PORT), String(SIZE), '90000']), 100_000);
      const report = lastJsonLine<EchoReport>(r, 'echo-roundtrip');
      expect(report.how, r.stderr).toBe('end');
      expect(report.received).toBe(SIZE);
      expect(report.receivedSha).toBe(report.sentSha);
      const after = await events();
      const grew = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      expect(grew('tcp.rx_icmp_too_big')).toBeGreaterThanOrEqual(1);
      expect(grew('tcp.pmtu_lowered')).toBeGreaterThanOrEqual(1);
      expect(grew('tcp.rx_icmp_out_of_window')).toBe(0);
      expect(grew(family === 'IPv4' ? 'icmp.rx_error' : 'icmp6.rx_error')).toBeGreaterThanOrEqual(1);
    });
  }

  it('npm run get downloads 10 MB from a kernel HTTP server on the far side, byte-exact', { timeout: 120_000 }, async () => {
    const file = path.join(tmp, 'file.bin');
    writeFileSync(file, randomBytes(SIZE));
    const srv = spawnProcess('ip', ['netns', 'exec', FAR, ...nodeProgram('http-file-server.ts', [file, FAR_ADDR, '90000'])], 95_000);
    try {
      const port = need((await waitForOutput(srv, /listening on (\d+)/, 15_000))[1], 'the port');
      const out = path.join(tmp, 'got.bin');
      const g = lab.spawnInLab(
        ['npm', 'run', 'get', '--', `http://${FAR_ADDR}:${port}/file`, '-o', out, '--timeout', '60', '--mac', '02:00:5e:00:00:49', '--ipv4', '192.168.77.11/24', '--gateway', '192.168.77.1', '--ipv6', 'off'],
        80_000, 'SIGKILL',
      );
      expect(await g.exited, g.output()).toBe(0);
      expect(await sha256File(out)).toBe(await sha256File(file));
    } finally {
      await stopTree(srv, 2000);
    }
  });
});
