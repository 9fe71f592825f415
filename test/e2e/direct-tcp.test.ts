// TCP on the direct stack for real, as root: one lab of this file's own (scripts/setup-bridge.sh --netns, br0 +
// dnsmasq in NAME, the host-only peer 192.168.77.1 in NAME-peer) and one stack, started once with the auth service
// on 8088, echo on 7 and a pcap. From the peer: curl's answers, keep-alive, pipelining, 300 sequential and 50
// concurrent connections, a 2 MB echo, RST for a closed port. Then SIGTERM, and the pcap checked frame by frame
// with tshark (checksums verified). The host's own interfaces are never touched.
// In CI (CI=true) nothing skips: without root, curl, tshark or dnsmasq the suite fails.

import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksumChecks, DHCP_BOUND, Lab, lastJsonLine, mustRun, need, notAllGood, OurFrames, prerequisites, sigterm, tsharkTrue, waitForStack, type KnownPid, tempWithJohn,
} from './lab.ts';
import type { EchoReport } from './programs/echo-roundtrip.ts';
import type { LoadReport } from './programs/http-load.ts';
import type { PipelineReport } from './programs/http-pipeline.ts';
import { stopTree, type CommandResult, type Started } from './service-process.ts';

const lab = new Lab('mtcp');
const MAC = '02:00:5e:00:00:42';
const HTTP_PORT = 8088;
const ECHO_PORT = 7;
const CLOSED_PORT = 9;
/** A hard limit on the stack process, whatever happens to the tests. */
const STACK_LIFETIME_MS = 300_000;

const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'tshark', 'curl']);

// --- HTTP responses, read off raw bytes -------------------------------------------------------------------------

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits a byte string into the HTTP/1.1 responses it holds (each framed by content-length); throws on leftovers. */
function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`an incomplete response head: ${JSON.stringify(rest)}`);
    const [statusLine = '', ...fields] = rest.slice(0, end).split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
    if (m === null) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const f of fields) {
      const colon = f.indexOf(':');
      headers[f.slice(0, colon).toLowerCase()] = f.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length']);
    if (!Number.isInteger(length)) throw new Error(`no content-length in ${JSON.stringify(rest.slice(0, end))}`);
    const bodyStart = end + 4;
    if (rest.length < bodyStart + length) throw new Error(`a truncated body: ${JSON.stringify(rest)}`);
    out.push({ status: Number(m[1]), headers, body: rest.slice(bodyStart, bodyStart + length) });
    rest = rest.slice(bodyStart + length);
  }
  return out;
}

// --- the pcap, through tshark ----------------------------------------------------------------------------------

/** The fields read per frame (after the judged ones); all exist in tshark 4.0 (`tshark -G fields`), checked before use. */
const FIELDS = [
  'ip.checksum.status',
  'tcp.checksum.status',
  'udp.checksum.status',
  'tcp.srcport',
  'tcp.flags.syn',
  'tcp.flags.ack',
  'tcp.flags.reset',
  'http.response.code',
] as const;

/** Our frames (eth.src == MAC) as tshark dissects them, IP/TCP/UDP checksums verified, 8088 read as HTTP. */
const OUR_FRAMES = new OurFrames({
  mac: MAC,
  fields: FIELDS,
  checksums: ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status'],
  options: ['-d', `tcp.port==${HTTP_PORT},http`, ...checksumChecks(['tcp', 'ip', 'udp'])],
  timeoutMs: 120_000,
});

// -----------------------------------------------------------------------------------------------------------------

