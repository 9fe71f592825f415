// One UDP datagram to a port nobody serves, on a connected socket:
//
//   node --import tsx test/e2e/programs/udp-closed-port.ts HOST PORT
//
// The ICMP port unreachable that comes back surfaces as an error on the socket: the program prints its code and
// exits 0 for ECONNREFUSED (1 for any other). Should nothing come back within 3 s it prints TIMEOUT and exits 1.

import dgram from 'node:dgram';
import { numeric, positional } from './argv.ts';

/** How long the ICMP error may take (a bound: the answer is expected within milliseconds). */
const LIMIT_MS = 3000;

const a = positional('udp-closed-port.ts', ['host', 'port'] as const);
const s = dgram.createSocket('udp4');
const timer = setTimeout(() => {
  console.log('TIMEOUT');
  process.exit(1);
}, LIMIT_MS);
s.on('error', (e: NodeJS.ErrnoException) => {
  console.log(String(e.code));
  clearTimeout(timer);
  s.close();
  process.exitCode = e.code === 'ECONNREFUSED' ? 0 : 1;
});
s.connect(numeric('PORT', a.port), a.host, () => s.send('anyone there?'));
