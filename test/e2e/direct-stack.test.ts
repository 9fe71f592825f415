// The direct stack for real, as root: `npm start` in a lab made by scripts/setup-bridge.sh inside namespaces of
// this test's own (br0 + dnsmasq in NAME, a host-only peer 192.168.77.1 in NAME-peer). The stack takes a lease
// from dnsmasq, answers ping (also large and fragmented), arping and UDP to a closed port from the peer, gives the
// lease back on SIGTERM and removes its TAP; its pcap is checked frame by frame with tshark. Then a static run and
// the start-up errors. The host's own interfaces are never touched.
// In CI (CI=true) nothing skips: without root, tshark, dnsmasq, ping or arping the suite fails.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPcap } from '../../src/net/pcap.ts';
import {
  descendantPids, repoRoot, runCommand, spawnProcess, stopTree, waitForOutput, type CommandResult, type Started,
} from './service-process.ts';

const IS_ROOT = process.getuid?.() === 0;
const IN_CI = process.env.CI === 'true';

const NAME = `mdirect-${randomBytes(3).toString('hex')}`;
const PEER = `${NAME}-peer`;
const MAC = '02:00:5e:00:00:42';
const STATIC_ADDR = '192.168.77.10';
const DNSMASQ_LOG = `/run/mirage-lab/${NAME}/dnsmasq.log`;
const SCRIPT = path.join(repoRoot, 'scripts/setup-bridge.sh');
/** A hard limit on each stack process, whatever happens to the test that started it. */
const STACK_LIFETIME_MS = 150_000;

