// node:http on our stack, on a TAP in a bridge, as a library user writes it:
//
//   sudo node --import tsx examples/http-server.ts [BRIDGE] [PORT] [DHCP_STATE_FILE]
//
// Takes an address by DHCP (and IPv6 by SLAAC), serves "hello from node:http on mirage-direct-ts" on PORT (8080)
// of every address, prints one line `listening on ADDRESS:PORT` per IPv4 address, and stops on SIGTERM or SIGINT.

import http from 'node:http';
import { createStack, emitConnection } from '../src/index.ts';

const bridge = process.argv[2] ?? 'br0';
const port = Number(process.argv[3] ?? 8080);
const dhcpState = process.argv[4]; // default: /var/lib/mirage-direct-ts/dhcp-lease-MAC.json
const stack = await createStack({ tap: { bridge }, ipv4: 'dhcp', ipv6: 'auto', ...(dhcpState === undefined ? {} : { dhcpState }), log: (line) => process.stderr.write(`stack: ${line}\n`) });
const server = http.createServer((req, res) => res.end(`hello from node:http on mirage-direct-ts (${req.method ?? ''} ${req.url ?? ''})\n`));
stack.createServer((socket) => emitConnection(server, socket)).listen(port);
await stack.ready;
for (const a of stack.addresses) if (a.family === 'IPv4') process.stdout.write(`listening on ${a.address}:${port}\n`);
const stop = (): void => {
  server.close();
  void stack.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
