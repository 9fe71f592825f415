// TCP on the direct stack for real, as root: one lab of this file's own (scripts/setup-bridge.sh --netns, br0 +
// dnsmasq in NAME, the host-only peer 192.168.77.1 in NAME-peer) and one stack, started once with the auth service
// on 8088, echo on 7 and a pcap. From the peer: curl's answers, keep-alive, pipelining, 300 sequential and 50
// concurrent connections, a 2 MB echo, RST for a closed port. Then SIGTERM, and the pcap checked frame by frame
// with tshark (checksums verified). The host's own interfaces are never touched.
// In CI (CI=true) nothing skips: without root, curl, tshark or dnsmasq the suite fails.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPcap } from '../../src/net/pcap.ts';
import {
  descendantPids, repoRoot, runCommand, spawnProcess, stopTree, waitForOutput, type CommandResult, type Started,
} from './service-process.ts';

const IS_ROOT = process.getuid?.() === 0;
const IN_CI = process.env.CI === 'true';

const NAME = `mtcp-${randomBytes(3).toString('hex')}`;
const PEER = `${NAME}-peer`;
const MAC = '02:00:5e:00:00:42';
const HTTP_PORT = 8088;
const ECHO_PORT = 7;
const CLOSED_PORT = 9;
const SCRIPT = path.join(repoRoot, 'scripts/setup-bridge.sh');
/** A hard limit on the stack process, whatever happens to the tests. */
const STACK_LIFETIME_MS = 300_000;

