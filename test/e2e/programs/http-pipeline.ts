// Two pipelined HTTP/1.1 requests in one write, the second with `Connection: close`:
//
//   node --import tsx test/e2e/programs/http-pipeline.ts HOST PORT
//
// john's right password, then a wrong one. Prints one PipelineReport as a JSON line once the connection closes
// (or after 10 s): everything that came back, raw, and how the connection ended.

import net from 'node:net';
import { errorCode, numeric, positional } from './argv.ts';

export interface PipelineReport {
  connected: boolean;
  /** The server's FIN arrived. */
  ended: boolean;
  closed: boolean;
  error: string | null;
  writes: number;
  /** Every byte that came back, as latin1. */
  data: string;
  /** 'close', or 'timeout' after LIMIT_MS. */
  how: string;
}

/** The bound on the whole exchange. */
const LIMIT_MS = 10_000;
const REQUESTS =
  'GET /?user=john&password=password HTTP/1.1\r\nHost: x\r\n\r\n' +
  'GET /?user=john&password=wrong HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

const a = positional('http-pipeline.ts', ['host', 'port'] as const);
const chunks: Buffer[] = [];
const res: PipelineReport = { connected: false, ended: false, closed: false, error: null, writes: 0, data: '', how: '' };

function done(why: string): void {
  clearTimeout(timer);
  res.how = why;
  res.data = Buffer.concat(chunks).toString('latin1');
  console.log(JSON.stringify(res));
  sock.destroy();
}

const timer = setTimeout(() => done('timeout'), LIMIT_MS);
const sock = net.connect(numeric('PORT', a.port), a.host, () => {
  res.connected = true;
  res.writes++;
  sock.write(REQUESTS);
});
sock.on('data', (d: Buffer) => chunks.push(d));
sock.on('end', () => {
  res.ended = true;
});
sock.on('error', (e: NodeJS.ErrnoException) => {
  res.error = errorCode(e);
});
sock.on('close', () => {
  res.closed = true;
  done('close');
});
