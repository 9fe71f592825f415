// The public entry point: the stack as a library.
//
//   import { createStack } from 'mirage-direct-ts';
//   const stack = await createStack({ tap: { bridge: 'br0' }, ipv4: 'dhcp', ipv6: 'auto' });
//   await stack.ready;
//   stack.createServer((socket) => socket.pipe(socket)).listen(7);
//   const http = (await import('node:http')).createServer((req, res) => res.end('hi\n'));
//   stack.createServer((socket) => emitConnection(http, socket)).listen(80);
//   const c = stack.connect({ host: '192.168.77.1', port: 80 });   // a net.Socket-compatible StackSocket
//
// createStackPair() gives two stacks joined by a wire in memory (10.0.0.1 and 10.0.0.2), for tests and examples
// that need no TAP and no root.

import { systemTimers, type Timers } from './clock.ts';
import { parseIpv4, parseMac, type Ipv4Config } from './net/addr.ts';
import { createMemoryLink } from './net/memory-link.ts';
import type { TapBinding } from './net/tap-device.ts';
import { systemRandom, type Random } from './random.ts';
import { startDirectStack } from './stack/direct-stack.ts';
import { StackDriver } from './stack/driver.ts';
import { NetStack } from './lib/net-stack.ts';

export { NetStack, StackServer, type ConnectOptions, type ServerOptions, type StackAddress } from './lib/net-stack.ts';
export { StackSocket, emitConnection } from './net/duplex.ts';
export { StackUdpSocket, MAX_QUEUED_DATAGRAMS, MAX_UDP_PAYLOAD, type RemoteInfo } from './lib/udp-socket.ts';
export { createStackAgent, type StackAgentOptions } from './lib/fetch-agent.ts';

export interface CreateStackOptions {
  /** The TAP and the bridge it joins (needs root or CAP_NET_ADMIN). */
  tap: { bridge: string; mac?: string; binding?: TapBinding };
  /** `dhcp` (the default), `off`, or a static `ADDRESS/PREFIX` with `gateway`. */
  ipv4?: 'dhcp' | 'off' | string;
  gateway?: string;
  /** `auto` (the default: link-local, SLAAC, DHCPv6 as the routers ask) or `off`. */
  ipv6?: 'auto' | 'off';
  /** Where the DHCP lease is remembered between runs (default /var/lib/mirage-direct-ts/…). */
  dhcpState?: string;
  /** The host name DHCP sends (option 12); default this machine's. */
  hostname?: string;
  /** The stack's log lines (default: none). */
  log?: (line: string) => void;
  timers?: Timers;
  random?: Random;
}

/** How long a pair's stop waits for connections to close before it resets them. */
const PAIR_STOP_GRACE_MS = 1000;

function staticIpv4(spec: string, gateway: string | undefined): Ipv4Config {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(spec);
  const address = m === null ? undefined : parseIpv4(m[1] ?? '');
  const prefix = Number(m?.[2]);
  if (address === undefined || !(prefix >= 1 && prefix <= 32)) throw new TypeError(`ipv4 must be 'dhcp', 'off' or ADDRESS/PREFIX, not '${spec}'`);
  const gw = gateway === undefined ? undefined : parseIpv4(gateway);
  if (gateway !== undefined && gw === undefined) throw new TypeError(`gateway must be an IPv4 address, not '${gateway}'`);
  return { address, prefix, ...(gw === undefined ? {} : { gateway: gw }) };
}

/** Starts our stack on a TAP in `tap.bridge`; throws (with advice) when the TAP cannot be made. */
export async function createStack(options: CreateStackOptions): Promise<NetStack> {
  const log = options.log ?? (() => {});
  const timers = options.timers ?? systemTimers;
  const mac = options.tap.mac === undefined ? undefined : parseMac(options.tap.mac);
  if (options.tap.mac !== undefined && mac === undefined) throw new TypeError(`tap.mac must look like 02:00:5e:00:00:42, not '${options.tap.mac}'`);
  const v4 = options.ipv4 ?? 'dhcp';
  const random = options.random ?? systemRandom();
  const direct = startDirectStack(
    {
      bridge: options.tap.bridge, mac, pcap: undefined, fault: undefined, tapBinding: options.tap.binding, dhcpState: options.dhcpState, hostname: options.hostname,
      ipv4: v4 === 'dhcp' ? undefined : v4 === 'off' ? 'off' : staticIpv4(v4, options.gateway),
      ipv6: options.ipv6 === 'off' ? undefined : { mode: 'auto' },
    },
    timers, random, { info: log, warn: log, debug: log, error: log },
  );
  return new NetStack({ driver: direct.driver, timers, random, stop: () => direct.stop() });
}

/** Two stacks on a wire in memory: 10.0.0.1/24 and 10.0.0.2/24, no IPv6, no TAP, no root. */
export function createStackPair(options: { timers?: Timers; random?: Random } = {}): [NetStack, NetStack] {
  const timers = options.timers ?? systemTimers;
  const random = options.random ?? systemRandom();
  const [endA, endB] = createMemoryLink(timers, 0x02000000aa01, 0x02000000aa02);
  const make = (device: typeof endA, address: string): NetStack => {
    const driver = new StackDriver(device, timers, { mac: device.mac, mtu: 1500, random, log: () => {}, ipv4: staticIpv4(`${address}/24`, undefined) });
    driver.start();
    return new NetStack({ driver, timers, random, stop: () => driver.stop(PAIR_STOP_GRACE_MS) });
  };
  return [make(endA, '10.0.0.1'), make(endB, '10.0.0.2')];
}
