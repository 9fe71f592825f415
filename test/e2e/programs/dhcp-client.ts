// A minimal DHCP client, to see that the lab's dnsmasq hands out real leases:
//
//   node --import tsx test/e2e/programs/dhcp-client.ts MAC
//
// DISCOVER, OFFER, REQUEST, ACK on UDP 68 with the broadcast flag set, for client hardware address MAC; prints the
// ACK as one DhcpAck JSON line. No answer within 20 s: a line on stderr and exit 3.

import dgram from 'node:dgram';
import { positional } from './argv.ts';

export interface DhcpAck {
  yiaddr: string;
  mask: string;
  router: string;
  server: string;
  /** Option 51, seconds. */
  lease: number | undefined;
}

/** The bound on the whole exchange (dnsmasq answers in milliseconds: it runs with --no-ping). */
const LIMIT_MS = 20_000;
const XID = 0x4d697261;
const DHCPDISCOVER = 1;
const DHCPOFFER = 2;
const DHCPREQUEST = 3;
const DHCPACK = 5;

const a = positional('dhcp-client.ts', ['mac'] as const);
const mac = Buffer.from(a.mac.split(':').map((h) => parseInt(h, 16)));

/** A BOOTREQUEST of DHCP message `type` with further `extra` option bytes. */
function msg(type: number, extra: number[] = []): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 1; // BOOTREQUEST
  b[1] = 1; // Ethernet
  b[2] = 6;
  b.writeUInt32BE(XID, 4);
  b.writeUInt16BE(0x8000, 10); // broadcast
  mac.copy(b, 28);
  b.writeUInt32BE(0x63825363, 236); // the magic cookie
  return Buffer.concat([b, Buffer.from([53, 1, type, ...extra, 255])]);
}

interface Reply {
  op: number;
  xid: number;
  yiaddr: number[];
  type: number | undefined;
  opts: Map<number, Buffer>;
}

function parse(b: Buffer): Reply {
  const opts = new Map<number, Buffer>();
  let i = 240;
  while (i + 1 < b.length && b[i] !== 255) {
    const code = b[i] ?? 255;
    if (code === 0) {
      i++;
      continue;
    }
    const len = b[i + 1] ?? 0;
    opts.set(code, b.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return { op: b[0] ?? 0, xid: b.readUInt32BE(4), yiaddr: [...b.subarray(16, 20)], type: opts.get(53)?.[0], opts };
}

const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const timer = setTimeout(() => {
  console.error('no DHCP answer');
  process.exit(3);
}, LIMIT_MS);
let state: 'discover' | 'request' = 'discover';
s.on('message', (m) => {
  if (m.length < 240) return;
  const r = parse(m);
  if (r.op !== 2 || r.xid !== XID) return;
  if (state === 'discover' && r.type === DHCPOFFER) {
    state = 'request';
    s.send(msg(DHCPREQUEST, [50, 4, ...r.yiaddr, 54, 4, ...(r.opts.get(54) ?? [])]), 67, '255.255.255.255');
  } else if (state === 'request' && r.type === DHCPACK) {
    clearTimeout(timer);
    const dotted = (k: number): string => [...(r.opts.get(k) ?? [])].join('.');
    const ack: DhcpAck = { yiaddr: r.yiaddr.join('.'), mask: dotted(1), router: dotted(3), server: dotted(54), lease: r.opts.get(51)?.readUInt32BE(0) };
    console.log(JSON.stringify(ack));
    s.close();
  }
});
s.bind(68, '0.0.0.0', () => {
  s.setBroadcast(true);
  s.send(msg(DHCPDISCOVER), 67, '255.255.255.255');
});
