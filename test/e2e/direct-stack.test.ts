// The direct stack for real, as root: `npm start` in a lab made by scripts/setup-bridge.sh inside namespaces of
// this test's own (br0 + dnsmasq in NAME, a host-only peer 192.168.77.1 in NAME-peer). The stack takes a lease
// from dnsmasq, answers ping (also large and fragmented), arping and UDP to a closed port from the peer, gives the
// lease back on SIGTERM and removes its TAP; its pcap is checked frame by frame with tshark. Then a static run and
// the start-up errors. The host's own interfaces are never touched.
// In CI (CI=true) nothing skips: without root, tshark, dnsmasq, ping or arping the suite fails.

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksumChecks, escapeRegExp, eventually, exitWithin, Lab, need, notAllGood, OurFrames, prerequisites, sigterm, tsharkTrue, waitForStack,
  type KnownPid, type OurFrame, tempWithJohn } from './lab.ts';
import { stopTree, waitForOutput, type CommandResult, type Started } from './service-process.ts';

const lab = new Lab('mdirect');
const MAC = '02:00:5e:00:00:42';
const STATIC_ADDR = '192.168.77.10';
/** A UDP port the stack does not serve (discard). */
const CLOSED_UDP_PORT = 9;
/** A hard limit on each stack process, whatever happens to the test that started it. */
const STACK_LIFETIME_MS = 150_000;

const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'tshark', 'ping', 'arping']);

/** Thomas Habets' arping takes `-i IFACE` and prints "N bytes from MAC (IP)"; iputils' takes `-I IFACE`. */
function arpingFlavour(): 'habets' | 'iputils' {
  const r = spawnSync('arping', ['--help'], { encoding: 'utf8', timeout: 5000 });
  return /Habets/i.test(`${r.stdout}${r.stderr}`) ? 'habets' : 'iputils';
}

// --- the pcap, through tshark ----------------------------------------------------------------------------------

/** The fields read per frame (after the judged ones); all exist in tshark 4.0 (`tshark -G fields`), checked before use. */
const FIELDS = [
  'ip.checksum.status',
  'udp.checksum.status',
  'icmp.checksum.status',
  'dhcp.option.dhcp',
  'arp.opcode',
  'arp.isannouncement',
  'icmp.type',
  'icmp.code',
  'udp.port',
  'ip.flags.mf',
  'ip.frag_offset',
] as const;
type Frame = OurFrame<(typeof FIELDS)[number]>;

/** Our frames (eth.src == MAC) as tshark dissects them, checksums verified. */
const OUR_FRAMES = new OurFrames({
  mac: MAC,
  fields: FIELDS,
  checksums: ['ip.checksum.status', 'udp.checksum.status', 'icmp.checksum.status'],
  options: checksumChecks(['ip', 'udp']),
  timeoutMs: 30_000,
});

const isDhcp = (type: number) => (f: Frame): boolean => f['dhcp.option.dhcp'].includes(String(type));

// -----------------------------------------------------------------------------------------------------------------

