// The TAP bindings and their offloads for real, as root: one lab of this file's own (scripts/setup-bridge.sh --netns,
// br0 + dnsmasq in NAME, the host-only peer 192.168.77.1 in NAME-peer) and the direct stack started four times, one
// after the other, each with the auth service on 8088, echo on 7 and metrics on 9100:
//   a. the default (--tap-binding auto): the native binding with checksum and TSO offloads; curl's 200, an 8 MB echo
//      byte-exact, and the stack really cut nothing itself (tcp.tx_tso > 0, fewer frames out than 1460-byte segments
//      would take, super-segments in);
//   b. --tap-binding tuntap2: no offloads; curl's 200, a 2 MB echo byte-exact, tcp.tx_tso 0;
//   c. --no-offloads (native binding): a 2 MB echo byte-exact, tcp.tx_tso 0, a frame per MSS of data both ways;
//   d. --pcap (native binding, so offloads off by themselves): a 2 MB echo, then the capture read by tshark: no bad
//      checksum, nothing malformed, no frame over 1514 bytes.
// Each run ends with SIGTERM (exit 0). The host's own interfaces are never touched.
// In CI (CI=true) nothing skips: without root, ip, dnsmasq, curl, tshark or the built addon the suite fails.

import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, sampleValue, type Exposition } from '../prometheus-text.ts';
import {
  checksumChecks, DHCP_BOUND, Lab, lastJsonLine, mustRun, needing, notAllGood, OurFrames, prerequisites, sigterm, waitForStack, type KnownPid, tempWithJohn,
} from './lab.ts';
import type { EchoReport } from './programs/echo-roundtrip.ts';
import { repoRoot, stopTree, type Started } from './service-process.ts';

const lab = new Lab('mtapb');
const HTTP_PORT = 8088;
const ECHO_PORT = 7;
const METRICS_PORT = 9100;
const MB = 1024 * 1024;
/** A plain Ethernet frame's largest size: 14 bytes of header and a 1500-byte MTU. */
const ETH_MAX = 1514;
/** The payload of one MTU-sized TCP/IPv4 segment: what a stack without TSO sends per frame at most. */
const MSS = 1460;
/** A hard limit on each stack process, whatever happens to the tests. */
const STACK_LIFETIME_MS = 90_000;
const NATIVE_ADDON = path.join(repoRoot, 'build/Release/tap_native.node');

const PREREQUISITES = await prerequisites(
  ['ip', 'dnsmasq', 'curl', 'tshark'],
  existsSync(NATIVE_ADDON) ? [] : ['the native TAP binding build/Release/tap_native.node (npm ci, or npx node-gyp rebuild)'],
);

const need = needing('step');

/** What one scrape says of the stack: its counters by name, and the TAP's frames and bytes by direction. */
interface StackNumbers {
  /** direct_stack_events_total{name=…}; a counter never incremented is absent (0). */
  event: (name: string) => number;
  /** Whether the events counter has a sample for `name` at all. */
  hasEvent: (name: string) => boolean;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
}

function stackNumbers(e: Exposition): StackNumbers {
  const device = (name: string, direction: string): number => need(sampleValue(e, name, { direction }), `${name}{direction="${direction}"}`);
  return {
    event: (name) => sampleValue(e, 'direct_stack_events_total', { name }) ?? 0,
    hasEvent: (name) => sampleValue(e, 'direct_stack_events_total', { name }) !== undefined,
    framesIn: device('direct_stack_device_frames_total', 'in'),
    framesOut: device('direct_stack_device_frames_total', 'out'),
    bytesIn: device('direct_stack_device_bytes_total', 'in'),
    bytesOut: device('direct_stack_device_bytes_total', 'out'),
  };
}

/** One run of the stack in the lab. */
interface Run {
  stack: Started;
  addr: string;
  /** The whole output up to DHCP's bound line (the TAP line among it). */
  boot: string;
}

/** The TAP line TapDevice.open logs, for `binding` with or without offloads; the rest of the line exactly. */
const tapLine = (binding: 'native' | 'tuntap2', offloads: boolean): RegExp =>
  new RegExp(`^TAP: \\S+ in br0 \\(${binding} binding${offloads ? ', checksum and TSO offloads' : ''}\\)$`, 'm');

