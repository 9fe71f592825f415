// `npm run bench` (root): the direct stack against the kernel's sockets, in one run, in the same namespace lab.
// Prints one table of medians with the ratios, writes bench/results/latest.json (every sample),
// bench/summary.json (the table, committed) and bench/chart.svg. `--quick` for a short run; `--help` for flags.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { haveTool, repoRoot, runCommand } from '../test/e2e/service-process.ts';
import { download, echoBulk, haveGet, idleConnections, type Throughput } from './bulk.ts';
import { barChart } from './chart.ts';
import { ECHO_PORT, HTTP_PORT, Lab, TLS_PORT, bareNodeRssKiB, framesPerSecond, startService, type Service, type StackKind } from './lab.ts';
import { LOSS_SETTINGS, lossMarkdown, lossSection, requestsMarkdown, type LossOptions } from './loss.ts';
import { receivePath, transfer } from './micro.ts';
import { PASSWORD, USERS, runWrk, writeWrkScript, type WrkResult } from './wrk.ts';

const USAGE = `Usage: npm run bench -- [--quick] [--repeat N] [--seconds S] [--soak S] [--bulk-mb N] [--download-mb N]
                        [--idle N] [--micro-mb N] [--connections N] [--no-loss | --loss-only] [--loss-seeds N]
                        [--loss-mb N] [--loss-path SPEC] [--loss-requests N]

  --quick           a short run: 1 repeat, 3 s wrk runs, 10 s soak, smaller transfers, 1000 idle connections
  --repeat N        runs of each lab measurement per stack, alternating stacks; medians reported (3)
  --seconds S       each wrk run (10)
  --soak S          the keep-alive load the direct stack's RSS is sampled under, every 5 s (60; 0: off)
  --bulk-mb N       MiB sent to the echo port and back (256)
  --download-mb N   MiB downloaded by our stack as a client (npm run get) and by curl (256)
  --idle N          idle TCP connections held open at once (10000)
  --micro-mb N      MiB moved between two in-process stacks (64)
  --connections N   wrk connections (64)
  --no-loss         skip the loss section (goodput through an emulated lossy path, ours against Linux)
  --loss-only       only the loss section
  --loss-seeds N    seeds per loss rate and sender (8; --quick: 2)
  --loss-mb N       MiB per transfer at the lowest loss rates, less at higher ones (16; --quick: 4)
  --loss-path SPEC  the emulated path besides the loss (delay=10,rate=100,queue=1000; see bench/link-model.ts)
  --loss-requests N keep-alive HTTP requests timed one by one at 2 % loss, per sender and seed (1000; --quick:
                    200; 0: none)
`;

interface Options {
  repeat: number;
  seconds: number;
  soak: number;
  bulkMb: number;
  downloadMb: number;
  idle: number;
  microMb: number;
  connections: number;
  quick: boolean;
  loss: 'yes' | 'no' | 'only';
  lossSeeds: number;
  lossMb: number;
  lossPath: string;
  lossRequests: number;
}

function parseOptions(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      repeat: { type: 'string' },
      seconds: { type: 'string' },
      soak: { type: 'string' },
      'bulk-mb': { type: 'string' },
      'download-mb': { type: 'string' },
      idle: { type: 'string' },
      'micro-mb': { type: 'string' },
      connections: { type: 'string' },
      'no-loss': { type: 'boolean', default: false },
      'loss-only': { type: 'boolean', default: false },
      'loss-seeds': { type: 'string' },
      'loss-mb': { type: 'string' },
      'loss-path': { type: 'string' },
      'loss-requests': { type: 'string' },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const q = v.quick;
  const num = (s: string | undefined, dflt: number, quick: number, max: number): number => {
    if (s === undefined) return q ? quick : dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`bad value '${s}' (a whole number 0..${max})`);
    return n;
  };
  return {
    quick: q,
    repeat: Math.max(1, num(v.repeat, 3, 1, 20)),
    seconds: Math.max(1, num(v.seconds, 10, 3, 600)),
    soak: num(v.soak, 60, 10, 3600),
    bulkMb: Math.max(1, num(v['bulk-mb'], 256, 32, 8192)),
    downloadMb: Math.max(1, num(v['download-mb'], 256, 32, 8192)),
    idle: num(v.idle, 10_000, 1000, 50_000),
    microMb: Math.max(1, num(v['micro-mb'], 64, 16, 4096)),
    connections: Math.max(1, num(v.connections, 64, 64, 10_000)),
    loss: v['loss-only'] ? 'only' : v['no-loss'] ? 'no' : 'yes',
    lossSeeds: Math.max(1, num(v['loss-seeds'], 8, 2, 100)),
    lossMb: Math.max(1, num(v['loss-mb'], 16, 4, 1024)),
    lossPath: v['loss-path'] ?? 'delay=10,rate=100,queue=1000',
    lossRequests: num(v['loss-requests'], 1000, 200, 100_000),
  };
}

