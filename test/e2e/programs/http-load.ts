// COUNT GETs for john's right password, one connection each (agent: false), one after the other or all at once:
//
//   node --import tsx test/e2e/programs/http-load.ts HOST PORT COUNT sequential|concurrent LIMIT_MS
//
// Each wants 200 and the body `hello john!\n`. Prints one LoadReport as a JSON line when all are done, or when
// LIMIT_MS runs out (then `how` says so).

import http from 'node:http';
import { errorCode, numeric, positional } from './argv.ts';

export interface LoadReport {
  mode: string;
  n: number;
  ok: number;
  wrongStatus: number;
  wrongBody: number;
  errors: number;
  /** The first few failures, for the failure message. */
  samples: string[];
  ms: number;
  /** 'done', or 'timeout after LIMIT_MS ms'. */
  how: string;
}

const WANT = 'hello john!\n';
/** Each request's own bound. */
const REQUEST_TIMEOUT_MS = 10_000;

const a = positional('http-load.ts', ['host', 'port', 'count', 'mode', 'limitMs'] as const);
const port = numeric('PORT', a.port);
const n = numeric('COUNT', a.count);
const limitMs = numeric('LIMIT_MS', a.limitMs);
const res: LoadReport = { mode: a.mode, n, ok: 0, wrongStatus: 0, wrongBody: 0, errors: 0, samples: [], ms: 0, how: '' };
const t0 = Date.now();

function finish(why: string): void {
  res.ms = Date.now() - t0;
  res.how = why;
  console.log(JSON.stringify(res));
  process.exit(0);
}

const note = (s: string): void => {
  if (res.samples.length < 5) res.samples.push(s);
};

function one(i: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: a.host, port, path: '/?user=john&password=password', agent: false, timeout: REQUEST_TIMEOUT_MS }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        if (r.statusCode !== 200) {
          res.wrongStatus++;
          note(`${i}: status ${r.statusCode}`);
        } else if (body !== WANT) {
          res.wrongBody++;
          note(`${i}: body ${JSON.stringify(body)}`);
        } else res.ok++;
        resolve();
      });
      r.on('error', (e: NodeJS.ErrnoException) => {
        res.errors++;
        note(`${i}: response ${errorCode(e)}`);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      res.errors++;
      note(`${i}: ${errorCode(e)}`);
      resolve();
    });
  });
}

setTimeout(() => finish(`timeout after ${limitMs} ms`), limitMs);
if (a.mode === 'sequential') {
  for (let i = 0; i < n; i++) await one(i);
} else {
  await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
}
finish('done');
