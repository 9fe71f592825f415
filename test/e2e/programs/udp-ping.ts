// Datagrams to a UDP echo service, from the kernel's UDP (node:dgram):
//
//   node --import tsx test/e2e/programs/udp-ping.ts HOST PORT COUNT LIMIT_MS
//
// Sends COUNT datagrams of different sizes (up to 1400 bytes), one at a time, each waiting for its echo (a retry
// after 500 ms, twice); prints one UdpPingReport as a JSON line when done or when LIMIT_MS runs out.

import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { numeric, positional } from './argv.ts';

export interface UdpPingReport {
  sent: number;
  echoed: number;
  wrong: number;
  how: string;
}

const a = positional('udp-ping.ts', ['host', 'port', 'count', 'limitMs'] as const);
const port = numeric('PORT', a.port);
const count = numeric('COUNT', a.count);
const report: UdpPingReport = { sent: 0, echoed: 0, wrong: 0, how: '' };
const sock = dgram.createSocket('udp4');
const finish = (how: string): void => {
  report.how = how;
  process.stdout.write(`${JSON.stringify(report)}\n`);
  sock.close();
  process.exit(0);
};
setTimeout(() => finish(`timeout after ${a.limitMs} ms`), numeric('LIMIT_MS', a.limitMs)).unref();

function once(payload: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    let tries = 0;
    const send = (): void => {
      tries++;
      report.sent++;
      sock.send(payload, port, a.host);
    };
    const retry = setInterval(() => (tries < 3 ? send() : (clearInterval(retry), sock.off('message', on), resolve(false))), 500);
    const on = (msg: Buffer): void => {
      clearInterval(retry);
      sock.off('message', on);
      resolve(msg.equals(payload));
    };
    sock.on('message', on);
    send();
  });
}

for (let i = 0; i < count; i++) {
  const ok = await once(randomBytes(1 + ((i * 97) % 1400)));
  if (ok) report.echoed++;
  else report.wrong++;
}
finish('done');
