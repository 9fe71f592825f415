// A live connection to an RFC 862 echo service, driven line by line over stdin (hostile.test.ts keeps one open
// while it attacks the stack):
//
//   node --import tsx test/e2e/programs/echo-client.ts HOST PORT LIFETIME_MS
//
// Connects to HOST:PORT and prints {"ev":"connected","port":N} (N its local port). For each stdin line `send TAG`
// it writes TAG and a newline, and prints {"ev":"echoed","tag":TAG,"ms":M} when exactly that line comes back;
// anything else that arrives is {"ev":"unexpected",…}. Errors, the end of the connection and the lifetime running
// out are printed too, one JSON object a line. Exits at stdin's end, when the connection closes, or after
// LIFETIME_MS.

import net from 'node:net';
import readline from 'node:readline';
import { errorCode, numeric, positional } from './argv.ts';

/** What the client prints, one a line; the key order is what the test's patterns match. */
export type EchoClientEvent =
  | { ev: 'connected'; port: number }
  | { ev: 'echoed'; tag: string; ms: number }
  | { ev: 'unexpected'; data: string }
  | { ev: 'error'; code: string }
  | { ev: 'closed' }
  | { ev: 'lifetime' };

const a = positional('echo-client.ts', ['host', 'port', 'lifetimeMs'] as const);
const say = (o: EchoClientEvent): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
/** The lines written and not yet echoed, oldest first. */
const pending: Array<{ tag: string; at: number }> = [];
let buf = '';

const sock = net.connect(numeric('PORT', a.port), a.host, () => say({ ev: 'connected', port: sock.localPort ?? 0 }));
sock.setNoDelay(true);
sock.on('data', (d: Buffer) => {
  buf += d.toString('latin1');
  for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const p = pending[0];
    if (p !== undefined && line === p.tag) {
      pending.shift();
      say({ ev: 'echoed', tag: line, ms: Date.now() - p.at });
    } else say({ ev: 'unexpected', data: line.slice(0, 200) });
  }
  if (buf.length > 4096) {
    say({ ev: 'unexpected', data: buf.slice(0, 200) });
    buf = '';
  }
});
sock.on('error', (e: NodeJS.ErrnoException) => say({ ev: 'error', code: errorCode(e) }));
sock.on('close', () => {
  say({ ev: 'closed' });
  process.exit(0);
});

readline
  .createInterface({ input: process.stdin })
  .on('line', (l) => {
    const m = /^send (\S+)$/.exec(l);
    const tag = m?.[1];
    if (tag === undefined) return;
    pending.push({ tag, at: Date.now() });
    sock.write(`${tag}\n`);
  })
  .on('close', () => {
    sock.destroy();
    process.exit(0);
  });

// The client's hard lifetime (a bound, not a wait): whatever the test does, it is gone after LIFETIME_MS.
setTimeout(() => {
  say({ ev: 'lifetime' });
  process.exit(0);
}, numeric('LIFETIME_MS', a.lifetimeMs));
