// A round trip through an RFC 862 echo service:
//
//   node --import tsx test/e2e/programs/echo-roundtrip.ts HOST PORT SIZE LIMIT_MS
//
// Sends SIZE random bytes to HOST:PORT and end()s, then reads until the server ends the stream, hashing what
// comes back as it arrives (10 MB never sit in memory twice) and noting where it first differs from what was sent.
// Bounded by LIMIT_MS; prints {"ev":"connected"} once connected, then one EchoReport as the last JSON line.

import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { errorCode, numeric, positional } from './argv.ts';

export interface EchoReport {
  sent: number;
  received: number;
  /** The socket error's code, or null. */
  error: string | null;
  /** 'end' (the server ended the stream), 'error', or 'timeout after LIMIT_MS ms'. */
  how: string;
  /** Whether the server's end of the stream (its FIN) arrived. */
  ended: boolean;
  /** From connecting to the end. */
  ms: number;
  sentSha: string;
  receivedSha: string;
  /** Only when the digests differ: the offset of the first byte that came back wrong, or of the first missing one. */
  firstDifference?: number;
}

const a = positional('echo-roundtrip.ts', ['host', 'port', 'size', 'limitMs'] as const);
const limitMs = numeric('LIMIT_MS', a.limitMs);
const sent = randomBytes(numeric('SIZE', a.size));
const hash = createHash('sha256');
const report: EchoReport = { sent: sent.length, received: 0, error: null, how: '', ended: false, ms: 0, sentSha: '', receivedSha: '' };
let firstDifference: number | undefined;
const t0 = Date.now();
let finished = false;

function done(how: string): void {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  report.how = how;
  report.ms = Date.now() - t0;
  report.sentSha = createHash('sha256').update(sent).digest('hex');
  report.receivedSha = hash.digest('hex');
  if (report.receivedSha !== report.sentSha) report.firstDifference = firstDifference ?? Math.min(report.received, sent.length);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  sock.destroy();
}

/** Compares a chunk with what was sent at its offset (one memcmp; byte by byte only once it differs). */
function compare(d: Buffer, at: number): void {
  if (firstDifference !== undefined || d.equals(sent.subarray(at, at + d.length))) return;
  for (let i = 0; i < d.length; i++) {
    if (at + i >= sent.length || d[i] !== sent[at + i]) {
      firstDifference = at + i;
      return;
    }
  }
}

const timer = setTimeout(() => done(`timeout after ${limitMs} ms`), limitMs);
const sock = net.connect(numeric('PORT', a.port), a.host, () => {
  // A line before the report, for a test that must act during the transfer (the report stays the last line).
  process.stdout.write(`${JSON.stringify({ ev: 'connected' })}\n`);
  sock.end(sent);
});
sock.on('data', (d: Buffer) => {
  compare(d, report.received);
  hash.update(d);
  report.received += d.length;
});
sock.on('end', () => {
  report.ended = true;
  done('end');
});
sock.on('error', (e: NodeJS.ErrnoException) => {
  report.error = errorCode(e);
  done('error');
});