function have(tool: string): boolean {
  const r = spawnSync('bash', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool} || test -x /sbin/${tool}`], { timeout: 5000 });
  return r.status === 0;
}

const MISSING = [...(IS_ROOT ? [] : ['root']), ...['ip', 'dnsmasq', 'tshark', 'ping', 'arping'].filter((t) => !have(t))];

/** Thomas Habets' arping takes `-i IFACE` and prints "N bytes from MAC (IP)"; iputils' takes `-I IFACE`. */
function arpingFlavour(): 'habets' | 'iputils' {
  const r = spawnSync('arping', ['--help'], { encoding: 'utf8', timeout: 5000 });
  return /Habets/i.test(`${r.stdout}${r.stderr}`) ? 'habets' : 'iputils';
}

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

function inPeer(args: string[], timeoutMs = 20_000): Promise<CommandResult> {
  return runCommand('ip', ['netns', 'exec', PEER, ...args], timeoutMs);
}

async function netnsList(): Promise<string[]> {
  return (await ok('ip', ['netns', 'list'], 10_000))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** The TAP devices in the lab namespace, one `ip -o link` line each. */
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

/** Polls `get` until `pred` holds or `ms` pass; returns the last value either way. */
async function eventually<T>(get: () => T | Promise<T>, pred: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (pred(v) || Date.now() >= end) return v;
    await sleep(100);
  }
}

/** `ip netns exec NAME npm start -- ARGS`: the stack next to br0. */
function startStack(args: string[]): Started {
  return spawnProcess('ip', ['netns', 'exec', NAME, 'npm', 'start', '--', ...args], STACK_LIFETIME_MS, 'SIGTERM');
}

async function sigterm(s: Started, ms = 15_000): Promise<number | null | 'still running'> {
  const pid = need(s.child.pid, 'the stack pid');
  process.kill(pid, 'SIGTERM');
  return Promise.race([s.exited, sleep(ms).then(() => 'still running' as const)]);
}

// --- the pcap, through tshark ----------------------------------------------------------------------------------

/** The fields read per frame; all exist in tshark 4.0 (`tshark -G fields`), checked before use. */
const FIELDS = [
  'frame.number',
  '_ws.malformed',
  '_ws.expert.message',
  '_ws.expert.severity',
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
type Field = (typeof FIELDS)[number];
type Frame = Record<Field, string[]>;

/** Wireshark's PI_ERROR: expert infos at this severity or above mean a broken frame. */
const EXPERT_ERROR = 0x00800000;
/** proto_checksum_enum_e: 0 is "Bad" (1 good, 2 unverified, 3 not present). */
const CHECKSUM_BAD = '0';

/** Our frames (eth.src == MAC) as tshark dissects them, checksums verified. */
async function ourFrames(file: string): Promise<Frame[]> {
  const args = ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-Y', `eth.src == ${MAC}`];
  args.push('-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,');
  for (const f of FIELDS) args.push('-e', f);
  const out = await ok('tshark', args, 30_000);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const cols = line.split('\t');
      const frame = {} as Frame;
      FIELDS.forEach((f, i) => {
        const v = cols[i] ?? '';
        frame[f] = v === '' ? [] : v.split(',');
      });
      return frame;
    });
}

/** Why a frame is broken, or undefined when it is not. */
function problem(f: Frame): string | undefined {
  const why: string[] = [];
  if (f['_ws.malformed'].length > 0) why.push('malformed');
  for (const k of ['ip.checksum.status', 'udp.checksum.status', 'icmp.checksum.status'] as const) {
    if (f[k].includes(CHECKSUM_BAD)) why.push(`bad ${k.split('.')[0]} checksum`);
  }
  if (f['_ws.expert.severity'].some((s) => Number(s) >= EXPERT_ERROR)) why.push('expert error');
  return why.length === 0 ? undefined : `frame ${f['frame.number'].join('')}: ${why.join(', ')} [${f['_ws.expert.message'].join(' | ')}]`;
}

const isDhcp = (type: number) => (f: Frame): boolean => f['dhcp.option.dhcp'].includes(String(type));
const isTrue = (v: string[]): boolean => v.includes('1') || v.includes('True');

/** Frames in the file whose Ethernet source is ours, counted by readPcap (our own reader), not tshark. */
function ourFrameCount(file: string): number {
  const mac = Uint8Array.from(MAC.split(':').map((h) => parseInt(h, 16)));
  return readPcap(readFileSync(file)).filter(({ frame }) => mac.every((b, i) => frame[6 + i] === b)).length;
}

// -----------------------------------------------------------------------------------------------------------------

describe.skipIf(MISSING.length > 0 && !IN_CI)('the direct stack in a lab (root, real namespaces, dnsmasq, tshark)', () => {
  let tmp = '';
  const started: Started[] = [];
  const knownPids: { pid: number; start: string }[] = [];

  let dhcpRun: Started | undefined;
  let dhcpPcap = '';
  let addr: string | undefined;
  let stopped = false;

  beforeAll(async () => {
    if (MISSING.length > 0) {
      throw new Error(`missing prerequisites: ${MISSING.join(', ')} (CI runs as root with all of them; this environment is broken)`);
    }
    expect(await netnsList()).not.toContain(NAME);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'direct-e2e-'));
    dhcpPcap = path.join(tmp, 'dhcp.pcap');
    const up = await runCommand('bash', [SCRIPT, 'up', '--netns', NAME], 60_000);
    if (up.code !== 0) throw new Error(`setup-bridge.sh up --netns ${NAME} failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
  });

  afterAll(async () => {
    // Our stack processes first (by pid, with whatever they started), then the lab, then check nothing is left.
    for (const s of started) await stopTree(s, 5000, knownPids);
    const down = await runCommand('bash', [SCRIPT, 'down', '--netns', NAME], 60_000);
    if (down.code !== 0) console.error(`setup-bridge down failed:\n${down.stdout}\n${down.stderr}`);
    for (const ns of [PEER, NAME]) {
      if ((await netnsList()).includes(ns)) await runCommand('ip', ['netns', 'del', ns], 10_000);
    }
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    const left = await netnsList();
    expect(left).not.toContain(NAME);
    expect(left).not.toContain(PEER);
  });

  describe('DHCP mode', () => {
    it('takes a lease from dnsmasq within 15 s: DISCOVER, OFFER, REQUEST, ACK for our MAC', { timeout: 45_000 }, async () => {
      const s = startStack(['--bridge', 'br0', '--mac', MAC, '--pcap', dhcpPcap]);
      started.push(s);
      dhcpRun = s;
      const bound = /DHCP offer received and bound to (192\.168\.77\.(\d+)) nm 255\.255\.255\.0 gw \[192\.168\.77\.2\]/;
      const m = await waitForOutput(s, bound, 15_000);
      knownPids.push(...descendantPids(need(s.child.pid, 'the stack pid')));
      const last = Number(m[2]);
      expect(last).toBeGreaterThanOrEqual(3);
      expect(last).toBeLessThanOrEqual(200);
      const a = need(m[1], 'the address');
      addr = a;

      await waitForOutput(s, new RegExp(`IPv4: ready on ${esc(a)} nm 255\\.255\\.255\\.0 gw \\[192\\.168\\.77\\.2\\]`), 5000);
      await waitForOutput(s, new RegExp(`ARP: sending gratuitous from ${esc(a)}\\b`), 5000);
      const out = s.output();
      expect(out).toMatch(new RegExp(`Netif: plugging tap\\d+ into br0 with mac ${MAC} \\(mtu 1500\\)`));
      expect(out).toMatch(/^DHCP: start discovery$/m);
      expect(out).toContain(`DHCP: offer received: ${a}\n`);
      expect(out).not.toMatch(/^error/m);
      expect(await labTaps()).toMatch(/master br0 /);

      const exchange = [
        new RegExp(`DHCPDISCOVER\\(br0\\) ${MAC}`),
        new RegExp(`DHCPOFFER\\(br0\\) ${esc(a)} ${MAC}`),
        new RegExp(`DHCPREQUEST\\(br0\\) ${esc(a)} ${MAC}`),
        new RegExp(`DHCPACK\\(br0\\) ${esc(a)} ${MAC}`),
      ];
      const log = await eventually(dnsmasqLog, (l) => exchange.every((re) => re.test(l)), 5000);
      for (const re of exchange) expect(log).toMatch(re);
    });
  });

  describe('reached from the peer namespace', () => {
    it('answers ping', async () => {
      const a = need(addr, 'the DHCP address');
      const r = await inPeer(['ping', '-c', '3', '-W', '2', a]);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers a ping that just fits the MTU (1472 bytes of data, 1500-byte packets)', async () => {
      const a = need(addr, 'the DHCP address');
      const r = await inPeer(['ping', '-c', '2', '-W', '2', '-s', '1472', a]);
      expect(r.stdout).toMatch(new RegExp(`1480 bytes from ${esc(a)}: icmp_seq=1 `));
      expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers a ping of 4000 bytes: fragmented both ways, reassembled both ways', async () => {
      const a = need(addr, 'the DHCP address');
      const r = await inPeer(['ping', '-c', '2', '-W', '2', '-s', '4000', a]);
      expect(r.stdout).toMatch(new RegExp(`4008 bytes from ${esc(a)}: icmp_seq=\\d+ `));
      expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers arping with our MAC', async () => {
      const a = need(addr, 'the DHCP address');
      const flavour = arpingFlavour();
      const r = await inPeer(['arping', '-c', '2', '-w', '5', flavour === 'habets' ? '-i' : '-I', 'veth0', a]);
      const replies =
        flavour === 'habets'
          ? new RegExp(`bytes from ${MAC} \\(${esc(a)}\\)`, 'gi')
          : new RegExp(`reply from ${esc(a)} \\[${MAC}\\]`, 'gi');
      expect(r.stdout.match(replies)?.length ?? 0, r.stdout + r.stderr).toBeGreaterThanOrEqual(1);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });

    it('answers UDP to a closed port with ICMP port unreachable (ECONNREFUSED on a connected socket)', async () => {
      const a = need(addr, 'the DHCP address');
      const script = String.raw`
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 3000);
s.on('error', (e) => { console.log(e.code); clearTimeout(timer); s.close(); process.exitCode = e.code === 'ECONNREFUSED' ? 0 : 1; });
s.connect(9, process.argv[1], () => s.send('anyone there?'));
`;
      const r = await inPeer([process.execPath, '-e', script, a], 15_000);
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
      expect(await eventually(labTaps, (t) => t === '', 5000)).toBe('');

      const release = new RegExp(`DHCPRELEASE\\(br0\\) ${esc(a)} ${MAC}`);
      const log = await eventually(dnsmasqLog, (l) => release.test(l), 5000);
      expect(log.split('\n').filter((l) => /DHCPRELEASE/.test(l)), 'dnsmasq never saw a DHCPRELEASE').toEqual([expect.stringMatching(release)]);
    });
  });

  describe('the pcap it wrote', () => {
    it('has only well-formed frames from us, with good IP/UDP/ICMP checksums, and the whole conversation', async () => {
      if (!stopped) throw new Error('the DHCP run was not stopped: an earlier test failed');
      const fields = await ok('tshark', ['-G', 'fields'], 30_000);
      for (const f of FIELDS) expect(fields, `tshark has no field ${f}`).toMatch(new RegExp(`\\t${esc(f)}(\\t|$)`, 'm'));

      const frames = await ourFrames(dhcpPcap);
      expect(frames.length).toBeGreaterThan(0);
      expect(frames.length, 'tshark and readPcap disagree on how many frames are ours').toBe(ourFrameCount(dhcpPcap));
      expect(frames.map(problem).filter((p) => p !== undefined)).toEqual([]);

      // Every IP frame of ours had its checksums verified (and found good) by tshark.
      const checked = frames.filter((f) => f['ip.checksum.status'].length > 0);
      expect(checked.length).toBeGreaterThan(0);
      expect(checked.filter((f) => !f['ip.checksum.status'].every((v) => v === '1')).map((f) => f['frame.number'])).toEqual([]);

      const counts = {
        'DHCP DISCOVER': frames.filter(isDhcp(1)).length,
        'DHCP REQUEST': frames.filter(isDhcp(3)).length,
        'DHCP RELEASE': frames.filter(isDhcp(7)).length,
        'ARP announcement': frames.filter((f) => f['arp.opcode'].includes('1') && isTrue(f['arp.isannouncement'])).length,
        'ARP reply': frames.filter((f) => f['arp.opcode'].includes('2')).length,
        'ICMP echo reply': frames.filter((f) => f['icmp.type'][0] === '0').length,
        'ICMP port unreachable': frames.filter((f) => f['icmp.type'][0] === '3' && f['icmp.code'][0] === '3').length,
        // The replies to the 4000-byte pings leave in fragments.
        'IP fragment': frames.filter((f) => isTrue(f['ip.flags.mf'].slice(0, 1)) || Number(f['ip.frag_offset'][0] ?? 0) > 0).length,
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
      const logBefore = dnsmasqLog().length;
      const s = startStack(['--bridge', 'br0', '--mac', MAC, '--ipv4', `${STATIC_ADDR}/24`, '--gateway', '192.168.77.2', '--pcap', pcap]);
      started.push(s);
      await waitForOutput(s, new RegExp(`IPv4: ready on ${esc(STATIC_ADDR)} nm 255\\.255\\.255\\.0 gw \\[192\\.168\\.77\\.2\\]`), 15_000);
      knownPids.push(...descendantPids(need(s.child.pid, 'the stack pid')));
      expect(s.output()).toMatch(new RegExp(`^IPv4: static ${esc(STATIC_ADDR)}/24 gw 192\\.168\\.77\\.2$`, 'm'));

      const r = await inPeer(['ping', '-c', '3', '-W', '2', STATIC_ADDR]);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);

      const code = await sigterm(s);
      expect(code, s.output()).toBe(0);
      expect(s.output()).not.toMatch(/^DHCP/m);
      expect(dnsmasqLog().slice(logBefore)).not.toContain(MAC);
      expect(await eventually(labTaps, (t) => t === '', 5000)).toBe('');

      const frames = await ourFrames(pcap);
      expect(frames.map(problem).filter((p) => p !== undefined)).toEqual([]);
      expect(frames.filter((f) => f['udp.port'].some((p) => p === '67' || p === '68'))).toEqual([]);
      expect(frames.filter((f) => f['icmp.type'][0] === '0').length).toBeGreaterThanOrEqual(3);
    });
  });

  describe('start-up errors', () => {
    const errorLines = (r: CommandResult): string[] => `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^error:/.test(l));

    it('a missing bridge: exit 2, one error line pointing at setup-bridge.sh', async () => {
      const r = await runCommand('ip', ['netns', 'exec', NAME, 'npm', 'start', '--', '--bridge', 'br9', '--mac', MAC], 30_000);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      const errors = errorLines(r);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/br9/);
      expect(errors[0]).toMatch(/setup-bridge\.sh/);
      expect(await labTaps()).toBe('');
    });

    it('a bad --mac: exit 2, one error line', async () => {
      for (const [mac, why] of [
        ['02:00:5e:00:00', /--mac must look like/],
        ['01:00:5e:00:00:42', /multicast/],
      ] as const) {
        const r = await runCommand('ip', ['netns', 'exec', NAME, 'npm', 'start', '--', '--bridge', 'br0', '--mac', mac], 30_000);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        const errors = errorLines(r);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(why);
      }
      expect(await labTaps()).toBe('');
    });
  });
});
