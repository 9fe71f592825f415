// The loss section of the benchmark: goodput through an emulated path (link-emulator.ts between br0 and a second
// bridge the peer is moved to: 10 ms each way, 100 Mbit/s by default), our stack as the sender (chargen, RFC 864,
// with CUBIC and with NewReno) against Linux as the sender (the same service on kernel sockets, `--stack socket`,
// in a namespace of its own on br0: Linux's CUBIC and RACK as shipped), over the very same path, at each loss rate
// and in bursts, several seeds each (the link emulator's seed, the same for every sender). The peer's kernel reads
// the bytes and times them. Reports medians of goodput, ratios to Linux, and retransmissions and timeouts.
//
//   npm run bench -- --loss-only [--loss-seeds N] [--loss-mb N]       (root)

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCommand } from '../test/e2e/service-process.ts';
import { Lab, type Proc } from './lab.ts';

const OURS = '192.168.77.10';
const LINUX = '192.168.77.250';
const CHARGEN_PORT = 19;
const METRICS_PORT = 9100;
const MiB = 1024 * 1024;
const HTTP_PORT = 8088;
/** The small-request measurement: its loss (each way), and seeds at most (each a run of `requests` requests). */
const REQUEST_LOSS = 'loss=0.02';
const REQUEST_SEEDS = 3;

export interface LossOptions {
  seeds: number;
  /** MiB moved at the lowest loss rates; less at higher ones (the time Linux needs grows as 1/√p). */
  mb: number;
  /** The path: link-model.ts spec besides the loss. */
  path: string;
  /** Small keep-alive HTTP requests timed one by one at 2 % loss, per sender (0: none). */
  requests: number;
  /** Only these settings (by name) and senders; all when left out. */
  settings?: readonly string[];
  senders?: readonly Sender[];
}

export interface LossSetting {
  name: string;
  spec: string;
  /** A share of `mb`: what a transfer at this loss moves. */
  share: number;
}

export const LOSS_SETTINGS: readonly LossSetting[] = [
  { name: '0 %', spec: 'loss=0', share: 1 },
  { name: '0.5 %', spec: 'loss=0.005', share: 1 },
  { name: '1 %', spec: 'loss=0.01', share: 1 },
  { name: '2 %', spec: 'loss=0.02', share: 0.5 },
  { name: '5 %', spec: 'loss=0.05', share: 0.25 },
  { name: '10 %', spec: 'loss=0.1', share: 0.125 },
  { name: 'bursts (≈2 %, runs of ~3)', spec: 'burst=0.007/0.33/1', share: 0.5 },
];

/** Ours with each congestion control; Linux with CUBIC (its default, the anchor) and with BBR (for reference). */
export type Sender = 'cubic' | 'newreno' | 'linux' | 'linux-bbr';
const SENDERS: readonly Sender[] = ['cubic', 'newreno', 'linux', 'linux-bbr'];
const isLinux = (s: Sender): boolean => s === 'linux' || s === 'linux-bbr';

export interface LossSample {
  setting: string;
  sender: Sender;
  seed: number;
  bytes: number;
  seconds: number | undefined;
  mbit: number | undefined;
  retransmits: number;
  timeouts: number;
  error?: string;
}

export interface LossRow {
  setting: string;
  mib: number;
  /** Medians of goodput (Mbit/s) per sender, and ours to Linux's. */
  cubic: number | undefined;
  newreno: number | undefined;
  linux: number | undefined;
  /** Linux with BBR, for reference: not a loss-based controller. */
  linuxBbr: number | undefined;
  cubicRatio: number | undefined;
  newrenoRatio: number | undefined;
  /** Medians per transfer. */
  rtoCubic: number | undefined;
  rtoLinux: number | undefined;
  failed: number;
}

export interface RequestSample {
  sender: Sender;
  seed: number;
  /** Per-request latency percentiles (ms) and the whole run (s). */
  p50: number | undefined;
  p99: number | undefined;
  max: number | undefined;
  seconds: number | undefined;
  error?: string;
}

export interface RequestRow {
  sender: Sender;
  /** Medians over the seeds. */
  p50: number | undefined;
  p99: number | undefined;
  seconds: number | undefined;
  failed: number;
}

/**
 * N GETs of the auth service from HOST:PORT over one keep-alive connection, one at a time, each timed from the
 * request to the last byte of its answer (which must be the right one); one JSON line of percentiles.
 */
