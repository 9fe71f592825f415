// Legitimate traffic during an attack: for DURATION_MS, a new GET for john's right password every INTERVAL_MS,
// each on a fresh connection (so each needs a new handshake) and given at most WITHIN_MS:
//
//   node --import tsx test/e2e/programs/paced-requests.ts HOST PORT INTERVAL_MS DURATION_MS WITHIN_MS
//
// Bounded in count (DURATION_MS / INTERVAL_MS requests) and time (DURATION_MS + WITHIN_MS). Prints one PacedReport
// as a JSON line: how many were answered 200 within WITHIN_MS, and the latencies of those answered.

import http from 'node:http';
import { errorCode, numeric, positional } from './argv.ts';

export interface PacedReport {
  sent: number;
  /** Answered 200 `hello john!` within WITHIN_MS. */
  within: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Failures by kind (timeout, ECONNRESET, status 500…), the first few of each. */
  failures: Record<string, number>;
}

const a = positional('paced-requests.ts', ['host', 'port', 'intervalMs', 'durationMs', 'withinMs'] as const);
const port = numeric('PORT', a.port);
const interval = numeric('INTERVAL_MS', a.intervalMs);
const duration = numeric('DURATION_MS', a.durationMs);
const within = numeric('WITHIN_MS', a.withinMs);
const latencies: number[] = [];
const failures: Record<string, number> = {};
const fail = (why: string): void => {
  failures[why] = (failures[why] ?? 0) + 1;
};

function one(): Promise<void> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: a.host, port, path: '/?user=john&password=password', agent: false, timeout: within }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => {
        const ms = performance.now() - t0;
        if (r.statusCode !== 200 || body !== 'hello john!\n') fail(`status ${r.statusCode ?? '?'}`);
        else if (ms > within) fail('late');
        else latencies.push(ms);
        resolve();
      });
      r.on('error', (e: NodeJS.ErrnoException) => {
        fail(errorCode(e));
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      fail(errorCode(e));
      resolve();
    });
  });
}

const pending: Array<Promise<void>> = [];
const count = Math.floor(duration / interval);
for (let i = 0; i < count; i++) {
  pending.push(one());
  await new Promise((r) => setTimeout(r, interval));
}
await Promise.all(pending);
latencies.sort((x, y) => x - y);
const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN) * 10) / 10;
const report: PacedReport = { sent: count, within: latencies.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), failures };
console.log(JSON.stringify(report));
