// Two idle-but-alive HTTP connections to the stack, one to the service and one to its metrics port:
//
//   node --import tsx test/e2e/programs/hold-connections.ts HOST HTTP_PORT METRICS_PORT LIMIT_MS
//
// Sends a request on each once a second (so that neither idles out), prints `READY {"PORT":LOCAL_PORT,…}` once
// both have answered, and at the end (both closed by the server, or LIMIT_MS) one HoldReport as a JSON line: per
// port, how many responses, whether the server ended the connection, and when.

import net from 'node:net';
import { errorCode, numeric, positional } from './argv.ts';

export interface HoldReport {
  /** LIMIT_MS ran out before the server closed both. */
  timeout: boolean;
  ports: Record<string, { local: number; responses: number; ended: boolean; endedAtMs: number | null; error: string | null }>;
}

/** The pause between one response and the next request: part of the scenario (connections in use, never idle long). */
const REQUEST_EVERY_MS = 1000;

const a = positional('hold-connections.ts', ['host', 'httpPort', 'metricsPort', 'limitMs'] as const);
const t0 = Date.now();
const res: HoldReport = { timeout: false, ports: {} };
let open = 2;
let ready = false;

function done(): void {
  console.log(JSON.stringify(res));
  process.exit(0);
}

setTimeout(() => {
  res.timeout = true;
  done();
}, numeric('LIMIT_MS', a.limitMs));

for (const [port, target] of [[a.httpPort, '/'], [a.metricsPort, '/metrics']] as const) {
  const r = { local: 0, responses: 0, ended: false, endedAtMs: null as number | null, error: null as string | null };
  res.ports[port] = r;
  let buf = Buffer.alloc(0);
  const sock = net.connect(numeric('PORT', port), a.host);
  const send = (): void => {
    if (!r.ended) sock.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
  };
  sock.on('connect', () => {
    r.local = sock.localPort ?? 0;
    send();
  });
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length: (\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < total) return;
      buf = buf.subarray(total);
      r.responses++;
      setTimeout(send, REQUEST_EVERY_MS);
      const all = Object.values(res.ports);
      if (!ready && all.length === 2 && all.every((p) => p.responses > 0)) {
        ready = true;
        console.log(`READY ${JSON.stringify(Object.fromEntries(Object.entries(res.ports).map(([k, v]) => [k, v.local])))}`);
      }
    }
  });
  sock.on('end', () => {
    r.ended = true;
    r.endedAtMs = Date.now() - t0;
    sock.end();
  });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    r.error = errorCode(e);
  });
  sock.on('close', () => {
    if (--open === 0) done();
  });
}