const REQUESTER = String.raw`
const http = require('node:http');
const [host, port, n, limitMs] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const lat = [];
const t0 = performance.now();
let done = false;
const out = (r) => { if (done) return; done = true; console.log(JSON.stringify(r)); process.exit(0); };
setTimeout(() => out({ error: 'timeout after ' + lat.length }), limitMs).unref();
const pct = (q) => { const s = [...lat].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]; };
function one() {
  const t = performance.now();
  const req = http.get({ host, port, path: '/?user=alice&password=secret', agent }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => {
      if (res.statusCode !== 200 || body !== 'hello alice!\n') return out({ error: 'answer ' + res.statusCode + ' ' + JSON.stringify(body) });
      lat.push(performance.now() - t);
      if (lat.length < n) one();
      else out({ p50: pct(0.5), p99: pct(0.99), max: pct(1), seconds: (performance.now() - t0) / 1000 });
    });
  });
  req.on('error', (e) => out({ error: e.code || e.message }));
}
one();
`;

/** Reads `bytes` from HOST:PORT (a chargen), timing from the connect to the last byte; one JSON line. */
const SINK = String.raw`
const net = require('node:net');
const [host, port, total, limitMs] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
let got = 0, t0 = 0, done = false;
const out = (r) => { if (done) return; done = true; console.log(JSON.stringify(r)); sock.destroy(); process.exit(0); };
setTimeout(() => out({ error: 'timeout', got }), limitMs).unref();
const sock = net.connect(port, host, () => { t0 = performance.now(); });
sock.on('data', (d) => { got += d.length; if (got >= total) out({ bytes: got, seconds: (performance.now() - t0) / 1000 }); });
sock.on('error', (e) => out({ error: e.code || e.message, got }));
sock.on('close', () => out({ error: 'closed early', got }));
`;

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await runCommand(cmd, args, 30_000);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/** The emulated path: the peer moved behind br1, a Linux sender's namespace on br0. */
async function buildPath(lab: Lab, linuxNs: string): Promise<void> {
  await must('ip', ['-n', lab.name, 'link', 'add', 'br1', 'type', 'bridge']);
  await must('ip', ['-n', lab.name, 'link', 'set', 'br1', 'up']);
  await must('ip', ['-n', lab.name, 'link', 'set', 'veth-hostonly', 'master', 'br1']);
  await must('ip', ['netns', 'add', linuxNs]);
  await must('ip', ['-n', lab.name, 'link', 'add', 'veth-lin', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', linuxNs]);
  await must('ip', ['-n', lab.name, 'link', 'set', 'veth-lin', 'master', 'br0', 'up']);
  await must('ip', ['-n', linuxNs, 'addr', 'add', `${LINUX}/24`, 'dev', 'eth0']);
  await must('ip', ['-n', linuxNs, 'link', 'set', 'eth0', 'up']);
  await must('ip', ['-n', linuxNs, 'link', 'set', 'lo', 'up']);
}

/**
 * The Linux sender's congestion control, whatever the host's default is (BBR on some kernels: it does not answer
 * loss with a smaller window, so it is no measure of loss recovery): set on the route, since a namespace's
 * default may only be one the host allows (tcp_allowed_congestion_control), and checked.
 */
async function setLinuxCc(ns: string, cc: string): Promise<void> {
  await must('ip', ['-n', ns, 'route', 'replace', '192.168.77.0/24', 'dev', 'eth0', 'proto', 'kernel', 'scope', 'link', 'src', LINUX, 'congctl', cc]);
  const route = await runCommand('ip', ['-n', ns, 'route', 'show', '192.168.77.0/24'], 10_000);
  if (!route.stdout.includes(`congctl ${cc}`)) throw new Error(`the Linux sender's route did not take congctl ${cc}: ${route.stdout.trim()}`);
}

/** Our counters (through the metrics port, reached from br0's side, off the emulated path). */
async function ourCounters(lab: Lab): Promise<{ retransmits: number; timeouts: number }> {
  const r = await lab.inLab(['curl', '-s', '--max-time', '5', `http://${OURS}:${METRICS_PORT}/metrics`], 10_000);
  const get = (name: string): number => Number(new RegExp(`^direct_stack_events_total\\{name="${name.replace('.', '\\.')}"\\} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? 0);
  return { retransmits: get('tcp.retransmitted_segment'), timeouts: get('tcp.rto') };
}

/** Linux's counters in its namespace (nstat: TcpRetransSegs, TcpExtTCPTimeouts). */
async function linuxCounters(ns: string): Promise<{ retransmits: number; timeouts: number }> {
  const r = await runCommand('ip', ['netns', 'exec', ns, 'nstat', '-az', '-j'], 10_000);
  try {
    const j = JSON.parse(r.stdout) as Record<string, Record<string, number>>;
    const k = j.kernel ?? {};
    return { retransmits: k.TcpRetransSegs ?? 0, timeouts: k.TcpExtTCPTimeouts ?? 0 };
  } catch {
    return { retransmits: 0, timeouts: 0 };
  }
}

/** Runs the loss section; `log` reports progress. Returns every sample and the table of medians. */
export async function lossSection(o: LossOptions, log: (l: string) => void): Promise<{ samples: LossSample[]; rows: LossRow[]; requests: RequestSample[]; requestRows: RequestRow[] }> {
  const name = `mloss-${randomBytes(3).toString('hex')}`;
  const linuxNs = `${name}-lin`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mloss-'));
  chmodSync(tmp, 0o755); // the services drop to nobody once started, and read the users from here
  const samples: LossSample[] = [];
  const requests: RequestSample[] = [];
  writeFileSync(path.join(tmp, 'alice'), 'secret\n');
  const procs = new Set<Proc>();
  const lab = await Lab.up(name);
  try {
    await buildPath(lab, linuxNs);
    for (const sender of SENDERS.filter((x) => o.senders?.includes(x) ?? true)) {
      if (isLinux(sender)) await setLinuxCc(linuxNs, sender === 'linux' ? 'cubic' : 'bbr');
      const service = isLinux(sender)
        ? lab.spawnInLab(['ip', 'netns', 'exec', linuxNs, 'node', 'dist/main.js', '--stack', 'socket', '--listen', LINUX, '--data', tmp, '--chargen-port', String(CHARGEN_PORT)], 3_600_000)
        : lab.spawnInLab(['node', 'dist/main.js', '--bridge', 'br0', '--mac', '02:00:5e:00:00:4a', '--ipv4', `${OURS}/24`, '--ipv6', 'off', '--data', tmp,
          '--chargen-port', String(CHARGEN_PORT), '--metrics-port', String(METRICS_PORT), '--tcp-cc', sender], 3_600_000);
      procs.add(service);
      try {
        await service.waitLine(/^chargen service on TCP port/, 30_000);
        const host = isLinux(sender) ? LINUX : OURS;
        /** Runs `fn` with the emulated path up: `spec` besides the path, the link's seed `seed`. */
        const withLink = async (spec: string, seed: number, fn: () => Promise<void>): Promise<void> => {
          const link = lab.spawnInLab(['node', '--import', 'tsx', 'bench/link-emulator.ts', '--a', 'br0', '--b', 'br1', '--both', `${o.path},${spec}`, '--seed', String(seed), '--lifetime', '200000'], 210_000);
          procs.add(link);
          try {
            await link.waitLine(/^link: ready/, 20_000);
            await fn();
          } finally {
            await link.stop();
            procs.delete(link);
          }
        };
        for (const setting of LOSS_SETTINGS.filter((x) => o.settings?.includes(x.name) ?? true)) {
          const bytes = Math.max(1, Math.round(o.mb * setting.share * MiB));
          for (let seed = 1; seed <= o.seeds; seed++) {
            await withLink(setting.spec, seed, async () => {
              const before = isLinux(sender) ? await linuxCounters(linuxNs) : await ourCounters(lab);
              const r = await lab.inPeer(['node', '-e', SINK, host, String(CHARGEN_PORT), String(bytes), '120000'], 130_000);
              const after = isLinux(sender) ? await linuxCounters(linuxNs) : await ourCounters(lab);
              let parsed: { bytes?: number; seconds?: number; error?: string } = {};
              try {
                parsed = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as typeof parsed;
              } catch {
                parsed = { error: r.stderr.trim() || 'no output' };
              }
              const seconds = parsed.error === undefined ? parsed.seconds : undefined;
              samples.push({
                setting: setting.name, sender, seed, bytes, seconds, mbit: seconds === undefined ? undefined : (bytes * 8) / seconds / 1e6,
                retransmits: after.retransmits - before.retransmits, timeouts: after.timeouts - before.timeouts,
                ...(parsed.error !== undefined ? { error: parsed.error } : {}),
              });
              const last = samples.at(-1);
              log(`loss ${setting.name} seed ${seed} ${sender}: ${last?.mbit?.toFixed(1) ?? last?.error ?? '?'} Mbit/s, ${last?.retransmits ?? 0} retransmitted, ${last?.timeouts ?? 0} RTOs`);
            });
          }
        }
        // Small requests at 2 % loss: one keep-alive connection, one request at a time, each one timed.
        if (o.requests > 0) {
          for (let seed = 1; seed <= Math.min(o.seeds, REQUEST_SEEDS); seed++) {
            await withLink(REQUEST_LOSS, seed, async () => {
              const r = await lab.inPeer(['node', '-e', REQUESTER, host, String(HTTP_PORT), String(o.requests), '170000'], 180_000);
              let parsed: { p50?: number; p99?: number; max?: number; seconds?: number; error?: string } = {};
              try {
                parsed = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as typeof parsed;
              } catch {
                parsed = { error: r.stderr.trim() || 'no output' };
              }
              requests.push({ sender, seed, p50: parsed.p50, p99: parsed.p99, max: parsed.max, seconds: parsed.seconds, ...(parsed.error !== undefined ? { error: parsed.error } : {}) });
              log(`requests ${o.requests} at ${REQUEST_LOSS} seed ${seed} ${sender}: ${parsed.error ?? `p50 ${parsed.p50?.toFixed(1)} ms, p99 ${parsed.p99?.toFixed(1)} ms, ${parsed.seconds?.toFixed(1)} s`}`);
            });
          }
        }
      } finally {
        await service.stop();
        procs.delete(service);
      }
    }
  } finally {
    for (const p of procs) await p.stop();
    await runCommand('ip', ['netns', 'del', linuxNs], 10_000);
    await lab.down();
    rmSync(tmp, { recursive: true, force: true });
  }
  const rows = LOSS_SETTINGS.map((s): LossRow => {
    const of = (sender: Sender): LossSample[] => samples.filter((x) => x.setting === s.name && x.sender === sender);
    const good = (sender: Sender): number | undefined => median(of(sender).flatMap((x) => (x.mbit === undefined ? [] : [x.mbit])));
    const rto = (sender: Sender): number | undefined => median(of(sender).map((x) => x.timeouts));
    const linux = good('linux');
    const cubic = good('cubic');
    const newreno = good('newreno');
    return {
      setting: s.name, mib: Math.round(o.mb * s.share * 100) / 100, cubic, newreno, linux, linuxBbr: good('linux-bbr'),
      cubicRatio: cubic !== undefined && linux !== undefined ? cubic / linux : undefined,
      newrenoRatio: newreno !== undefined && linux !== undefined ? newreno / linux : undefined,
      rtoCubic: rto('cubic'), rtoLinux: rto('linux'),
      failed: samples.filter((x) => x.setting === s.name && x.error !== undefined).length,
    };
  });
  const requestRows = SENDERS.flatMap((sender): RequestRow[] => {
    const of = requests.filter((x) => x.sender === sender);
    if (of.length === 0) return [];
    const med = (f: (x: RequestSample) => number | undefined): number | undefined => median(of.flatMap((x) => { const v = f(x); return x.error === undefined && v !== undefined ? [v] : []; }));
    return [{ sender, p50: med((x) => x.p50), p99: med((x) => x.p99), seconds: med((x) => x.seconds), failed: of.filter((x) => x.error !== undefined).length }];
  });
  return { samples, rows, requests, requestRows };
}

/** The table as Markdown. */
export function lossMarkdown(rows: LossRow[], o: LossOptions): string {
  const f = (v: number | undefined, d = 1): string => (v === undefined ? '–' : v.toFixed(d));
  const head = `| loss (each way; ${o.path}) | MiB | ours, CUBIC Mbit/s | ours, NewReno | Linux, CUBIC | CUBIC / Linux | NewReno / Linux | RTOs ours (CUBIC) / Linux | Linux, BBR (reference) | failed |`;
  const lines = rows.map((r) => `| ${r.setting} | ${r.mib} | ${f(r.cubic)} | ${f(r.newreno)} | ${f(r.linux)} | ${f(r.cubicRatio, 2)} | ${f(r.newrenoRatio, 2)} | ${f(r.rtoCubic, 0)} / ${f(r.rtoLinux, 0)} | ${f(r.linuxBbr)} | ${r.failed} |`);
  return [head, '|---|---|---|---|---|---|---|---|---|---|', ...lines].join('\n');
}

const SENDER_NAMES: Record<Sender, string> = { cubic: 'ours, CUBIC', newreno: 'ours, NewReno', linux: 'Linux (node:http on the kernel), CUBIC', 'linux-bbr': 'Linux (node:http on the kernel), BBR' };

/** The small-request table as Markdown: p50 and p99 per sender, and ours against Linux with CUBIC. */
export function requestsMarkdown(rows: RequestRow[], o: LossOptions): string {
  const f = (v: number | undefined, d = 1): string => (v === undefined ? '–' : v.toFixed(d));
  const linux = rows.find((r) => r.sender === 'linux');
  const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '–' : (a / b).toFixed(2));
  const head = `| ${o.requests} keep-alive requests at ${REQUEST_LOSS.replace('loss=', '')} loss each way | p50 ms | p99 ms | whole run s | p99 / Linux's | failed runs |`;
  const lines = rows.map((r) => `| ${SENDER_NAMES[r.sender]} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.seconds)} | ${ratio(r.p99, linux?.p99)} | ${r.failed} |`);
  return [head, '|---|---|---|---|---|---|', ...lines].join('\n');
}