describe.skipIf(PREREQUISITES.skip)('TCP on the direct stack in a lab (root, real namespaces, dnsmasq, curl, tshark)', () => {
  let tmp = '';
  let pcap = '';
  let stack: Started | undefined;
  const knownPids: KnownPid[] = [];
  let addr: string | undefined;
  /** The local port curl reuses after our TIME_WAIT, and the one of the ECN request. */
  // Above Linux's ephemeral range (32768–60999), so that none of the other connections of this file can use them too.
  const reusePort = 61_000 + Math.floor(Math.random() * 1000);
  const ecnPort = reusePort + 1000;
  let stopped = false;

  const base = (): string => `http://${need(addr, 'the DHCP address')}:${HTTP_PORT}`;

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('direct-tcp-e2e-');
    tmp = made.tmp;
    const data = made.data;
    writeFileSync(path.join(data, 'alice'), 'p@ss w&rd=1\n');
    pcap = path.join(tmp, 'tcp.pcap');

    await lab.up();

    const args = ['--bridge', 'br0', '--mac', MAC, '--port', String(HTTP_PORT), '--data', data, '--echo-port', String(ECHO_PORT), '--pcap', pcap];
    const s = lab.startStack(args, STACK_LIFETIME_MS);
    stack = s;
    const m = await waitForStack(s, DHCP_BOUND, 20_000, knownPids);
    addr = need(m[1], 'the address');
    expect(s.output()).toMatch(new RegExp(`auth service on TCP port ${HTTP_PORT} \\(stack direct, 2 users in `));
    expect(s.output()).toMatch(new RegExp(`^echo service on TCP port ${ECHO_PORT}$`, 'm'));
  });

  afterAll(async () => {
    // The stack first (by pid, with whatever it started), then the lab, then check nothing is left.
    if (stack !== undefined) await stopTree(stack, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  describe('the auth service through curl from the peer', () => {
    it("the original's two answers: 200 hello john!, 401 Invalid login", async () => {
      const good = await lab.curlInPeer(['-s', '-w', '\n%{http_code}', `${base()}/?user=john&password=password`]);
      expect(good.stdout, good.stderr).toBe('hello john!\n\n200');
      expect(good.code).toBe(0);
      const bad = await lab.curlInPeer(['-s', '-w', '\n%{http_code}', `${base()}/?user=john&password=wrong`]);
      expect(bad.stdout, bad.stderr).toBe('Invalid login\n\n401');
      expect(bad.code).toBe(0);
    });

    it('401 No user given when a parameter is missing', async () => {
      for (const url of [`${base()}/`, `${base()}/?user=john`, `${base()}/?password=password`]) {
        const r = await lab.curlInPeer(['-s', '-w', '\n%{http_code}', url]);
        expect(r.stdout, `${url}\n${r.stderr}`).toBe('No user given\n\n401');
      }
    });

    it('decodes a percent-encoded password (alice, p@ss w&rd=1)', async () => {
      const r = await lab.curlInPeer(['-s', '-w', '\n%{http_code}', `${base()}/?user=alice&password=p%40ss%20w%26rd%3D1`]);
      expect(r.stdout, r.stderr).toBe('hello alice!\n\n200');
    });
  });

  describe('persistent connections', () => {
    it('keep-alive: one curl with two URLs connects once and reuses the connection', async () => {
      const r = await lab.curlInPeer(['-sv', `${base()}/?user=john&password=password`, `${base()}/?user=john&password=wrong`]);
      expect(r.stdout, r.stderr).toBe('hello john!\nInvalid login\n');
      expect(r.stderr).toMatch(/Re-?using existing connection/i);
      expect(r.stderr.match(/Connected to/g)?.length ?? 0, r.stderr).toBe(1);
      expect(r.code).toBe(0);
    });

    it('pipelining: two requests in one write get 200 then 401, in order, then the server closes', async () => {
      const r = await lab.programInPeer('http-pipeline.ts', [need(addr, 'the DHCP address'), String(HTTP_PORT)], 20_000);
      const res = lastJsonLine<PipelineReport>(r);
      expect(res.connected, JSON.stringify(res)).toBe(true);
      expect(res.error, JSON.stringify(res)).toBeNull();
      // 'end' is the server's FIN: the connection closed after the second answer, as `Connection: close` asked.
      expect(res.how, JSON.stringify(res)).toBe('close');
      expect(res.ended, JSON.stringify(res)).toBe(true);
      const responses = parseResponses(res.data);
      expect(responses.map((x) => [x.status, x.body])).toEqual([
        [200, 'hello john!\n'],
        [401, 'Invalid login\n'],
      ]);
      expect(responses[1]?.headers['connection']).toBe('close');
    });
  });

  describe('many connections', () => {
    it('300 sequential connections all get 200 hello john!', { timeout: 120_000 }, async () => {
      const r = await lab.programInPeer('http-load.ts', [need(addr, 'the DHCP address'), String(HTTP_PORT), '300', 'sequential', '90000'], 110_000);
      const res = lastJsonLine<LoadReport>(r);
      console.log(`300 sequential connections: ${res.ms} ms`);
      expect(res, JSON.stringify(res)).toMatchObject({ how: 'done', ok: 300, wrongStatus: 0, wrongBody: 0, errors: 0 });
    });

    it('50 concurrent connections all get 200 hello john!', { timeout: 60_000 }, async () => {
      const r = await lab.programInPeer('http-load.ts', [need(addr, 'the DHCP address'), String(HTTP_PORT), '50', 'concurrent', '40000'], 55_000);
      const res = lastJsonLine<LoadReport>(r);
      console.log(`50 concurrent connections: ${res.ms} ms`);
      expect(res, JSON.stringify(res)).toMatchObject({ how: 'done', ok: 50, wrongStatus: 0, wrongBody: 0, errors: 0 });
    });
  });

  describe('a fair share of connections', () => {
    it('one client opening 300 idle connections keeps 256 (the per-source share), the rest are refused, and another client is served meanwhile', { timeout: 60_000 }, async () => {
      // Opens N connections, waits, reports how many the server closed on it, then lets go of all of them.
      const HOLD = String.raw`
const net = require('node:net');
const [host, port, n, ms] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
let connected = 0, closed = 0;
const socks = [];
for (let i = 0; i < n; i++) {
  const s = net.connect(port, host);
  s.on('connect', () => { connected++; });
  s.on('error', () => {});
  s.on('close', () => { closed++; });
  socks.push(s);
}
setTimeout(() => { console.log(JSON.stringify({ connected, closed })); for (const s of socks) s.destroy(); process.exit(0); }, ms);
`;
      const holder = lab.inPeer(['node', '-e', HOLD, need(addr, 'the DHCP address'), String(HTTP_PORT), '300', '4000'], 20_000);
      await new Promise((r) => setTimeout(r, 2000));
      // From the bridge's side (192.168.77.2), another source: served while the peer holds its share.
      const other = await lab.inLab(['curl', '-s', '--max-time', '5', '-w', '\n%{http_code}', `${base()}/?user=john&password=password`]);
      expect(other.stdout, other.stderr).toBe('hello john!\n\n200');
      const res = JSON.parse((await holder).stdout.trim().split('\n').at(-1) ?? '{}') as { connected?: number; closed?: number };
      // The 44 past the share are reset on arrival: the client's connect may complete before that reset reaches
      // it or not (a race on its side), so they count as connected or not; all 256 others connect and stay.
      expect(res.connected, JSON.stringify(res)).toBeGreaterThanOrEqual(256);
      expect(res.closed, JSON.stringify(res)).toBe(300 - 256);
    });
  });

  describe('echo (RFC 862) on port 7', () => {
    it('a 2 MB round trip is byte-exact', { timeout: 90_000 }, async () => {
      const size = 2 * 1024 * 1024;
      const r = await lab.programInPeer('echo-roundtrip.ts', [need(addr, 'the DHCP address'), String(ECHO_PORT), String(size), '60000'], 80_000);
      const res = lastJsonLine<EchoReport>(r);
      console.log(`2 MB echo: ${res.ms} ms`);
      expect(res.how, JSON.stringify(res)).toBe('end');
      expect(res.error).toBeNull();
      expect(res.sent).toBe(size);
      expect(res.received, JSON.stringify(res)).toBe(size);
      expect(res.receivedSha, JSON.stringify(res)).toBe(res.sentSha);
    });
  });

  describe('TIME_WAIT', () => {
    it('curl reusing its local port right after our TIME_WAIT connects at once (RFC 6191), not after a stale ACK and a retry', async () => {
      // `Connection: close`: our server closes first, so the TIME_WAIT is ours; the kernel's next SYN from that
      // port carries a newer timestamp.
      const port = String(reusePort);
      const curl = (): Promise<CommandResult> =>
        lab.inPeer(['curl', '-sS', '--max-time', '5', '--local-port', port, '-H', 'Connection: close', '-w', '\n%{time_connect}', `${base()}/?user=john&password=password`], 15_000);
      const first = await curl();
      expect(first.stdout, first.stderr).toMatch(/^hello john!\n\n/);
      const again = await curl();
      expect(again.stdout, again.stderr).toMatch(/^hello john!\n\n/);
      const connectS = Number(again.stdout.split('\n').at(-1));
      console.log(`TIME_WAIT reuse: the second connect took ${Math.round(connectS * 1000)} ms`);
      expect(connectS).toBeLessThan(0.5);
      // That the SYN was taken at once, not answered with a stale ACK (which Linux resets and retries ~10 ms later),
      // the pcap says once the stack has stopped (below).
    });
  });

  describe('ECN', () => {
    it('Linux with tcp_ecn=1 asks for ECN and gets it: the answers as usual (the frames are checked in the pcap below)', async () => {
      await lab.mustInPeer(['sysctl', '-qw', 'net.ipv4.tcp_ecn=1']);
      try {
        const r = await lab.inPeer(['curl', '-sS', '--max-time', '5', '--local-port', String(ecnPort), `${base()}/?user=john&password=password`], 15_000);
        expect(r.stdout, r.stderr).toBe('hello john!\n');
      } finally {
        await lab.mustInPeer(['sysctl', '-qw', 'net.ipv4.tcp_ecn=2']);
      }
    });
  });

  describe('a closed port', () => {
    it('answers RST at once: curl fails with 7 (connection refused) well within 1 s', async () => {
      const t0 = performance.now();
      const r = await lab.inPeer(['curl', '-sS', '--max-time', '5', '-w', '%{time_total}', `http://${need(addr, 'the DHCP address')}:${CLOSED_PORT}/`], 15_000);
      const ms = performance.now() - t0;
      console.log(`closed port: curl exited ${r.code} after ${Math.round(ms)} ms (curl's time_total ${r.stdout}s)`);
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toMatch(/Connection refused|Couldn't connect/i);
      expect(ms).toBeLessThan(1000);
    });
  });

  describe('SIGTERM and the pcap', () => {
    it('exits 0 on SIGTERM', { timeout: 30_000 }, async () => {
      const s = need(stack, 'the stack');
      const code = await sigterm(s);
      stopped = true;
      expect(code, s.output()).toBe(0);
      expect(s.output()).toMatch(/^SIGTERM: shutting down$/m);
    });

    it('has only well-formed frames from us, with good IP and TCP checksums: SYN-ACKs, HTTP responses, RSTs', { timeout: 180_000 }, async () => {
      if (!stopped) throw new Error('the stack was not stopped: an earlier test failed');
      const frames = await OUR_FRAMES.expectWellFormed(pcap);

      // Every IP frame and every TCP segment of ours had its checksum verified, and found good, by tshark.
      const ip = frames.filter((f) => f['ip.checksum.status'].length > 0);
      expect(notAllGood(ip, 'ip.checksum.status')).toEqual([]);
      const tcp = frames.filter((f) => f['tcp.srcport'].length > 0);
      expect(notAllGood(tcp, 'tcp.checksum.status')).toEqual([]);

      const synAck = tcp.filter((f) => tsharkTrue(f['tcp.flags.syn']) && tsharkTrue(f['tcp.flags.ack']));
      const rst = tcp.filter((f) => tsharkTrue(f['tcp.flags.reset']));
      const counts = {
        'IP frames': ip.length,
        'TCP segments': tcp.length,
        'SYN-ACK from 8088': synAck.filter((f) => f['tcp.srcport'][0] === String(HTTP_PORT)).length,
        'SYN-ACK from 7': synAck.filter((f) => f['tcp.srcport'][0] === String(ECHO_PORT)).length,
        'HTTP 200': frames.filter((f) => f['http.response.code'].includes('200')).length,
        'HTTP 401': frames.filter((f) => f['http.response.code'].includes('401')).length,
        [`RST from ${CLOSED_PORT}`]: rst.filter((f) => f['tcp.srcport'][0] === String(CLOSED_PORT)).length,
      };
      console.log(`our frames: ${frames.length}; ${JSON.stringify(counts)}`);
      // 1 + 1 + 3 + 1 + 1 + 300 + 50 connections to 8088 (curl's and the scripts'), all accepted.
      expect(counts['SYN-ACK from 8088'], JSON.stringify(counts)).toBeGreaterThanOrEqual(358);
      expect(counts['SYN-ACK from 7'], JSON.stringify(counts)).toBeGreaterThanOrEqual(1);
      // 200: john, alice, keep-alive, pipelined, 300 + 50; 401: wrong, 3 missing, keep-alive, pipelined.
      expect(counts['HTTP 200'], JSON.stringify(counts)).toBeGreaterThanOrEqual(354);
      expect(counts['HTTP 401'], JSON.stringify(counts)).toBeGreaterThanOrEqual(6);
      expect(counts[`RST from ${CLOSED_PORT}`], JSON.stringify(counts)).toBeGreaterThanOrEqual(1);
      // TIME_WAIT reuse (RFC 6191): curl's two SYNs from one port, each answered with a SYN-ACK; no RST on that port.
      const onPort = async (filter: string): Promise<number> =>
        (await mustRun('tshark', ['-r', pcap, '-n', '-Y', `tcp.port == ${reusePort} && ${filter}`, '-T', 'fields', '-e', 'frame.number'], 60_000)).split('\n').filter((l) => l !== '').length;
      expect(await onPort('tcp.flags.syn == 1 && tcp.flags.ack == 0')).toBe(2);
      expect(await onPort('tcp.flags.syn == 1 && tcp.flags.ack == 1')).toBe(2);
      expect(await onPort('tcp.flags.reset == 1')).toBe(0);
      // ECN (RFC 3168 §6.1.1): Linux's ECN-setup SYN (ECE and CWR), our SYN-ACK with ECE alone; our data ECT(0).
      const ecn = async (filter: string): Promise<number> =>
        (await mustRun('tshark', ['-r', pcap, '-n', '-Y', `tcp.port == ${ecnPort} && ${filter}`, '-T', 'fields', '-e', 'frame.number'], 60_000)).split('\n').filter((l) => l !== '').length;
      expect(await ecn('tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.flags.ece == 1 && tcp.flags.cwr == 1')).toBe(1);
      expect(await ecn('tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.flags.ece == 1 && tcp.flags.cwr == 0')).toBe(1);
      expect(await ecn(`tcp.srcport == ${HTTP_PORT} && tcp.len > 0 && ip.dsfield.ecn == 2`)).toBeGreaterThanOrEqual(1);
      expect(await ecn(`tcp.srcport == ${HTTP_PORT} && tcp.len > 0 && ip.dsfield.ecn != 2`)).toBe(0);
      expect(await ecn(`tcp.srcport == ${ecnPort} && tcp.len > 0 && ip.dsfield.ecn == 2`)).toBeGreaterThanOrEqual(1); // Linux's request, ECT(0) too
    });
  });
});
