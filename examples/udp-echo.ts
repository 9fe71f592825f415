// A UDP echo service (RFC 862) on our stack, shaped like node:dgram, on a TAP in a bridge:
//
//   sudo node --import tsx examples/udp-echo.ts [BRIDGE] [PORT] [DHCP_STATE_FILE]
//
// Takes an address by DHCP, answers every datagram on PORT (7) with the same bytes, prints `echoing on
// ADDRESS:PORT` once ready, and stops on SIGTERM or SIGINT.

import { createStack } from '../src/index.ts';

const bridge = process.argv[2] ?? 'br0';
const port = Number(process.argv[3] ?? 7);
const dhcpState = process.argv[4];
const stack = await createStack({ tap: { bridge }, ipv4: 'dhcp', ipv6: 'off', ...(dhcpState === undefined ? {} : { dhcpState }) });
const socket = stack.createSocket('udp4');
socket.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => socket.send(msg, rinfo.port, rinfo.address));
socket.bind(port);
await stack.ready;
for (const a of stack.addresses) if (a.family === 'IPv4') process.stdout.write(`echoing on ${a.address}:${port}\n`);
const stop = (): void => {
  socket.close();
  void stack.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