function have(tool: string): boolean {
  const r = spawnSync('bash', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool} || test -x /sbin/${tool}`], { timeout: 5000 });
  return r.status === 0;
}

const MISSING = [...(IS_ROOT ? [] : ['root']), ...['ip', 'dnsmasq', 'tshark', 'curl'].filter((t) => !have(t))];

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

/** curl from the peer namespace; `--max-time` keeps it within `timeoutMs`. */
function curlPeer(args: string[], timeoutMs = 15_000): Promise<CommandResult> {
  return inPeer(['curl', '--max-time', String(Math.floor(timeoutMs / 1000) - 2), ...args], timeoutMs);
}

/** `node -e SCRIPT ARGS` in the peer namespace; the script bounds itself too, this is the hard limit. */
function nodeInPeer(script: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return inPeer([process.execPath, '-e', script, ...args], timeoutMs);
}

async function netnsList(): Promise<string[]> {
  return (await ok('ip', ['netns', 'list'], 10_000))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** The JSON object a peer script printed last, or an error saying what it printed instead. */
function report<T>(r: CommandResult): T {
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`the peer script printed no report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

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

// --- scripts run by node in the peer namespace ------------------------------------------------------------------

/** Two pipelined requests in one write; prints what came back and how the connection ended. */
const PIPELINE_SCRIPT = String.raw`
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const chunks = [];
const res = { connected: false, ended: false, closed: false, error: null, writes: 0, data: '' };
const done = (why) => { clearTimeout(timer); res.how = why; res.data = Buffer.concat(chunks).toString('latin1'); console.log(JSON.stringify(res)); sock.destroy(); };
const timer = setTimeout(() => done('timeout'), 10000);
const sock = net.connect(Number(port), host, () => {
  res.connected = true;
  res.writes++;
  sock.write('GET /?user=john&password=password HTTP/1.1\r\nHost: x\r\n\r\nGET /?user=john&password=wrong HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
});
sock.on('data', (d) => chunks.push(d));
sock.on('end', () => { res.ended = true; });
sock.on('error', (e) => { res.error = e.code || e.message; });
sock.on('close', () => { res.closed = true; done('close'); });
`;

/** N GETs with agent:false (one connection each), sequential or all at once; prints the counts. */
const LOAD_SCRIPT = String.raw`
const http = require('node:http');
const [host, port, count, mode, limitMs] = process.argv.slice(1);
const n = Number(count);
const want = 'hello john!\n';
const res = { mode, n, ok: 0, wrongStatus: 0, wrongBody: 0, errors: 0, samples: [], ms: 0 };
const t0 = Date.now();
const finish = (why) => { res.ms = Date.now() - t0; res.how = why; console.log(JSON.stringify(res)); process.exit(0); };
setTimeout(() => finish('timeout after ' + limitMs + ' ms'), Number(limitMs));
const note = (s) => { if (res.samples.length < 5) res.samples.push(s); };
const one = (i) => new Promise((resolve) => {
  const req = http.get({ host, port: Number(port), path: '/?user=john&password=password', agent: false, timeout: 10000 }, (r) => {
    const chunks = [];
    r.on('data', (d) => chunks.push(d));
    r.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (r.statusCode !== 200) { res.wrongStatus++; note(i + ': status ' + r.statusCode); }
      else if (body !== want) { res.wrongBody++; note(i + ': body ' + JSON.stringify(body)); }
      else res.ok++;
      resolve();
    });
    r.on('error', (e) => { res.errors++; note(i + ': response ' + (e.code || e.message)); resolve(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { res.errors++; note(i + ': ' + (e.code || e.message)); resolve(); });
});
(async () => {
  if (mode === 'sequential') { for (let i = 0; i < n; i++) await one(i); }
  else await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  finish('done');
})();
`;

/** Sends SIZE random bytes to the echo port, end()s, reads until 'end'; prints both lengths and sha256s. */
const ECHO_SCRIPT = String.raw`
const net = require('node:net');
const crypto = require('node:crypto');
const [host, port, size] = process.argv.slice(1);
const sent = crypto.randomBytes(Number(size));
const chunks = [];
let got = 0;
const t0 = Date.now();
const res = { sent: sent.length, received: 0, ended: false, error: null };
const done = (why) => {
  clearTimeout(timer);
  const recv = Buffer.concat(chunks);
  res.how = why;
  res.received = recv.length;
  res.ms = Date.now() - t0;
  res.sentSha = crypto.createHash('sha256').update(sent).digest('hex');
  res.receivedSha = crypto.createHash('sha256').update(recv).digest('hex');
  if (res.sentSha !== res.receivedSha) {
    let i = 0;
    while (i < recv.length && i < sent.length && recv[i] === sent[i]) i++;
    res.firstDifference = i;
  }
  console.log(JSON.stringify(res));
  sock.destroy();
};
const timer = setTimeout(() => done('timeout'), 60000);
const sock = net.connect(Number(port), host, () => sock.end(sent));
sock.on('data', (d) => { chunks.push(d); got += d.length; });
sock.on('end', () => { res.ended = true; done('end'); });
sock.on('error', (e) => { res.error = e.code || e.message; done('error'); });
`;

interface LoadReport {
  mode: string;
  n: number;
  ok: number;
  wrongStatus: number;
  wrongBody: number;
  errors: number;
  samples: string[];
  ms: number;
  how: string;
}

// --- the pcap, through tshark ----------------------------------------------------------------------------------

/** The fields read per frame; all exist in tshark 4.0 (`tshark -G fields`), checked before use. */
const FIELDS = [
  'frame.number',
  '_ws.malformed',
  '_ws.expert.message',
  '_ws.expert.severity',
  'ip.checksum.status',
  'tcp.checksum.status',
  'udp.checksum.status',
  'tcp.srcport',
  'tcp.flags.syn',
  'tcp.flags.ack',
  'tcp.flags.reset',
  'http.response.code',
] as const;
type Field = (typeof FIELDS)[number];
type Frame = Record<Field, string[]>;

/** Wireshark's PI_ERROR: expert infos at this severity or above mean a broken frame. */
const EXPERT_ERROR = 0x00800000;
/** proto_checksum_enum_e: 0 is "Bad", 1 "Good" (2 unverified, 3 not present). */
const CHECKSUM_BAD = '0';
const CHECKSUM_GOOD = '1';

const isTrue = (v: string[]): boolean => v.includes('1') || v.includes('True');

/** Our frames (eth.src == MAC) as tshark dissects them, IP/TCP/UDP checksums verified, 8088 read as HTTP. */
async function ourFrames(file: string): Promise<Frame[]> {
  const args = ['-r', file, '-n', '-d', `tcp.port==${HTTP_PORT},http`];
  for (const p of ['tcp', 'ip', 'udp']) args.push('-o', `${p}.check_checksum:TRUE`);
  args.push('-Y', `eth.src == ${MAC}`, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,');
  for (const f of FIELDS) args.push('-e', f);
  const out = await ok('tshark', args, 120_000);
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
  for (const k of ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status'] as const) {
    if (f[k].includes(CHECKSUM_BAD)) why.push(`bad ${k.split('.')[0]} checksum`);
  }
  if (f['_ws.expert.severity'].some((s) => Number(s) >= EXPERT_ERROR)) why.push('expert error');
  return why.length === 0 ? undefined : `frame ${f['frame.number'].join('')}: ${why.join(', ')} [${f['_ws.expert.message'].join(' | ')}]`;
}

/** Frames in the file whose Ethernet source is ours, counted by readPcap (our own reader), not tshark. */
function ourFrameCount(file: string): number {
  const mac = Uint8Array.from(MAC.split(':').map((h) => parseInt(h, 16)));
  return readPcap(readFileSync(file)).filter(({ frame }) => mac.every((b, i) => frame[6 + i] === b)).length;
}

// -----------------------------------------------------------------------------------------------------------------

describe.skipIf(MISSING.length > 0 && !IN_CI)('TCP on the direct stack in a lab (root, real namespaces, dnsmasq, curl, tshark)', () => {
  let tmp = '';
  let pcap = '';
  let stack: Started | undefined;
  const knownPids: { pid: number; start: string }[] = [];
  let addr: string | undefined;
  let stopped = false;

  const base = (): string => `http://${need(addr, 'the DHCP address')}:${HTTP_PORT}`;

  beforeAll(async () => {
    if (MISSING.length > 0) {
      throw new Error(`missing prerequisites: ${MISSING.join(', ')} (CI runs as root with all of them; this environment is broken)`);
    }
    expect(await netnsList()).not.toContain(NAME);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'direct-tcp-e2e-'));
    const data = path.join(tmp, 'data');
    mkdirSync(data);
    writeFileSync(path.join(data, 'john'), 'password\n');
    writeFileSync(path.join(data, 'alice'), 'p@ss w&rd=1\n');
    pcap = path.join(tmp, 'tcp.pcap');

    const up = await runCommand('bash', [SCRIPT, 'up', '--netns', NAME], 60_000);
    if (up.code !== 0) throw new Error(`setup-bridge.sh up --netns ${NAME} failed (${up.code}):\n${up.stdout}\n${up.stderr}`);

    const args = ['--bridge', 'br0', '--mac', MAC, '--port', String(HTTP_PORT), '--data', data, '--echo-port', String(ECHO_PORT), '--pcap', pcap];
    const s = spawnProcess('ip', ['netns', 'exec', NAME, 'npm', 'start', '--', ...args], STACK_LIFETIME_MS, 'SIGTERM');
    stack = s;
    const bound = /DHCP offer received and bound to (192\.168\.77\.\d+) nm 255\.255\.255\.0 gw \[192\.168\.77\.2\]/;
    const m = await waitForOutput(s, bound, 20_000);
    knownPids.push(...descendantPids(need(s.child.pid, 'the stack pid')));
    addr = need(m[1], 'the address');
    expect(s.output()).toMatch(new RegExp(`auth service on TCP port ${HTTP_PORT} \\(stack direct, 2 users in `));
    expect(s.output()).toMatch(new RegExp(`^echo service on TCP port ${ECHO_PORT}$`, 'm'));
  });

  afterAll(async () => {
    // The stack first (by pid, with whatever it started), then the lab, then check nothing is left.
    if (stack !== undefined) await stopTree(stack, 5000, knownPids);
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

  describe('the auth service through curl from the peer', () => {
    it("the original's two answers: 200 hello john!, 401 Invalid login", async () => {
      const good = await curlPeer(['-s', '-w', '\n%{http_code}', `${base()}/?user=john&password=password`]);
      expect(good.stdout, good.stderr).toBe('hello john!\n\n200');
      expect(good.code).toBe(0);
      const bad = await curlPeer(['-s', '-w', '\n%{http_code}', `${base()}/?user=john&password=wrong`]);
      expect(bad.stdout, bad.stderr).toBe('Invalid login\n\n401');
      expect(bad.code).toBe(0);
    });

    it('401 No user given when a parameter is missing', async () => {
      for (const url of [`${base()}/`, `${base()}/?user=john`, `${base()}/?password=password`]) {
        const r = await curlPeer(['-s', '-w', '\n%{http_code}', url]);
        expect(r.stdout, `${url}\n${r.stderr}`).toBe('No user given\n\n401');
      }
    });

    it('decodes a percent-encoded password (alice, p@ss w&rd=1)', async () => {
      const r = await curlPeer(['-s', '-w', '\n%{http_code}', `${base()}/?user=alice&password=p%40ss%20w%26rd%3D1`]);
      expect(r.stdout, r.stderr).toBe('hello alice!\n\n200');
    });
  });

  describe('persistent connections', () => {
    it('keep-alive: one curl with two URLs connects once and reuses the connection', async () => {
      const r = await curlPeer(['-sv', `${base()}/?user=john&password=password`, `${base()}/?user=john&password=wrong`]);
      expect(r.stdout, r.stderr).toBe('hello john!\nInvalid login\n');
      expect(r.stderr).toMatch(/Re-?using existing connection/i);
      expect(r.stderr.match(/Connected to/g)?.length ?? 0, r.stderr).toBe(1);
      expect(r.code).toBe(0);
    });

    it('pipelining: two requests in one write get 200 then 401, in order, then the server closes', async () => {
      const r = await nodeInPeer(PIPELINE_SCRIPT, [need(addr, 'the DHCP address'), String(HTTP_PORT)], 20_000);
      const res = report<{ connected: boolean; ended: boolean; closed: boolean; error: string | null; how: string; data: string }>(r);
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
      const r = await nodeInPeer(LOAD_SCRIPT, [need(addr, 'the DHCP address'), String(HTTP_PORT), '300', 'sequential', '90000'], 110_000);
      const res = report<LoadReport>(r);
      console.log(`300 sequential connections: ${res.ms} ms`);
      expect(res, JSON.stringify(res)).toMatchObject({ how: 'done', ok: 300, wrongStatus: 0, wrongBody: 0, errors: 0 });
    });

    it('50 concurrent connections all get 200 hello john!', { timeout: 60_000 }, async () => {
      const r = await nodeInPeer(LOAD_SCRIPT, [need(addr, 'the DHCP address'), String(HTTP_PORT), '50', 'concurrent', '40000'], 55_000);
      const res = report<LoadReport>(r);
      console.log(`50 concurrent connections: ${res.ms} ms`);
      expect(res, JSON.stringify(res)).toMatchObject({ how: 'done', ok: 50, wrongStatus: 0, wrongBody: 0, errors: 0 });
    });
  });

  describe('echo (RFC 862) on port 7', () => {
    it('a 2 MB round trip is byte-exact', { timeout: 90_000 }, async () => {
      const size = 2 * 1024 * 1024;
      const r = await nodeInPeer(ECHO_SCRIPT, [need(addr, 'the DHCP address'), String(ECHO_PORT), String(size)], 80_000);
      const res = report<{ sent: number; received: number; ended: boolean; error: string | null; how: string; ms: number; sentSha: string; receivedSha: string }>(r);
      console.log(`2 MB echo: ${res.ms} ms`);
      expect(res.how, JSON.stringify(res)).toBe('end');
      expect(res.error).toBeNull();
      expect(res.sent).toBe(size);
      expect(res.received, JSON.stringify(res)).toBe(size);
      expect(res.receivedSha, JSON.stringify(res)).toBe(res.sentSha);
    });
  });

  describe('a closed port', () => {
    it('answers RST at once: curl fails with 7 (connection refused) well within 1 s', async () => {
      const t0 = performance.now();
      const r = await inPeer(['curl', '-sS', '--max-time', '5', '-w', '%{time_total}', `http://${need(addr, 'the DHCP address')}:${CLOSED_PORT}/`], 15_000);
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
      process.kill(need(s.child.pid, 'the stack pid'), 'SIGTERM');
      const code = await Promise.race([s.exited, sleep(15_000).then(() => 'still running' as const)]);
      stopped = true;
      expect(code, s.output()).toBe(0);
      expect(s.output()).toMatch(/^SIGTERM: shutting down$/m);
    });

    it('has only well-formed frames from us, with good IP and TCP checksums: SYN-ACKs, HTTP responses, RSTs', { timeout: 180_000 }, async () => {
      if (!stopped) throw new Error('the stack was not stopped: an earlier test failed');
      const fields = await ok('tshark', ['-G', 'fields'], 30_000);
      for (const f of FIELDS) expect(fields, `tshark has no field ${f}`).toMatch(new RegExp(`\\t${esc(f)}(\\t|$)`, 'm'));

      const frames = await ourFrames(pcap);
      expect(frames.length).toBeGreaterThan(0);
      expect(frames.length, 'tshark and readPcap disagree on how many frames are ours').toBe(ourFrameCount(pcap));
      expect(frames.map(problem).filter((p) => p !== undefined)).toEqual([]);

      // Every IP frame and every TCP segment of ours had its checksum verified, and found good, by tshark.
      const ip = frames.filter((f) => f['ip.checksum.status'].length > 0);
      expect(ip.filter((f) => !f['ip.checksum.status'].every((v) => v === CHECKSUM_GOOD)).map((f) => f['frame.number'])).toEqual([]);
      const tcp = frames.filter((f) => f['tcp.srcport'].length > 0);
      expect(tcp.filter((f) => !f['tcp.checksum.status'].every((v) => v === CHECKSUM_GOOD)).map((f) => f['frame.number'])).toEqual([]);

      const synAck = tcp.filter((f) => isTrue(f['tcp.flags.syn']) && isTrue(f['tcp.flags.ack']));
      const rst = tcp.filter((f) => isTrue(f['tcp.flags.reset']));
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
    });
  });
});