describe.skipIf(PREREQUISITES.skip)('the TAP bindings and their offloads in a lab (root, namespaces, dnsmasq, curl, tshark)', () => {
  let tmp = '';
  let data = '';
  const stacks: Started[] = [];
  const knownPids: KnownPid[] = [];

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('tap-binding-e2e-');
    tmp = made.tmp;
    data = made.data;
    await lab.up();
  }, 90_000);

  afterAll(async () => {
    // The stacks first (by pid, with whatever they started), then the lab, then check nothing is left.
    for (const s of stacks) await stopTree(s, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  }, 90_000);

  /** Starts the stack (MAC, echo, metrics, a lease file of its own, `extra`) and waits for its DHCP lease. */
  async function start(label: string, mac: string, extra: string[]): Promise<Run> {
    const args = [
      '--bridge', 'br0', '--mac', mac, '--port', String(HTTP_PORT), '--data', data, '--echo-port', String(ECHO_PORT),
      '--metrics-port', String(METRICS_PORT), '--dhcp-state', path.join(tmp, `lease-${label}.json`), ...extra,
    ];
    const s = lab.startStack(args, STACK_LIFETIME_MS);
    stacks.push(s);
    const m = await waitForStack(s, DHCP_BOUND, 20_000, knownPids);
    // The listeners are set up right after the lease; wait for the last of them.
    await waitForStack(s, new RegExp(`^metrics on TCP port ${METRICS_PORT} `, 'm'), 5000, knownPids);
    return { stack: s, addr: need(m[1], 'the address'), boot: s.output() };
  }

  /** GET /metrics from the peer, parsed strictly. */
  async function scrape(run: Run): Promise<StackNumbers> {
    const r = await lab.curlInPeer(['-s', '-f', `http://${run.addr}:${METRICS_PORT}/metrics`]);
    expect(r.code, r.stderr).toBe(0);
    return stackNumbers(parseExposition(r.stdout));
  }

  /** The service's answer for john's right password, through curl from the peer. */
  async function expectHello(run: Run): Promise<void> {
    const r = await lab.curlInPeer(['-s', '-w', '\n%{http_code}', `http://${run.addr}:${HTTP_PORT}/?user=john&password=password`]);
    expect(r.stdout, r.stderr).toBe('hello john!\n\n200');
    expect(r.code).toBe(0);
  }

  /** SIZE random bytes through echo from the peer; asserts the round trip byte-exact. */
  async function expectEcho(run: Run, size: number, label: string): Promise<EchoReport> {
    const r = await lab.programInPeer('echo-roundtrip.ts', [run.addr, String(ECHO_PORT), String(size), '20000'], 30_000);
    const res = lastJsonLine<EchoReport>(r);
    console.log(`${label}: ${size / MB} MB echo in ${res.ms} ms`);
    expect(res.how, JSON.stringify(res)).toBe('end');
    expect(res.error).toBeNull();
    expect(res.sent).toBe(size);
    expect(res.received, JSON.stringify(res)).toBe(size);
    expect(res.receivedSha, JSON.stringify(res)).toBe(res.sentSha);
    return res;
  }

  /** No frame failed to cross the TAP either way, and none came in with a bad IP or TCP checksum. */
  function expectNoErrors(n: StackNumbers): void {
    for (const e of ['dev.tx_error', 'dev.rx_error', 'ip.rx_bad_checksum', 'tcp.rx_bad_checksum']) expect(n.event(e), e).toBe(0);
  }

  /** SIGTERM, exit 0 and the shutdown line. */
  async function expectCleanExit(run: Run): Promise<void> {
    const code = await sigterm(run.stack);
    expect(code, run.stack.output()).toBe(0);
    expect(run.stack.output()).toMatch(/^SIGTERM: shutting down$/m);
  }

  describe('a. the default (auto): the native binding with checksum and TSO offloads', () => {
    let run: Run | undefined;
    let before: StackNumbers | undefined;
    let after: StackNumbers | undefined;
    const SIZE = 8 * MB;

    it('boots with the native binding, offloads on; curl gets 200 hello john!', { timeout: 40_000 }, async () => {
      run = await start('auto', '02:00:5e:00:00:61', []);
      expect(run.boot).toMatch(tapLine('native', true));
      expect(run.boot).not.toMatch(/using the tuntap2 package/);
      await expectHello(run);
    });

    it('an 8 MB echo is byte-exact', { timeout: 40_000 }, async () => {
      const r = need(run, 'the run');
      before = await scrape(r);
      await expectEcho(r, SIZE, 'native, offloads');
      after = await scrape(r);
    });

    it('the stack sent TSO super-segments and took GRO super-segments in', () => {
      const [b, a] = [need(before, 'the scrape before'), need(after, 'the scrape after')];
      const tso = a.event('tcp.tx_tso') - b.event('tcp.tx_tso');
      const framesOut = a.framesOut - b.framesOut;
      const framesIn = a.framesIn - b.framesIn;
      const bytesIn = a.bytesIn - b.bytesIn;
      const bytesOut = a.bytesOut - b.bytesOut;
      const numbers = { tso, framesOut, bytesOut, framesIn, bytesIn, tcpTx: a.event('tcp.tx') - b.event('tcp.tx') };
      console.log(`native, offloads: ${JSON.stringify(numbers)}`);
      expect(tso, JSON.stringify(numbers)).toBeGreaterThan(0);
      // 8 MB back in plain segments would be at least SIZE / MSS frames; super-segments make it far fewer.
      expect(framesOut, JSON.stringify(numbers)).toBeLessThan(SIZE / MSS / 2);
      expect(bytesOut, JSON.stringify(numbers)).toBeGreaterThanOrEqual(SIZE);
      // The kernel's GSO/GRO packets came in whole: on average more than one plain frame's worth each.
      expect(bytesIn, JSON.stringify(numbers)).toBeGreaterThanOrEqual(SIZE);
      expect(bytesIn / framesIn, JSON.stringify(numbers)).toBeGreaterThan(ETH_MAX);
      expectNoErrors(a);
    });

    it('exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
      await expectCleanExit(need(run, 'the run'));
    });
  });

  describe('b. --tap-binding tuntap2: no offloads', () => {
    let run: Run | undefined;
    const SIZE = 2 * MB;

    it('boots with the tuntap2 binding; curl gets 200 hello john!', { timeout: 40_000 }, async () => {
      run = await start('tuntap2', '02:00:5e:00:00:62', ['--tap-binding', 'tuntap2']);
      expect(run.boot).toMatch(tapLine('tuntap2', false));
      expect(run.boot).not.toMatch(/native binding|offloads/);
      await expectHello(run);
    });

    it('a 2 MB echo is byte-exact, without TSO', { timeout: 40_000 }, async () => {
      const r = need(run, 'the run');
      const before = await scrape(r);
      await expectEcho(r, SIZE, 'tuntap2');
      const after = await scrape(r);
      const numbers = { tso: after.event('tcp.tx_tso'), framesOut: after.framesOut - before.framesOut, tcpTx: after.event('tcp.tx') - before.event('tcp.tx') };
      console.log(`tuntap2: ${JSON.stringify(numbers)}`);
      expect(after.hasEvent('tcp.tx'), 'the events counter has tcp.tx').toBe(true);
      expect(numbers.tso, JSON.stringify(numbers)).toBe(0);
      expect(numbers.framesOut, JSON.stringify(numbers)).toBeGreaterThanOrEqual(SIZE / MSS);
      expectNoErrors(after);
    });

    it('exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
      await expectCleanExit(need(run, 'the run'));
    });
  });

  describe('c. --no-offloads: the native binding with plain frames both ways', () => {
    let run: Run | undefined;
    const SIZE = 2 * MB;

    it('boots with the native binding, offloads off', { timeout: 40_000 }, async () => {
      run = await start('no-offloads', '02:00:5e:00:00:63', ['--no-offloads']);
      expect(run.boot).toMatch(tapLine('native', false));
      expect(run.boot).not.toMatch(/offloads\)/);
      await expectHello(run);
    });

    it('a 2 MB echo is byte-exact, without super-segments either way (frame counts, average sizes)', { timeout: 40_000 }, async () => {
      const r = need(run, 'the run');
      const before = await scrape(r);
      await expectEcho(r, SIZE, 'native, --no-offloads');
      const after = await scrape(r);
      const framesOut = after.framesOut - before.framesOut;
      const framesIn = after.framesIn - before.framesIn;
      const numbers = { tso: after.event('tcp.tx_tso'), framesOut, bytesOut: after.bytesOut - before.bytesOut, framesIn, bytesIn: after.bytesIn - before.bytesIn };
      console.log(`native, --no-offloads: ${JSON.stringify(numbers)}`);
      expect(after.hasEvent('tcp.tx'), 'the events counter has tcp.tx').toBe(true);
      expect(numbers.tso, JSON.stringify(numbers)).toBe(0);
      expect(framesOut, JSON.stringify(numbers)).toBeGreaterThanOrEqual(SIZE / MSS);
      // No super-segments either way: at least one frame per MSS of data, none larger than a plain frame on
      // average (the metrics give no largest frame; the pcap run below checks each frame).
      expect(framesIn, JSON.stringify(numbers)).toBeGreaterThanOrEqual(SIZE / MSS);
      expect(numbers.bytesOut / framesOut, JSON.stringify(numbers)).toBeLessThanOrEqual(ETH_MAX);
      expect(numbers.bytesIn / framesIn, JSON.stringify(numbers)).toBeLessThanOrEqual(ETH_MAX);
      expectNoErrors(after);
    });

    it('exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
      await expectCleanExit(need(run, 'the run'));
    });
  });

  describe('d. --pcap: offloads off by themselves, the capture clean', () => {
    const MAC = '02:00:5e:00:00:64';
    const SIZE = 2 * MB;
    let run: Run | undefined;
    let pcap = '';
    let stopped = false;

    /** Our frames (eth.src == MAC) as tshark dissects them, IP and TCP checksums verified. */
    const OUR_FRAMES = new OurFrames({
      mac: MAC,
      fields: ['frame.len', 'ip.checksum.status', 'tcp.checksum.status', 'tcp.srcport'] as const,
      checksums: ['ip.checksum.status', 'tcp.checksum.status'],
      options: checksumChecks(['ip', 'tcp']),
      timeoutMs: 60_000,
    });

    it('boots with the native binding, offloads off under --pcap', { timeout: 40_000 }, async () => {
      pcap = path.join(tmp, 'offloads.pcap');
      run = await start('pcap', MAC, ['--pcap', pcap]);
      expect(run.boot).toMatch(tapLine('native', false));
      expect(run.boot).toMatch(/^pcap: recording every frame to /m);
      await expectHello(run);
    });

    it('a 2 MB echo is byte-exact, without TSO; then SIGTERM', { timeout: 40_000 }, async () => {
      const r = need(run, 'the run');
      await expectEcho(r, SIZE, 'native, --pcap');
      const after = await scrape(r);
      expect(after.hasEvent('tcp.tx'), 'the events counter has tcp.tx').toBe(true);
      expect(after.event('tcp.tx_tso')).toBe(0);
      expectNoErrors(after);
      await expectCleanExit(r);
      stopped = true;
    });

    it('the capture: our frames well-formed, checksums good, none over 1514 bytes; none over 1514 in at all', { timeout: 60_000 }, async () => {
      if (!stopped) throw new Error('the stack was not stopped: an earlier step failed');
      const frames = await OUR_FRAMES.expectWellFormed(pcap);
      const tcp = frames.filter((f) => f['tcp.srcport'].length > 0);
      const echoed = tcp.filter((f) => f['tcp.srcport'][0] === String(ECHO_PORT));
      // The echo came back in this capture: at least SIZE / MSS segments of ours from port 7.
      expect(echoed.length).toBeGreaterThanOrEqual(SIZE / MSS);
      expect(notAllGood(tcp, 'tcp.checksum.status')).toEqual([]);
      expect(notAllGood(frames.filter((f) => f['ip.checksum.status'].length > 0), 'ip.checksum.status')).toEqual([]);
      const big = frames.filter((f) => Number(f['frame.len'][0]) > ETH_MAX).map((f) => `${f['frame.number'].join('')}: ${f['frame.len'].join('')}`);
      expect(big).toEqual([]);
      // And in the other direction: without offloads the kernel hands over plain frames only.
      const bigAnyway = await mustRun('tshark', ['-r', pcap, '-n', '-Y', `frame.len > ${ETH_MAX}`, '-T', 'fields', '-e', 'frame.number', '-e', 'eth.src', '-e', 'frame.len'], 60_000);
      expect(bigAnyway.trim()).toBe('');
      console.log(`pcap: ${frames.length} frames of ours, ${echoed.length} from the echo port`);
    });
  });
});