// --- Samples, medians, the table ---------------------------------------------------------------------------------

type Samples = Record<string, number[]>;
const raw: Record<StackKind | 'micro' | 'baseline', Samples> = { direct: {}, socket: {}, micro: {}, baseline: {} };
const errors: string[] = [];

function add(kind: keyof typeof raw, key: string, value: number | undefined): void {
  if (value === undefined || !Number.isFinite(value)) return;
  (raw[kind][key] ??= []).push(value);
}

function median(xs: number[] | undefined): number | undefined {
  if (xs === undefined || xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

interface Row {
  metric: string;
  unit: string;
  direct: number | undefined;
  socket: number | undefined;
  goal: string;
  /** Whether the goal is met, from the direct value and the ratio; undefined when there is no goal. */
  met: ((direct: number, ratio: number | undefined) => boolean) | undefined;
  decimals: number;
}

interface TableRow {
  metric: string;
  unit: string;
  direct: number | null;
  socket: number | null;
  ratio: number | null;
  goal: string;
  met: boolean | null;
}

function toTable(rows: Row[]): TableRow[] {
  return rows.map((r) => {
    const ratio = r.direct !== undefined && r.socket !== undefined && r.socket !== 0 ? r.direct / r.socket : undefined;
    const met = r.met === undefined || r.direct === undefined ? undefined : r.met(r.direct, ratio);
    const round = (v: number | undefined): number | null => (v === undefined ? null : Number(v.toFixed(r.decimals)));
    return { metric: r.metric, unit: r.unit, direct: round(r.direct), socket: round(r.socket), ratio: ratio === undefined ? null : Number(ratio.toFixed(2)), goal: r.goal, met: met ?? null };
  });
}

function fmt(v: number | null): string {
  if (v === null) return '—';
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
}

function cells(t: TableRow): string[] {
  return [`${t.metric} (${t.unit})`, fmt(t.direct), fmt(t.socket), t.ratio === null ? '—' : `${t.ratio.toFixed(2)}×`, t.goal, t.met === null ? '—' : t.met ? 'yes' : 'no'];
}

const HEAD = ['metric', 'direct', 'socket (kernel)', 'direct/socket', 'goal', 'met?'];

function consoleTable(table: TableRow[]): string {
  const all = [HEAD, ...table.map(cells)];
  const w = HEAD.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 || i === 4 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join('  ');
  return [line(HEAD), w.map((n) => '-'.repeat(n)).join('  '), ...table.slice(0).map((t) => line(cells(t)))].join('\n');
}

function markdownTable(table: TableRow[]): string {
  const row = (r: string[]): string => `| ${r.join(' | ')} |`;
  return [row(HEAD), row(HEAD.map((_, i) => (i === 0 || i === 4 ? '---' : '---:'))), ...table.map((t) => row(cells(t)))].join('\n');
}

// --- The run -----------------------------------------------------------------------------------------------------

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024; // KiB per MiB: RSS is read in KiB
/** A hard limit on every service process, whatever happens to the run. */
const SERVICE_LIFETIME_MS = 15 * 60_000;

/** Runs one measurement; a failure is reported and recorded, and the run goes on. */
async function attempt<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    const msg = `${what}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 2000);
    errors.push(msg);
    log(`FAILED ${msg}`);
    return undefined;
  }
}

/** Samples `f` every `everyMs` until `until` settles; the samples in order. */
async function sampleWhile(until: Promise<unknown>, everyMs: number, f: () => number): Promise<number[]> {
  const out: number[] = [];
  let done = false;
  void until.finally(() => (done = true)).catch(() => {});
  while (!done) {
    await Promise.race([sleep(everyMs), until.catch(() => {})]);
    if (!done) out.push(f());
  }
  return out;
}

interface Ctx {
  o: Options;
  lab: Lab;
  tmp: string;
  dataDir: string;
  script: string;
  live: Set<Service>;
  starts: number;
  /** The throwaway certificate (scripts/make-lab-cert.sh) every service also serves HTTPS with. */
  tls: { cert: string; key: string };
}

/** A DHCP state file not used before: every direct start makes a full discovery, and nothing lands in /var/lib. */
function freshDhcpState(c: Ctx): string {
  return path.join(c.tmp, `dhcp-${c.starts++}.json`);
}

async function withService<T>(c: Ctx, kind: StackKind, f: (s: Service) => Promise<T>): Promise<T> {
  const s = await startService(c.lab, kind, c.dataDir, freshDhcpState(c), SERVICE_LIFETIME_MS, c.tls);
  c.live.add(s);
  try {
    return await f(s);
  } finally {
    await s.proc.stop();
    c.live.delete(s);
  }
}

/** Keep-alive wrk with the frames through the stack's interface counted and the RSS sampled each second. */
async function keepAlive(c: Ctx, s: Service, seconds: number, sampleMs: number): Promise<{ wrk: WrkResult; fps: number; rss: number[] }> {
  const dev = s.tap ?? 'veth-hostonly';
  const before = await c.lab.counters(dev);
  const run = runWrk(c.lab, { url: `http://${s.address}:${HTTP_PORT}/`, script: c.script, seconds, connections: c.o.connections, threads: 2, close: false });
  const rss = await sampleWhile(run, sampleMs, () => s.rssKiB());
  const wrk = await run;
  const after = await c.lab.counters(dev);
  return { wrk, fps: framesPerSecond(before, after, wrk.seconds), rss };
}

function checkWrk(kind: StackKind, what: string, r: WrkResult): void {
  log(`${kind} ${what}: ${Math.round(r.requestsPerSecond)} req/s (${r.requests} requests, non-2xx ${r.non2xx}, socket errors ${r.socketErrors})`);
  if (r.non2xx > 0 || r.socketErrors > 0) errors.push(`${kind} ${what}: ${r.non2xx} non-2xx answers, ${r.socketErrors} socket errors`);
}

async function measureStack(c: Ctx, kind: StackKind, round: number): Promise<void> {
  await withService(c, kind, async (s) => {
    if (s.boundMs !== undefined) log(`${kind}: DHCP bound ${Math.round(s.boundMs)} ms after start (${Math.round(s.discoverToBoundMs ?? NaN)} ms after discovery)`);
    add(kind, 'boundMs', s.boundMs);
    add(kind, 'discoverToBoundMs', s.discoverToBoundMs);
    await sleep(2000);
    add(kind, 'idleRssKiB', s.rssKiB());
    if (round === 0 && c.o.idle > 0) {
      const idle = await attempt(`${kind} ${c.o.idle} idle connections`, () => idleConnections(c.lab, s.address, ECHO_PORT, c.o.idle, () => s.rssKiB(), 120_000));
      if (idle !== undefined) {
        log(`${kind}: ${idle.held} idle connections held (${idle.failed} failed, opened in ${idle.seconds.toFixed(1)} s), RSS ${(idle.rssKiB / MB).toFixed(1)} MB`);
        add(kind, 'idleConnsHeld', idle.held);
        add(kind, 'idleConnsRssKiB', idle.rssKiB);
        if (idle.failed > 0) errors.push(`${kind}: ${idle.failed} of ${c.o.idle} idle connections failed`);
        await sleep(3000); // let the closes finish before the next load
      }
    }
    const ka = await attempt(`${kind} keep-alive wrk`, () => keepAlive(c, s, c.o.seconds, 1000));
    if (ka !== undefined) {
      checkWrk(kind, 'keep-alive', ka.wrk);
      add(kind, 'keepAliveRps', ka.wrk.requestsPerSecond);
      add(kind, 'keepAliveFps', ka.fps);
      add(kind, 'loadRssKiB', Math.max(...ka.rss));
    }
    // GET / without parameters: 401 at once, no file read, no throttle: HTTP and the stack alone.
    const bare = await attempt(`${kind} keep-alive 401 wrk`, () =>
      runWrk(c.lab, { url: `http://${s.address}:${HTTP_PORT}/`, script: undefined, seconds: c.o.seconds, connections: c.o.connections, threads: 2, close: false }));
    if (bare !== undefined) {
      log(`${kind} keep-alive GET / (401): ${Math.round(bare.requestsPerSecond)} req/s (socket errors ${bare.socketErrors})`);
      add(kind, 'keepAlive401Rps', bare.requestsPerSecond);
    }
    const close = await attempt(`${kind} Connection: close wrk`, () =>
      runWrk(c.lab, { url: `http://${s.address}:${HTTP_PORT}/`, script: c.script, seconds: c.o.seconds, connections: c.o.connections, threads: 2, close: true }));
    if (close !== undefined) {
      checkWrk(kind, 'Connection: close', close);
      add(kind, 'closeRps', close.requestsPerSecond);
    }
    // HTTPS: node:tls over our TCP (direct) or the kernel's (socket), the same HTTP server over it.
    const https = `https://${s.address}:${TLS_PORT}/`;
    const tlsKa = await attempt(`${kind} HTTPS keep-alive wrk`, () =>
      runWrk(c.lab, { url: https, script: c.script, seconds: c.o.seconds, connections: c.o.connections, threads: 2, close: false }));
    if (tlsKa !== undefined) {
      checkWrk(kind, 'HTTPS keep-alive', tlsKa);
      add(kind, 'tlsKeepAliveRps', tlsKa.requestsPerSecond);
    }
    // Connection: close over HTTPS: every request a new connection and a full handshake (wrk resumes no session).
    const tlsClose = await attempt(`${kind} HTTPS Connection: close wrk`, () =>
      runWrk(c.lab, { url: https, script: c.script, seconds: c.o.seconds, connections: c.o.connections, threads: 2, close: true }));
    if (tlsClose !== undefined) {
      checkWrk(kind, 'HTTPS Connection: close', tlsClose);
      add(kind, 'tlsHandshakesPerSecond', tlsClose.requestsPerSecond);
    }
    await sleep(1000);
    const dev = s.tap ?? 'veth-hostonly';
    const before = await c.lab.counters(dev);
    const echo = await attempt(`${kind} echo ${c.o.bulkMb} MiB`, () => echoBulk(c.lab, s.address, ECHO_PORT, c.o.bulkMb, 120_000));
    if (echo !== undefined) {
      const after = await c.lab.counters(dev);
      const fps = framesPerSecond(before, after, echo.seconds);
      log(`${kind} echo: ${echo.mbitPerSecond.toFixed(0)} Mbit/s each way, ${Math.round(fps)} frames/s`);
      add(kind, 'echoMbit', echo.mbitPerSecond);
      add(kind, 'echoFps', fps);
    }
    add(kind, 'afterRssKiB', s.rssKiB());
    // The same keep-alive load and echo over IPv6, in the same service: the second network layer beside the first.
    const url6 = `http://[${s.address6}]:${HTTP_PORT}/`;
    const ka6 = await attempt(`${kind} keep-alive wrk over IPv6`, () =>
      runWrk(c.lab, { url: url6, script: c.script, seconds: c.o.seconds, connections: c.o.connections, threads: 2, close: false }));
    if (ka6 !== undefined) {
      checkWrk(kind, 'keep-alive over IPv6', ka6);
      add(kind, 'keepAliveRps6', ka6.requestsPerSecond);
    }
    await sleep(1000);
    const echo6 = await attempt(`${kind} echo ${c.o.bulkMb} MiB over IPv6`, () => echoBulk(c.lab, s.address6, ECHO_PORT, c.o.bulkMb, 120_000));
    if (echo6 !== undefined) {
      log(`${kind} echo over IPv6: ${echo6.mbitPerSecond.toFixed(0)} Mbit/s each way`);
      add(kind, 'echoMbit6', echo6.mbitPerSecond);
    }
  });
}

async function soak(c: Ctx): Promise<void> {
  await withService(c, 'direct', async (s) => {
    await sleep(2000);
    const r = await attempt(`direct ${c.o.soak} s soak`, () => keepAlive(c, s, c.o.soak, 5000));
    if (r === undefined) return;
    checkWrk('direct', `${c.o.soak} s soak`, r.wrk);
    log(`direct soak RSS every 5 s (MB): ${r.rss.map((k) => (k / MB).toFixed(1)).join(' ')}`);
    raw.direct.soakRssKiB = r.rss;
    add('direct', 'soakRps', r.wrk.requestsPerSecond);
  });
}

async function downloads(c: Ctx, round: number): Promise<void> {
  const order: StackKind[] = round % 2 === 0 ? ['direct', 'socket'] : ['socket', 'direct'];
  for (const kind of order) {
    if (kind === 'direct' && !haveGet()) continue;
    const r: Throughput | undefined = await attempt(`${kind} download ${c.o.downloadMb} MiB`, () => download(c.lab, kind, c.o.downloadMb, freshDhcpState(c), 120_000));
    if (r === undefined) continue;
    log(`${kind} download as client: ${r.mbitPerSecond.toFixed(0)} Mbit/s`);
    add(kind, 'downloadMbit', r.mbitPerSecond);
  }
}

/**
 * The device layer through real TAPs (bench/tap-frames.ts): 60-byte frames out of one TAP as fast as they go,
 * across br0, into a second TAP's reader, each in its own process. Frames per second out and in.
 */
async function tapFrames(c: Ctx, binding: 'native' | 'tuntap2', seconds: number): Promise<void> {
  const script = ['node', '--import', 'tsx', 'bench/tap-frames.ts'];
  const rx = c.lab.spawnInLab([...script, 'recv', String(seconds), binding], (seconds + 30) * 1000);
  try {
    await rx.waitLine(/^ready$/, 15_000);
    const tx = await c.lab.inLab([...script, 'send', String(seconds), binding], (seconds + 30) * 1000);
    const sent: unknown = JSON.parse(tx.stdout.trim().split('\n').pop() ?? '{}');
    const got = await rx.waitLine(/^\{.*"role":"recv".*\}$/, 20_000);
    const recvd: unknown = JSON.parse(got.match[0]);
    const rate = (j: unknown): number | undefined => (typeof j === 'object' && j !== null && 'rate' in j && typeof j.rate === 'number' ? j.rate : undefined);
    const out = rate(sent);
    const inn = rate(recvd);
    if (out === undefined || inn === undefined) throw new Error(`tap-frames: ${tx.stdout}${tx.stderr} / ${got.match[0]}`);
    log(`${binding} TAP frame path: ${Math.round(out)} frames/s out, ${Math.round(inn)} frames/s in`);
    add('micro', `tap${binding}Out`, out);
    add('micro', `tap${binding}In`, inn);
  } finally {
    await rx.stop();
  }
}

function micro(o: Options): void {
  const runs = o.quick ? 3 : Math.max(5, o.repeat);
  transfer(Math.min(8, o.microMb)); // warm-up (the JIT), not counted
  receivePath(20_000);
  for (let i = 0; i < runs; i++) {
    const t = transfer(o.microMb);
    const rx = receivePath(o.quick ? 50_000 : 100_000);
    log(`micro ${i + 1}/${runs}: transfer ${Math.round(t.framesPerSecond)} frames/s ${t.mbPerSecond.toFixed(0)} MB/s; receive path ${Math.round(rx.framesPerSecond)} frames/s`);
    add('micro', 'transferFps', t.framesPerSecond);
    add('micro', 'transferMBps', t.mbPerSecond);
    add('micro', 'receiveFps', rx.framesPerSecond);
  }
}

function buildRows(o: Options): Row[] {
  const d = (k: string): number | undefined => median(raw.direct[k]);
  const s = (k: string): number | undefined => median(raw.socket[k]);
  const mb = (v: number | undefined): number | undefined => (v === undefined ? undefined : v / MB);
  const atLeast = (n: number) => (v: number): boolean => v >= n;
  const bare = median(raw.baseline.bareNodeRssKiB);
  const soakRss = raw.direct.soakRssKiB ?? [];
  const first = soakRss[0];
  const last = soakRss[soakRss.length - 1];
  const fps = '≥ 150 000';
  return [
    { metric: `HTTP keep-alive, login 200, wrk -c${o.connections} ${o.seconds} s`, unit: 'req/s', direct: d('keepAliveRps'), socket: s('keepAliveRps'), goal: '≥ socket', met: (_v, r) => (r ?? 0) >= 1, decimals: 0 },
    { metric: 'HTTP keep-alive, GET / 401 (no file read)', unit: 'req/s', direct: d('keepAlive401Rps'), socket: s('keepAlive401Rps'), goal: '≥ socket', met: (_v, r) => (r ?? 0) >= 1, decimals: 0 },
    { metric: `HTTP Connection: close, login 200, wrk -c${o.connections} ${o.seconds} s`, unit: 'req/s', direct: d('closeRps'), socket: s('closeRps'), goal: '≥ socket', met: (_v, r) => (r ?? 0) >= 1, decimals: 0 },
    { metric: `HTTPS keep-alive, login 200, wrk -c${o.connections} ${o.seconds} s`, unit: 'req/s', direct: d('tlsKeepAliveRps'), socket: s('tlsKeepAliveRps'), goal: '', met: undefined, decimals: 0 },
    { metric: `HTTPS Connection: close (a full TLS handshake each), wrk -c${o.connections} ${o.seconds} s`, unit: 'handshakes/s', direct: d('tlsHandshakesPerSecond'), socket: s('tlsHandshakesPerSecond'), goal: '', met: undefined, decimals: 0 },
    { metric: `echo ${o.bulkMb} MiB, each way at once`, unit: 'Mbit/s', direct: d('echoMbit'), socket: s('echoMbit'), goal: '≥ 1000', met: atLeast(1000), decimals: 0 },
    { metric: `IPv6: HTTP keep-alive, login 200, wrk -c${o.connections} ${o.seconds} s`, unit: 'req/s', direct: d('keepAliveRps6'), socket: s('keepAliveRps6'), goal: '≥ 0.9 × IPv4 direct', met: (v) => v >= 0.9 * (d('keepAliveRps') ?? Infinity), decimals: 0 },
    { metric: `IPv6: echo ${o.bulkMb} MiB, each way at once`, unit: 'Mbit/s', direct: d('echoMbit6'), socket: s('echoMbit6'), goal: '≥ 0.9 × IPv4 direct', met: (v) => v >= 0.9 * (d('echoMbit') ?? Infinity), decimals: 0 },
    { metric: `download ${o.downloadMb} MiB as client (get vs curl)`, unit: 'Mbit/s', direct: d('downloadMbit'), socket: s('downloadMbit'), goal: '≥ 1000', met: atLeast(1000), decimals: 0 },
    // The kernel moves GSO/GRO packets of up to 64 KiB over the veth: its packet counts are not frames, so the
    // socket stack's (kept in the JSON) are not shown.
    // What the keep-alive load puts through the TAP: the load's own rate, not the device's limit (the rows below).
    { metric: 'frames through the TAP during keep-alive wrk', unit: 'frames/s', direct: d('keepAliveFps'), socket: undefined, goal: '', met: undefined, decimals: 0 },
    // With offloads, a frame of the echo may be a 64 KiB super-segment: frames/s there is not the device's limit.
    { metric: 'frames through the TAP during the echo (offloads on)', unit: 'frames/s', direct: d('echoFps'), socket: undefined, goal: '', met: undefined, decimals: 0 },
    { metric: 'TAP frame path out: 60-byte frames, native binding', unit: 'frames/s', direct: median(raw.micro.tapnativeOut), socket: undefined, goal: fps, met: atLeast(150_000), decimals: 0 },
    { metric: 'TAP frame path in: 60-byte frames, native binding', unit: 'frames/s', direct: median(raw.micro.tapnativeIn), socket: undefined, goal: fps, met: atLeast(150_000), decimals: 0 },
    { metric: 'TAP frame path out, tuntap2 package + worker reader', unit: 'frames/s', direct: median(raw.micro.taptuntap2Out), socket: undefined, goal: '', met: undefined, decimals: 0 },
    { metric: 'TAP frame path in, tuntap2 package + worker reader', unit: 'frames/s', direct: median(raw.micro.taptuntap2In), socket: undefined, goal: '', met: undefined, decimals: 0 },
    { metric: `micro: ${o.microMb} MiB between two stacks, in+out`, unit: 'frames/s', direct: median(raw.micro.transferFps), socket: undefined, goal: fps, met: atLeast(150_000), decimals: 0 },
    { metric: `micro: ${o.microMb} MiB between two stacks`, unit: 'MB/s', direct: median(raw.micro.transferMBps), socket: undefined, goal: '', met: undefined, decimals: 0 },
    { metric: 'micro: receive path (data in, ACKs out)', unit: 'frames in/s', direct: median(raw.micro.receiveFps), socket: undefined, goal: fps, met: atLeast(150_000), decimals: 0 },
    { metric: 'DHCP: process start to bound', unit: 'ms', direct: d('boundMs'), socket: undefined, goal: '< 1000', met: (v) => v < 1000, decimals: 0 },
    { metric: 'DHCP: discovery to bound', unit: 'ms', direct: d('discoverToBoundMs'), socket: undefined, goal: '', met: undefined, decimals: 0 },
    { metric: 'RSS idle after boot', unit: 'MB', direct: mb(d('idleRssKiB')), socket: mb(s('idleRssKiB')), goal: bare === undefined ? '≤ bare node + 20' : `≤ ${(bare / MB + 20).toFixed(1)}`, met: (v) => bare !== undefined && v <= bare / MB + 20, decimals: 1 },
    { metric: 'RSS of a bare node process (baseline)', unit: 'MB', direct: mb(bare), socket: undefined, goal: '', met: undefined, decimals: 1 },
    { metric: 'RSS of bare node --import tsx (baseline)', unit: 'MB', direct: mb(median(raw.baseline.tsxNodeRssKiB)), socket: undefined, goal: '', met: undefined, decimals: 1 },
    { metric: 'RSS peak under keep-alive load', unit: 'MB', direct: mb(d('loadRssKiB')), socket: mb(s('loadRssKiB')), goal: '', met: undefined, decimals: 1 },
    { metric: `RSS with ${o.idle} idle connections`, unit: 'MB', direct: mb(d('idleConnsRssKiB')), socket: mb(s('idleConnsRssKiB')), goal: '< 150', met: (v) => v < 150 && d('idleConnsHeld') === o.idle, decimals: 1 },
    { metric: `RSS growth over ${o.soak} s keep-alive load (5 s → last sample)`, unit: 'MB', direct: first !== undefined && last !== undefined ? (last - first) / MB : undefined, socket: undefined, goal: '≤ 10 % of first', met: (v) => first !== undefined && v <= (first / MB) * 0.1, decimals: 1 },
  ];
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark builds network namespaces (sudo npm run bench)');
  const missing: string[] = [];
  for (const t of ['ip', 'wrk', 'dnsmasq', 'curl']) if (!(await haveTool(t))) missing.push(t);
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: run scripts/install-deps.sh`);
  log('building the service (npm run build)');
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit', timeout: 120_000 });
  if (o.loss === 'only') {
    await runLoss(o);
    return;
  }
  const date = new Date();
  const loadBefore = os.loadavg();
  const t0 = performance.now();

  log(`micro-benchmark (in-process, ${o.microMb} MiB)`);
  micro(o);

  const name = `mbench-${randomBytes(3).toString('hex')}`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mbench-'));
  chmodSync(tmp, 0o755); // the services drop to nobody once started, and read the users from here
  const dataDir = path.join(tmp, 'data');
  mkdirSync(dataDir);
  for (let i = 0; i < USERS; i++) writeFileSync(path.join(dataDir, `u${i}`), `${PASSWORD}\n`);
  const live = new Set<Service>();
  let lab: Lab | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      for (const s of live) await s.proc.stop();
      await lab?.down();
      rmSync(tmp, { recursive: true, force: true });
    })());
  const onSignal = (sig: string): void => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  try {
    log(`lab ${name} up`);
    lab = await Lab.up(name);
    execFileSync('bash', [path.join(repoRoot, 'scripts/make-lab-cert.sh'), path.join(tmp, 'tls'), 'server'], { stdio: 'ignore', timeout: 30_000 });
    const tls = { cert: path.join(tmp, 'tls/server.pem'), key: path.join(tmp, 'tls/server.key') };
    const c: Ctx = { o, lab, tmp, dataDir, script: writeWrkScript(tmp), live, starts: 0, tls };
    add('baseline', 'bareNodeRssKiB', await attempt('bare node RSS', () => bareNodeRssKiB(c.lab, false)));
    add('baseline', 'tsxNodeRssKiB', await attempt('bare node --import tsx RSS', () => bareNodeRssKiB(c.lab, true)));
    for (let round = 0; round < o.repeat; round++) {
      for (const binding of ['native', 'tuntap2'] as const) await attempt(`${binding} TAP frame path`, () => tapFrames(c, binding, o.quick ? 2 : 3));
      const order: StackKind[] = round % 2 === 0 ? ['direct', 'socket'] : ['socket', 'direct'];
      for (const kind of order) {
        log(`round ${round + 1}/${o.repeat}: ${kind} stack`);
        await attempt(`${kind} round ${round + 1}`, () => measureStack(c, kind, round));
      }
      await downloads(c, round);
    }
    if (o.soak > 0) {
      log(`direct stack: ${o.soak} s keep-alive soak`);
      await attempt('soak', () => soak(c));
    }
  } finally {
    await cleanup();
  }

  const table = toTable(buildRows(o));
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const commit = (await runCommand('git', ['rev-parse', '--short', 'HEAD'], 5000)).stdout.trim();
  const meta = {
    date: date.toISOString(),
    command,
    commit,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '',
    loadavgBefore: loadBefore.map((l) => Number(l.toFixed(2))),
    loadavgAfter: os.loadavg().map((l) => Number(l.toFixed(2))),
    minutes: Number(((performance.now() - t0) / 60_000).toFixed(1)),
    options: o,
  };
  const text = consoleTable(table);
  process.stdout.write(`\n${text}\n\n`);
  if (errors.length > 0) process.stdout.write(`problems during the run:\n${errors.map((e) => `  - ${e.split('\n')[0] ?? ''}`).join('\n')}\n`);

  const benchDir = path.join(repoRoot, 'bench');
  mkdirSync(path.join(benchDir, 'results'), { recursive: true });
  const markdown = markdownTable(table);
  writeFileSync(path.join(benchDir, 'results/latest.json'), `${JSON.stringify({ ...meta, table, raw, errors }, null, 2)}\n`);
  writeFileSync(path.join(benchDir, 'results/latest.md'), `${markdown}\n`);
  writeFileSync(path.join(benchDir, 'summary.json'), `${JSON.stringify({ ...meta, table, errors: errors.map((e) => e.split('\n')[0]) }, null, 2)}\n`);
  const chartRows = table.filter((t) => t.ratio !== null).map((t) => ({ label: `${t.metric}`, ratio: t.ratio ?? NaN, lowerIsBetter: t.unit === 'MB' }));
  const subtitle = `medians of ${o.repeat} run${o.repeat > 1 ? 's' : ''}, ${meta.cpus} cores, ${date.toISOString().slice(0, 10)} (${command})`;
  writeFileSync(path.join(benchDir, 'chart.svg'), barChart(chartRows, 'Direct stack vs kernel sockets (socket = 1.0)', subtitle));
  log(`wrote bench/results/latest.json, bench/results/latest.md, bench/summary.json, bench/chart.svg (${meta.minutes} min)`);
  if (o.loss === 'yes') await runLoss(o);
}

/** The loss section (bench/loss.ts): its table printed and written to bench/results/loss.{json,md} and bench/loss-summary.json. */
async function runLoss(o: Options): Promise<void> {
  const lo: LossOptions = { seeds: o.lossSeeds, mb: o.lossMb, path: o.lossPath, requests: o.lossRequests };
  log(`loss section: ${LOSS_SETTINGS.length} settings × ${lo.seeds} seeds × 4 senders, ${lo.mb} MiB at the lowest loss, path ${lo.path}; ${lo.requests} requests at 2 % loss`);
  const t0 = performance.now();
  const { samples, rows, requests, requestRows } = await lossSection(lo, log);
  const markdown = `${lossMarkdown(rows, lo)}${requestRows.length > 0 ? `\n\n${requestsMarkdown(requestRows, lo)}` : ''}`;
  process.stdout.write(`\n${markdown}\n\n`);
  const commit = (await runCommand('git', ['rev-parse', '--short', 'HEAD'], 5000)).stdout.trim();
  const meta = { date: new Date().toISOString(), commit, options: lo, minutes: Number(((performance.now() - t0) / 60_000).toFixed(1)) };
  const benchDir = path.join(repoRoot, 'bench');
  mkdirSync(path.join(benchDir, 'results'), { recursive: true });
  writeFileSync(path.join(benchDir, 'results/loss.json'), `${JSON.stringify({ ...meta, rows, requestRows, samples, requests }, null, 2)}\n`);
  writeFileSync(path.join(benchDir, 'results/loss.md'), `${markdown}\n`);
  writeFileSync(path.join(benchDir, 'loss-summary.json'), `${JSON.stringify({ ...meta, rows, requestRows }, null, 2)}\n`);
  log(`wrote bench/results/loss.json, bench/results/loss.md, bench/loss-summary.json (${meta.minutes} min)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