describe.skipIf(PREREQUISITES.skip)('the direct stack in a lab (root, real namespaces, dnsmasq, tshark)', () => {
  let tmp = '';
  let data = '';
  const started: Started[] = [];
  const knownPids: KnownPid[] = [];

  let dhcpRun: Started | undefined;
  let dhcpPcap = '';
  let addr: string | undefined;
  let stopped = false;

  beforeAll(async () => {
    PREREQUISITES.demand();
    ({ tmp, data } = tempWithJohn('direct-e2e-'));
    dhcpPcap = path.join(tmp, 'dhcp.pcap');
    await lab.up();
  });

  afterAll(async () => {
    // Our stack processes first (by pid, with whatever they started), then the lab, then check nothing is left.
    for (const s of started) await stopTree(s, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  describe('DHCP mode', () => {
    it('takes a lease from dnsmasq within 15 s: DISCOVER, OFFER, REQUEST, ACK for our MAC', { timeout: 45_000 }, async () => {
      const s = lab.startStack(['--bridge', 'br0', '--mac', MAC, '--data', data, '--pcap', dhcpPcap], STACK_LIFETIME_MS);
      started.push(s);
      dhcpRun = s;
      const bound = /DHCP offer received and bound to (192\.168\.77\.(\d+)) nm 255\.255\.255\.0 gw \[192\.168\.77\.2\]/;
      const m = await waitForStack(s, bound, 15_000, knownPids);
      const last = Number(m[2]);
      expect(last).toBeGreaterThanOrEqual(3);
      expect(last).toBeLessThanOrEqual(200);
      const a = need(m[1], 'the address');
      addr = a;

      await waitForOutput(s, new RegExp(`IPv4: ready on ${escapeRegExp(a)} nm 255\\.255\\.255\\.0 gw \\[192\\.168\\.77\\.2\\]`), 5000);
      await waitForOutput(s, new RegExp(`ARP: sending gratuitous from ${escapeRegExp(a)}\\b`), 5000);
      const out = s.output();
      expect(out).toMatch(new RegExp(`Netif: plugging tap\\d+ into br0 with mac ${MAC} \\(mtu 1500\\)`));
      expect(out).toMatch(/^DHCP: start discovery$/m);
      expect(out).toContain(`DHCP: offer received: ${a}\n`);
      expect(out).not.toMatch(/^error/m);
      expect(await lab.taps()).toMatch(/master br0 /);

      const exchange = [
        new RegExp(`DHCPDISCOVER\\(br0\\) ${MAC}`),
        new RegExp(`DHCPOFFER\\(br0\\) ${escapeRegExp(a)} ${MAC}`),
        new RegExp(`DHCPREQUEST\\(br0\\) ${escapeRegExp(a)} ${MAC}`),
        new RegExp(`DHCPACK\\(br0\\) ${escapeRegExp(a)} ${MAC}`),
      ];
      const log = await eventually(() => lab.dnsmasqLog(), (l) => exchange.every((re) => re.test(l)), 5000);
      for (const re of exchange) expect(log).toMatch(re);
    });
  });

  describe('reached from the peer namespace', () => {
    it('answers ping', async () => {
      const a = need(addr, 'the DHCP address');
      const r = await lab.inPeer(['ping', '-c', '3', '-W', '2', a]);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers a ping that just fits the MTU (1472 bytes of data, 1500-byte packets)', async () => {
      const a = need(addr, 'the DHCP address');
      const r = await lab.inPeer(['ping', '-c', '2', '-W', '2', '-s', '1472', a]);
      expect(r.stdout).toMatch(new RegExp(`1480 bytes from ${escapeRegExp(a)}: icmp_seq=1 `));
      expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers a ping of 4000 bytes: fragmented both ways, reassembled both ways', async () => {
      const a = need(addr, 'the DHCP address');
      const r = await lab.inPeer(['ping', '-c', '2', '-W', '2', '-s', '4000', a]);
      expect(r.stdout).toMatch(new RegExp(`4008 bytes from ${escapeRegExp(a)}: icmp_seq=\\d+ `));
      expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers arping with our MAC', async () => {
      const a = need(addr, 'the DHCP address');
      const flavour = arpingFlavour();
      const r = await lab.inPeer(['arping', '-c', '2', '-w', '5', flavour === 'habets' ? '-i' : '-I', 'veth0', a]);
      const replies =
        flavour === 'habets'
          ? new RegExp(`bytes from ${MAC} \\(${escapeRegExp(a)}\\)`, 'gi')
          : new RegExp(`reply from ${escapeRegExp(a)} \\[${MAC}\\]`, 'gi');
      expect(r.stdout.match(replies)?.length ?? 0, r.stdout + r.stderr).toBeGreaterThanOrEqual(1);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers UDP to a closed port with ICMP port unreachable (ECONNREFUSED on a connected socket)', async () => {
      const a = need(addr, 'the DHCP address');
      const r = await lab.programInPeer('udp-closed-port.ts', [a, String(CLOSED_UDP_PORT)], 15_000);
      expect(r.stdout.trim(), r.stderr).toBe('ECONNREFUSED');
      expect(r.code).toBe(0);
    });
  });

  describe('SIGTERM', () => {
    it('exits 0, gives the lease back (DHCPRELEASE) and leaves no TAP behind', { timeout: 45_000 }, async () => {
      const a = need(addr, 'the DHCP address');
      const s = need(dhcpRun, 'the DHCP run');
      const code = await sigterm(s);
      stopped = true;
      expect(code, s.output()).toBe(0);
      expect(s.output()).toMatch(/^SIGTERM: shutting down$/m);
      expect(s.output()).toContain(`DHCP: released ${a}\n`);
      expect(await eventually(() => lab.taps(), (t) => t === '', 5000)).toBe('');

      const release = new RegExp(`DHCPRELEASE\\(br0\\) ${escapeRegExp(a)} ${MAC}`);
      const log = await eventually(() => lab.dnsmasqLog(), (l) => release.test(l), 5000);
      expect(log.split('\n').filter((l) => /DHCPRELEASE/.test(l)), 'dnsmasq never saw a DHCPRELEASE').toEqual([expect.stringMatching(release)]);
    });
  });

  describe('the pcap it wrote', () => {
    it('has only well-formed frames from us, with good IP/UDP/ICMP checksums, and the whole conversation', async () => {
      if (!stopped) throw new Error('the DHCP run was not stopped: an earlier test failed');
      const frames = await OUR_FRAMES.expectWellFormed(dhcpPcap);

      // Every IP frame of ours had its checksums verified (and found good) by tshark.
      const checked = frames.filter((f) => f['ip.checksum.status'].length > 0);
      expect(checked.length).toBeGreaterThan(0);
      expect(notAllGood(checked, 'ip.checksum.status')).toEqual([]);

      const counts = {
        'DHCP DISCOVER': frames.filter(isDhcp(1)).length,
        'DHCP REQUEST': frames.filter(isDhcp(3)).length,
        'DHCP RELEASE': frames.filter(isDhcp(7)).length,
        'ARP announcement': frames.filter((f) => f['arp.opcode'].includes('1') && tsharkTrue(f['arp.isannouncement'])).length,
        'ARP reply': frames.filter((f) => f['arp.opcode'].includes('2')).length,
        'ICMP echo reply': frames.filter((f) => f['icmp.type'][0] === '0').length,
        'ICMP port unreachable': frames.filter((f) => f['icmp.type'][0] === '3' && f['icmp.code'][0] === '3').length,
        // The replies to the 4000-byte pings leave in fragments.
        'IP fragment': frames.filter((f) => tsharkTrue(f['ip.flags.mf'].slice(0, 1)) || Number(f['ip.frag_offset'][0] ?? 0) > 0).length,
      };
      const absent = Object.entries(counts)
        .filter(([, n]) => n === 0)
        .map(([k]) => k);
      expect(absent, JSON.stringify(counts)).toEqual([]);
    });
  });

  describe('static mode', () => {
    it('--ipv4/--gateway: no DHCP at all, answers ping, exits 0 on SIGTERM', { timeout: 60_000 }, async () => {
      const pcap = path.join(tmp, 'static.pcap');
      const logBefore = lab.dnsmasqLog().length;
      const s = lab.startStack(['--bridge', 'br0', '--mac', MAC, '--data', data, '--ipv4', `${STATIC_ADDR}/24`, '--gateway', '192.168.77.2', '--pcap', pcap], STACK_LIFETIME_MS);
      started.push(s);
      await waitForStack(s, new RegExp(`IPv4: ready on ${escapeRegExp(STATIC_ADDR)} nm 255\\.255\\.255\\.0 gw \\[192\\.168\\.77\\.2\\]`), 15_000, knownPids);
      expect(s.output()).toMatch(new RegExp(`^IPv4: static ${escapeRegExp(STATIC_ADDR)}/24 gw 192\\.168\\.77\\.2$`, 'm'));

      const r = await lab.inPeer(['ping', '-c', '3', '-W', '2', STATIC_ADDR]);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);

      const code = await sigterm(s);
      expect(code, s.output()).toBe(0);
      expect(s.output()).not.toMatch(/^DHCP[: ]/m); // DHCPv4 (DHCPv6 runs only if routers ask for it)
      // No DHCP message from us (our IPv6 router solicitation, RTR-SOLICIT, is logged by dnsmasq too, and is fine).
      expect(lab.dnsmasqLog().slice(logBefore).split('\n').filter((l) => l.includes(MAC) && /DHCP[A-Z]+\(/.test(l))).toEqual([]);
      expect(await eventually(() => lab.taps(), (t) => t === '', 5000)).toBe('');

      const frames = await OUR_FRAMES.read(pcap);
      expect(frames.map(OUR_FRAMES.problem).filter((p) => p !== undefined)).toEqual([]);
      expect(frames.filter((f) => f['udp.port'].some((p) => p === '67' || p === '68'))).toEqual([]);
      expect(frames.filter((f) => f['icmp.type'][0] === '0').length).toBeGreaterThanOrEqual(3);
    });
  });

  describe('losing the TAP', () => {
    it('a TAP deleted from outside is fatal: logged, the stack stopped, exit status 3 (not 0), no TAP left', { timeout: 60_000 }, async () => {
      const s = lab.startStack(['--bridge', 'br0', '--mac', MAC, '--data', data, '--ipv4', `${STATIC_ADDR}/24`, '--gateway', '192.168.77.2', '--ipv6', 'off'], STACK_LIFETIME_MS);
      started.push(s);
      const m = await waitForStack(s, /^Netif: plugging (\S+) into br0/m, 15_000, knownPids);
      await waitForStack(s, /IPv4: ready on /, 15_000, knownPids);
      const r = await lab.inPeer(['ping', '-c', '1', '-W', '2', STATIC_ADDR]);
      expect(r.stdout).toMatch(/1 received/);
      const tap = need(m[1], 'the TAP name');
      await lab.inLab(['ip', 'link', 'del', tap]);
      const code = await exitWithin(s, 15_000);
      expect(code, s.output()).toBe(3);
      expect(s.output()).toMatch(/TAP gone \([^)]+\); the stack has no network: shutting down, exit status 3/);
      expect(await lab.taps()).toBe('');
    });
  });

  describe('start-up errors', () => {
    const errorLines = (r: CommandResult): string[] => `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^error:/.test(l));

    it('a missing bridge: exit 2, one error line pointing at setup-bridge.sh', async () => {
      const r = await lab.inLab(['npm', 'start', '--', '--bridge', 'br9', '--mac', MAC], 30_000);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      const errors = errorLines(r);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/br9/);
      expect(errors[0]).toMatch(/setup-bridge\.sh/);
      expect(await lab.taps()).toBe('');
    });

    it('a bad --mac: exit 2, one error line', async () => {
      for (const [mac, why] of [
        ['02:00:5e:00:00', /--mac must look like/],
        ['01:00:5e:00:00:42', /multicast/],
      ] as const) {
        const r = await lab.inLab(['npm', 'start', '--', '--bridge', 'br0', '--mac', mac], 30_000);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        const errors = errorLines(r);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(why);
      }
      expect(await lab.taps()).toBe('');
    });
  });
});
