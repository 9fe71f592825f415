// Bulk transfers and many idle connections, driven by small node scripts in the peer namespace. Every script
// bounds itself in time and prints one JSON line; the process running it has a hard limit on top.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../test/e2e/service-process.ts';
import { PEER_ADDR, type Lab } from './lab.ts';

const MiB = 1024 * 1024;

/** Sends `bytes` to an echo server and reads them back; times the whole exchange from the connect. */
const ECHO_SCRIPT = String.raw`
const net = require('node:net');
const [host, port, total, limitMs] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
const chunk = Buffer.alloc(64 * 1024, 0x61);
let sent = 0, got = 0, t0 = 0;
const out = (r) => { console.log(JSON.stringify(r)); process.exit(r.error ? 1 : 0); };
setTimeout(() => out({ error: 'timeout', sent, got }), limitMs).unref();
const sock = net.connect(port, host, () => { t0 = performance.now(); pump(); });
const pump = () => {
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent);
    sent += n;
    if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return sock.once('drain', pump);
  }
};
sock.on('data', (d) => {
  got += d.length;
  if (got >= total) { out({ bytes: got, seconds: (performance.now() - t0) / 1000 }); }
});
sock.on('error', (e) => out({ error: e.code || e.message, sent, got }));
sock.on('close', () => out({ error: 'closed early', sent, got }));
`;

/** Opens `count` connections (at most `parallel` connecting at once), each proven by one echoed byte; holds them until told. */
const IDLE_SCRIPT = String.raw`
const net = require('node:net');
const [host, port, count, parallel, limitMs] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
const socks = [];
let started = 0, held = 0, failed = 0, inFlight = 0;
const t0 = performance.now();
setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', held, failed })); process.exit(1); }, limitMs).unref();
const next = () => {
  while (inFlight < parallel && started < count) {
    started++; inFlight++;
    let done = false;
    const finish = (ok) => { if (done) return; done = true; inFlight--; ok ? held++ : failed++; if (held + failed === count) report(); else next(); };
    const s = net.connect(port, host, () => s.write('x'));
    s.setTimeout(20000, () => { s.destroy(); finish(false); });
    s.once('data', () => { s.setTimeout(0); finish(true); });
    s.on('error', () => finish(false));
    socks.push(s);
  }
};
const report = () => {
  console.log(JSON.stringify({ held, failed, seconds: (performance.now() - t0) / 1000 }));
  process.stdin.once('data', () => {
    for (const s of socks) s.destroy();
    setTimeout(() => { console.log(JSON.stringify({ closed: socks.length })); process.exit(0); }, 500);
  });
};
next();
`;

/** Serves `bytes` bytes to every GET (content-length framed) until `limitMs` has passed. */
const HTTP_SCRIPT = String.raw`
const http = require('node:http');
const [port, total, limitMs] = process.argv.slice(1).map(Number);
const chunk = Buffer.alloc(64 * 1024, 0x62);
setTimeout(() => process.exit(0), limitMs).unref();
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return res.once('drain', pump);
    }
    res.end();
  };
  pump();
}).listen(port, '0.0.0.0', () => console.log('ready'));
`;

export interface Throughput {
  bytes: number;
  seconds: number;
  mbitPerSecond: number;
}

function lastJson(stdout: string): Record<string, unknown> {
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    return { error: `no report: ${stdout.slice(-500)}` };
  }
}

function throughput(bytes: number, seconds: number): Throughput {
  return { bytes, seconds, mbitPerSecond: (bytes * 8) / seconds / 1e6 };
}

/** `mb` MiB to the echo port and back: the throughput each way (both directions run at once). */
export async function echoBulk(lab: Lab, host: string, port: number, mb: number, limitMs: number): Promise<Throughput> {
  const r = await lab.inPeer([process.execPath, '-e', ECHO_SCRIPT, host, String(port), String(mb * MiB), String(limitMs)], limitMs + 10_000);
  const j = lastJson(r.stdout);
  if (typeof j.bytes !== 'number' || typeof j.seconds !== 'number') throw new Error(`echo of ${mb} MiB failed: ${JSON.stringify(j)} ${r.stderr}`);
  return throughput(j.bytes, j.seconds);
}

export interface IdleResult {
  held: number;
  failed: number;
  seconds: number;
  /** The server's RSS (KiB) while all of them are held. */
  rssKiB: number;
}

/** Opens `count` connections to the echo port from the peer, reads the server's RSS while they are held, closes them. */
export async function idleConnections(lab: Lab, host: string, port: number, count: number, rss: () => number, limitMs: number): Promise<IdleResult> {
  const p = lab.spawnInPeer([process.execPath, '-e', IDLE_SCRIPT, host, String(port), String(count), '200', String(limitMs)], limitMs + 10_000);
  try {
    const line = await p.waitLine(/^\{.*\}$/, limitMs + 5000);
    const j = JSON.parse(line.match[0]) as Record<string, unknown>;
    if (typeof j.held !== 'number' || typeof j.failed !== 'number' || typeof j.seconds !== 'number') throw new Error(`idle connections: ${line.match[0]}`);
    await new Promise((r) => setTimeout(r, 2000)); // let the server settle (delayed ACKs, GC)
    const result = { held: j.held, failed: j.failed, seconds: j.seconds, rssKiB: rss() };
    p.send('close');
    await p.waitLine(/"closed"/, 10_000).catch(() => undefined);
    return result;
  } finally {
    await p.stop();
  }
}

export const GET_MAC = '02:00:5e:00:00:43';
const HTTP_PEER_PORT = 8000;

/** True when `npm run get` (src/get.ts, our stack as an HTTP client) exists in this tree. */
export function haveGet(): boolean {
  return existsSync(path.join(repoRoot, 'src/get.ts'));
}

/**
 * `mb` MiB downloaded from an HTTP server in the peer namespace, by a client in the lab namespace: our stack
 * (`npm run get`, on a TAP in br0, DHCP first) or the kernel's (curl). Timed by the client from its connect.
 */
export async function download(lab: Lab, client: 'direct' | 'socket', mb: number, dhcpState: string, limitMs: number): Promise<Throughput> {
  const server = lab.spawnInPeer([process.execPath, '-e', HTTP_SCRIPT, String(HTTP_PEER_PORT), String(mb * MiB), String(limitMs + 60_000)], limitMs + 70_000);
  try {
    await server.waitLine(/^ready$/, 10_000);
    const url = `http://${PEER_ADDR}:${HTTP_PEER_PORT}/`;
    if (client === 'socket') {
      const r = await lab.inLab(['curl', '-s', '-o', '/dev/null', '--max-time', String(limitMs / 1000), '-w', '%{size_download} %{time_total}', url], limitMs + 5000);
      const [bytes, seconds] = r.stdout.trim().split(' ').map(Number);
      if (r.code !== 0 || bytes === undefined || seconds === undefined) throw new Error(`curl exited ${r.code}: ${r.stdout}${r.stderr}`);
      return throughput(bytes, seconds);
    }
    const args = ['node', 'dist/get.js', url, '-o', '/dev/null', '--bridge', 'br0', '--mac', GET_MAC, '--dhcp-state', dhcpState, '--timeout', String(limitMs / 1000)];
    const r = await lab.inLab(args, limitMs + 40_000);
    const m = /get: 200 [^,]*, (\d+) bytes in ([0-9.]+) s/.exec(r.stderr);
    if (m === null) throw new Error(`npm run get exited ${r.code}:\n${r.stderr.slice(-2000)}`);
    return throughput(Number(m[1]), Number(m[2]));
  } finally {
    await server.stop();
  }
}
