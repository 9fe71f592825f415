// fetch() over our stack, on a TAP in a bridge: the address by DHCP, the name by the stack's own resolver (the DNS
// servers DHCP named), the request over our TCP through an undici Agent of StackSockets:
//
//   sudo node --import tsx examples/fetch.ts URL [BRIDGE] [DHCP_STATE_FILE]
//
// Prints `STATUS BYTES` (the status and the body's length) and exits 0 on a 2xx, 1 otherwise.

import { fetch } from 'undici';
import { createStack, createStackAgent } from '../src/index.ts';

const url = process.argv[2] ?? 'http://peer.lab/';
const bridge = process.argv[3] ?? 'br0';
const dhcpState = process.argv[4];
const stack = await createStack({ tap: { bridge }, ipv4: 'dhcp', ipv6: 'off', ...(dhcpState === undefined ? {} : { dhcpState }) });
await stack.ready;
const agent = createStackAgent(stack);
let ok = false;
try {
  const res = await fetch(url, { dispatcher: agent });
  const body = new Uint8Array(await res.arrayBuffer());
  process.stdout.write(`${res.status} ${body.length}\n`);
  ok = res.ok;
} catch (err) {
  process.stderr.write(`fetch ${url}: ${String((err as { cause?: unknown }).cause ?? err)}\n`);
} finally {
  await agent.close();
  await stack.close();
}
process.exit(ok ? 0 : 1);
